/*
 * tui_session.c — the TUI's side of the agent's socket: one connection per
 * observation (closing it is what removes the observation, as for the
 * commands), one per question. Reports are rendered with the commands' own
 * renderer (live_render.h) and kept as lines, so the screen shows exactly
 * what `callscope trace` would print.
 */
#include "tui/tui.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/agent_client.h"
#include "collector/decode.h"
#include "live/protocol.h"
#include "cli/live_render.h"

/* A report kept: at most this many per observation (the oldest go). */
#define MAX_ENTRIES 2000

static void set_status(struct tui_observation *o, const char *text)
{
    snprintf(o->status, sizeof o->status, "%.*s", (int)sizeof o->status - 1, text);
}

int tui_observation_start(struct tui_observation *o, int pid, int command, const char *pattern)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    o->command = command;
    snprintf(o->pattern, sizeof o->pattern, "%s", pattern);
    struct cs_live_request req;
    cs_live_request_defaults(&req, command);
    if (strlen(pattern) >= sizeof req.pattern)
        return -1;
    snprintf(req.pattern, sizeof req.pattern, "%s", pattern);
    int fd = cs_connect_agent(pid, 1);
    if (fd < 0)
        return -1;
    char text[CS_LIVE_REQUEST_MAX];
    size_t len = cs_live_request_format(&req, text);
    if (cs_send_frame(fd, CS_REQ_OBSERVE, text, len) != 0) {
        close(fd);
        return -1;
    }
    o->fd = fd;
    set_status(o, "starting");
    return 0;
}

static void free_entry(struct tui_entry *e)
{
    for (int i = 0; i < e->nlines; i++)
        free(e->lines[i]);
    free(e->lines);
    free(e->depth);
    free(e->fold);
}

/* Keeps one rendered report as lines (its trailing blank line dropped). */
static void keep(struct tui_observation *o, char *text, size_t len)
{
    struct tui_entry e = {0};
    int cap = 0;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (e.nlines == cap) {
            cap = cap ? cap * 2 : 8;
            char **lines = realloc(e.lines, (size_t)cap * sizeof *lines);
            if (!lines)
                break;
            e.lines = lines;
        }
        e.lines[e.nlines] = strndup(p, n);
        if (!e.lines[e.nlines])
            break;
        e.nlines++;
        p += n + (nl != NULL);
    }
    while (e.nlines > 0 && !e.lines[e.nlines - 1][0])
        free(e.lines[--e.nlines]);
    if (e.nlines == 0 || tui_entry_index(&e) != 0) {
        free_entry(&e);
        return;
    }
    if (o->nentries == MAX_ENTRIES) {
        free_entry(&o->entries[0]);
        memmove(o->entries, o->entries + 1, (size_t)(o->nentries - 1) * sizeof *o->entries);
        o->nentries--;
    }
    if (o->nentries == o->cap) {
        int cap2 = o->cap ? o->cap * 2 : 16;
        struct tui_entry *entries = realloc(o->entries, (size_t)cap2 * sizeof *entries);
        if (!entries) {
            free_entry(&e);
            return;
        }
        o->entries = entries;
        o->cap = cap2;
    }
    o->entries[o->nentries++] = e;
}

static void end_observation(struct tui_observation *o, const char *why)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    set_status(o, why);
}

int tui_observation_read(struct tui_observation *o)
{
    if (o->fd < 0)
        return -1;
    unsigned char *payload = NULL;
    size_t len = 0;
    int kind = cs_recv_frame(o->fd, &payload, &len);
    char text[700];
    int rc = 0;
    switch (kind) {
    case CS_MSG_STATUS:
        cs_frame_text(payload, len, text, sizeof text);
        set_status(o, text);
        break;
    case CS_MSG_NOTICE:
        cs_frame_text(payload, len, text, sizeof text);
        set_status(o, text);
        break;
    case CS_MSG_ERROR:
        cs_frame_text(payload, len, text, sizeof text);
        end_observation(o, text);
        rc = -1;
        break;
    case CS_MSG_OBSERVATION: {
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        struct cs_live_render r = {f, 0, 0, "tui", 0, 0};
        int ok = f && cs_live_render_observation(&r, payload, len) == 0;
        if (f)
            fclose(f);
        if (ok) {
            keep(o, out, outlen);
            o->received++;
        }
        free(out);
        break;
    }
    case CS_MSG_DONE:
        end_observation(o, "done: the count was reached");
        rc = -1;
        break;
    case CS_MSG_STOPPED: {
        struct cs_reader rd = {payload, payload + len, 0};
        (void)cs_get_varint(&rd);
        (void)cs_get_varint(&rd);
        struct cs_text reason = cs_get_text(&rd);
        int detach = !rd.error && reason.n == 6 && !memcmp(reason.s, "detach", 6);
        end_observation(o, detach ? "removed by a detach" : "removed by a reset");
        rc = -1;
        break;
    }
    case CS_MSG_STARTED:
    case CS_MSG_HELLO:
        break;
    default:
        end_observation(o, kind <= 0 ? "the agent closed the connection" : "the agent sent something unknown");
        rc = -1;
    }
    free(payload);
    return rc;
}

void tui_observation_clear(struct tui_observation *o)
{
    for (int i = 0; i < o->nentries; i++)
        free_entry(&o->entries[i]);
    o->nentries = 0;
}

void tui_observation_free(struct tui_observation *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    tui_observation_clear(o);
    free(o->entries);
    o->entries = NULL;
    o->cap = 0;
}

/* Waits for one frame on fd (the agent answers at once). */
static int wait_frame(int fd, unsigned char **payload, size_t *len)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, cs_agent_reply_timeout_s() * 1000) <= 0)
        return -1;
    return cs_recv_frame(fd, payload, len);
}

char *tui_ask(int pid, const char *question, int argc, const char *const *argv, char *err, size_t errlen)
{
    snprintf(err, errlen, "cannot reach the agent of process %d", pid);
    int fd = cs_connect_agent(pid, 1);
    if (fd < 0)
        return NULL;
    unsigned char request[8192];
    size_t request_len = cs_live_query_format(request, sizeof request, question, argc, argv);
    char *answer = NULL;
    unsigned char *payload = NULL;
    size_t len = 0;
    int kind = request_len && cs_send_frame(fd, CS_REQ_QUERY, request, request_len) == 0
                   ? wait_frame(fd, &payload, &len)
                   : -1;
    if (kind == CS_MSG_RESULT) {
        struct cs_reader rd = {payload, payload + len, 0};
        (void)cs_get_text(&rd);
        struct cs_text text = cs_get_text(&rd);
        if (!rd.error)
            answer = strndup(text.s, text.n);
    } else if (kind == CS_MSG_ERROR) {
        cs_frame_text(payload, len, err, errlen);
    }
    free(payload);
    close(fd);
    return answer;
}

int tui_detach(int pid, char *err, size_t errlen)
{
    int fd = cs_connect_agent(pid, 0);
    if (fd < 0) {
        snprintf(err, errlen, "no agent to detach in process %d", pid);
        return -1;
    }
    unsigned char *payload = NULL;
    size_t len = 0;
    int kind = cs_send_frame(fd, CS_REQ_DETACH, "", 0) == 0 ? wait_frame(fd, &payload, &len) : -1;
    free(payload);
    close(fd);
    if (kind != CS_MSG_STATUS) {
        snprintf(err, errlen, "the agent of process %d did not confirm the detach", pid);
        return -1;
    }
    return 0;
}
