/*
 * store_calls.c — call rows on their way into the store: the caller gives
 * out ids and keeps completed rows in the window until they can go out
 * sorted, hands them over in batches through a FIFO (with the commits and
 * trims asked for meanwhile, so that they reach the file in order), and the
 * writer thread binds and steps them. This is the collector's hot path:
 * everything per row stays in this one file.
 */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/grow.h"

/* ---- calls: binding ---- */

/* Binds every column but id, from parameter base + 1 on; all of them, or
 * (plain) all but exception and flags. */
static void bind_columns(sqlite3_stmt *st, int base, const struct pending_call *p, const char *text,
                         int plain)
{
    if (!text)
        text = ""; /* every stashed text was empty */
    if (p->parent_id)
        sqlite3_bind_int64(st, base + 1, p->parent_id);
    else
        sqlite3_bind_null(st, base + 1);
    sqlite3_bind_int64(st, base + 2, p->thread_id);
    sqlite3_bind_int64(st, base + 3, p->function_id);
    sqlite3_bind_int(st, base + 4, p->depth);
    sqlite3_bind_int64(st, base + 5, p->start_ns);
    if (p->finished) {
        sqlite3_bind_int64(st, base + 6, p->duration_ns);
        sqlite3_bind_int64(st, base + 7, p->self_ns);
    } else {
        sqlite3_bind_null(st, base + 6);
        sqlite3_bind_null(st, base + 7);
    }
    bind_text_or_null(st, base + 8, p->args_len == NO_TEXT ? NULL : text + p->args_off, p->args_len);
    if (p->result > 0)
        sqlite3_bind_int64(st, base + 9, p->result);
    else
        bind_text_or_null(st, base + 9, p->result_len == NO_TEXT ? NULL : text + p->result_off, p->result_len);
    if (plain)
        return;
    bind_text_or_null(st, base + 10, p->exc_len == NO_TEXT ? NULL : text + p->exc_off, p->exc_len);
    sqlite3_bind_int(st, base + 11, p->flags);
}

/* Whether a row can go through append_plain. */
static int is_plain(const struct pending_call *p)
{
    return p->exc_len == NO_TEXT && p->flags == 0;
}

static void bind_call(sqlite3_stmt *st, int base, int64_t id, const struct pending_call *p,
                      const char *text)
{
    sqlite3_bind_int64(st, base + 1, id);
    bind_columns(st, base + 1, p, text, 0);
}

/* Adds a written row to its block of the skip index (db_lock held). */
static void note_in_block(struct cs_store *s, int64_t id, const struct pending_call *p, const char *text)
{
    if (!text)
        text = "";
    int rc = cs_call_blocks_add(s->blocks, id, p->function_id, p->args_len == NO_TEXT ? NULL : text + p->args_off,
                                p->args_len == NO_TEXT ? 0 : p->args_len, p->result,
                                p->result_len == NO_TEXT ? NULL : text + p->result_off,
                                p->result_len == NO_TEXT ? 0 : p->result_len);
    /* A row written outside a transaction is committed at once: so is its
     * block, or readers would pass over it until the next commit. */
    if (rc == SQLITE_OK && !s->in_txn)
        rc = cs_call_blocks_write(s->blocks);
    if (rc != SQLITE_OK)
        cs_store_fail_rc(s, rc, "write");
}

/* Runs a single-row insert with an explicit id (db_lock held). */
static void insert_one(struct cs_store *s, int64_t id, const struct pending_call *p, const char *text)
{
    sqlite3_stmt *st = p->mode == CS_ROW_REPLACES ? s->replace_call : s->insert_call;
    bind_call(st, 0, id, p, text);
    if (run(s, st) == 0) {
        note_in_block(s, id, p, text);
        if (p->mode != CS_ROW_REPLACES) /* its open row was counted */
            atomic_fetch_add(&s->calls_written, 1);
        if (id > s->max_id)
            s->max_id = id;
    }
}

/* Rows of a batch gathered for one multi-row INSERT: either a run of
 * consecutive ids that continue the table (appended), or rows with gaps
 * before them (inserted with their ids). An appended run of rows without
 * exception or flags, the common case, binds two parameters less each. */
struct group {
    const struct row_entry *row[ROWS_PER_INSERT];
    int n;
    int append, plain;
};

/* An append leaves id out, so SQLite numbers the row max(id) + 1 and takes
 * its fast path for a new last row: no uniqueness probe of the whole b-tree
 * per row (a fifth of the insert's cost), and one parameter less to bind.
 * The id it gave is checked, so a wrong guess can never go unnoticed. */
static void flush_group(struct cs_store *s, struct group *g, const char *text)
{
    if (g->n == 0 || failed(s)) {
        g->n = 0;
        return;
    }
    writer_lock_db(s);
    if (g->n < ROWS_PER_INSERT) {
        for (int k = 0; k < g->n; k++)
            insert_one(s, g->row[k]->id, &g->row[k]->p, text);
        unlock_db(s);
        g->n = 0;
        return;
    }
    int64_t last = g->row[g->n - 1]->id;
    int plain = g->append && g->plain;
    sqlite3_stmt *st = plain ? s->append_plain : g->append ? s->append_calls : s->insert_calls;
    for (int k = 0; k < g->n; k++) {
        if (plain)
            bind_columns(st, k * PLAIN_COLUMNS, &g->row[k]->p, text, 1);
        else if (g->append)
            bind_columns(st, k * APPEND_COLUMNS, &g->row[k]->p, text, 0);
        else
            bind_call(st, k * CALL_COLUMNS, g->row[k]->id, &g->row[k]->p, text);
    }
    if (run(s, st) == 0) {
        atomic_fetch_add(&s->calls_written, g->n);
        if (last > s->max_id) /* late rows of long calls may lie below it */
            s->max_id = last;
        if (g->append && sqlite3_last_insert_rowid(s->db) != last)
            cs_store_fail(s, "internal error: call ids out of step in %s", s->path);
        for (int k = 0; k < g->n; k++) /* after the check: a block written meanwhile moves the last rowid */
            note_in_block(s, g->row[k]->id, &g->row[k]->p, text);
    }
    unlock_db(s);
    g->n = 0;
}

static void bind_val(sqlite3_stmt *st, int base, const struct val_entry *v, const char *text)
{
    sqlite3_bind_text(st, base + 1, text + v->off, (int)v->len, SQLITE_STATIC);
    bind_text_or_null(st, base + 2, v->type_len == NO_TEXT ? NULL : text + v->type_off, v->type_len);
}

/* Writes vals rows [i, end) of a batch (db_lock held). Ids are given out in
 * order, so a full group usually continues the table and is appended as
 * the call rows are; otherwise each row goes in with its id. */
static void write_vals(struct cs_store *s, const struct val_entry *v, size_t n, const char *text)
{
    int append = n == ROWS_PER_INSERT;
    for (size_t k = 0; k < n && append; k++)
        append = v[k].id == s->max_val_id + 1 + (int64_t)k;
    if (append) {
        for (size_t k = 0; k < n; k++)
            bind_val(s->append_vals, (int)k * 2, &v[k], text);
        if (run(s, s->append_vals) == 0 && sqlite3_last_insert_rowid(s->db) != v[n - 1].id)
            cs_store_fail(s, "internal error: value ids out of step in %s", s->path);
    } else if (n == ROWS_PER_INSERT) {
        for (size_t k = 0; k < n; k++) {
            sqlite3_bind_int64(s->insert_vals, (int)k * 3 + 1, v[k].id);
            bind_val(s->insert_vals, (int)k * 3 + 1, &v[k], text);
        }
        run(s, s->insert_vals);
    } else {
        for (size_t k = 0; k < n; k++) {
            sqlite3_bind_int64(s->insert_val, 1, v[k].id);
            bind_val(s->insert_val, 1, &v[k], text);
            if (run(s, s->insert_val) != 0)
                break;
        }
    }
    for (size_t k = 0; k < n; k++)
        if (v[k].id > s->max_val_id)
            s->max_val_id = v[k].id;
}

/* The writer's work for one batch; the batch is empty afterwards. */
static void write_batch(struct cs_store *s, struct batch *b)
{
    const char *text = b->text.data;
    for (size_t i = 0; i < b->nvals && !failed(s); i += ROWS_PER_INSERT) {
        size_t end = i + ROWS_PER_INSERT < b->nvals ? i + ROWS_PER_INSERT : b->nvals;
        writer_lock_db(s);
        write_vals(s, &b->vals[i], end - i, text);
        unlock_db(s);
    }
    for (size_t i = 0; i < b->nlate && !failed(s); i++) {
        writer_lock_db(s);
        insert_one(s, b->late[i].id, &b->late[i].p, text);
        unlock_db(s);
    }
    struct group g = {.n = 0};
    /* The highest id in the table once the rows gathered so far are in: an
     * append gets the next one. Rows of calls that ended late (a parent
     * whose children were flushed already) lie below it and keep their ids. */
    int64_t top = s->max_id;
    for (size_t i = 0; i < b->n && !failed(s); i++) {
        int64_t id = b->rows[i].id;
        int append = id == top + 1;
        int plain = is_plain(&b->rows[i].p);
        if (g.n && (g.append != append || (append && g.plain != plain) || g.n == ROWS_PER_INSERT))
            flush_group(s, &g, text);
        g.append = append;
        g.plain = plain;
        g.row[g.n++] = &b->rows[i];
        if (id > top)
            top = id;
    }
    flush_group(s, &g, text);
    if ((b->trim_keep > 0 || b->commit) && !failed(s)) {
        writer_lock_db(s);
        if (b->trim_keep > 0)
            cs_store_trim_locked(s, b->trim_keep);
        if (b->commit && cs_store_commit_locked(s) == 0 && cs_store_exec(s, "BEGIN") == 0)
            s->in_txn = 1;
        unlock_db(s);
    }
    b->n = b->nlate = b->nvals = 0;
    b->commit = 0;
    b->trim_keep = 0;
    cs_textbuf_reset(&b->text);
}

/* ---- calls: the hand-over ---- */

int64_t cs_store_writer_cpu_ns(const struct cs_store *s)
{
    return atomic_load(&((struct cs_store *)s)->writer_cpu_ns);
}

int64_t cs_store_checkpointer_cpu_ns(const struct cs_store *s)
{
    return s->checkpointer ? cs_checkpointer_cpu_ns(s->checkpointer) : s->checkpointer_cpu_ns;
}

static void *writer_main(void *arg)
{
    struct cs_store *s = arg;
    pthread_mutex_lock(&s->queue_lock);
    for (;;) {
        while (s->queue_len == 0 && !s->writer_stop)
            pthread_cond_wait(&s->queue_changed, &s->queue_lock);
        if (s->queue_len == 0)
            break;
        struct batch *b = s->queue[s->queue_head];
        s->queue_head = (s->queue_head + 1) % QUEUE_DEPTH;
        s->queue_len--;
        s->writer_busy = 1;
        pthread_mutex_unlock(&s->queue_lock);
        write_batch(s, b);
        atomic_store(&s->writer_cpu_ns, cs_thread_cpu_ns());
        pthread_mutex_lock(&s->queue_lock);
        b->next_free = s->free_batches;
        s->free_batches = b;
        s->writer_busy = 0;
        pthread_cond_broadcast(&s->queue_changed);
    }
    pthread_mutex_unlock(&s->queue_lock);
    return NULL;
}

/* Hands the current batch to the writer (waiting while the queue is full)
 * and starts a new one. Without a writer thread, writes it here. */
static void hand_over(struct cs_store *s)
{
    struct batch *b = s->cur;
    pthread_mutex_lock(&s->queue_lock);
    if (!s->writer_started && !s->writer_stop) {
        if (pthread_create(&s->writer, NULL, writer_main, s) == 0)
            s->writer_started = 1;
        else
            s->writer_stop = 1; /* no thread: write in the caller from now on */
    }
    if (!s->writer_started) {
        pthread_mutex_unlock(&s->queue_lock);
        write_batch(s, b);
        return;
    }
    while (s->queue_len == QUEUE_DEPTH)
        pthread_cond_wait(&s->queue_changed, &s->queue_lock);
    s->queue[(s->queue_head + s->queue_len) % QUEUE_DEPTH] = b;
    s->queue_len++;
    struct batch *next = s->free_batches;
    if (next)
        s->free_batches = next->next_free;
    pthread_cond_broadcast(&s->queue_changed);
    pthread_mutex_unlock(&s->queue_lock);
    if (!next)
        next = calloc(1, sizeof *next);
    if (!next) {
        /* Keep a valid current batch: wait for the one just handed over. */
        cs_store_fail(s, "out of memory");
        pthread_mutex_lock(&s->queue_lock);
        while (!s->free_batches)
            pthread_cond_wait(&s->queue_changed, &s->queue_lock);
        next = s->free_batches;
        s->free_batches = next->next_free;
        pthread_mutex_unlock(&s->queue_lock);
    }
    s->cur = next;
}

/* Waits until the writer has written everything handed over. */
void cs_store_wait_for_writer(struct cs_store *s)
{
    pthread_mutex_lock(&s->queue_lock);
    while (s->queue_len || s->writer_busy)
        pthread_cond_wait(&s->queue_changed, &s->queue_lock);
    pthread_mutex_unlock(&s->queue_lock);
}

static int grow_rows(struct row_entry **rows, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    struct row_entry *grown = realloc(*rows, n * sizeof *grown);
    if (!grown)
        return -1;
    *rows = grown;
    *cap = n;
    return 0;
}

/* Moves the window's completed rows, in id order, into the current batch. */
static void window_to_batch(struct cs_store *s)
{
    int64_t used = s->next_call_id - s->window_base;
    if (used > WINDOW)
        used = WINDOW;
    struct batch *b = s->cur;
    if (grow_rows(&b->rows, &b->cap, b->n + (size_t)used) != 0) {
        cs_store_fail(s, "out of memory");
        for (int64_t i = 0; i < used; i++)
            s->window[i].filled = 0;
        return;
    }
    for (int64_t i = 0; i < used; i++) {
        if (!s->window[i].filled)
            continue;
        b->rows[b->n].id = s->window_base + i;
        b->rows[b->n].p = s->window[i];
        b->n++;
        s->window[i].filled = 0;
    }
}

void cs_store_commit_async(struct cs_store *s, int64_t trim_keep)
{
    if (failed(s))
        return;
    window_to_batch(s);
    s->cur->commit = 1;
    s->cur->trim_keep = trim_keep;
    hand_over(s);
}

/* ---- calls: the caller's side ---- */

static void stash_text(struct cs_textbuf *b, const char *text, size_t n, uint32_t *off, uint32_t *len)
{
    if (!text || n >= NO_TEXT || b->len + n >= UINT32_MAX) {
        *len = NO_TEXT;
        *off = 0;
        return;
    }
    *off = (uint32_t)b->len;
    *len = (uint32_t)n;
    cs_textbuf_put(b, text, n);
}

static void row_to_pending(struct cs_textbuf *b, const struct cs_call_row *row, struct pending_call *p)
{
    p->parent_id = row->parent_id;
    p->thread_id = row->thread_id;
    p->function_id = row->function_id;
    p->start_ns = row->start_ns;
    p->duration_ns = row->duration_ns;
    p->self_ns = row->self_ns;
    p->depth = row->depth;
    p->flags = row->flags;
    p->finished = (unsigned char)(row->finished != 0);
    p->mode = (unsigned char)row->mode;
    p->result = row->result;
    stash_text(b, row->args, row->args_len, &p->args_off, &p->args_len);
    stash_text(b, row->result > 0 ? NULL : row->result_text, row->result_len, &p->result_off, &p->result_len);
    stash_text(b, row->exception, row->exception_len, &p->exc_off, &p->exc_len);
    p->filled = 1;
}

int64_t cs_store_next_call_id(struct cs_store *s)
{
    if (s->next_call_id - s->window_base >= WINDOW) {
        cs_store_flush_calls(s);
        s->window_base = s->next_call_id;
    }
    return s->next_call_id++;
}

void cs_store_add_call(struct cs_store *s, const struct cs_call_row *row)
{
    if (failed(s))
        return;
    struct batch *b = s->cur;
    int64_t slot = row->id - s->window_base;
    /* Rows of long calls (open ones, and the rows that replace them) go
     * with their ids, out of the window's order. */
    if (!row->mode && slot >= 0 && slot < WINDOW && !s->window[slot].filled) {
        row_to_pending(&b->text, row, &s->window[slot]);
    } else if (grow_rows(&b->late, &b->late_cap, b->nlate + 1) == 0) {
        /* A call that started before the window: written out of order. */
        b->late[b->nlate].id = row->id;
        row_to_pending(&b->text, row, &b->late[b->nlate].p);
        b->nlate++;
    } else {
        cs_store_fail(s, "out of memory");
    }
    if (b->text.oom)
        cs_store_fail(s, "out of memory");
}

void cs_store_add_value(struct cs_store *s, int64_t id, const char *text, size_t len, const char *type,
                        size_t type_len)
{
    if (failed(s))
        return;
    struct batch *b = s->cur;
    if (b->nvals == b->vals_cap) {
        struct val_entry *grown = cs_grow(b->vals, &b->vals_cap, sizeof *grown, 256);
        if (!grown) {
            cs_store_fail(s, "out of memory");
            return;
        }
        b->vals = grown;
    }
    uint32_t off, n, type_off, type_n;
    stash_text(&b->text, text, len, &off, &n);
    stash_text(&b->text, type_len ? type : NULL, type_len, &type_off, &type_n);
    if (n == NO_TEXT || b->text.oom) {
        cs_store_fail(s, "out of memory");
        return;
    }
    b->vals[b->nvals++] = (struct val_entry){id, off, n, type_off, type_n};
}

void cs_store_refer_result(struct cs_store *s, int64_t call_id, int64_t val_id)
{
    int64_t slot = call_id - s->window_base;
    if (slot >= 0 && slot < WINDOW && s->window[slot].filled && s->window[slot].result <= 0)
        s->window[slot].result = val_id; /* its inline text stays unused in the batch */
}

int cs_store_flush_calls(struct cs_store *s)
{
    if (failed(s))
        return -1;
    window_to_batch(s);
    if (s->cur->n || s->cur->nlate || s->cur->nvals)
        hand_over(s);
    return failed(s) ? -1 : 0;
}

int cs_store_sync(struct cs_store *s)
{
    cs_store_flush_calls(s);
    cs_store_wait_for_writer(s);
    return failed(s) ? -1 : 0;
}

int64_t cs_store_calls_written(const struct cs_store *s)
{
    return atomic_load(&s->calls_written);
}
