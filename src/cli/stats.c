/*
 * stats.c — `callscope stats`: per function, how many calls and how much
 * time (total, self, mean, max), as an aligned table or JSON lines.
 *
 * The calls are aggregated in one pass in C, by function id, rather than
 * with GROUP BY: the store keeps no index that would make grouping cheap
 * while it is still being written, and a scan into an array is faster than
 * SQLite's sort. A large store is scanned in parts on every core
 * (parallel_scan.h). Functions are then merged by (name, filename, lineno).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/reader_commands.h"
#include "cli/reader_options.h"
#include "query/common.h"
#include "query/filter.h"
#include "query/parallel_scan.h"
#include "util/json.h"

enum sort_key { BY_TOTAL, BY_SELF, BY_COUNT, BY_MEAN, BY_MAX };

struct stats_options {
    struct cs_reader_options common; /* FILE, --filter, --limit, --format */
    enum sort_key sort;
};

struct fn_stats {
    char *name, *module, *filename;
    int64_t lineno; /* -1: none */
    int64_t count, finished, total, self, max;
};

static void usage(FILE *f)
{
    fputs("usage: callscope stats [FILE] [--sort total|self|count|mean|max] [--limit N]\n"
          "                       [--filter EXPR] [--format table|jsonl]\n"
          "Prints time spent per function in FILE (default ./callscope.db).\n"
          "--filter counts only the calls that match an expression such as\n"
          "\"module == 'app%' and duration > 5\" (see docs/filter.md).\n",
          f);
}

static int parse_sort(const char *s, enum sort_key *out)
{
    static const char *const names[] = {"total", "self", "count", "mean", "max"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return *out = (enum sort_key)i, 0;
    return -1;
}

/* stats' own option, --sort (the shared ones are reader_options.c's). */
static int take_option(int opt, const char *arg, void *options)
{
    struct stats_options *o = options;
    if (opt == 's' && parse_sort(arg, &o->sort) != 0)
        return cs_error("--sort is total, self, count, mean or max, not '%s'", arg), -1;
    return 0;
}

static int parse_options(int argc, char **argv, struct stats_options *o)
{
    static const struct option own[] = {
        {"sort", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    static const struct cs_reader_command stats = {"stats", "table", 30, own, take_option, usage};
    memset(o, 0, sizeof *o);
    return cs_reader_parse_options(&stats, argc, argv, &o->common, o);
}

/* ---- aggregation ---- */

static char *dup_col(sqlite3_stmt *st, int i)
{
    const char *t = cs_col_text(st, i);
    return t ? strdup(t) : NULL;
}

/* Loads the functions, indexed by id (holes have count 0 and no name). */
static struct fn_stats *load_functions(sqlite3 *db, int64_t *n)
{
    sqlite3_stmt *st;
    *n = 0;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) + 1 FROM functions", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (*n < 1 || *n > (1 << 26))
        return NULL;
    struct fn_stats *fns = calloc((size_t)*n, sizeof *fns);
    if (!fns || sqlite3_prepare_v2(db, "SELECT id, name, module, filename, lineno FROM functions", -1, &st,
                                   NULL) != SQLITE_OK) {
        free(fns);
        return NULL;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id < 0 || id >= *n)
            continue;
        fns[id].name = dup_col(st, 1);
        fns[id].module = dup_col(st, 2);
        fns[id].filename = dup_col(st, 3);
        fns[id].lineno = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4);
    }
    sqlite3_finalize(st);
    return fns;
}

/* What one part of the scan adds up, per function id. */
struct fn_totals {
    int64_t count, finished, total, self, max;
};

struct part_totals {
    struct fn_totals *by_fn;
    int64_t n;
};

/* columns: function_id, duration_ns, self_ns */
static int add_call(sqlite3_value **col, void *state)
{
    struct part_totals *p = state;
    int64_t id = sqlite3_value_int64(col[0]);
    if (id < 0 || id >= p->n)
        return 0;
    struct fn_totals *f = &p->by_fn[id];
    f->count++;
    if (sqlite3_value_type(col[1]) == SQLITE_NULL)
        return 0; /* unfinished: counted, but it has no time */
    int64_t d = sqlite3_value_int64(col[1]);
    f->finished++;
    f->total += d;
    f->self += sqlite3_value_int64(col[2]);
    if (d > f->max)
        f->max = d;
    return 0;
}

/* Every call, or with a filter only the matching ones, added to fns; the
 * parts of a large store are added up on all cores. 0, or -1 with the
 * reason printed. */
static int aggregate_calls(sqlite3 *db, const char *path, const struct cs_filter *filter, struct fn_stats *fns,
                           int64_t n)
{
    int nparts = cs_scan_parts(db);
    struct part_totals parts[CS_SCAN_MAX_PARTS];
    void *states[CS_SCAN_MAX_PARTS];
    int failed = 0;
    for (int i = 0; i < nparts; i++) {
        parts[i] = (struct part_totals){calloc((size_t)n, sizeof(struct fn_totals)), n};
        states[i] = &parts[i];
        failed |= !parts[i].by_fn;
    }
    char err[400] = "out of memory";
    failed = failed || cs_scan_parallel(db, path, "c.function_id, c.duration_ns, c.self_ns", filter, states, nparts,
                                        add_call, err, sizeof err) != 0;
    for (int i = 0; i < nparts; i++) {
        for (int64_t k = 0; !failed && k < n; k++) {
            const struct fn_totals *t = &parts[i].by_fn[k];
            fns[k].count += t->count;
            fns[k].finished += t->finished;
            fns[k].total += t->total;
            fns[k].self += t->self;
            if (t->max > fns[k].max)
                fns[k].max = t->max;
        }
        free(parts[i].by_fn);
    }
    if (failed)
        cs_error("%s", err);
    return failed ? -1 : 0;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int by_identity(const void *pa, const void *pb)
{
    const struct fn_stats *a = pa, *b = pb;
    int c = strcmp(a->name ? a->name : "", b->name ? b->name : "");
    if (!c)
        c = strcmp(a->filename ? a->filename : "", b->filename ? b->filename : "");
    if (!c)
        c = (a->lineno > b->lineno) - (a->lineno < b->lineno);
    return c;
}

/* Merges entries with the same name, filename and line; drops unused ones. */
static size_t merge_functions(struct fn_stats *fns, int64_t n)
{
    size_t used = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fns[i].count)
            fns[used++] = fns[i];
        else {
            free(fns[i].name);
            free(fns[i].module);
            free(fns[i].filename);
        }
    }
    qsort(fns, used, sizeof *fns, by_identity);
    size_t out = 0;
    for (size_t i = 0; i < used; i++) {
        struct fn_stats *last = out ? &fns[out - 1] : NULL;
        if (last && same_str(last->name, fns[i].name) && same_str(last->filename, fns[i].filename) &&
            last->lineno == fns[i].lineno) {
            last->count += fns[i].count;
            last->finished += fns[i].finished;
            last->total += fns[i].total;
            last->self += fns[i].self;
            if (fns[i].max > last->max)
                last->max = fns[i].max;
            free(fns[i].name);
            free(fns[i].module);
            free(fns[i].filename);
        } else {
            fns[out++] = fns[i];
        }
    }
    return out;
}

static enum sort_key sort_by;

static int64_t mean_of(const struct fn_stats *f)
{
    return f->finished ? f->total / f->finished : 0;
}

static int64_t sort_value(const struct fn_stats *f)
{
    switch (sort_by) {
    case BY_SELF: return f->self;
    case BY_COUNT: return f->count;
    case BY_MEAN: return mean_of(f);
    case BY_MAX: return f->max;
    default: return f->total;
    }
}

static int by_sort_key(const void *pa, const void *pb)
{
    int64_t a = sort_value(pa), b = sort_value(pb);
    if (a != b)
        return a < b ? 1 : -1;
    return by_identity(pa, pb);
}

/* ---- output ---- */

static void print_jsonl(const struct fn_stats *fns, size_t n)
{
    struct cs_textbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        const struct fn_stats *f = &fns[i];
        cs_textbuf_reset(&b);
        cs_textbuf_puts(&b, "{\"function\":");
        cs_json_text_or_null(&b, f->name);
        cs_textbuf_puts(&b, ",\"module\":");
        cs_json_text_or_null(&b, f->module);
        cs_textbuf_puts(&b, ",\"filename\":");
        cs_json_text_or_null(&b, f->filename);
        if (f->lineno >= 0)
            cs_textbuf_printf(&b, ",\"lineno\":%lld", (long long)f->lineno);
        else
            cs_textbuf_puts(&b, ",\"lineno\":null");
        cs_textbuf_printf(&b, ",\"count\":%lld,\"total_ms\":%.6f,\"self_ms\":%.6f,\"mean_ms\":%.6f,\"max_ms\":%.6f}\n",
                          (long long)f->count, (double)f->total / 1e6, (double)f->self / 1e6,
                          (double)mean_of(f) / 1e6, (double)f->max / 1e6);
        fwrite(b.data, 1, b.len, stdout);
    }
    cs_textbuf_free(&b);
}

static void print_table(const struct fn_stats *fns, size_t n)
{
    printf("%10s %10s %10s %10s %10s  %s\n", "count", "total", "self", "mean", "max", "function");
    for (size_t i = 0; i < n; i++) {
        const struct fn_stats *f = &fns[i];
        char total[32], self[32], mean[32], max[32];
        cs_format_duration(f->total, total, sizeof total);
        cs_format_duration(f->self, self, sizeof self);
        cs_format_duration(mean_of(f), mean, sizeof mean);
        cs_format_duration(f->max, max, sizeof max);
        /* µ is two bytes but one column: pad by display width. */
        printf("%10lld %*s %*s %*s %*s  %s", (long long)f->count, 10 + (int)(strstr(total, "\xc2\xb5") != NULL),
               total, 10 + (int)(strstr(self, "\xc2\xb5") != NULL), self,
               10 + (int)(strstr(mean, "\xc2\xb5") != NULL), mean, 10 + (int)(strstr(max, "\xc2\xb5") != NULL),
               max, f->name ? cs_safe(f->name, (size_t)-1) : "?");
        if (f->filename)
            printf("  %s:%lld", cs_safe(f->filename, (size_t)-1), (long long)f->lineno);
        putchar('\n');
    }
}

static void print_lost(sqlite3 *db)
{
    int64_t events = cs_query_int(db, "SELECT value FROM meta WHERE key = 'lost_events'", 0);
    int64_t calls = cs_query_int(db, "SELECT value FROM meta WHERE key = 'disk_full_lost_calls'", 0);
    if (events > 0)
        cs_note("%lld events were lost while recording; these numbers are lower bounds", (long long)events);
    if (calls > 0)
        cs_note("%lld calls were not recorded while the disk was full; these numbers are lower bounds",
                (long long)calls);
}

int cs_cmd_stats(int argc, char **argv)
{
    struct stats_options o;
    if (parse_options(argc, argv, &o) != 0)
        return CS_EXIT_USAGE;
    sqlite3 *db = cs_open_store(o.common.path);
    if (!db)
        return CS_EXIT_FAILURE;
    struct cs_filter filter = {0};
    if (o.common.filter) {
        struct cs_expr_error err;
        if (cs_filter_compile(db, o.common.filter, CS_SCAN_FILTER_FIRST_PARAM, &filter, &err) != 0) {
            cs_filter_print_error(o.common.filter, &err);
            cs_close_store(db);
            return CS_EXIT_USAGE;
        }
    }
    int64_t nfns;
    struct fn_stats *fns = load_functions(db, &nfns);
    if (!fns)
        cs_error("cannot read %s: %s", o.common.path, "not enough memory or a bad functions table");
    int failed = !fns || aggregate_calls(db, o.common.path, o.common.filter ? &filter : NULL, fns, nfns) != 0;
    cs_filter_free(&filter);
    if (failed) {
        for (int64_t i = 0; fns && i < nfns; i++) {
            free(fns[i].name);
            free(fns[i].module);
            free(fns[i].filename);
        }
        free(fns);
        cs_close_store(db);
        return CS_EXIT_FAILURE;
    }
    size_t n = merge_functions(fns, nfns);
    sort_by = o.sort;
    qsort(fns, n, sizeof *fns, by_sort_key);
    size_t shown = o.common.limit >= 0 && (size_t)o.common.limit < n ? (size_t)o.common.limit : n;
    if (o.common.jsonl)
        print_jsonl(fns, shown);
    else
        print_table(fns, shown);
    if (!o.common.jsonl && shown < n)
        printf("(%zu more functions; see --limit)\n", n - shown);
    print_lost(db);
    for (size_t i = 0; i < n; i++) {
        free(fns[i].name);
        free(fns[i].module);
        free(fns[i].filename);
    }
    free(fns);
    cs_close_store(db);
    return 0;
}
