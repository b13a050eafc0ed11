/*
 * firefox.c — `export --format firefox`: the Firefox Profiler's
 * processed profile format, which profiler.firefox.com opens ("Load a
 * profile from file") for its call tree, flame graph and stack chart.
 *
 * The profiler knows samples, not calls. A call tree with durations fits it
 * as tracing samples (weightType "tracing-ms"): the time of each thread is
 * cut where a call starts or ends, and each piece is one sample of the
 * innermost call running then, at the piece's start, weighing its length
 * in milliseconds:
 *
 *   main  [----------------------]        samples:  time  stack          weight
 *   load       [------]                             0     main           5
 *   parse        [--]                               5     main;load      2
 *         0    5 7  9 12         23                 7     main;load;parse 2
 *                                                   9     main;load      3
 *                                                  12     main           11
 *                                                  23     (none)         0
 *
 * So no sampling is invented: the stack chart draws each call where it ran,
 * and the call tree and flame graph add up to the self and total time that
 * `callscope stats` reports. The weights of a call's pieces add up to its
 * recorded self time exactly: a piece never gives more than what is left of
 * it, and the last piece gets the rest (they differ only where --filter
 * left out callees, whose time is not the caller's own). A sample with no
 * stack ends each outermost call, so the gap until the next one shows idle.
 *
 *   {"meta":{"preprocessedProfileVersion":56,"categories":[...],"markerSchema":[...],...},
 *    "libs":[],"pages":[],
 *    "threads":[{"name":"MainThread","pid":"4242","tid":4242,"processName":..,
 *                "samples":{"weightType":"tracing-ms","stack":[..],"timeDeltas":[..],"weight":[..],"length":n},
 *                "markers":{...},"stackTable":{...},"frameTable":{...},"funcTable":{...},
 *                "resourceTable":{...},"nativeSymbols":{...}}, ...],
 *    "shared":{"stringArray":["log","mod.func",..,"/app.py",..]}}
 *
 * Version 56 is the first with the string array shared between threads;
 * the profiler upgrades it to its current version as it loads it. Each
 * thread's tables hold only what the thread used. The samples and markers
 * are tables of columns, each a JSON array, while the walk produces them a
 * row at a time: each column collects its values in memory and spills to a
 * temporary file past 64 KB, and the thread is written once it ends, so
 * memory stays bounded (by the distinct stacks and functions of a thread).
 * Each callscope.log() row of a call exported becomes an instant marker
 * "log" with its message, fields and call id.
 */
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "export/export.h"
#include "export/names.h"
#include "query/common.h"
#include "util/json.h"

#define PROCESSED_PROFILE_VERSION 56
#define COLUMN_SPILL_BYTES 65536

/* meta.categories (the profiler needs a grey one: the default). */
enum { CATEGORY_OTHER, CATEGORY_PYTHON, CATEGORY_BUILTIN };
static const char CATEGORIES[] = "[{\"name\":\"Other\",\"color\":\"grey\",\"subcategories\":[\"Other\"]},"
                                 "{\"name\":\"Python\",\"color\":\"yellow\",\"subcategories\":[\"Other\"]},"
                                 "{\"name\":\"Builtin\",\"color\":\"orange\",\"subcategories\":[\"Other\"]}]";

/* How the profiler shows a log marker (meta.markerSchema). */
static const char MARKER_SCHEMA[] =
    "[{\"name\":\"CallscopeLog\",\"tooltipLabel\":\"{marker.data.message}\","
    "\"tableLabel\":\"{marker.data.message}\",\"chartLabel\":\"{marker.data.message}\","
    "\"display\":[\"marker-chart\",\"marker-table\",\"timeline-overview\"],"
    "\"fields\":[{\"key\":\"message\",\"label\":\"Message\",\"format\":\"string\"},"
    "{\"key\":\"fields\",\"label\":\"Fields\",\"format\":\"string\"},"
    "{\"key\":\"callId\",\"label\":\"Call id\",\"format\":\"integer\"}],"
    "\"description\":\"A callscope.log() row\"}]";

/* shared.stringArray: "log" (the name of every marker), the name of each
 * function by its index, then each distinct file name. */
#define STRING_LOG 0
#define STRING_OF_FUNCTION(index) (1 + (index))

/* One column of a table: its values as JSON text, comma-separated. */
struct column {
    struct cs_textbuf text;
    FILE *spill; /* what did not fit in text, in order */
    int64_t n;
};

struct firefox {
    uint32_t *file_string; /* by cs_export_fn.index: the string of its file name, or UINT32_MAX */
    uint32_t *file_named;  /* by file name, in string order: a cs_export_fn.index that has it */
    uint32_t nfiles;
    /* the thread being walked */
    struct cs_stack_tree stacks; /* node i > 0 is stack i - 1; name_id is the func */
    uint32_t *func_of;           /* by cs_export_fn.index: the func, or UINT32_MAX */
    uint32_t *funcs;             /* by func: cs_export_fn.index */
    unsigned char *func_builtin; /* by func */
    uint32_t nfuncs;
    size_t funcs_cap, builtin_cap;
    struct column sample_stack, sample_time, sample_weight;
    struct column marker_data, marker_time;
    int64_t last_sample_ns; /* for the time deltas */
    int64_t *given;         /* by open call, outermost first: weight its pieces got so far */
    size_t nopen, given_cap;
    int64_t piece_start;    /* where the piece of the innermost open call began */
    int64_t idle_from;      /* end of the last outermost call, -1: none */
    int64_t first_ns, last_ns;
    int threads; /* written so far */
    struct cs_export_logs logs;
    sqlite3_stmt *process;
};

/* ---- columns ---- */

/* The text to append the next value of c to (after its comma). */
static struct cs_textbuf *column_next(struct column *c)
{
    if (c->n++)
        cs_textbuf_putc(&c->text, ',');
    return &c->text;
}

/* Moves c's text to its spill file once there is enough of it. */
static void column_settle(struct cs_export *x, struct column *c)
{
    if (c->text.len < COLUMN_SPILL_BYTES)
        return;
    if (!c->spill && !(c->spill = tmpfile())) {
        if (!x->write_errno)
            x->write_errno = errno ? errno : EIO;
    } else if (fwrite(c->text.data, 1, c->text.len, c->spill) != c->text.len && !x->write_errno) {
        x->write_errno = errno ? errno : EIO;
    }
    cs_textbuf_reset(&c->text);
}

/* Writes `"name":[values]` and empties c. */
static void column_write(struct cs_export *x, const char *name, struct column *c)
{
    cs_textbuf_printf(&x->buf, "\"%s\":[", name);
    cs_export_flush_buf(x);
    if (c->spill) {
        char chunk[1 << 16];
        size_t n;
        if (fflush(c->spill) != 0 || fseek(c->spill, 0, SEEK_SET) != 0) {
            if (!x->write_errno)
                x->write_errno = errno ? errno : EIO;
        } else {
            while ((n = fread(chunk, 1, sizeof chunk, c->spill)) > 0)
                if (fwrite(chunk, 1, n, x->out) != n && !x->write_errno)
                    x->write_errno = errno ? errno : EIO;
            if (ferror(c->spill) && !x->write_errno)
                x->write_errno = EIO;
        }
        fclose(c->spill);
        c->spill = NULL;
    }
    cs_textbuf_put(&x->buf, c->text.data, c->text.len);
    cs_textbuf_putc(&x->buf, ']');
    cs_export_flush_buf(x);
    cs_textbuf_reset(&c->text);
    c->n = 0;
}

/* Writes `"name":[value,value,...]`, n times the same value. */
static void constant_column(struct cs_export *x, const char *name, const char *value, int64_t n)
{
    cs_textbuf_printf(&x->buf, "\"%s\":[", name);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            cs_textbuf_putc(&x->buf, ',');
        cs_textbuf_puts(&x->buf, value);
        cs_export_emit(x);
    }
    cs_textbuf_putc(&x->buf, ']');
}

static void column_free(struct column *c)
{
    cs_textbuf_free(&c->text);
    if (c->spill)
        fclose(c->spill);
    memset(c, 0, sizeof *c);
}

/* Nanoseconds as milliseconds, exactly, without trailing zeros. */
static void put_ms(struct cs_textbuf *b, int64_t ns)
{
    size_t at = b->len;
    cs_textbuf_decimal(b, ns, 6);
    if (b->oom || b->len - at < 7)
        return;
    while (b->data[b->len - 1] == '0')
        b->len--;
    if (b->data[b->len - 1] == '.')
        b->len--;
}

/* ---- the string array ---- */

static int by_file_name(const void *a, const void *b, void *fns)
{
    const struct cs_export_fn *f = fns;
    return strcmp(f[*(const uint32_t *)a].filename, f[*(const uint32_t *)b].filename);
}

/* Numbers the distinct file names (after the function names). */
static int number_files(struct cs_export *x, struct firefox *s)
{
    uint32_t *order = malloc((x->nfns + 1) * sizeof *order);
    s->file_string = malloc((x->nfns + 1) * sizeof *s->file_string);
    if (!order || !s->file_string) {
        free(order);
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < x->nfns; i++) {
        s->file_string[i] = UINT32_MAX;
        if (x->fns[i].filename)
            order[n++] = i;
    }
    qsort_r(order, n, sizeof *order, by_file_name, x->fns);
    for (uint32_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(x->fns[order[i]].filename, x->fns[order[i - 1]].filename) != 0)
            order[s->nfiles++] = order[i]; /* (never ahead of i) */
        s->file_string[order[i]] = STRING_OF_FUNCTION(x->nfns) + s->nfiles - 1;
    }
    s->file_named = order;
    return 0;
}

static void put_string_array(struct cs_export *x, struct firefox *s)
{
    struct cs_textbuf *b = &x->buf;
    cs_textbuf_puts(b, "\"stringArray\":[\"log\"");
    for (uint32_t i = 0; i < x->nfns; i++) {
        cs_textbuf_puts(b, ",\n");
        cs_json_string(b, x->fns[i].name, strlen(x->fns[i].name));
        cs_export_emit(x);
    }
    for (uint32_t i = 0; i < s->nfiles; i++) {
        const char *file = x->fns[s->file_named[i]].filename;
        cs_textbuf_puts(b, ",\n");
        cs_json_string(b, file, strlen(file));
        cs_export_emit(x);
    }
    cs_textbuf_putc(b, ']');
}

/* ---- the walk ---- */

static int firefox_begin(struct cs_export *x)
{
    struct firefox *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    x->state = s;
    s->func_of = malloc(x->nfns * sizeof *s->func_of);
    if (!s->func_of || number_files(x, s) != 0 || cs_stack_tree_init(&s->stacks) != 0)
        return -1;
    memset(s->func_of, 0xff, x->nfns * sizeof *s->func_of);
    const char *sql = "SELECT p.parent_pid, p.parent_pid IN (SELECT pid FROM processes),"
                      " (SELECT value FROM meta WHERE key = 'command') FROM processes p WHERE p.pid = ?1";
    if (sqlite3_prepare_v2(x->db, sql, -1, &s->process, NULL) != SQLITE_OK)
        return -1;
    cs_export_logs_open(x, &s->logs);

    struct cs_textbuf *b = &x->buf;
    cs_textbuf_printf(b, "{\"meta\":{\"preprocessedProfileVersion\":%d,\"version\":31,\"product\":\"callscope\","
                         "\"importedFrom\":\"callscope\",\"interval\":0.001,\"startTime\":",
                      PROCESSED_PROFILE_VERSION);
    put_ms(b, x->wall0);
    cs_textbuf_puts(b, ",\"processType\":0,\"stackwalk\":0,\"symbolicated\":true,\"usesOnlyOneStackType\":true,"
                       "\"keepProfileThreadOrder\":true,\"categories\":");
    cs_textbuf_puts(b, CATEGORIES);
    cs_textbuf_puts(b, ",\"markerSchema\":");
    cs_textbuf_puts(b, MARKER_SCHEMA);
    cs_textbuf_puts(b, "},\n\"libs\":[],\"pages\":[],\"threads\":[");
    cs_export_flush_buf(x);
    return 0;
}

static int firefox_thread_begin(struct cs_export *x, const struct cs_thread_info *t)
{
    struct firefox *s = x->state;
    cs_export_logs_thread(&s->logs, t);
    s->nopen = 0;
    s->idle_from = -1;
    s->first_ns = -1;
    s->last_sample_ns = 0;
    return 0;
}

static void put_sample(struct cs_export *x, uint32_t node, int64_t at, int64_t weight)
{
    struct firefox *s = x->state;
    struct cs_textbuf *b = column_next(&s->sample_stack);
    if (node)
        cs_textbuf_int(b, node - 1);
    else
        cs_textbuf_puts(b, "null");
    put_ms(column_next(&s->sample_time), at - s->last_sample_ns);
    s->last_sample_ns = at;
    put_ms(column_next(&s->sample_weight), weight);
    column_settle(x, &s->sample_stack);
    column_settle(x, &s->sample_time);
    column_settle(x, &s->sample_weight);
}

/* The piece of the innermost open call (on `node`) from piece_start to
 * `until`, weighing no more than what is left of the call's self time. */
static void put_piece(struct cs_export *x, const struct cs_export_frame *f, int64_t until)
{
    struct firefox *s = x->state;
    int64_t *given = &s->given[s->nopen - 1];
    int64_t length = until - s->piece_start;
    if (length <= 0)
        return;
    int64_t left = f->finished ? f->self_ns - *given : length; /* an unfinished call's self time is its pieces */
    int64_t weight = length < left ? length : left > 0 ? left : 0;
    *given += weight;
    put_sample(x, f->node, s->piece_start, weight);
}

/* This thread's func for fn, added on first use. */
static uint32_t func_for(struct firefox *s, const struct cs_export_fn *fn, int builtin)
{
    if (s->func_of[fn->index] != UINT32_MAX)
        return s->func_of[fn->index];
    if (s->nfuncs == s->funcs_cap) {
        uint32_t *grown = cs_grow(s->funcs, &s->funcs_cap, sizeof *grown, 256);
        if (!grown)
            return UINT32_MAX;
        s->funcs = grown;
    }
    if (s->nfuncs == s->builtin_cap) {
        unsigned char *grown = cs_grow(s->func_builtin, &s->builtin_cap, 1, 256);
        if (!grown)
            return UINT32_MAX;
        s->func_builtin = grown;
    }
    s->funcs[s->nfuncs] = fn->index;
    s->func_builtin[s->nfuncs] = (unsigned char)builtin;
    return s->func_of[fn->index] = s->nfuncs++;
}

static void put_logs(struct cs_export *x, int64_t call)
{
    struct firefox *s = x->state;
    sqlite3_stmt *log;
    while ((log = cs_export_log_of(&s->logs, call)) != NULL) {
        const char *message = cs_col_text(log, 2), *fields = cs_col_text(log, 3);
        struct cs_textbuf *b = column_next(&s->marker_data);
        cs_textbuf_puts(b, "{\"type\":\"CallscopeLog\",\"message\":");
        cs_json_string(b, message ? message : "", message ? strlen(message) : 0);
        if (fields) {
            cs_textbuf_puts(b, ",\"fields\":");
            cs_json_string(b, fields, strlen(fields));
        }
        cs_textbuf_puts(b, ",\"callId\":");
        cs_textbuf_int(b, call);
        cs_textbuf_putc(b, '}');
        put_ms(column_next(&s->marker_time), sqlite3_column_int64(log, 1));
        column_settle(x, &s->marker_data);
        column_settle(x, &s->marker_time);
    }
}

static int firefox_open(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent,
                        sqlite3_stmt *row)
{
    struct firefox *s = x->state;
    uint32_t func = func_for(s, f->fn, (sqlite3_column_int(row, C_FLAGS) & 4) != 0);
    uint32_t node = func == UINT32_MAX ? UINT32_MAX : cs_stack_tree_child(&s->stacks, parent ? parent->node : 0, func);
    if (s->nopen == s->given_cap) {
        int64_t *grown = cs_grow(s->given, &s->given_cap, sizeof *grown, 64);
        if (grown)
            s->given = grown;
        else
            node = UINT32_MAX;
    }
    if (node == UINT32_MAX) {
        x->buf.oom = 1; /* the driver reports it as out of memory */
        return -1;
    }
    f->node = node;
    if (parent) {
        put_piece(x, parent, f->start_ns);
    } else {
        if (s->idle_from >= 0 && f->start_ns > s->idle_from)
            put_sample(x, 0, s->idle_from, 0);
        s->idle_from = -1;
        if (s->first_ns < 0)
            s->first_ns = f->start_ns;
    }
    s->given[s->nopen++] = 0;
    s->piece_start = f->start_ns;
    put_logs(x, f->id);
    return 0;
}

static int firefox_close(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent)
{
    struct firefox *s = x->state;
    /* the last piece: whatever is left of the self time */
    int64_t given = s->given[s->nopen - 1];
    int64_t weight = f->self_ns > given ? f->self_ns - given : 0;
    if (f->end_ns > s->piece_start || weight > 0)
        put_sample(x, f->node, s->piece_start, weight);
    s->nopen--;
    s->piece_start = f->end_ns;
    s->last_ns = f->end_ns;
    if (!parent)
        s->idle_from = f->end_ns;
    return 0;
}

/* ---- a thread's tables ---- */

static void put_process_name(struct cs_export *x, const struct cs_thread_info *t)
{
    struct firefox *s = x->state;
    char name[160];
    sqlite3_reset(s->process);
    sqlite3_bind_int64(s->process, 1, t->pid);
    if (sqlite3_step(s->process) != SQLITE_ROW) {
        snprintf(name, sizeof name, "pid %lld", (long long)t->pid);
    } else {
        cs_export_process_name(name, sizeof name, t->pid, sqlite3_column_int(s->process, 1),
                               sqlite3_column_int64(s->process, 0), cs_col_text(s->process, 2));
    }
    cs_json_string(&x->buf, name, strlen(name));
}

static void put_stack_table(struct cs_export *x, struct firefox *s)
{
    struct cs_textbuf *b = &x->buf;
    cs_textbuf_puts(b, "\"stackTable\":{\"frame\":[");
    for (uint32_t i = 1; i < s->stacks.n; i++) {
        cs_textbuf_printf(b, i > 1 ? ",%u" : "%u", s->stacks.nodes[i].name_id);
        cs_export_emit(x);
    }
    cs_textbuf_puts(b, "],\"prefix\":[");
    for (uint32_t i = 1; i < s->stacks.n; i++) {
        uint32_t parent = s->stacks.nodes[i].parent;
        if (i > 1)
            cs_textbuf_putc(b, ',');
        if (parent)
            cs_textbuf_int(b, parent - 1);
        else
            cs_textbuf_puts(b, "null");
        cs_export_emit(x);
    }
    cs_textbuf_printf(b, "],\"length\":%u},\n", s->stacks.n - 1);
}

/* One frame per func (callscope knows the function of a call, not the
 * line it was on), so frame i is func i. */
static void put_frame_and_func_tables(struct cs_export *x, struct firefox *s)
{
    struct cs_textbuf *b = &x->buf;
    uint32_t n = s->nfuncs;
    cs_textbuf_puts(b, "\"frameTable\":{");
    constant_column(x, "address", "-1", n);
    cs_textbuf_putc(b, ',');
    constant_column(x, "inlineDepth", "0", n);
    cs_textbuf_puts(b, ",\"category\":[");
    for (uint32_t i = 0; i < n; i++) {
        cs_textbuf_printf(b, i ? ",%d" : "%d", s->func_builtin[i] ? CATEGORY_BUILTIN : CATEGORY_PYTHON);
        cs_export_emit(x);
    }
    cs_textbuf_puts(b, "],");
    constant_column(x, "subcategory", "0", n);
    cs_textbuf_puts(b, ",\"func\":[");
    for (uint32_t i = 0; i < n; i++) {
        cs_textbuf_printf(b, i ? ",%u" : "%u", i);
        cs_export_emit(x);
    }
    cs_textbuf_puts(b, "],");
    constant_column(x, "nativeSymbol", "null", n);
    cs_textbuf_putc(b, ',');
    constant_column(x, "innerWindowID", "0", n);
    cs_textbuf_putc(b, ',');
    constant_column(x, "line", "null", n);
    cs_textbuf_putc(b, ',');
    constant_column(x, "column", "null", n);
    cs_textbuf_printf(b, ",\"length\":%u},\n\"funcTable\":{\"name\":[", n);
    for (uint32_t i = 0; i < n; i++) {
        cs_textbuf_printf(b, i ? ",%u" : "%u", STRING_OF_FUNCTION(s->funcs[i]));
        cs_export_emit(x);
    }
    cs_textbuf_puts(b, "],");
    constant_column(x, "isJS", "false", n);
    cs_textbuf_putc(b, ',');
    constant_column(x, "relevantForJS", "false", n);
    cs_textbuf_putc(b, ',');
    constant_column(x, "resource", "-1", n);
    cs_textbuf_puts(b, ",\"fileName\":[");
    for (uint32_t i = 0; i < n; i++) {
        uint32_t file = s->file_string[s->funcs[i]];
        if (i)
            cs_textbuf_putc(b, ',');
        if (file == UINT32_MAX)
            cs_textbuf_puts(b, "null");
        else
            cs_textbuf_int(b, file);
        cs_export_emit(x);
    }
    cs_textbuf_puts(b, "],\"lineNumber\":[");
    for (uint32_t i = 0; i < n; i++) {
        int64_t line = x->fns[s->funcs[i]].lineno;
        if (i)
            cs_textbuf_putc(b, ',');
        if (line >= 0)
            cs_textbuf_int(b, line);
        else
            cs_textbuf_puts(b, "null");
        cs_export_emit(x);
    }
    cs_textbuf_puts(b, "],");
    constant_column(x, "columnNumber", "null", n);
    cs_textbuf_printf(b, ",\"length\":%u},\n", n);
}

static int firefox_thread_end(struct cs_export *x, const struct cs_thread_info *t)
{
    struct firefox *s = x->state;
    if (s->first_ns >= 0) {
        if (s->idle_from >= 0)
            put_sample(x, 0, s->idle_from, 0);
        struct cs_textbuf *b = &x->buf;
        cs_textbuf_puts(b, s->threads++ ? ",\n{" : "\n{");
        cs_textbuf_puts(b, "\"processType\":\"default\",\"processStartupTime\":");
        put_ms(b, s->first_ns);
        cs_textbuf_puts(b, ",\"processShutdownTime\":null,\"registerTime\":");
        put_ms(b, s->first_ns);
        cs_textbuf_puts(b, ",\"unregisterTime\":");
        put_ms(b, s->last_ns);
        cs_textbuf_puts(b, ",\"pausedRanges\":[],\"name\":");
        const char *name = t->name ? t->name : "?";
        cs_json_string(b, name, strlen(name));
        /* the thread whose id is the process id is the one the process started with */
        cs_textbuf_printf(b, ",\"isMainThread\":%s,\"processName\":", t->tid == t->pid ? "true" : "false");
        put_process_name(x, t);
        cs_textbuf_printf(b, ",\"pid\":\"%lld\",\"tid\":%lld,\n\"samples\":{\"weightType\":\"tracing-ms\",",
                          (long long)t->pid, (long long)t->tid);
        int64_t nsamples = s->sample_stack.n, nmarkers = s->marker_data.n;
        column_write(x, "stack", &s->sample_stack);
        cs_textbuf_putc(b, ',');
        column_write(x, "timeDeltas", &s->sample_time);
        cs_textbuf_putc(b, ',');
        column_write(x, "weight", &s->sample_weight);
        cs_textbuf_printf(b, ",\"length\":%lld},\n\"markers\":{", (long long)nsamples);
        column_write(x, "data", &s->marker_data);
        cs_textbuf_putc(b, ',');
        constant_column(x, "name", "0" /* STRING_LOG */, nmarkers);
        cs_textbuf_putc(b, ',');
        column_write(x, "startTime", &s->marker_time);
        cs_textbuf_putc(b, ',');
        constant_column(x, "endTime", "null", nmarkers);
        cs_textbuf_putc(b, ',');
        constant_column(x, "phase", "0" /* instant */, nmarkers);
        cs_textbuf_putc(b, ',');
        constant_column(x, "category", "0", nmarkers);
        cs_textbuf_printf(b, ",\"length\":%lld},\n", (long long)nmarkers);
        put_stack_table(x, s);
        put_frame_and_func_tables(x, s);
        cs_textbuf_puts(b, "\"resourceTable\":{\"lib\":[],\"name\":[],\"host\":[],\"type\":[],\"length\":0},"
                           "\"nativeSymbols\":{\"libIndex\":[],\"address\":[],\"name\":[],\"functionSize\":[],"
                           "\"length\":0}}");
        cs_export_flush_buf(x);
    }
    /* the next thread starts with no stacks and no funcs */
    for (uint32_t i = 0; i < s->nfuncs; i++)
        s->func_of[s->funcs[i]] = UINT32_MAX;
    s->nfuncs = 0;
    cs_stack_tree_free(&s->stacks);
    return cs_stack_tree_init(&s->stacks);
}

static int firefox_end(struct cs_export *x)
{
    struct firefox *s = x->state;
    cs_textbuf_puts(&x->buf, "\n],\n\"shared\":{");
    put_string_array(x, s);
    cs_textbuf_puts(&x->buf, "}}\n");
    cs_export_flush_buf(x);
    return 0;
}

static void firefox_free(struct cs_export *x)
{
    struct firefox *s = x->state;
    if (!s)
        return;
    free(s->file_string);
    free(s->file_named);
    free(s->func_of);
    free(s->funcs);
    free(s->func_builtin);
    free(s->given);
    cs_stack_tree_free(&s->stacks);
    struct column *columns[] = {&s->sample_stack, &s->sample_time, &s->sample_weight, &s->marker_data,
                                &s->marker_time};
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++)
        column_free(columns[i]);
    cs_export_logs_close(&s->logs);
    sqlite3_finalize(s->process);
    free(s);
    x->state = NULL;
}

const struct cs_export_format cs_export_firefox = {
    .name = "firefox",
    .begin = firefox_begin,
    .thread_begin = firefox_thread_begin,
    .open = firefox_open,
    .close = firefox_close,
    .thread_end = firefox_thread_end,
    .end = firefox_end,
    .free = firefox_free,
};
