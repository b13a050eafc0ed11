/*
 * trace_event.c — `export --format chrome-json`: the Chrome
 * trace-event JSON that Chrome DevTools' performance panel, chrome://tracing
 * and ui.perfetto.dev load.
 *
 *   {"displayTimeUnit":"ns","traceEvents":[
 *     {"ph":"M","name":"process_name","pid":..,"tid":0,"args":{"name":..}},
 *     {"ph":"M","name":"thread_name","pid":..,"tid":..,"args":{"name":..}},
 *     {"ph":"X","name":"mod.func","cat":"python","ts":12.345,"dur":6.789,"pid":..,"tid":..,
 *      "args":{"args":{..},"return":..,"exception":..,"file":..,"line":..,"call_id":..}},
 *     ...]}
 *
 * One complete event ("X") per call, times in microseconds since the
 * recording started (three decimals: nanosecond precision), and an instant
 * event ("i", category "log") for each callscope.log() row of a call
 * exported, with its fields and call_id as args. A finished
 * call is written when it opens; one that never ended waits on the stack
 * (rendered, less its "dur") until the walk settles its end, and carries
 * "unfinished": true in its args and the category "unfinished".
 */
#include <stdlib.h>
#include <string.h>

#include "export/export.h"
#include "export/names.h"
#include "query/common.h"
#include "util/json.h"

struct trace_event {
    int first; /* no event written yet: no comma before the next */
    struct cs_export_logs logs;
};

static void put_sep(struct cs_export *x, struct cs_textbuf *b)
{
    struct trace_event *p = x->state;
    cs_textbuf_puts(b, p->first ? "\n" : ",\n");
    p->first = 0;
}

static void put_metadata(struct cs_export *x, const char *what, int64_t pid, int64_t tid, const char *name)
{
    struct cs_textbuf *b = &x->buf;
    put_sep(x, b);
    cs_textbuf_printf(b, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%lld,\"tid\":%lld,\"args\":{\"name\":", what,
                      (long long)pid, (long long)tid);
    cs_json_string(b, name, strlen(name));
    cs_textbuf_puts(b, "}}");
    cs_export_emit(x);
}

static int name_process(void *ctx, int64_t pid, const char *name)
{
    put_metadata(ctx, "process_name", pid, 0, name);
    return 0;
}

static int trace_event_begin(struct cs_export *x)
{
    struct trace_event *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->first = 1;
    x->state = p;
    cs_export_logs_open(x, &p->logs);
    cs_textbuf_puts(&x->buf, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"exporter\":\"callscope\"},\"traceEvents\":[");
    return cs_export_each_process(x->db, name_process, x);
}

static int trace_event_thread_begin(struct cs_export *x, const struct cs_thread_info *t)
{
    /* (the viewer shows pid and tid beside it) */
    put_metadata(x, "thread_name", t->pid, t->tid, t->name ? t->name : "?");
    cs_export_logs_thread(&((struct trace_event *)x->state)->logs, t);
    return 0;
}

/* The instant events of the logs the call made. */
static void put_logs(struct cs_export *x, int64_t call)
{
    struct trace_event *p = x->state;
    sqlite3_stmt *log;
    while ((log = cs_export_log_of(&p->logs, call)) != NULL) {
        struct cs_textbuf *b = &x->buf;
        const char *message = cs_col_text(log, 2), *fields = cs_col_text(log, 3);
        put_sep(x, b);
        cs_textbuf_puts(b, "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"log\",\"name\":");
        cs_json_string(b, message ? message : "", message ? strlen(message) : 0);
        cs_textbuf_printf(b, ",\"pid\":%lld,\"tid\":%lld,\"ts\":", (long long)x->thread->pid,
                          (long long)x->thread->tid);
        cs_export_put_us(b, sqlite3_column_int64(log, 1));
        cs_textbuf_puts(b, ",\"args\":{\"call_id\":");
        cs_textbuf_int(b, call);
        if (fields) {
            cs_textbuf_puts(b, ",\"fields\":");
            cs_textbuf_puts(b, fields);
        }
        cs_textbuf_puts(b, "}}");
        cs_export_emit(x);
    }
}

/* The event up to its "dur" value. */
static void put_event(struct cs_export *x, struct cs_textbuf *b, const struct cs_export_frame *f, sqlite3_stmt *row)
{
    cs_textbuf_puts(b, "{\"ph\":\"X\",\"name\":");
    cs_json_string(b, f->fn->name, strlen(f->fn->name));
    cs_textbuf_printf(b, ",\"cat\":\"%s\",\"pid\":%lld,\"tid\":%lld,\"ts\":",
                      !f->finished ? "unfinished" : sqlite3_column_int(row, C_FLAGS) & 4 ? "builtin" : "python",
                      (long long)x->thread->pid, (long long)x->thread->tid);
    cs_export_put_us(b, f->start_ns);
    cs_textbuf_puts(b, ",\"args\":{\"call_id\":");
    cs_textbuf_int(b, f->id);
    if (f->fn->filename) {
        cs_textbuf_puts(b, ",\"file\":");
        cs_json_string(b, f->fn->filename, strlen(f->fn->filename));
        cs_textbuf_printf(b, ",\"line\":%lld", (long long)f->fn->lineno);
    }
    if (sqlite3_column_type(row, C_ARGS) != SQLITE_NULL) {
        cs_textbuf_puts(b, ",\"args\":");
        cs_json_args_object(b, cs_col_text(row, C_ARGS));
    }
    const char *result = cs_col_text(row, C_RESULT), *exception = cs_col_text(row, C_EXCEPTION);
    int flags = sqlite3_column_int(row, C_FLAGS);
    if (result) {
        cs_textbuf_puts(b, flags & 2 ? ",\"yield\":" : ",\"return\":");
        cs_json_string(b, result, strlen(result));
    }
    if (exception) {
        cs_textbuf_puts(b, ",\"exception\":");
        cs_json_string(b, exception, strlen(exception));
    }
    if (flags & 1)
        cs_textbuf_puts(b, ",\"resumed\":true");
    if (flags & 8)
        cs_textbuf_puts(b, ",\"events_lost\":true");
    if (!f->finished)
        cs_textbuf_puts(b, ",\"unfinished\":true");
    cs_textbuf_puts(b, "},\"dur\":");
}

static int trace_event_open(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent,
                         sqlite3_stmt *row)
{
    (void)parent;
    put_logs(x, f->id);
    if (!f->finished) {
        put_event(x, &f->pending, f, row); /* written when it closes */
        return f->pending.oom ? -1 : 0;
    }
    put_sep(x, &x->buf);
    put_event(x, &x->buf, f, row);
    cs_export_put_us(&x->buf, f->end_ns - f->start_ns);
    cs_textbuf_putc(&x->buf, '}');
    cs_export_emit(x);
    return 0;
}

static int trace_event_close(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent)
{
    (void)parent;
    if (f->finished)
        return 0;
    put_sep(x, &x->buf);
    cs_textbuf_put(&x->buf, f->pending.data, f->pending.len);
    cs_export_put_us(&x->buf, f->end_ns - f->start_ns);
    cs_textbuf_putc(&x->buf, '}');
    cs_export_emit(x);
    return 0;
}

static int trace_event_end(struct cs_export *x)
{
    cs_textbuf_puts(&x->buf, "\n]}\n");
    cs_export_flush_buf(x);
    return 0;
}

static void trace_event_free(struct cs_export *x)
{
    struct trace_event *p = x->state;
    if (p)
        cs_export_logs_close(&p->logs);
    free(x->state);
    x->state = NULL;
}

const struct cs_export_format cs_export_chrome_json = {
    .name = "chrome-json",
    .begin = trace_event_begin,
    .thread_begin = trace_event_thread_begin,
    .open = trace_event_open,
    .close = trace_event_close,
    .end = trace_event_end,
    .free = trace_event_free,
};
