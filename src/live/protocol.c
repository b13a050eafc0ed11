/*
 * protocol.c — framing and the observe request's text form, shared by the
 * agent (inside the target) and the client (the callscope command).
 */
#include "live/protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cs_live_request_defaults(struct cs_live_request *req, int command)
{
    memset(req, 0, sizeof *req);
    req->command = command;
    req->depth = command == CS_LIVE_STACK ? 10 : 3;
    req->times = -1;
    req->skip_builtin = 1;
    req->expand = 2;
    req->when = CS_AT_FINISH;
    req->cycle_ns = 5000000000LL;
}

size_t cs_live_request_format(const struct cs_live_request *r, char *out, size_t size)
{
    int n = snprintf(out, size,
                     "command=%d\npattern=%s\nnested=%s\ncondition=%s\ndepth=%d\ntimes=%lld\n"
                     "min_duration_ns=%lld\nentrance_ns=%lld\nskip_builtin=%d\nexpand=%d\nwhen=%d\ncycle_ns=%lld\n",
                     r->command, r->pattern, r->nested, r->condition, r->depth, r->times,
                     (long long)r->min_duration_ns, (long long)r->entrance_ns, r->skip_builtin,
                     r->expand, r->when, (long long)r->cycle_ns);
    if (n < 0)
        n = 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

static int copy_field(char *dst, size_t size, const char *v, size_t n)
{
    if (n >= size)
        return -1;
    memcpy(dst, v, n);
    dst[n] = 0;
    return 0;
}

static int number_field(const char *v, size_t n, long long *out)
{
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    *out = strtoll(tmp, &end, 10);
    return errno || *end ? -1 : 0;
}

int cs_live_request_parse(const char *text, size_t len, struct cs_live_request *req, char *err,
                          size_t errlen)
{
    cs_live_request_defaults(req, 0);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *eq = memchr(p, '=', (size_t)(line_end - p));
        if (!eq) {
            snprintf(err, errlen, "malformed request line");
            return -1;
        }
        size_t klen = (size_t)(eq - p), vlen = (size_t)(line_end - eq - 1);
        const char *v = eq + 1;
        long long num = 0;
        int bad = 0;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(p, k, klen) == 0)
        if (KEY("pattern"))
            bad = copy_field(req->pattern, sizeof req->pattern, v, vlen);
        else if (KEY("nested"))
            bad = copy_field(req->nested, sizeof req->nested, v, vlen);
        else if (KEY("condition"))
            bad = copy_field(req->condition, sizeof req->condition, v, vlen);
        else if ((bad = number_field(v, vlen, &num)) != 0)
            ;
        else if (KEY("command"))
            req->command = (int)num;
        else if (KEY("depth"))
            req->depth = (int)num;
        else if (KEY("times"))
            req->times = num;
        else if (KEY("min_duration_ns"))
            req->min_duration_ns = num;
        else if (KEY("entrance_ns"))
            req->entrance_ns = num;
        else if (KEY("skip_builtin"))
            req->skip_builtin = (int)num;
        else if (KEY("expand"))
            req->expand = (int)num;
        else if (KEY("when"))
            req->when = (int)num;
        else if (KEY("cycle_ns"))
            req->cycle_ns = num;
        /* unknown keys are ignored: a newer client may send more */
#undef KEY
        if (bad) {
            snprintf(err, errlen, "malformed value for '%.*s'", (int)klen, p);
            return -1;
        }
        p = nl ? nl + 1 : end;
    }
    if (req->command < CS_LIVE_TRACE || req->command > CS_LIVE_MONITOR || !req->pattern[0]) {
        snprintf(err, errlen, "the request names no command or pattern");
        return -1;
    }
    if (req->depth < 0 || req->depth > 1000 || req->expand < 0 || req->expand > 16 || req->cycle_ns < 1000000) {
        snprintf(err, errlen, "depth, expansion or cycle out of range");
        return -1;
    }
    return 0;
}

int cs_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cs_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 && p == buf ? 1 : -1; /* 1: end of stream before the first byte */
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cs_send_frame(int fd, int kind, const void *payload, size_t len)
{
    unsigned char h[CS_FRAME_HEADER];
    cs_frame_header(h, kind, len);
    if (cs_write_all(fd, h, sizeof h) != 0)
        return -1;
    return len ? cs_write_all(fd, payload, len) : 0;
}

int cs_recv_frame(int fd, unsigned char **payload, size_t *len)
{
    unsigned char h[CS_FRAME_HEADER];
    int r = cs_read_all(fd, h, sizeof h);
    if (r != 0)
        return r > 0 ? 0 : -1;
    uint32_t n;
    memcpy(&n, h, 4);
    if (n < 1 || n > CS_FRAME_MAX)
        return -1;
    *len = n - 1;
    *payload = malloc(*len + 1);
    if (!*payload)
        return -1;
    if (*len && cs_read_all(fd, *payload, *len) != 0) {
        free(*payload);
        *payload = NULL;
        return -1;
    }
    (*payload)[*len] = 0;
    return h[4];
}
