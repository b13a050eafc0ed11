/*
 * protocol.c — framing and the observe request's text form, shared by the
 * agent (inside the target) and the client (the callscope command).
 */
#include "live/protocol.h"

#include "util/parse_number.h"
#include "util/textbuf.h"

#include <errno.h>
#include <limits.h>
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

/* "key=value\n" with the value escaped (backslash and newline), so that
 * any text, a condition written over several lines included, arrives as it
 * was typed. */
static size_t put_text(char *out, size_t n, const char *key, const char *v)
{
    n += (size_t)sprintf(out + n, "%s=", key);
    for (; *v; v++) {
        if (*v == '\\' || *v == '\n') {
            out[n++] = '\\';
            out[n++] = *v == '\n' ? 'n' : '\\';
        } else {
            out[n++] = *v;
        }
    }
    out[n++] = '\n';
    out[n] = 0;
    return n;
}

size_t cs_live_request_format(const struct cs_live_request *r, char out[CS_LIVE_REQUEST_MAX])
{
    size_t n = (size_t)sprintf(out, "command=%d\n", r->command);
    n = put_text(out, n, "pattern", r->pattern);
    n = put_text(out, n, "nested", r->nested);
    n = put_text(out, n, "condition", r->condition);
    n += (size_t)sprintf(out + n,
                         "depth=%d\ntimes=%lld\nmin_duration_ns=%lld\nentrance_ns=%lld\nskip_builtin=%d\nexpand=%d\n"
                         "when=%d\ncycle_ns=%lld\nnode_args=%d\n",
                         r->depth, r->times, (long long)r->min_duration_ns, (long long)r->entrance_ns,
                         r->skip_builtin, r->expand, r->when, (long long)r->cycle_ns, r->node_args);
    return n;
}

/* Unescapes a text field into dst; -1 if it does not fit or an escape is
 * unknown. */
static int copy_field(char *dst, size_t size, const char *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '\\') {
            if (++i == n || (v[i] != 'n' && v[i] != '\\'))
                return -1;
            c = v[i] == 'n' ? '\n' : '\\';
        }
        if (c == 0 || k + 1 >= size)
            return -1;
        dst[k++] = c;
    }
    dst[k] = 0;
    return 0;
}

/* A number field, any long long: each field's own range is checked once
 * the whole request is read, so that the error names the field. The value
 * is not NUL-terminated in the request, hence the copy. */
static int number_field(const char *v, size_t n, long long *out)
{
    char tmp[32];
    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = 0;
    return cs_parse_long(tmp, LLONG_MIN, LLONG_MAX, out);
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
        else if (KEY("node_args"))
            req->node_args = (int)num;
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
    /* Every field in its range: the agent computes with them (a cycle of
     * INT64_MAX ns would overflow the time of the next report). */
    const int64_t day_ns = 86400LL * 1000000000LL;
    const char *bad = req->depth < 0 || req->depth > 1000                        ? "depth"
                      : req->expand < 0 || req->expand > 16                      ? "expand"
                      : req->cycle_ns < 1000000 || req->cycle_ns > day_ns        ? "cycle_ns"
                      : req->times < -1                                          ? "times"
                      : req->min_duration_ns < 0 || req->min_duration_ns > day_ns ? "min_duration_ns"
                      : req->entrance_ns < 0 || req->entrance_ns > day_ns        ? "entrance_ns"
                      : req->when < 1 || req->when > (CS_AT_ENTRY | CS_AT_FINISH) ? "when"
                      : req->skip_builtin < 0 || req->skip_builtin > 1            ? "skip_builtin"
                      : req->node_args < 0 || req->node_args > 1                  ? "node_args"
                                                                                 : NULL;
    if (bad) {
        snprintf(err, errlen, "the request's %s is out of range", bad);
        return -1;
    }
    return 0;
}

volatile sig_atomic_t *cs_protocol_stop;

/* An interrupted call is retried unless the process was asked to stop. */
static int retry(void)
{
    return errno == EINTR && !(cs_protocol_stop && *cs_protocol_stop);
}

int cs_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && retry())
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
        if (n < 0 && retry())
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

void cs_observation_header_put(struct cs_textbuf *b, const struct cs_observation_header *h)
{
    unsigned char buf[4 * CS_VARINT_MAX + 2], *p = buf;
    *p++ = (unsigned char)h->command;
    p = cs_put_varint(p, h->watch_id);
    p = cs_put_varint(p, h->wall_ns);
    p = cs_put_varint(p, h->tid);
    p = cs_put_varint(p, h->thread_len);
    cs_textbuf_put(b, buf, (size_t)(p - buf));
    cs_textbuf_put(b, h->thread, h->thread_len);
    p = buf;
    *p++ = (unsigned char)(h->daemon != 0);
    p = cs_put_varint(p, h->duration_ns);
    cs_textbuf_put(b, buf, (size_t)(p - buf));
}

int cs_observation_header_get(struct cs_reader *rd, struct cs_observation_header *h)
{
    h->command = cs_get_byte(rd);
    h->watch_id = cs_get_varint(rd);
    h->wall_ns = cs_get_varint(rd);
    h->tid = cs_get_varint(rd);
    h->thread = cs_get_str(rd, &h->thread_len);
    h->daemon = cs_get_byte(rd);
    h->duration_ns = cs_get_varint(rd);
    return rd->error ? -1 : 0;
}

size_t cs_live_query_format(unsigned char *out, size_t size, const char *question, int argc,
                            const char *const *argv)
{
    size_t need = 2 * CS_VARINT_MAX + strlen(question);
    for (int i = 0; i < argc; i++)
        need += CS_VARINT_MAX + strlen(argv[i]);
    if (need > size)
        return 0;
    unsigned char *p = cs_put_str(out, question, strlen(question));
    p = cs_put_varint(p, (uint64_t)argc);
    for (int i = 0; i < argc; i++)
        p = cs_put_str(p, argv[i], strlen(argv[i]));
    return (size_t)(p - out);
}
