/*
 * speedscope.c — `export --format speedscope`: speedscope's own file
 * format (https://www.speedscope.app/file-format-schema.json).
 *
 *   {"$schema":"https://www.speedscope.app/file-format-schema.json",
 *    "profiles":[{"type":"evented","name":"pid 1 · MainThread (tid 1)","unit":"nanoseconds",
 *                 "events":[{"type":"O","frame":0,"at":100},{"type":"C","frame":0,"at":900}],
 *                 "startValue":100,"endValue":900}, ...],
 *    "shared":{"frames":[{"name":"mod.func","file":"/app.py","line":3}, ...]},
 *    "name":..,"exporter":"callscope","activeProfileIndex":0}
 *
 * One evented profile per thread that made calls. Frames are the functions
 * of the store (every one, in id order, then "?"), so they are known before
 * the first event and written once at the end. Events are in time order
 * and nest: an open or close is never earlier than the event before it.
 */
#include <stdlib.h>
#include <string.h>

#include "export/export.h"
#include "query/common.h"
#include "util/json.h"

struct speedscope {
    int profiles;   /* written so far */
    int in_profile; /* the current thread's profile is open */
    int first_event;
    int64_t start_ns, last_ns;
};

static int speedscope_begin(struct cs_export *x)
{
    struct speedscope *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    x->state = s;
    cs_textbuf_puts(&x->buf, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
                             "\"exporter\":\"callscope\",\"activeProfileIndex\":0,\"profiles\":[");
    cs_export_flush_buf(x);
    return 0;
}

static void put_event(struct cs_export *x, char type, uint32_t frame, int64_t at)
{
    struct speedscope *s = x->state;
    if (at < s->last_ns)
        at = s->last_ns;
    s->last_ns = at;
    cs_textbuf_printf(&x->buf, "%s{\"type\":\"%c\",\"frame\":%u,\"at\":%lld}", s->first_event ? "" : ",", type,
                      frame, (long long)at);
    s->first_event = 0;
    cs_export_emit(x);
}

static int speedscope_open(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent,
                           sqlite3_stmt *row)
{
    (void)parent, (void)row;
    struct speedscope *s = x->state;
    if (!s->in_profile) {
        const struct cs_thread_info *t = x->thread;
        char name[300];
        cs_thread_title(t, name, sizeof name);
        cs_textbuf_puts(&x->buf, s->profiles ? ",\n{" : "\n{");
        cs_textbuf_puts(&x->buf, "\"type\":\"evented\",\"name\":");
        cs_json_string(&x->buf, name, strlen(name));
        cs_textbuf_puts(&x->buf, ",\"unit\":\"nanoseconds\",\"events\":[");
        s->in_profile = 1;
        s->first_event = 1;
        s->start_ns = s->last_ns = f->start_ns;
        s->profiles++;
    }
    put_event(x, 'O', f->fn->index, f->start_ns);
    return 0;
}

static int speedscope_close(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent)
{
    (void)parent;
    put_event(x, 'C', f->fn->index, f->end_ns);
    return 0;
}

static int speedscope_thread_end(struct cs_export *x, const struct cs_thread_info *t)
{
    (void)t;
    struct speedscope *s = x->state;
    if (!s->in_profile)
        return 0;
    cs_textbuf_printf(&x->buf, "],\"startValue\":%lld,\"endValue\":%lld}", (long long)s->start_ns,
                      (long long)s->last_ns);
    cs_export_flush_buf(x);
    s->in_profile = 0;
    return 0;
}

static int speedscope_end(struct cs_export *x)
{
    struct cs_textbuf *b = &x->buf;
    cs_textbuf_puts(b, "\n],\"shared\":{\"frames\":[");
    for (uint32_t i = 0; i < x->nfns; i++) {
        const struct cs_export_fn *fn = &x->fns[i];
        cs_textbuf_puts(b, i ? ",\n{\"name\":" : "\n{\"name\":");
        cs_json_string(b, fn->name, strlen(fn->name));
        if (fn->filename) {
            cs_textbuf_puts(b, ",\"file\":");
            cs_json_string(b, fn->filename, strlen(fn->filename));
        }
        if (fn->lineno >= 0)
            cs_textbuf_printf(b, ",\"line\":%lld", (long long)fn->lineno);
        cs_textbuf_putc(b, '}');
        cs_export_emit(x);
    }
    cs_textbuf_puts(b, "]},\"name\":");
    sqlite3_stmt *st;
    const char *command = NULL;
    if (sqlite3_prepare_v2(x->db, "SELECT value FROM meta WHERE key = 'command'", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        command = cs_col_text(st, 0);
    cs_json_text_or_null(b, command ? command : "callscope");
    sqlite3_finalize(st);
    cs_textbuf_puts(b, "}\n");
    cs_export_flush_buf(x);
    return 0;
}

static void speedscope_free(struct cs_export *x)
{
    free(x->state);
    x->state = NULL;
}

const struct cs_export_format cs_export_speedscope = {
    .name = "speedscope",
    .begin = speedscope_begin,
    .open = speedscope_open,
    .close = speedscope_close,
    .thread_end = speedscope_thread_end,
    .end = speedscope_end,
    .free = speedscope_free,
};
