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

/* ---- calls: chunks, and the late rows beside them ---- */

int cs_store_insert_chunk(struct cs_store *s, sqlite3_stmt *st, int64_t first_id, int64_t last_id, int rows)
{
    sqlite3_bind_int64(st, 1, first_id);
    sqlite3_bind_int64(st, 2, last_id);
    sqlite3_bind_int(st, 3, rows);
    sqlite3_bind_blob(st, 4, s->chunk_blob.data, (int)s->chunk_blob.len, SQLITE_STATIC);
    return run(s, st);
}

/* Adds a written row to its block of the skip index (db_lock held).
 * result_in_block: its inline result is already there (the row before it
 * had the same, in the same block: a value passed up makes a quarter of a
 * parser's rows such). */
static void note_in_block(struct cs_store *s, int64_t id, const struct pending_call *p, int result_in_block,
                          const char *text)
{
    if (!text)
        text = "";
    int rc = cs_call_blocks_add(s->blocks, id, p->n.function_id, p->args_len == NO_TEXT ? NULL : text + p->args_off,
                                p->args_len == NO_TEXT ? 0 : p->args_len, p->n.result,
                                p->result_len == NO_TEXT || result_in_block ? NULL : text + p->result_off,
                                p->result_len == NO_TEXT ? 0 : p->result_len);
    /* A row written outside a transaction is committed at once: so is its
     * block, or readers would pass over it until the next commit. */
    if (rc == SQLITE_OK && !s->in_txn)
        rc = cs_call_blocks_write(s->blocks);
    if (rc != SQLITE_OK)
        cs_store_fail_rc(s, rc, "write");
}

static void bind_text_of(sqlite3_stmt *st, int i, const char *text, uint32_t off, uint32_t len)
{
    bind_text_or_null(st, i, len == NO_TEXT ? NULL : text + off, len);
}

/* Writes the row of a call that cannot join a chunk: it was still running
 * when the chunk of its id was written, or it is a long call's open row or
 * the row that replaces it (db_lock held). */
static void write_late(struct cs_store *s, int64_t id, const struct pending_call *p, const char *text)
{
    if (!text)
        text = ""; /* every stashed text was empty */
    sqlite3_stmt *st = s->insert_late;
    sqlite3_bind_int64(st, 1, id);
    if (p->n.parent_id)
        sqlite3_bind_int64(st, 2, p->n.parent_id);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int64(st, 3, p->n.thread_id);
    sqlite3_bind_int64(st, 4, p->n.function_id);
    sqlite3_bind_int(st, 5, p->n.depth);
    sqlite3_bind_int64(st, 6, p->n.start_ns);
    if (p->n.finished) {
        sqlite3_bind_int64(st, 7, p->n.duration_ns);
        sqlite3_bind_int64(st, 8, p->n.self_ns);
    } else {
        sqlite3_bind_null(st, 7);
        sqlite3_bind_null(st, 8);
    }
    bind_text_of(st, 9, text, p->args_off, p->args_len);
    if (p->n.result > 0)
        sqlite3_bind_int64(st, 10, p->n.result);
    else
        bind_text_of(st, 10, text, p->result_off, p->result_len);
    bind_text_of(st, 11, text, p->exc_off, p->exc_len);
    sqlite3_bind_int(st, 12, p->n.flags);
    /* A call's open row was counted, unless a full disk lost it. */
    int counted = p->n.mode != CS_ROW_REPLACES || (s->gaps && cs_store_open_row_lost(s, id));
    if (run(s, st) == 0) {
        note_in_block(s, id, p, 0, text);
        if (counted)
            atomic_fetch_add(&s->calls_written, 1);
    }
}

static struct cs_chunk_text chunk_text(const char *text, uint32_t off, uint32_t len)
{
    if (len == NO_TEXT)
        return (struct cs_chunk_text){NULL, 0, 0};
    return (struct cs_chunk_text){text + off, len, 1};
}

static void to_chunk_row(int64_t id, const struct pending_call *p, const char *text, struct cs_chunk_row *r)
{
    if (!text)
        text = "";
    *r = (struct cs_chunk_row){
        .id = id,
        .parent_id = p->n.parent_id,
        .thread_id = p->n.thread_id,
        .function_id = p->n.function_id,
        .depth = p->n.depth,
        .start_ns = p->n.start_ns,
        .duration_ns = p->n.duration_ns,
        .self_ns = p->n.self_ns,
        .flags = p->n.flags,
        .result_id = p->n.result > 0 ? p->n.result : 0,
        .args = chunk_text(text, p->args_off, p->args_len),
        .result = p->n.result > 0 ? (struct cs_chunk_text){NULL, 0, 0} : chunk_text(text, p->result_off, p->result_len),
        .exception = chunk_text(text, p->exc_off, p->exc_len),
        .finished = p->n.finished,
    };
}

/* Compresses the rows gathered in the encoder (rows[0..n) of the batch)
 * and writes them as one chunk, with their blocks of the skip index. The
 * compression runs without the connection's lock: the caller may write
 * its small tables meanwhile. */
static void write_chunk(struct cs_store *s, const struct row_entry *const *rows, int n, const char *text)
{
    int64_t first_id, last_id;
    int count;
    char err[256];
    if (cs_chunk_encoder_finish(s->chunk_encoder, &s->chunk_blob, &first_id, &last_id, &count, err,
                                sizeof err) != 0) {
        cs_store_fail(s, "%s", err);
        return;
    }
    writer_lock_db(s);
    /* (the caller may have found the disk full meanwhile) */
    if (!failed(s) && cs_store_insert_chunk(s, s->insert_chunk, first_id, last_id, count) == 0) {
        atomic_fetch_add(&s->calls_written, count);
        s->max_chunk_id = last_id;
        for (int k = 0; k < n; k++) {
            int64_t block = rows[k]->id / CS_BLOCK_CALLS;
            int result_in_block = k > 0 && s->chunk_result_repeated[k] && block == rows[k - 1]->id / CS_BLOCK_CALLS;
            note_in_block(s, rows[k]->id, &rows[k]->p, result_in_block, text);
        }
    }
    unlock_db(s);
}

/* Compresses the values gathered in the encoder and writes them as one
 * chunk (the lock taken only for the insert). */
static void write_val_chunk(struct cs_store *s)
{
    int64_t first_id, last_id;
    int count;
    char err[256];
    if (cs_val_encoder_finish(s->val_encoder, &s->chunk_blob, &first_id, &last_id, &count, err, sizeof err) != 0) {
        cs_store_fail(s, "%s", err);
        return;
    }
    writer_lock_db(s);
    if (!failed(s))
        cs_store_insert_chunk(s, s->insert_val_chunk, first_id, last_id, count);
    unlock_db(s);
}

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const struct val_entry *)a)->id, y = ((const struct val_entry *)b)->id;
    return (x > y) - (x < y);
}

/* The values of a batch, into chunks: before its calls, which may refer
 * to them. Chunks hold ids in order and never overlap, so the values are
 * sorted first (the collector gives them out in order: then this is one
 * pass), and an id below one already written is an error. */
static void write_vals(struct cs_store *s, struct batch *b)
{
    const char *text = b->text.data ? b->text.data : "";
    for (size_t i = 1; i < b->nvals; i++)
        if (b->vals[i].id < b->vals[i - 1].id) {
            qsort(b->vals, b->nvals, sizeof *b->vals, by_id);
            break;
        }
    for (size_t i = 0; i < b->nvals && !failed(s); i++) {
        const struct val_entry *v = &b->vals[i];
        if (v->id <= s->max_val_id) {
            cs_store_fail(s, "internal error: value ids out of step in %s", s->path);
            return;
        }
        struct cs_val_row row = {v->id, text + v->off, v->len, v->type_len == NO_TEXT ? NULL : text + v->type_off,
                                 v->type_len == NO_TEXT ? 0 : v->type_len};
        if (cs_val_encoder_add(s->val_encoder, &row) != 0) {
            cs_store_fail(s, "out of memory");
            return;
        }
        s->max_val_id = v->id;
        if (cs_val_encoder_rows(s->val_encoder) == CS_VAL_CHUNK_ROWS)
            write_val_chunk(s);
    }
    if (cs_val_encoder_rows(s->val_encoder) && !failed(s))
        write_val_chunk(s);
}

/* After a batch met a full disk (or came while it was full): counts its
 * calls that did not reach the file as lost. Those it wrote before were
 * rolled back, and counted then, from `written` on (calls_written when
 * the batch began, before gap number `gaps`). */
static void count_unwritten(struct cs_store *s, const struct batch *b, int64_t gaps, int64_t written)
{
    int64_t calls = (int64_t)b->n + b->nlate_calls;
    writer_lock_db(s);
    if (s->gaps != gaps)
        calls -= s->written_when_full - written;
    unlock_db(s);
    atomic_fetch_add(&s->calls_lost, calls);
}

/* How many rows ahead write_batch fetches a row. */
#define ROW_PREFETCH 16

/* The writer's work for one batch; the batch is empty afterwards. */
static void write_batch(struct cs_store *s, struct batch *b)
{
    const char *text = b->text.data;
    writer_lock_db(s);
    int64_t gaps = s->gaps, written = atomic_load(&s->calls_written);
    unlock_db(s);
    write_vals(s, b);
    if (b->nlate && !failed(s)) {
        writer_lock_db(s);
        for (size_t i = 0; i < b->nlate && !failed(s); i++)
            write_late(s, b->late[i].id, &b->late[i].p, text);
        unlock_db(s);
    }
    /* The rows, in id order, go into chunks; a row whose id lies at or
     * below the last chunk's (a call that ended after its chunk was
     * written) is written on its own. A batch ends its last chunk: the
     * commit that follows makes it visible. */
    const struct row_entry **chunk_rows = s->chunk_rows;
    int n = 0;
    for (size_t i = 0; i < b->n && !failed(s); i++) {
        /* Rows are read in id order, not in the order they lie in (the
         * order the calls ended), and were written by the decoding thread:
         * each is a miss unless fetched well ahead, both of its cache lines. */
        if (i + ROW_PREFETCH < b->n) {
            const char *ahead = (const char *)&b->rows[b->order[i + ROW_PREFETCH]];
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + sizeof *b->rows - 1);
        }
        const struct row_entry *r = &b->rows[b->order[i]];
        if (r->id <= s->max_chunk_id) {
            writer_lock_db(s);
            if (!failed(s))
                write_late(s, r->id, &r->p, text);
            unlock_db(s);
            continue;
        }
        struct cs_chunk_row row;
        to_chunk_row(r->id, &r->p, text, &row);
        int repeated = cs_chunk_encoder_add(s->chunk_encoder, &row);
        if (repeated < 0) {
            cs_store_fail(s, "out of memory");
            break;
        }
        s->chunk_result_repeated[n] = (unsigned char)repeated;
        chunk_rows[n++] = r;
        if (n == CS_CHUNK_ROWS) {
            write_chunk(s, chunk_rows, n, text);
            n = 0;
        }
    }
    if (n && !failed(s))
        write_chunk(s, chunk_rows, n, text);
    if ((b->trim_keep > 0 || b->commit) && !failed(s)) {
        writer_lock_db(s);
        if (b->trim_keep > 0 && !failed(s))
            cs_store_trim_locked(s, b->trim_keep);
        if (b->commit && cs_store_commit_locked(s) == 0 && cs_store_exec(s, "BEGIN") == 0)
            s->in_txn = 1;
        unlock_db(s);
    }
    if (failed(s))
        count_unwritten(s, b, gaps, written);
    b->n = b->nlate = b->nvals = 0;
    b->nlate_calls = 0;
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

/* Puts the current batch's rows in id order, emptying the window: every
 * row in the window is in the current batch, which is handed over next. */
static void window_to_batch(struct cs_store *s)
{
    s->handed_up_to = s->next_call_id;
    int64_t used = s->next_call_id - s->window_base;
    if (used > WINDOW)
        used = WINDOW;
    struct batch *b = s->cur;
    if (b->order_cap < b->n) {
        uint32_t *grown = realloc(b->order, b->cap * sizeof *grown);
        if (!grown) {
            cs_store_fail(s, "out of memory");
            memset(s->window, 0, (size_t)used * sizeof *s->window);
            return;
        }
        b->order = grown;
        b->order_cap = b->cap;
    }
    size_t n = 0;
    for (int64_t i = 0; i < used; i++) {
        if (s->window[i]) {
            b->order[n++] = s->window[i] - 1;
            s->window[i] = 0;
        }
    }
}

void cs_store_commit_async(struct cs_store *s, int64_t trim_keep)
{
    if (failed(s)) {
        cs_store_drop_pending(s);
        return;
    }
    window_to_batch(s);
    s->cur->commit = 1;
    s->cur->trim_keep = trim_keep;
    hand_over(s);
}

/* ---- calls: the caller's side ---- */

/* Room for n more bytes of text in the batch: 0 when there is none (out
 * of memory, or past what a row's 32-bit offsets reach). */
static int text_room(struct cs_textbuf *b, size_t n)
{
    return n < NO_TEXT && b->len + n < UINT32_MAX && (b->cap - b->len >= n || cs_textbuf_grow(b, n) == 0);
}

/* Copies a text into the batch, where text_room made room for it. */
static void stash_text(struct cs_textbuf *b, const char *text, size_t n, uint32_t *off, uint32_t *len)
{
    if (!text) {
        *len = NO_TEXT;
        *off = 0;
        return;
    }
    *off = (uint32_t)b->len;
    *len = (uint32_t)n;
    memcpy(b->data + b->len, text, n);
    b->len += n;
}

/* A row's three texts into the batch, with one check for room: 0, or -1
 * when there is none. */
static int stash_texts(struct cs_textbuf *b, struct pending_call *p, const char *args, size_t args_len,
                       const char *result, size_t result_len, const char *exception, size_t exception_len)
{
    if (!text_room(b, (args ? args_len : 0) + (result ? result_len : 0) + (exception ? exception_len : 0))) {
        p->args_len = p->result_len = p->exc_len = NO_TEXT;
        p->args_off = p->result_off = p->exc_off = 0;
        return -1;
    }
    stash_text(b, args, args_len, &p->args_off, &p->args_len);
    stash_text(b, result, result_len, &p->result_off, &p->result_len);
    stash_text(b, exception, exception_len, &p->exc_off, &p->exc_len);
    return 0;
}

static int flush_all(struct cs_store *s);

int64_t cs_store_next_call_id(struct cs_store *s)
{
    if (s->next_call_id - s->window_base >= WINDOW) {
        flush_all(s);
        s->window_base = s->next_call_id;
    }
    return s->next_call_id++;
}

/* The place of the row of call `id` in the current batch, its texts
 * stashed; NULL when the store has failed, or fails now. */
static struct pending_call *add_row(struct cs_store *s, int64_t id, int mode, const char *args, size_t args_len,
                                    const char *result, size_t result_len, const char *exception,
                                    size_t exception_len)
{
    if (failed(s)) {
        if (mode != CS_ROW_REPLACES) /* (its open row was counted) */
            atomic_fetch_add(&s->calls_lost, 1);
        return NULL;
    }
    struct batch *b = s->cur;
    int64_t slot = id - s->window_base;
    struct pending_call *p;
    /* Rows of long calls (open ones, and the rows that replace them) go
     * with their ids, out of the window's order. */
    if (!mode && slot >= 0 && slot < WINDOW && !s->window[slot]) {
        if (grow_rows(&b->rows, &b->cap, b->n + 1) != 0) {
            cs_store_fail(s, "out of memory");
            return NULL;
        }
        b->rows[b->n].id = id;
        p = &b->rows[b->n].p;
        s->window[slot] = (uint32_t)++b->n;
    } else if (grow_rows(&b->late, &b->late_cap, b->nlate + 1) == 0) {
        /* A call that started before the window: written out of order. */
        b->late[b->nlate].id = id;
        p = &b->late[b->nlate].p;
        b->nlate++;
        b->nlate_calls += mode != CS_ROW_REPLACES;
    } else {
        cs_store_fail(s, "out of memory");
        return NULL;
    }
    p->n.mode = (unsigned char)mode;
    if (stash_texts(&b->text, p, args, args_len, result, result_len, exception, exception_len) != 0) {
        /* (the row stays in the batch with its numbers: a failed store never writes it) */
        cs_store_fail(s, "out of memory");
    }
    return p;
}

void cs_store_add_call(struct cs_store *s, const struct cs_call_row *row)
{
    struct pending_call *p = add_row(s, row->id, row->mode, row->args, row->args_len,
                                     row->result > 0 ? NULL : row->result_text, row->result_len, row->exception,
                                     row->exception_len);
    if (!p)
        return;
    p->n.parent_id = row->parent_id;
    p->n.thread_id = row->thread_id;
    p->n.function_id = row->function_id;
    p->n.start_ns = row->start_ns;
    p->n.duration_ns = row->duration_ns;
    p->n.self_ns = row->self_ns;
    p->n.depth = row->depth;
    p->n.flags = row->flags;
    p->n.finished = (unsigned char)(row->finished != 0);
    p->n.result = row->result;
}

struct cs_call_numbers *cs_store_add_ended_call(struct cs_store *s, int64_t id, const char *args, size_t args_len,
                                                const char *result_text, size_t result_len, const char *exception,
                                                size_t exception_len)
{
    struct pending_call *p = add_row(s, id, 0, args, args_len, result_text, result_len, exception, exception_len);
    return p ? &p->n : NULL;
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
    if (!text_room(&b->text, len + type_len)) {
        cs_store_fail(s, "out of memory");
        return;
    }
    stash_text(&b->text, text, len, &off, &n);
    stash_text(&b->text, type_len ? type : NULL, type_len, &type_off, &type_n);
    b->vals[b->nvals++] = (struct val_entry){id, off, n, type_off, type_n};
}

void cs_store_refer_result(struct cs_store *s, int64_t call_id, int64_t val_id)
{
    int64_t slot = call_id - s->window_base;
    struct pending_call *p = slot >= 0 && slot < WINDOW && s->window[slot] ? &s->cur->rows[s->window[slot] - 1].p : NULL;
    if (p && p->n.result <= 0)
        p->n.result = val_id; /* its inline text stays unused in the batch */
}

void cs_store_drop_pending(struct cs_store *s)
{
    int64_t used = s->next_call_id - s->window_base, dropped = 0;
    if (used > WINDOW)
        used = WINDOW;
    memset(s->window, 0, (size_t)used * sizeof *s->window);
    struct batch *b = s->cur;
    dropped += (int64_t)b->n + b->nlate_calls;
    b->n = b->nlate = b->nvals = 0;
    b->nlate_calls = 0;
    b->commit = 0;
    b->trim_keep = 0;
    cs_textbuf_reset(&b->text);
    atomic_fetch_add(&s->calls_lost, dropped);
}

/* Hands every completed row waiting in the window to the writer. Rows
 * that cannot be written are dropped, so that the window can move on. */
static int flush_all(struct cs_store *s)
{
    if (failed(s)) {
        cs_store_drop_pending(s);
        return -1;
    }
    window_to_batch(s);
    if (s->cur->n || s->cur->nlate || s->cur->nvals)
        hand_over(s);
    return failed(s) ? -1 : 0;
}

int cs_store_flush_calls(struct cs_store *s)
{
    if (s->next_call_id - s->handed_up_to < HAND_OVER_IDS)
        return failed(s) ? -1 : 0;
    return flush_all(s);
}

int cs_store_sync(struct cs_store *s)
{
    flush_all(s);
    cs_store_wait_for_writer(s);
    return failed(s) ? -1 : 0;
}

int64_t cs_store_calls_written(const struct cs_store *s)
{
    return atomic_load(&s->calls_written);
}
