/*
 * model.c — the viewer's lines, read by keyset queries a window at a
 * time, with folding and the filter (see model.h).
 */
#include "view/model.h"

#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "query/common.h"
#include "util/json.h"
#include "util/textbuf.h"

/* SQLite virtual machine steps between two polls for a key. */
#define POLL_STEPS 20000

static int progress(void *ctx)
{
    struct view_model *m = ctx;
    if (m->poll && m->poll(m->poll_ctx)) {
        m->cancelled = 1;
        return 1;
    }
    return 0;
}

int vm_pos_cmp(struct vm_pos a, struct vm_pos b)
{
    if (a.thread != b.thread)
        return a.thread < b.thread ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id;
}

struct vm_pos vm_end(const struct view_model *m)
{
    return (struct vm_pos){(int)m->nthreads - 1, INT64_MAX};
}

void vm_row_clear(struct vm_row *r)
{
    free(r->qualname);
    free(r->args);
    free(r->result);
    free(r->exception);
    memset(r, 0, sizeof *r);
}

void vm_rows_clear(struct vm_row *r, int n)
{
    for (int i = 0; i < n; i++)
        vm_row_clear(&r[i]);
}

static void find_ranges(struct view_model *m);

/* ---- threads ---- */

int vm_reload_threads(struct view_model *m)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->db, "SELECT id, pid, tid, name FROM threads ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    size_t n = 0, cap = 0;
    struct cs_thread_info *threads = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            struct cs_thread_info *grown = cs_grow(threads, &cap, sizeof *grown, 16);
            if (!grown) {
                rc = SQLITE_NOMEM;
                break;
            }
            threads = grown;
        }
        const char *name = cs_col_text(st, 3);
        threads[n++] = (struct cs_thread_info){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                               sqlite3_column_int64(st, 2), name ? strdup(name) : NULL};
    }
    sqlite3_finalize(st);
    unsigned char *folded = rc == SQLITE_DONE ? calloc(n ? n : 1, 1) : NULL;
    if (!folded) {
        cs_free_threads(threads, n);
        return -1;
    }
    /* Threads only ever get added, in id order: keep the folds. */
    for (size_t i = 0; i < n && i < m->nthreads; i++)
        folded[i] = m->thread_folded[i];
    cs_free_threads(m->threads, m->nthreads);
    free(m->thread_folded);
    m->threads = threads;
    m->nthreads = n;
    m->thread_folded = folded;
    /* calls that ended since, in blocks the filter passed over then */
    if (m->ranged && vm_max_id(m) != m->ranges_to)
        find_ranges(m);
    return 0;
}

/* ---- statements ---- */

static int prepare(struct view_model *m)
{
    sqlite3_finalize(m->forward);
    sqlite3_finalize(m->backward);
    m->forward = m->backward = NULL;
    struct cs_textbuf sql = {0};
    int rc = 0;
    for (int dir = 0; dir < 2 && rc == 0; dir++) {
        cs_textbuf_reset(&sql);
        cs_textbuf_puts(&sql, "SELECT " CS_CALL_ROW_COLUMNS CS_CALL_ROW_FROM);
        cs_textbuf_puts(&sql, dir == 0 ? " AND c.id > ?2 AND c.id <= ?4" : " AND c.id < ?2 AND c.id >= ?4");
        if (m->filter_text)
            cs_filter_append_where(&m->filter, &sql);
        cs_textbuf_puts(&sql, dir == 0 ? " ORDER BY c.id LIMIT ?3" : " ORDER BY c.id DESC LIMIT ?3");
        sqlite3_stmt **st = dir == 0 ? &m->forward : &m->backward;
        if (sql.oom || sqlite3_prepare_v2(m->db, cs_textbuf_cstr(&sql), -1, st, NULL) != SQLITE_OK)
            rc = -1;
        else if (m->filter_text && cs_filter_bind(&m->filter, *st) != SQLITE_OK)
            rc = -1;
    }
    cs_textbuf_free(&sql);
    return rc;
}

int vm_open(struct view_model *m, sqlite3 *db)
{
    memset(m, 0, sizeof *m);
    m->db = db;
    sqlite3_progress_handler(db, POLL_STEPS, progress, m);
    if (vm_reload_threads(m) != 0 || prepare(m) != 0)
        return -1;
    return 0;
}

void vm_close(struct view_model *m)
{
    sqlite3_finalize(m->forward);
    sqlite3_finalize(m->backward);
    cs_free_threads(m->threads, m->nthreads);
    free(m->thread_folded);
    free(m->folds);
    cs_filter_free(&m->filter);
    free(m->filter_text);
    free(m->ranges);
    cs_textbuf_free(&m->key);
    cs_textbuf_free(&m->value);
    if (m->db)
        sqlite3_progress_handler(m->db, 0, NULL, NULL);
    memset(m, 0, sizeof *m);
}

/* ---- the ids the filter reads (the skip index, scan_ranges.h) ---- */

static void find_ranges(struct view_model *m)
{
    free(m->ranges);
    m->ranges = NULL;
    m->nranges = 0;
    m->ranged = 0;
    if (!m->filter_text || !m->filter.nclauses)
        return;
    /* A cancelled or failed look (the progress handler may stop it) reads
     * every id, as without the index. */
    int64_t to = vm_max_id(m);
    m->ranged = cs_scan_ranges(m->db, &m->filter, 1, to, &m->ranges, &m->nranges) == 0;
    m->ranges_to = to;
    if (!m->ranged) {
        free(m->ranges);
        m->ranges = NULL;
        m->nranges = 0;
    }
}

/* How many of the ranges (in id order, apart) end (by_end) or start at
 * or below id. */
static size_t leading_ranges(const struct view_model *m, int64_t id, int by_end)
{
    size_t a = 0, b = m->nranges;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if ((by_end ? m->ranges[mid].hi : m->ranges[mid].lo) <= id)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

/* The first span of ids that may hold calls, among those above `after`:
 * [*lo, *hi], the last one open-ended (*hi INT64_MAX). */
static void span_after(const struct view_model *m, int64_t after, int64_t *lo, int64_t *hi)
{
    *lo = after + 1;
    *hi = INT64_MAX;
    if (!m->ranged)
        return;
    size_t a = leading_ranges(m, after, 1); /* then the first range ending above after */
    if (a < m->nranges) {
        *lo = m->ranges[a].lo > after + 1 ? m->ranges[a].lo : after + 1;
        *hi = m->ranges[a].hi;
    } else if (*lo <= m->ranges_to) {
        *lo = m->ranges_to + 1; /* recorded since the ranges were found */
    }
}

/* The nearest span of ids that may hold calls, among those below
 * `before`: [*lo, *hi], the first one open-ended (*lo INT64_MIN); 0 when
 * there is none. */
static int span_before(const struct view_model *m, int64_t before, int64_t *lo, int64_t *hi)
{
    *lo = INT64_MIN;
    *hi = before - 1;
    if (!m->ranged)
        return 1;
    if (*hi > m->ranges_to) {
        *lo = m->ranges_to + 1;
        return 1;
    }
    size_t a = leading_ranges(m, before - 1, 0); /* past the last range starting below before */
    if (a == 0)
        return 0;
    *lo = m->ranges[a - 1].lo;
    if (m->ranges[a - 1].hi < *hi)
        *hi = m->ranges[a - 1].hi;
    return 1;
}

int vm_set_filter(struct view_model *m, const char *text, struct cs_expr_error *err)
{
    struct cs_filter f;
    memset(&f, 0, sizeof f);
    char *copy = NULL;
    if (text && *text) {
        /* Parameters from ?5: ?1 thread, ?2 and ?4 the ids between, ?3 limit. */
        if (cs_filter_compile(m->db, text, 5, &f, err) != 0)
            return -1;
        copy = strdup(text);
        if (!copy) {
            cs_filter_free(&f);
            snprintf(err->message, sizeof err->message, "out of memory");
            err->column = 0;
            return -1;
        }
    }
    cs_filter_free(&m->filter);
    free(m->filter_text);
    m->filter = f;
    m->filter_text = copy;
    m->nfolds = 0; /* a folded call may not be shown any more */
    find_ranges(m);
    if (prepare(m) != 0) {
        snprintf(err->message, sizeof err->message, "%s", cs_db_error(m->db));
        err->column = 0;
        return -1;
    }
    return 0;
}

/* ---- folds ---- */

static struct vm_fold *fold_at(struct view_model *m, int thread, int64_t id)
{
    for (size_t i = 0; i < m->nfolds; i++)
        if (m->folds[i].thread == thread && m->folds[i].start == id)
            return &m->folds[i];
    return NULL;
}

/* The outermost fold that hides id (strictly inside its range). */
static struct vm_fold *fold_hiding(struct view_model *m, int thread, int64_t id)
{
    struct vm_fold *best = NULL;
    for (size_t i = 0; i < m->nfolds; i++) {
        struct vm_fold *f = &m->folds[i];
        if (f->thread == thread && f->start < id && id < f->end && (!best || f->start < best->start))
            best = f;
    }
    return best;
}

static int step_error(struct view_model *m, int rc)
{
    if (rc == SQLITE_INTERRUPT || m->cancelled) {
        m->cancelled = 0;
        return VM_CANCELLED;
    }
    return -1;
}

int vm_toggle_fold(struct view_model *m, const struct vm_row *row)
{
    int t = row->pos.thread;
    if (row->pos.id == 0) {
        m->thread_folded[t] = !m->thread_folded[t];
        return 1;
    }
    struct vm_fold *f = fold_at(m, t, row->pos.id);
    if (f) {
        *f = m->folds[--m->nfolds];
        return 1;
    }
    /* The subtree ends at the next call of the thread that is not deeper. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(m->db,
                           "SELECT (SELECT depth FROM call_rows WHERE thread_id = ?1 AND id > ?2 ORDER BY id LIMIT 1),"
                           " (SELECT id FROM call_rows WHERE thread_id = ?1 AND id > ?2 AND depth <= ?3 ORDER BY id LIMIT 1)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, m->threads[t].row);
    sqlite3_bind_int64(st, 2, row->pos.id);
    sqlite3_bind_int(st, 3, row->depth);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return step_error(m, rc);
    }
    int children = sqlite3_column_type(st, 0) != SQLITE_NULL && sqlite3_column_int(st, 0) > row->depth;
    int64_t end = sqlite3_column_type(st, 1) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    if (!children)
        return 0;
    if (m->nfolds == m->fold_cap) {
        struct vm_fold *grown = cs_grow(m->folds, &m->fold_cap, sizeof *grown, 16);
        if (!grown)
            return -1;
        m->folds = grown;
    }
    m->folds[m->nfolds++] = (struct vm_fold){t, row->pos.id, end};
    return 1;
}

/* ---- reading lines ---- */

static char *dup_col(sqlite3_stmt *st, int col)
{
    const char *s = cs_col_text(st, col);
    return s ? strdup(s) : NULL;
}

/* name=value, ... from the stored JSON object (the raw text if malformed). */
static char *render_args(struct view_model *m, const char *json)
{
    if (!json)
        return NULL;
    struct cs_textbuf out = {0};
    struct cs_textbuf *key = &m->key, *value = &m->value;
    struct cs_json_iter it;
    cs_json_iter_init(&it, json, strlen(json));
    int rc, n = 0;
    cs_textbuf_grow(&out, strlen(json) + 1);
    while ((rc = cs_json_iter_next(&it, key, value)) == 1) {
        if (n++)
            cs_textbuf_put(&out, ", ", 2);
        cs_textbuf_put(&out, key->data, key->len);
        cs_textbuf_putc(&out, '=');
        cs_textbuf_put(&out, value->data, value->len);
    }
    if (rc < 0) {
        cs_textbuf_reset(&out);
        cs_textbuf_puts(&out, json);
    }
    cs_textbuf_putc(&out, '\0');
    if (out.oom) {
        cs_textbuf_free(&out);
        return NULL;
    }
    return out.data;
}

static void heading_row(struct vm_row *r, int thread, int folded)
{
    memset(r, 0, sizeof *r);
    r->pos = (struct vm_pos){thread, 0};
    r->depth = -1;
    r->folded = folded;
}

static void call_row(struct view_model *m, struct vm_row *r, int thread, sqlite3_stmt *st)
{
    memset(r, 0, sizeof *r);
    r->pos = (struct vm_pos){thread, sqlite3_column_int64(st, C_ID)};
    r->depth = sqlite3_column_int(st, C_DEPTH);
    r->duration_ns = sqlite3_column_type(st, C_DURATION) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, C_DURATION);
    r->flags = sqlite3_column_int(st, C_FLAGS);
    r->folded = fold_at(m, thread, r->pos.id) != NULL;
    r->qualname = dup_col(st, C_QUALNAME);
    r->args = render_args(m, cs_col_text(st, C_ARGS));
    r->result = dup_col(st, C_RESULT);
    r->exception = dup_col(st, C_EXCEPTION);
}

/* The calls of `thread` from bound on (exclusive) up to edge (inclusive):
 * above it in id order (m->forward), or below it (m->backward). */
static int run(struct view_model *m, sqlite3_stmt *st, int thread, int64_t bound, int64_t edge, int limit)
{
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, m->threads[thread].row);
    sqlite3_bind_int64(st, 2, bound);
    sqlite3_bind_int(st, 3, limit);
    sqlite3_bind_int64(st, 4, edge);
    return sqlite3_step(st);
}

int vm_forward(struct view_model *m, struct vm_pos from, int inclusive, struct vm_row *out, int n)
{
    int count = 0;
    int t = from.thread;
    /* after: the last id read in thread t; -1 before its heading. */
    int64_t after = inclusive ? from.id - 1 : from.id;
    if (!inclusive && from.id > 0) {
        struct vm_fold *f = fold_at(m, t, from.id);
        if (f)
            after = f->end - 1;
    }
    if (t < 0) {
        t = 0;
        after = -1;
    }
    while (count < n && t < (int)m->nthreads) {
        if (after < 0) {
            heading_row(&out[count++], t, m->thread_folded[t]);
            after = 0;
            continue;
        }
        if (m->thread_folded[t] || after == INT64_MAX) {
            t++;
            after = -1;
            continue;
        }
        int limit = n - count, got = 0, jumped = 0, rc;
        sqlite3_stmt *st = m->forward;
        int64_t lo, hi;
        span_after(m, after, &lo, &hi);
        for (rc = run(m, st, t, lo - 1, hi, limit);; rc = sqlite3_step(st)) {
            while (rc == SQLITE_DONE && hi != INT64_MAX) { /* on to the next span */
                span_after(m, hi, &lo, &hi);
                rc = run(m, st, t, lo - 1, hi, limit - got);
            }
            if (rc != SQLITE_ROW)
                break;
            call_row(m, &out[count], t, st);
            got++;
            after = out[count].pos.id;
            if (out[count++].folded) {
                after = fold_at(m, t, after)->end - 1;
                jumped = 1;
                break;
            }
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return vm_rows_clear(out, count), step_error(m, rc);
        if (!jumped && got < limit) {
            t++;
            after = -1;
        }
    }
    return count;
}

int vm_backward(struct view_model *m, struct vm_pos before, struct vm_row *out, int n)
{
    int count = 0; /* collected nearest first, reversed at the end */
    int t = before.thread;
    int64_t bound = before.id;
    if (t >= (int)m->nthreads) {
        t = (int)m->nthreads - 1;
        bound = INT64_MAX;
    }
    while (count < n && t >= 0) {
        if (bound == 0) {
            /* before a heading: the previous thread's last line */
            t--;
            bound = INT64_MAX;
            continue;
        }
        if (m->thread_folded[t]) {
            heading_row(&out[count++], t, 1);
            bound = 0;
            continue;
        }
        int limit = n - count, got = 0, jumped = 0, rc;
        sqlite3_stmt *st = m->backward;
        int64_t lo, hi;
        int more = span_before(m, bound, &lo, &hi);
        for (rc = more ? run(m, st, t, hi + 1, lo, limit) : SQLITE_DONE;; rc = sqlite3_step(st)) {
            while (rc == SQLITE_DONE && more && lo != INT64_MIN) { /* on to the span before */
                more = span_before(m, lo, &lo, &hi);
                rc = more ? run(m, st, t, hi + 1, lo, limit - got) : SQLITE_DONE;
            }
            if (rc != SQLITE_ROW)
                break;
            int64_t id = sqlite3_column_int64(st, C_ID);
            struct vm_fold *f = fold_hiding(m, t, id);
            got++;
            if (f) {
                /* inside a folded call: go on from the call itself */
                bound = f->start + 1;
                jumped = 1;
                break;
            }
            call_row(m, &out[count++], t, st);
            bound = id;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return vm_rows_clear(out, count), step_error(m, rc);
        if (!jumped && got < limit) {
            heading_row(&out[count++], t, 0);
            bound = 0;
        }
    }
    for (int i = 0; i < count / 2; i++) {
        struct vm_row tmp = out[i];
        out[i] = out[count - 1 - i];
        out[count - 1 - i] = tmp;
    }
    return count;
}

/* ---- the store ---- */

int64_t vm_max_id(struct view_model *m)
{
    return cs_query_int(m->db, "SELECT id FROM call_rows ORDER BY id DESC LIMIT 1", 0);
}

int vm_finished(struct view_model *m)
{
    return cs_query_int(m->db, "SELECT value FROM meta WHERE key = 'finished'", 1) != 0;
}
