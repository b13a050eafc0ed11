/*
 * show.c — `callscope show`: the recorded calls as a tree per thread, or as
 * JSON lines.
 *
 * Call ids are handed out in start order within a thread, so reading a
 * thread's calls by id is a depth-first walk of its call tree: a stack of
 * ancestors is all it takes to place each call, without loading the tree.
 * Drawing the guides (├─ or └─) needs to know whether a call has a later
 * sibling, which only a look ahead can tell; so the tree is walked twice,
 * first to learn that (reading only ids, parents and durations), then to
 * print. With --function or --filter, only the subtrees of the selected
 * calls are read: a light scan finds each selected call, and the walk reads
 * on from it by id until a call outside its subtree.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "cli/reader_commands.h"
#include "cli/reader_options.h"
#include "core/grow.h"
#include "query/call_rows.h"
#include "query/common.h"
#include "query/filter.h"
#include "query/parallel_scan.h"
#include "query/selection.h"
#include "util/json.h"

struct show_options {
    struct cs_reader_options common; /* FILE, --filter, --limit, --format */
    const char *function;
    long long pid, tid; /* -1: all */
    int64_t min_duration_ns;
    long long max_depth; /* -1: all */
    int no_color;
    int color;
};

/* Ids from `from` up to (not including) `to`. */
struct id_range {
    int64_t from, to;
};

/* The rows of one thread (?1) with ids from ?2 up to (not including) ?3,
 * in the columns of call_rows.h; the first pass needs only the first five
 * of them. */
static const char ROW_SQL[] = CS_CALL_ROW_SQL CS_CALL_ROW_RANGE;
/* The tree prints the arguments as name=value. */
static const char ROW_TEXT_SQL[] = "SELECT " CS_CALL_ROW_COLUMNS_WITH(CS_ARGS_TEXT_SQL) CS_CALL_ROW_FROM CS_CALL_ROW_RANGE;
static const char PLACE_SQL[] = "SELECT c.id, c.parent_id, c.depth, c.start_ns, c.duration_ns FROM call_rows c"
                                " WHERE c.thread_id = ?1 AND c.id >= ?2 AND c.id < ?3 ORDER BY c.id";
/* With a selection pass 2 reads each subtree right after pass 1: pass 1
 * then reads the other number columns pass 2 prints as well, so that the
 * store decodes only the texts of the chunks for pass 2 (store/call_chunks.h). */
static const char PLACE_SELECTED_SQL[] =
    "SELECT c.id, c.parent_id, c.depth, c.start_ns, c.duration_ns, c.function_id, c.self_ns, c.flags"
    " FROM call_rows c WHERE c.thread_id = ?1 AND c.id >= ?2 AND c.id < ?3 ORDER BY c.id";

struct ancestor {
    int64_t id;
    int child_depth; /* display depth of its shown children */
};

struct show {
    struct show_options o;
    sqlite3 *db;
    int64_t wall0;
    unsigned char *fn_match; /* by function id, with --function */
    int64_t nfn;
    struct cs_filter filter; /* with --filter */
    int filtering;
    int selecting;   /* --function or --filter: only the selected calls' subtrees */
    struct cs_selection selected; /* with selecting: every thread's selected calls */
    sqlite3_stmt *stream; /* or, when they are too many to hold, one thread's, read as the walk goes */
    struct ancestor *stack;
    size_t depth, cap;
    /* pass 1 results, per shown call of the thread */
    int *shown_depth;
    unsigned char *has_next;
    size_t nshown, shown_cap;
    int *open_at; /* per display depth: index of the last shown call, or -1 */
    size_t open_cap;
    unsigned char *guide; /* per display depth: ancestor has a later sibling */
    long long printed;
    int oom;
    int error_shown; /* the reason for a failure is printed already */
    struct cs_textbuf line;
    struct cs_textbuf tail; /* a log line's text, before its guides */
};

/* ---- options ---- */

static void usage(FILE *f)
{
    fputs("usage: callscope show [FILE] [--function PATTERN] [--filter EXPR] [--pid N] [--tid N]\n"
          "                      [--min-duration MS] [--max-depth N] [--limit N]\n"
          "                      [--format tree|jsonl] [--no-color]\n"
          "Prints the calls recorded in FILE (default ./callscope.db) as a tree per thread.\n"
          "--function and --filter show the matching calls, each with its subtree;\n"
          "--filter takes an expression such as \"module == 'app%' and duration > 5\"\n"
          "(see docs/filter.md).\n",
          f);
}

/* One of show's own options (the shared ones are reader_options.c's). */
static int take_option(int opt, const char *arg, void *options)
{
    struct show_options *o = options;
    double ms;
    switch (opt) {
    case 'f': o->function = arg; break;
    case 'p':
        if (cs_parse_long(arg, 0, INT64_MAX, &o->pid) != 0)
            return cs_error("--pid needs a process id, not '%s'", arg), -1;
        break;
    case 't':
        if (cs_parse_long(arg, 0, INT64_MAX, &o->tid) != 0)
            return cs_error("--tid needs a thread id, not '%s'", arg), -1;
        break;
    case 'm':
        if (cs_parse_double(arg, 0, &ms) != 0 || ms > 9e12)
            return cs_error("--min-duration needs milliseconds, not '%s'", arg), -1;
        o->min_duration_ns = (int64_t)(ms * 1e6);
        break;
    case 'd':
        if (cs_parse_long(arg, 0, 1000000, &o->max_depth) != 0)
            return cs_error("--max-depth needs a depth (0 or more), not '%s'", arg), -1;
        break;
    case 'n': o->no_color = 1; break;
    }
    return 0;
}

static int parse_options(int argc, char **argv, struct show_options *o)
{
    static const struct option own[] = {
        {"function", required_argument, NULL, 'f'},  {"pid", required_argument, NULL, 'p'},
        {"tid", required_argument, NULL, 't'},       {"min-duration", required_argument, NULL, 'm'},
        {"max-depth", required_argument, NULL, 'd'}, {"no-color", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    static const struct cs_reader_command show = {"show", "tree", -1, own, take_option, usage};
    memset(o, 0, sizeof *o);
    o->pid = o->tid = o->max_depth = -1;
    if (cs_reader_parse_options(&show, argc, argv, &o->common, o) != 0)
        return -1;
    o->color = !o->common.jsonl && cs_want_color(o->no_color);
    return 0;
}

/* ---- function patterns ---- */

/* A pattern matches module.qualname, the qualname, or its last part. */
static int pattern_matches(const char *pattern, const char *name, const char *qualname)
{
    if (name && fnmatch(pattern, name, 0) == 0)
        return 1;
    if (!qualname)
        return 0;
    if (fnmatch(pattern, qualname, 0) == 0)
        return 1;
    const char *tail = strrchr(qualname, '.');
    return tail && fnmatch(pattern, tail + 1, 0) == 0;
}

/* --function matched nothing: one line saying so, with the names nearest
 * to the pattern (or how to list them). */
static void no_function_matches(struct show *s)
{
    sqlite3_stmt *st;
    const char **names = NULL, *near[3];
    size_t n = 0, cap = 0, found = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT DISTINCT qualname FROM functions WHERE qualname IS NOT NULL LIMIT 100000", -1, &st,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (n == cap) {
                const char **grown = cs_grow(names, &cap, sizeof *grown, 256);
                if (!grown)
                    break;
                names = grown;
            }
            names[n] = strdup(cs_col_text(st, 0));
            if (names[n])
                n++;
        }
        sqlite3_finalize(st);
        found = cs_nearest(s->o.function, names, n, near, 3);
    }
    struct cs_textbuf msg = {0};
    cs_textbuf_printf(&msg, "no function in %s matches '%s'", s->o.common.path, s->o.function);
    if (found) {
        cs_textbuf_puts(&msg, "; did you mean ");
        cs_quote_list(&msg, near, found, " or ");
        cs_textbuf_putc(&msg, '?');
    } else {
        cs_textbuf_printf(&msg, " (it has %zu; `callscope stats %s` lists them)", n, s->o.common.path);
    }
    cs_error("%s", cs_safe(cs_textbuf_cstr(&msg), (size_t)-1));
    cs_textbuf_free(&msg);
    for (size_t i = 0; i < n; i++)
        free((char *)names[i]);
    free(names);
}

static int load_function_matches(struct show *s)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT max(id) FROM functions", -1, &st, NULL) != SQLITE_OK)
        return -1;
    s->nfn = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) + 1 : 1;
    sqlite3_finalize(st);
    if (s->nfn < 1 || s->nfn > (1 << 26))
        s->nfn = 1;
    s->fn_match = calloc((size_t)s->nfn, 1);
    if (!s->fn_match)
        return -1;
    if (sqlite3_prepare_v2(s->db, "SELECT id, name, qualname FROM functions", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int matched = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id >= 0 && id < s->nfn &&
            pattern_matches(s->o.function, cs_col_text(st, 1), cs_col_text(st, 2)))
            s->fn_match[id] = matched = 1;
    }
    sqlite3_finalize(st);
    return matched ? 0 : 1;
}

/* ---- the walk ---- */

static int push_ancestor(struct show *s, struct ancestor a)
{
    if (s->depth == s->cap) {
        struct ancestor *grown = cs_grow(s->stack, &s->cap, sizeof *grown, 64);
        if (!grown)
            return -1;
        s->stack = grown;
    }
    s->stack[s->depth++] = a;
    return 0;
}

/* Places the current row: returns its display depth, or -1 if hidden.
 * `root` is set for the first row of a walk; with --function or --filter
 * that is a selected call, and the walk goes on through its descendants
 * only: *outside is set (and nothing placed) at the first other row. */
static int place(struct show *s, sqlite3_stmt *st, int root, int *outside)
{
    int64_t id = sqlite3_column_int64(st, C_ID);
    int64_t parent = sqlite3_column_type(st, C_PARENT) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, C_PARENT);
    while (s->depth && s->stack[s->depth - 1].id != parent)
        s->depth--;
    if (s->selecting && !root && s->depth == 0) {
        *outside = 1;
        return -1;
    }
    struct ancestor *up = s->depth ? &s->stack[s->depth - 1] : NULL;
    int base = up ? up->child_depth : 0;
    int finished = sqlite3_column_type(st, C_DURATION) != SQLITE_NULL;
    int shown = (!finished || sqlite3_column_int64(st, C_DURATION) >= s->o.min_duration_ns) &&
                (s->o.max_depth < 0 || base <= s->o.max_depth);
    struct ancestor a = {id, shown ? base + 1 : base};
    if (push_ancestor(s, a) != 0)
        s->oom = 1;
    return shown ? base : -1;
}

/* Grows two arrays kept side by side to cap entries each; -1 when one
 * could not grow (both stay valid, at least as long as before). */
static int grow_pair(int **ints, unsigned char **bytes, size_t cap)
{
    int *i = realloc(*ints, cap * sizeof *i);
    if (i)
        *ints = i;
    unsigned char *b = realloc(*bytes, cap);
    if (b)
        *bytes = b;
    return i && b ? 0 : -1;
}

static int grow_shown(struct show *s, int depth)
{
    if (s->nshown == s->shown_cap) {
        size_t cap = s->shown_cap ? s->shown_cap * 2 : 1024;
        if (grow_pair(&s->shown_depth, &s->has_next, cap) != 0)
            return -1;
        s->shown_cap = cap;
    }
    if ((size_t)depth + 2 > s->open_cap) {
        size_t cap = (size_t)depth * 2 + 16;
        if (grow_pair(&s->open_at, &s->guide, cap) != 0)
            return -1;
        for (size_t i = s->open_cap; i < cap; i++)
            s->open_at[i] = -1;
        s->open_cap = cap;
    }
    return 0;
}

/* Pass 1: records each shown call's display depth and whether a later
 * sibling follows it. */
static void note_shown(struct show *s, int depth)
{
    if (grow_shown(s, depth) != 0) {
        s->oom = 1;
        return;
    }
    size_t i = s->nshown++;
    s->shown_depth[i] = depth;
    s->has_next[i] = 0;
    for (size_t d = (size_t)depth + 1; d < s->open_cap && s->open_at[d] >= 0; d++)
        s->open_at[d] = -1;
    if (s->open_at[depth] >= 0)
        s->has_next[s->open_at[depth]] = 1;
    s->open_at[depth] = (int)i;
}

/* ---- printing ---- */

#define DIM(s) ((s)->o.color ? "\033[2m" : "")
#define RED(s) ((s)->o.color ? "\033[31m" : "")
#define YELLOW(s) ((s)->o.color ? "\033[33m" : "")
#define BOLD(s) ((s)->o.color ? "\033[1m" : "")
#define RESET(s) ((s)->o.color ? "\033[0m" : "")

static void put_guides(struct show *s, int depth, int has_next)
{
    if (depth == 0)
        return;
    cs_textbuf_puts(&s->line, DIM(s));
    for (int d = 1; d < depth; d++)
        cs_textbuf_puts(&s->line, s->guide[d] ? "\xe2\x94\x82  " : "   ");
    cs_textbuf_puts(&s->line, has_next ? "\xe2\x94\x9c\xe2\x94\x80 " : "\xe2\x94\x94\xe2\x94\x80 ");
    cs_textbuf_puts(&s->line, RESET(s));
}

static void print_tree_line(struct show *s, sqlite3_stmt *st, int depth, int has_next)
{
    cs_textbuf_reset(&s->line);
    put_guides(s, depth, has_next);
    const char *qualname = cs_col_text(st, C_QUALNAME);
    int flags = sqlite3_column_int(st, C_FLAGS);
    cs_textbuf_printf(&s->line, "%s%s%s(", BOLD(s), qualname ? cs_safe(qualname, (size_t)-1) : "?", RESET(s));
    const char *args = cs_col_text(st, C_ARGS); /* cs_args_text(): name=value, ... */
    if (args)
        cs_textbuf_puts(&s->line, cs_safe(args, (size_t)-1));
    cs_textbuf_putc(&s->line, ')');
    if (flags & 1)
        cs_textbuf_puts(&s->line, " (resume)");
    const char *result = cs_col_text(st, C_RESULT);
    const char *exception = cs_col_text(st, C_EXCEPTION);
    if (exception)
        cs_textbuf_printf(&s->line, " %s!! %s%s", RED(s), cs_safe(exception, (size_t)-1), RESET(s));
    else if (result)
        cs_textbuf_printf(&s->line, " \xe2\x86\x92 %s%s", flags & 2 ? "yield " : "", cs_safe(result, (size_t)-1));
    if (sqlite3_column_type(st, C_DURATION) == SQLITE_NULL) {
        cs_textbuf_printf(&s->line, "  %s[unfinished]%s", YELLOW(s), RESET(s));
    } else {
        char d[32];
        cs_format_duration(sqlite3_column_int64(st, C_DURATION), d, sizeof d);
        cs_textbuf_printf(&s->line, "  %s[%s]%s", YELLOW(s), d, RESET(s));
    }
    if (flags & 8)
        cs_textbuf_printf(&s->line, " %s(events lost around this call)%s", DIM(s), RESET(s));
    cs_textbuf_putc(&s->line, '\n');
    fwrite(s->line.data, 1, s->line.len, stdout);
}

static void print_json_line(struct show *s, sqlite3_stmt *st, const struct cs_thread_info *t)
{
    cs_textbuf_reset(&s->line);
    cs_call_json_line(&s->line, st, t, s->wall0);
    fwrite(s->line.data, 1, s->line.len, stdout);
}

/* Lost-event lines that happened before time_ns, at the given depth. */
static void print_lost_until(struct show *s, sqlite3_stmt *lost, int *lost_row, int64_t time_ns, int depth)
{
    while (*lost_row == SQLITE_ROW && (time_ns < 0 || sqlite3_column_int64(lost, 0) <= time_ns)) {
        cs_textbuf_reset(&s->line);
        put_guides(s, depth, 1);
        cs_textbuf_printf(&s->line, "%s\xe2\x80\xa6 %lld events lost here%s\n", RED(s),
                          (long long)sqlite3_column_int64(lost, 1), RESET(s));
        fwrite(s->line.data, 1, s->line.len, stdout);
        *lost_row = sqlite3_step(lost);
    }
}

/* ---- per thread ---- */

/* One thread's walk in progress. */
struct walk {
    const struct cs_thread_info *t;
    int print;     /* pass 2 */
    int stop;      /* --limit reached */
    int heading;   /* the thread's heading is out */
    size_t index;  /* shown calls so far (pass 2) */
    sqlite3_stmt *lost;
    int lost_row;
    sqlite3_stmt *logs; /* LOGS_SQL: the thread's log rows, by call */
    int log_row;
};

/* callscope.log() rows of a thread (?1), in the order of their calls. */
static const char LOGS_SQL[] =
    "SELECT call_id, message, " CS_LOG_FIELDS_TEXT_SQL
    " FROM logs WHERE thread_id = ?1 AND call_id IS NOT NULL ORDER BY call_id, id";

/* The log rows of the call just printed, one line each under it (the
 * calls come in the order of their ids). */
static void print_logs(struct show *s, struct walk *w, int64_t call, int depth, int has_children)
{
    while (w->log_row == SQLITE_ROW && sqlite3_column_int64(w->logs, 0) < call)
        w->log_row = sqlite3_step(w->logs);
    while (w->log_row == SQLITE_ROW && sqlite3_column_int64(w->logs, 0) == call) {
        cs_textbuf_reset(&s->tail);
        const char *message = cs_col_text(w->logs, 1), *fields = cs_col_text(w->logs, 2);
        cs_textbuf_printf(&s->tail, "%s\xc2\xb7 log:%s %s", DIM(s), RESET(s), message ? cs_safe(message, (size_t)-1) : "");
        if (fields)
            cs_textbuf_printf(&s->tail, "  %s%s%s", DIM(s), cs_safe(fields, (size_t)-1), RESET(s));
        w->log_row = sqlite3_step(w->logs);
        int more = has_children || (w->log_row == SQLITE_ROW && sqlite3_column_int64(w->logs, 0) == call);
        cs_textbuf_reset(&s->line);
        put_guides(s, depth + 1, more);
        cs_textbuf_put(&s->line, s->tail.data, s->tail.len);
        cs_textbuf_putc(&s->line, '\n');
        fwrite(s->line.data, 1, s->line.len, stdout);
    }
}

/* Walks the thread's rows in `range`: all of them, or when selecting the
 * subtree of the call range.from; *after is then the id of the first row
 * past it (INT64_MAX at the end of the thread or the range). */
static int walk_rows(struct show *s, sqlite3_stmt *rows, struct walk *w, struct id_range range, int64_t *after)
{
    sqlite3_reset(rows);
    sqlite3_bind_int64(rows, 1, w->t->row);
    sqlite3_bind_int64(rows, 2, range.from);
    sqlite3_bind_int64(rows, 3, range.to);
    s->depth = 0;
    *after = INT64_MAX;
    int rc, root = 1, outside = 0;
    while ((rc = sqlite3_step(rows)) == SQLITE_ROW && !s->oom) {
        int depth = place(s, rows, root, &outside);
        root = 0;
        if (outside) {
            *after = sqlite3_column_int64(rows, C_ID);
            break;
        }
        if (depth < 0)
            continue;
        if (!w->print) {
            if (s->o.common.limit >= 0 && s->printed + (long long)s->nshown >= s->o.common.limit) {
                w->stop = 1;
                break;
            }
            note_shown(s, depth);
            continue;
        }
        if (w->index >= s->nshown) {
            w->stop = 1; /* the limit */
            break;
        }
        if (!w->heading && !s->o.common.jsonl) {
            char title[300];
            cs_thread_title(w->t, title, sizeof title);
            printf("%s%s%s\n", BOLD(s), cs_safe(title, (size_t)-1), RESET(s));
            w->heading = 1;
        }
        if (s->o.common.jsonl) {
            print_json_line(s, rows, w->t);
        } else {
            print_lost_until(s, w->lost, &w->lost_row, sqlite3_column_int64(rows, C_START), depth);
            print_tree_line(s, rows, depth, s->has_next[w->index]);
            s->guide[depth] = s->has_next[w->index];
            if (w->logs)
                print_logs(s, w, sqlite3_column_int64(rows, C_ID), depth,
                           w->index + 1 < s->nshown && s->shown_depth[w->index + 1] > depth);
        }
        w->index++;
    }
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Where pass 1 is in a thread's selected calls: positions [at, end) of
 * s->selected, or (with s->stream) that statement's rows. */
struct root_cursor {
    size_t at, end;
};

/* The thread's next selected call with an id of at least `from`, or -1
 * when there is none (*rc set on an error). */
static int64_t next_root(struct show *s, struct root_cursor *cur, int64_t from, int *rc)
{
    if (!s->stream) {
        while (cur->at < cur->end && s->selected.calls[cur->at].id < from)
            cur->at++;
        return cur->at < cur->end ? s->selected.calls[cur->at].id : -1;
    }
    int step;
    while ((step = sqlite3_step(s->stream)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s->stream, 0), fn = sqlite3_column_int64(s->stream, 1);
        if (id >= from && (!s->fn_match || (fn >= 0 && fn < s->nfn && s->fn_match[fn])))
            return id;
    }
    if (step != SQLITE_DONE)
        *rc = -1;
    return -1;
}

/* Pass 1 (`placing`) learns which calls are shown, pass 2 (`rows`) prints
 * the same calls. With a selection, both passes take one selected subtree
 * at a time: pass 2 reads the subtree right after pass 1 found where it
 * ends, while the store still holds its chunks decoded. What pass 1 learns
 * of a subtree (which shown call has a later sibling) is settled at its
 * end: the next subtree's first shown call is at depth 0, which draws no
 * guide. */
static int walk_thread(struct show *s, sqlite3_stmt *placing, sqlite3_stmt *rows, sqlite3_stmt *lost,
                       sqlite3_stmt *logs, const struct cs_thread_info *t)
{
    struct walk noting = {t, 0, 0, 0, 0, NULL, SQLITE_DONE, NULL, SQLITE_DONE};
    struct walk w = {t, 1, 0, 0, 0, lost, SQLITE_DONE, NULL, SQLITE_DONE};
    if (lost && !s->o.common.jsonl) {
        sqlite3_reset(lost);
        sqlite3_bind_int64(lost, 1, t->row);
        w.lost_row = sqlite3_step(lost);
    }
    if (logs && !s->o.common.jsonl) {
        sqlite3_reset(logs);
        sqlite3_bind_int64(logs, 1, t->row);
        w.logs = logs;
        w.log_row = sqlite3_step(logs);
    }
    int rc = 0;
    int64_t after, ignored;
    if (!s->selecting) {
        struct id_range all = {INT64_MIN, INT64_MAX};
        rc = walk_rows(s, placing, &noting, all, &after);
        if (rc == 0)
            rc = walk_rows(s, rows, &w, all, &after);
    } else {
        struct root_cursor cur = {0};
        if (s->stream) {
            sqlite3_reset(s->stream);
            sqlite3_bind_int64(s->stream, 1, t->row);
        } else {
            cs_selection_of_thread(&s->selected, t->row, &cur.at, &cur.end);
        }
        for (int64_t from = INT64_MIN; rc == 0 && !w.stop && from != INT64_MAX; from = after) {
            int64_t root = next_root(s, &cur, from, &rc);
            if (root < 0)
                break;
            rc = walk_rows(s, placing, &noting, (struct id_range){root, INT64_MAX}, &after);
            if (rc == 0)
                rc = walk_rows(s, rows, &w, (struct id_range){root, after}, &ignored);
            if (noting.stop)
                break;
        }
    }
    if (w.heading && !w.stop) /* (past --limit: the calls they were among are not shown) */
        print_lost_until(s, lost, &w.lost_row, -1, 1);
    s->printed += (long long)w.index;
    return rc;
}

static int prepare_stream(struct show *s)
{
    struct cs_textbuf sql = {0};
    cs_textbuf_puts(&sql, "SELECT c.id, c.function_id FROM call_rows c WHERE c.thread_id = ?1");
    if (s->filtering)
        cs_filter_append_where(&s->filter, &sql);
    cs_textbuf_puts(&sql, " ORDER BY c.id");
    int rc = sql.oom || sqlite3_prepare_v2(s->db, cs_textbuf_cstr(&sql), -1, &s->stream, NULL) != SQLITE_OK;
    cs_textbuf_free(&sql);
    if (!rc && s->filtering && cs_filter_bind(&s->filter, s->stream) != SQLITE_OK)
        rc = 1;
    return rc ? -1 : 0;
}

/* Finds the selected calls of every thread in one scan, on every core,
 * when they are few enough to hold (CS_SELECTION_MAX_HELD); past that,
 * and with --limit, which may need only the first few, each thread's are
 * read as the walk goes instead, with the filter, in one thread. */
static int load_selected(struct show *s)
{
    char err[400];
    int found = s->o.common.limit >= 0 ? 1
                                : cs_select_calls(s->db, s->o.common.path, s->filtering ? &s->filter : NULL, s->fn_match,
                                                  s->nfn, CS_SELECTION_MAX_HELD, &s->selected, err, sizeof err);
    if (found < 0) {
        cs_error("%s", err);
        s->error_shown = 1;
        return -1;
    }
    return found == 0 ? 0 : prepare_stream(s);
}

static int show_all(struct show *s)
{
    struct cs_thread_info *threads = NULL;
    size_t nthreads = 0;
    sqlite3_stmt *rows = NULL, *placing = NULL, *lost = NULL, *logs = NULL;
    int rc = 0;
    s->selecting = s->fn_match || s->filtering;
    if ((s->selecting && load_selected(s) != 0) ||
        sqlite3_prepare_v2(s->db, s->o.common.jsonl ? ROW_SQL : ROW_TEXT_SQL, -1, &rows, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, s->selecting ? PLACE_SELECTED_SQL : PLACE_SQL, -1, &placing, NULL) != SQLITE_OK ||
        cs_load_threads(s->db, s->o.pid, s->o.tid, &threads, &nthreads) != 0 ||
        sqlite3_prepare_v2(s->db, "SELECT time_ns, count FROM lost WHERE thread_id = ? ORDER BY time_ns",
                           -1, &lost, NULL) != SQLITE_OK)
        rc = -1;
    if (sqlite3_prepare_v2(s->db, LOGS_SQL, -1, &logs, NULL) != SQLITE_OK)
        logs = NULL; /* (a recording without the table: no log lines) */
    for (size_t i = 0; i < nthreads && rc == 0; i++) {
        if (s->o.common.limit >= 0 && s->printed >= s->o.common.limit)
            break;
        s->nshown = 0;
        for (size_t d = 0; d < s->open_cap; d++)
            s->open_at[d] = -1;
        if (walk_thread(s, placing, rows, lost, logs, &threads[i]) != 0)
            rc = -1;
    }
    if (rc == 0 && !s->o.common.jsonl && s->o.common.limit >= 0 && s->printed >= s->o.common.limit)
        printf("%s(stopped after %lld calls: --limit)%s\n", DIM(s), s->o.common.limit, RESET(s));
    if (s->oom)
        rc = -1;
    sqlite3_finalize(rows);
    sqlite3_finalize(placing);
    sqlite3_finalize(lost);
    sqlite3_finalize(logs);
    cs_selection_free(&s->selected);
    sqlite3_finalize(s->stream);
    s->stream = NULL;
    cs_free_threads(threads, nthreads);
    return rc;
}

static void free_show(struct show *s)
{
    cs_close_store(s->db);
    free(s->fn_match);
    cs_filter_free(&s->filter);
    free(s->stack);
    free(s->shown_depth);
    free(s->has_next);
    free(s->open_at);
    free(s->guide);
    cs_textbuf_free(&s->line);
    cs_textbuf_free(&s->tail);
}

int cs_cmd_show(int argc, char **argv)
{
    struct show s;
    memset(&s, 0, sizeof s);
    if (parse_options(argc, argv, &s.o) != 0)
        return CS_EXIT_USAGE;
    s.db = cs_open_store(s.o.common.path);
    if (!s.db)
        return CS_EXIT_FAILURE;
    s.wall0 = cs_store_wall_start(s.db);
    int rc = 0;
    if (s.o.common.filter) {
        struct cs_expr_error err;
        if (cs_filter_compile(s.db, s.o.common.filter, CS_SCAN_FILTER_FIRST_PARAM, &s.filter, &err) != 0) {
            cs_filter_print_error(s.o.common.filter, &err);
            free_show(&s);
            return CS_EXIT_USAGE;
        }
        s.filtering = 1;
    }
    if (s.o.function) {
        int loaded = load_function_matches(&s);
        if (loaded > 0) {
            no_function_matches(&s);
            free_show(&s);
            return CS_EXIT_USAGE;
        }
        rc = loaded;
    }
    if (rc == 0 && cs_no_such_thread(s.db, s.o.common.path, s.o.pid, s.o.tid)) {
        free_show(&s);
        return CS_EXIT_USAGE;
    }
    if (rc == 0)
        rc = show_all(&s);
    if (rc != 0 && !s.error_shown)
        cs_error("cannot read %s: %s", s.o.common.path, s.oom ? "out of memory" : cs_db_error(s.db));
    fflush(stdout);
    free_show(&s);
    return rc == 0 ? 0 : CS_EXIT_FAILURE;
}
