/*
 * export.c — `callscope export`: a recording in a format other tools read
 * (Perfetto's protobuf trace, Chrome trace-event JSON, the Firefox
 * Profiler's format, speedscope, folded stacks, an SVG flame graph, JSON
 * lines). See export.h for how calls reach the formats and
 * docs/export.md for the formats themselves.
 *
 * The output goes to stdout (no -o, or -o -), or to OUT through OUT.tmp
 * renamed into place once every byte is known to be written, so a failed
 * export (a full disk) leaves no half-written file and never replaces a
 * good one.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/grow.h"
#include "export/command.h"
#include "export/export.h"
#include "query/common.h"
#include "query/filter.h"
#include "query/parallel_scan.h"
#include "query/selection.h"
#include "util/sorted.h"
#include "util/textbuf.h"

static const struct cs_export_format *const FORMATS[] = {
    &cs_export_perfetto, &cs_export_chrome_json, &cs_export_firefox, &cs_export_speedscope,
    &cs_export_folded,   &cs_export_svg,         &cs_export_jsonl,
};
#define NFORMATS (sizeof FORMATS / sizeof FORMATS[0])
#define FORMAT_LIST "perfetto, chrome-json, firefox, speedscope, folded, svg or jsonl"

/* Names that earlier versions accepted: "perfetto-proto" was the protobuf
 * trace before it became "perfetto". */
static const struct {
    const char *name;
    const struct cs_export_format *format;
} ALIASES[] = {{"perfetto-proto", &cs_export_perfetto}};

static const struct cs_export_format *find_format(const char *name)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (strcmp(name, FORMATS[i]->name) == 0)
            return FORMATS[i];
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (strcmp(name, ALIASES[i].name) == 0)
            return ALIASES[i].format;
    return NULL;
}

struct export_options {
    const char *path, *out_path;
    const struct cs_export_format *format;
    long long pid, tid; /* -1: all */
    const char *filter_text; /* --filter EXPR */
    struct cs_filter filter; /* compiled, with its parameters from ?2 */
};

struct progress {
    int on;
    int64_t total, done, next_update;
    int shown_percent;
};

static void usage(FILE *f)
{
    fputs("usage: callscope export [FILE] --format FORMAT [-o OUT] [--pid N] [--tid N] [--filter EXPR]\n"
          "Writes the calls recorded in FILE (default ./callscope.db) to OUT (default stdout) as\n"
          "  perfetto        Perfetto's protobuf trace (.pftrace), for ui.perfetto.dev and\n"
          "                  trace_processor (perfetto-proto is another name for it)\n"
          "  chrome-json     Chrome trace-event JSON, for Chrome DevTools' performance panel,\n"
          "                  chrome://tracing and ui.perfetto.dev; larger and slower to load\n"
          "  firefox         the Firefox Profiler's processed profile, for profiler.firefox.com;\n"
          "                  call durations as tracing weights (no sampling)\n"
          "  speedscope      speedscope's file format, one profile per thread\n"
          "  folded          folded stacks with self time in ns, for flamegraph.pl and friends\n"
          "  svg             a flame graph to open in a browser (click to zoom)\n"
          "  jsonl           one JSON object per call, as `callscope show --format jsonl`\n"
          "--filter keeps only the calls that match an expression such as\n"
          "\"module == 'app%' and duration > 5\" (see docs/filter.md).\n",
          f);
}

static int parse_options(int argc, char **argv, struct export_options *o)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'F'}, {"output", required_argument, NULL, 'o'},
        {"pid", required_argument, NULL, 'p'},    {"tid", required_argument, NULL, 't'},
        {"filter", required_argument, NULL, 'x'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->path = CS_DEFAULT_DB;
    o->pid = o->tid = -1;
    char **args = cs_getopt_argv(argc, argv, "callscope export");
    if (!args)
        return cs_error("out of memory"), -1;
    int opt, rc = 0;
    optind = 0;
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc + 1, args, ":ho:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'F':
            o->format = find_format(optarg);
            if (!o->format)
                cs_error("--format is " FORMAT_LIST ", not '%s'", optarg), rc = -1;
            break;
        case 'o':
            o->out_path = strcmp(optarg, "-") == 0 ? NULL : optarg; /* "-": stdout, as without -o */
            if (!*optarg)
                cs_error("-o needs a file name"), rc = -1;
            break;
        case 'p':
            if (cs_parse_long(optarg, 0, INT64_MAX, &o->pid) != 0)
                cs_error("--pid needs a process id, not '%s'", optarg), rc = -1;
            break;
        case 't':
            if (cs_parse_long(optarg, 0, INT64_MAX, &o->tid) != 0)
                cs_error("--tid needs a thread id, not '%s'", optarg), rc = -1;
            break;
        case 'x': o->filter_text = optarg; break;
        case 'h': usage(stdout); free(args); exit(0);
        case ':': cs_error("%s needs a value", args[optind - 1]), rc = -1; break;
        default: cs_error("export: unknown option '%s' (see callscope export --help)", args[optind - 1]), rc = -1;
        }
    }
    if (rc == 0)
        rc = cs_take_path("export", argc, args, &o->path);
    if (rc == 0 && !o->format)
        cs_error("export: --format is required: " FORMAT_LIST), rc = -1;
    free(args);
    return rc;
}

/* ---- functions ---- */

const struct cs_export_fn *cs_export_function(const struct cs_export *x, int64_t function_id)
{
    size_t known = x->nfns - 1; /* the last one, "?", has no id */
    size_t at = cs_lower_bound_i64(x->fn_ids, known, function_id);
    return at < known && x->fn_ids[at] == function_id ? &x->fns[at] : &x->fns[known];
}

static void free_functions(struct cs_export *x)
{
    for (uint32_t i = 0; i < x->nfns; i++) {
        free(x->fns[i].name);
        free(x->fns[i].filename);
    }
    free(x->fns);
    free(x->fn_ids);
}

/* Loads every function, sorted by id, with equal names sharing a name_id. */
static int load_functions(struct cs_export *x)
{
    sqlite3_stmt *st;
    const char *sql = "SELECT id, coalesce(name, '?'), filename, coalesce(lineno, -1),"
                      " dense_rank() OVER (ORDER BY coalesce(name, '?')) FROM functions ORDER BY id";
    if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    uint32_t cap = 0, max_rank = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (x->nfns + 1 >= cap) {
            cap = cap ? cap * 2 : 64;
            struct cs_export_fn *f = realloc(x->fns, cap * sizeof *f);
            if (f)
                x->fns = f;
            int64_t *ids = realloc(x->fn_ids, cap * sizeof *ids);
            if (ids)
                x->fn_ids = ids;
            if (!f || !ids) {
                oom = 1;
                break;
            }
        }
        const char *file = cs_col_text(st, 2);
        uint32_t rank = (uint32_t)sqlite3_column_int64(st, 4);
        if (rank > max_rank)
            max_rank = rank;
        struct cs_export_fn *fn = &x->fns[x->nfns];
        *fn = (struct cs_export_fn){strdup(cs_col_text(st, 1)), file ? strdup(file) : NULL,
                                    sqlite3_column_int64(st, 3), x->nfns, rank};
        x->fn_ids[x->nfns++] = sqlite3_column_int64(st, 0);
        if (!fn->name || (file && !fn->filename))
            oom = 1;
    }
    sqlite3_finalize(st);
    if (oom || (rc != SQLITE_ROW && rc != SQLITE_DONE))
        return -1;
    if (!x->fns) {
        x->fns = malloc(sizeof *x->fns);
        if (!x->fns)
            return -1;
    }
    x->fns[x->nfns] = (struct cs_export_fn){strdup("?"), NULL, -1, x->nfns, max_rank + 1};
    x->nfns++;
    return x->fns[x->nfns - 1].name ? 0 : -1;
}

/* ---- progress (stderr, on a terminal only) ---- */

/* A bar like "exporting  42% [##########..............]" redrawn in place
 * at most once a percent, and erased when done. */
static void progress_update(struct progress *p)
{
    p->next_update = p->done + 4096;
    int percent = p->total > 0 ? (int)(p->done * 100 / p->total) : 0;
    if (percent > 100)
        percent = 100;
    if (percent == p->shown_percent)
        return;
    p->shown_percent = percent;
    char bar[41];
    memset(bar, '.', 40);
    memset(bar, '#', (size_t)(percent * 40 / 100));
    bar[40] = 0;
    fprintf(stderr, "\rexporting %3d%% [%s]", percent, bar);
    fflush(stderr);
}

static void progress_end(struct progress *p)
{
    if (p->on && p->shown_percent >= 0)
        fputs("\r\033[K", stderr);
}

/* ---- the walk ---- */

struct export {
    struct export_options o;
    struct cs_export x;
    struct cs_selection selected; /* with --filter: the matching calls, when few enough */
    int by_selection;             /* read the selected calls by id */
    int error_shown;              /* the reason for a failure is printed already */
    struct progress progress;
    struct cs_export_frame *stack;
    size_t depth, cap;
    int64_t thread_latest; /* the latest start or end seen in the thread */
    int oom;
};

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Closes the innermost open call; `next_ns` is the start of the call that
 * closes it, or -1 at the end of the thread. */
static int close_top(struct export *e, int64_t next_ns)
{
    struct cs_export_frame *f = &e->stack[e->depth - 1];
    struct cs_export_frame *parent = e->depth > 1 ? &e->stack[e->depth - 2] : NULL;
    if (!f->finished) {
        int64_t end = next_ns >= 0 ? next_ns : e->thread_latest;
        if (parent && parent->finished)
            end = min64(end, parent->end_ns);
        f->end_ns = max64(max64(end, f->latest_ns), f->start_ns);
        f->self_ns = max64(0, f->end_ns - f->start_ns - f->children_ns);
    }
    int rc = e->o.format->close(&e->x, f, parent);
    if (parent) {
        parent->children_ns += f->end_ns - f->start_ns;
        parent->latest_ns = max64(parent->latest_ns, f->end_ns);
    }
    e->thread_latest = max64(e->thread_latest, f->end_ns);
    e->depth--;
    return rc;
}

/* Places a row: closes what it is not inside of, then opens it. A call is
 * inside the open calls of lower depth; depth rather than parent_id places
 * it, so rows a filter left out do not break the nesting. */
static int open_row(struct export *e, sqlite3_stmt *row)
{
    int depth = sqlite3_column_int(row, C_DEPTH);
    int64_t start = sqlite3_column_int64(row, C_START);
    while (e->depth && e->stack[e->depth - 1].depth >= depth)
        if (close_top(e, start) != 0)
            return -1;
    if (e->depth == e->cap) {
        size_t old = e->cap;
        struct cs_export_frame *grown = cs_grow(e->stack, &e->cap, sizeof *grown, 64);
        if (!grown)
            return e->oom = 1, -1;
        memset(grown + old, 0, (e->cap - old) * sizeof *grown); /* their pending buffers */
        e->stack = grown;
    }
    struct cs_export_frame *parent = e->depth ? &e->stack[e->depth - 1] : NULL;
    struct cs_export_frame *f = &e->stack[e->depth++];
    /* Never before the caller or the end of the call before it, never past
     * a finished caller's end: the formats can rely on proper nesting
     * whatever the clock did. (latest_ns: the caller's start, then the end
     * of its last closed callee.) */
    start = max64(start, parent ? parent->latest_ns : e->thread_latest);
    if (parent && parent->finished)
        start = min64(start, parent->end_ns);
    f->id = sqlite3_column_int64(row, C_ID);
    f->start_ns = start;
    f->fn = cs_export_function(&e->x, sqlite3_column_int64(row, C_FUNCTION));
    f->depth = depth;
    f->finished = sqlite3_column_type(row, C_DURATION) != SQLITE_NULL;
    f->children_ns = 0;
    f->latest_ns = start;
    f->node = 0;
    cs_textbuf_reset(&f->pending);
    if (f->finished) {
        int64_t end = start + max64(0, sqlite3_column_int64(row, C_DURATION));
        if (parent && parent->finished)
            end = min64(end, parent->end_ns);
        f->end_ns = end;
        f->self_ns = sqlite3_column_type(row, C_SELF) == SQLITE_NULL ? end - start
                                                                     : sqlite3_column_int64(row, C_SELF);
        f->self_ns = min64(max64(f->self_ns, 0), end - start);
        e->thread_latest = max64(e->thread_latest, end);
    } else {
        f->end_ns = f->self_ns = -1;
    }
    e->thread_latest = max64(e->thread_latest, start);
    return e->o.format->open(&e->x, f, parent, row);
}

static int bind_thread(struct export *e, sqlite3_stmt *st, int64_t thread_row)
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, thread_row);
    if (e->o.filter_text)
        return cs_filter_bind(&e->o.filter, st) == SQLITE_OK ? 0 : -1;
    return 0;
}

/* Steps rows (bound already) and opens each call it reads. */
static int open_rows(struct export *e, sqlite3_stmt *rows)
{
    int rc;
    while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
        if (open_row(e, rows) != 0 || e->x.write_errno)
            return -1;
        if (e->progress.on && ++e->progress.done >= e->progress.next_update)
            progress_update(&e->progress);
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The thread's selected calls, read by id: each run of consecutive ids is
 * one range of the rows statement (?2 up to, not including, ?3). */
static int open_selected(struct export *e, sqlite3_stmt *rows, const struct cs_thread_info *t)
{
    const struct cs_selection *sel = &e->selected;
    size_t at, end;
    cs_selection_of_thread(sel, t->row, &at, &end);
    while (at < end) {
        size_t last = at;
        while (last + 1 < end && sel->calls[last + 1].id == sel->calls[last].id + 1)
            last++;
        sqlite3_reset(rows);
        sqlite3_bind_int64(rows, 1, t->row);
        sqlite3_bind_int64(rows, 2, sel->calls[at].id);
        sqlite3_bind_int64(rows, 3, sel->calls[last].id + 1);
        if (open_rows(e, rows) != 0)
            return -1;
        at = last + 1;
    }
    return 0;
}

static int walk_thread(struct export *e, sqlite3_stmt *rows, const struct cs_thread_info *t)
{
    if (!e->by_selection && bind_thread(e, rows, t->row) != 0)
        return -1;
    e->x.thread = t;
    e->depth = 0;
    e->thread_latest = 0;
    if (e->o.format->thread_begin && e->o.format->thread_begin(&e->x, t) != 0)
        return -1;
    if ((e->by_selection ? open_selected(e, rows, t) : open_rows(e, rows)) != 0)
        return -1;
    while (e->depth)
        if (close_top(e, -1) != 0)
            return -1;
    return e->o.format->thread_end ? e->o.format->thread_end(&e->x, t) : 0;
}

/* The rows of calls found by selection: thread ?1, ids from ?2 up to ?3. */
static const char SELECTED_ROW_SQL[] = CS_CALL_ROW_SQL CS_CALL_ROW_RANGE;

/* The row query: CS_CALL_ROW_SQL, narrowed by --filter when given. */
static char *row_sql(const struct export_options *o)
{
    struct cs_textbuf sql = {0};
    cs_textbuf_puts(&sql, CS_CALL_ROW_SQL);
    if (o->filter_text)
        cs_filter_append_where(&o->filter, &sql);
    cs_textbuf_puts(&sql, CS_CALL_ROW_ORDER);
    if (sql.oom) {
        cs_textbuf_free(&sql);
        return NULL;
    }
    cs_textbuf_cstr(&sql); /* NUL-terminates data, the caller's to free */
    return sql.data;
}

/* The selected calls of the threads exported (--pid and --tid choose). */
static int64_t count_selected(const struct cs_selection *sel, const struct cs_thread_info *threads, size_t n)
{
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t begin, end;
        cs_selection_of_thread(sel, threads[i].row, &begin, &end);
        total += (int64_t)(end - begin);
    }
    return total;
}

/* The number of calls the walk will see, for the progress bar. */
static int64_t count_rows(struct export *e, const struct cs_thread_info *threads, size_t n)
{
    int64_t total = 0;
    sqlite3_stmt *st;
    char *sql = row_sql(&e->o);
    char *count_sql = sql ? malloc(strlen(sql) + 64) : NULL;
    if (count_sql) {
        /* the same rows, counted: SELECT count(*) FROM (<row query>) */
        sprintf(count_sql, "SELECT count(*) FROM (%s)", sql);
        if (sqlite3_prepare_v2(e->x.db, count_sql, -1, &st, NULL) == SQLITE_OK) {
            for (size_t i = 0; i < n; i++)
                if (bind_thread(e, st, threads[i].row) == 0 && sqlite3_step(st) == SQLITE_ROW)
                    total += sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
    }
    free(sql);
    free(count_sql);
    return total;
}

static int export_all(struct export *e)
{
    struct cs_thread_info *threads = NULL;
    size_t nthreads = 0;
    sqlite3_stmt *rows = NULL;
    char *sql = row_sql(&e->o);
    int rc = 0;
    if (e->o.filter_text) {
        char err[400];
        /* With --filter, the matching calls are found first on every core
         * and read by id, unless more match than a selection holds: an
         * export streams in constant memory, and when so many match,
         * reading each thread with the filter costs about the same. */
        int found = cs_select_calls(e->x.db, e->o.path, &e->o.filter, NULL, 0, CS_SELECTION_MAX_HELD, &e->selected, err,
                                    sizeof err);
        if (found < 0) {
            cs_error("%s", err);
            e->error_shown = 1;
            rc = -1;
        }
        e->by_selection = found == 0;
    }
    if (rc != 0 || !sql || cs_load_threads(e->x.db, e->o.pid, e->o.tid, &threads, &nthreads) != 0 ||
        sqlite3_prepare_v2(e->x.db, e->by_selection ? SELECTED_ROW_SQL : sql, -1, &rows, NULL) != SQLITE_OK)
        rc = -1;
    if (rc == 0 && e->progress.on) {
        e->progress.total = e->by_selection ? count_selected(&e->selected, threads, nthreads)
                                            : count_rows(e, threads, nthreads);
        progress_update(&e->progress);
    }
    if (rc == 0 && e->o.format->begin)
        rc = e->o.format->begin(&e->x);
    for (size_t i = 0; i < nthreads && rc == 0; i++)
        rc = walk_thread(e, rows, &threads[i]);
    if (rc == 0 && e->o.format->end)
        rc = e->o.format->end(&e->x);
    cs_export_flush_buf(&e->x);
    progress_end(&e->progress);
    if (e->x.buf.oom)
        e->oom = 1;
    sqlite3_finalize(rows);
    cs_free_threads(threads, nthreads);
    cs_selection_free(&e->selected);
    free(sql);
    return e->oom ? -1 : rc;
}

/* ---- output ---- */

/* OUT.tmp while it is being written, for the signal handler: an export
 * stopped by Ctrl-C or kill leaves nothing behind either. */
static const char *volatile temp_output;

static void remove_temp_and_die(int sig)
{
    if (temp_output)
        unlink(temp_output);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void guard_temp(const char *tmp)
{
    temp_output = tmp;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = tmp ? remove_temp_and_die : SIG_DFL;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Opens OUT.tmp (or takes stdout); *tmp is the name to rename, or NULL. A
 * path that is not a regular file (/dev/null, a FIFO, a terminal) is
 * written in place: renaming over it would replace the device itself. */
static FILE *open_output(const char *path, char **tmp)
{
    *tmp = NULL;
    if (!path)
        return stdout;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        FILE *f = fopen(path, "w");
        if (!f)
            cs_error("cannot write %s: %s", path, strerror(errno));
        return f;
    }
    size_t n = strlen(path) + 5;
    *tmp = malloc(n);
    if (!*tmp)
        return cs_error("out of memory"), NULL;
    snprintf(*tmp, n, "%s.tmp", path);
    guard_temp(*tmp);
    FILE *f = fopen(*tmp, "w");
    if (!f) {
        guard_temp(NULL);
        cs_error("cannot write %s: %s", path, strerror(errno));
        free(*tmp);
        *tmp = NULL;
    }
    return f;
}

/* Flushes and closes the output, renaming OUT.tmp into place; on any
 * failure (or when `ok` is 0) removes OUT.tmp. 0 or -1 after the error. */
static int close_output(FILE *f, const char *path, char *tmp, int ok, int write_errno)
{
    const char *name = path ? path : "stdout";
    int failed = 0;
    if (write_errno) {
        cs_error("writing %s: %s", name, strerror(write_errno));
        failed = 1;
    } else if (ok) {
        errno = 0;
        if (fflush(f) != 0 || ferror(f)) {
            cs_error("writing %s: %s", name, strerror(errno ? errno : EIO));
            failed = 1;
        }
    }
    if (f != stdout) {
        errno = 0;
        if (fclose(f) != 0 && ok && !failed) {
            cs_error("writing %s: %s", name, strerror(errno ? errno : EIO));
            failed = 1;
        }
    }
    if (tmp) {
        if (ok && !failed && rename(tmp, path) != 0) {
            cs_error("cannot write %s: %s", path, strerror(errno));
            failed = 1;
        }
        if (!ok || failed)
            unlink(tmp);
        guard_temp(NULL);
        free(tmp);
    }
    return ok && !failed ? 0 : -1;
}

int cs_cmd_export(int argc, char **argv)
{
    struct export e;
    memset(&e, 0, sizeof e);
    if (parse_options(argc, argv, &e.o) != 0)
        return CS_EXIT_USAGE;
    e.x.db = cs_open_store(e.o.path);
    if (!e.x.db)
        return CS_EXIT_FAILURE;
    e.x.wall0 = cs_store_wall_start(e.x.db);
    struct cs_expr_error err = {0};
    if (e.o.filter_text && cs_filter_compile(e.x.db, e.o.filter_text, CS_SCAN_FILTER_FIRST_PARAM, &e.o.filter, &err) != 0) {
        cs_filter_print_error(e.o.filter_text, &err);
        cs_close_store(e.x.db);
        return CS_EXIT_USAGE;
    }
    int missing = cs_no_such_thread(e.x.db, e.o.path, e.o.pid, e.o.tid);
    if (missing || load_functions(&e.x) != 0) {
        if (!missing)
            cs_error("cannot read %s: %s", e.o.path, cs_db_error(e.x.db));
        free_functions(&e.x);
        cs_filter_free(&e.o.filter);
        cs_close_store(e.x.db);
        return missing ? CS_EXIT_USAGE : CS_EXIT_FAILURE;
    }
    char *tmp;
    FILE *out = open_output(e.o.out_path, &tmp);
    int rc = out ? 0 : -1;
    if (out) {
        /* A bar on stderr only when it is a terminal that the output itself does not go to. */
        e.progress.on = isatty(STDERR_FILENO) && (e.o.out_path || !isatty(STDOUT_FILENO));
        e.progress.shown_percent = -1;
        static char outbuf[1 << 16];
        setvbuf(out, outbuf, _IOFBF, sizeof outbuf);
        e.x.out = out;
        rc = export_all(&e);
        if (rc != 0 && !e.x.write_errno && !e.error_shown)
            cs_error("cannot read %s: %s", e.o.path, e.oom ? "out of memory" : cs_db_error(e.x.db));
        rc = close_output(out, e.o.out_path, tmp, rc == 0, e.x.write_errno);
    }
    if (e.o.format->free)
        e.o.format->free(&e.x);
    for (size_t i = 0; i < e.cap; i++)
        cs_textbuf_free(&e.stack[i].pending);
    free(e.stack);
    free_functions(&e.x);
    cs_textbuf_free(&e.x.buf);
    cs_filter_free(&e.o.filter);
    cs_close_store(e.x.db);
    return rc == 0 ? 0 : CS_EXIT_FAILURE;
}

/* ---- helpers for the formats ---- */

void cs_export_put_xml(struct cs_textbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '&': cs_textbuf_puts(b, "&amp;"); break;
        case '<': cs_textbuf_puts(b, "&lt;"); break;
        case '>': cs_textbuf_puts(b, "&gt;"); break;
        case '"': cs_textbuf_puts(b, "&quot;"); break;
        case '\'': cs_textbuf_puts(b, "&apos;"); break;
        default: cs_textbuf_putc(b, c < 0x20 ? '?' : (char)c);
        }
    }
}

/* ---- log rows ---- */

void cs_export_logs_open(struct cs_export *x, struct cs_export_logs *l)
{
    static const char sql[] = "SELECT call_id, time_ns, message, CASE WHEN json_valid(fields) THEN json(fields) END"
                              " FROM logs WHERE thread_id = ?1 AND call_id IS NOT NULL ORDER BY call_id, id";
    memset(l, 0, sizeof *l);
    if (sqlite3_prepare_v2(x->db, sql, -1, &l->st, NULL) != SQLITE_OK)
        l->st = NULL; /* (a recording without the table) */
}

void cs_export_logs_thread(struct cs_export_logs *l, const struct cs_thread_info *t)
{
    if (!l->st)
        return;
    sqlite3_reset(l->st);
    sqlite3_bind_int64(l->st, 1, t->row);
    l->row = sqlite3_step(l->st);
    l->taken = 0;
}

sqlite3_stmt *cs_export_log_of(struct cs_export_logs *l, int64_t call)
{
    if (!l->st)
        return NULL;
    if (l->taken) {
        l->row = sqlite3_step(l->st);
        l->taken = 0;
    }
    while (l->row == SQLITE_ROW && sqlite3_column_int64(l->st, 0) < call)
        l->row = sqlite3_step(l->st);
    if (l->row != SQLITE_ROW || sqlite3_column_int64(l->st, 0) != call)
        return NULL;
    l->taken = 1;
    return l->st;
}

void cs_export_logs_close(struct cs_export_logs *l)
{
    sqlite3_finalize(l->st);
    l->st = NULL;
}
