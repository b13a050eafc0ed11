/*
 * store_internal.h — what the files of the store's writing side share (not
 * for use outside src/store/store*.c; the public side is store.h): the
 * tuning constants, the writer's state (struct cs_store), its error, lock
 * and statement helpers.
 *
 * The writing side is split by concern: store.c opens, configures and
 * closes the connection and keeps the first error; store_calls.c takes call
 * rows from the caller through the window and the queue to the writer
 * thread; store_transactions.c commits, trims and checkpoints;
 * store_tables.c writes the few rows of the small tables;
 * store_disk_full.c pauses the recording while its disk is full and
 * resumes it once there is room again.
 */
#ifndef CALLSCOPE_STORE_INTERNAL_H
#define CALLSCOPE_STORE_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

#include "store/call_blocks.h"
#include "store/call_chunks.h"
#include "store/val_chunks.h"
#include "store/checkpointer.h"
#include "store/store.h"
#include "util/textbuf.h"

/* Ids of the window of recent calls whose rows wait to be sorted. Big enough
 * that only calls still running when it moves on (a few per thread) land
 * out of order; a slot is four bytes (where the row sits in the current
 * batch), so that the window stays in the CPU's cache. */
#ifndef WINDOW
#define WINDOW 65536
#endif
/* Batches handed over and not yet written: past this, the caller waits,
 * which is what slows the traced program down when SQLite cannot keep up
 * (the ring fills), instead of memory growing without bound. */
#define QUEUE_DEPTH 2
/* Ids given out between two hand-overs of the window's rows (unless a
 * commit comes first). Each hand-over ends a chunk, and the calls still
 * running then cannot join theirs (they go to call_late): rarer
 * hand-overs make fuller chunks and fewer such rows, and the writer still
 * gets work many times a second. */
#ifndef HAND_OVER_IDS
#define HAND_OVER_IDS 16384
#endif
#define NO_TEXT UINT32_MAX
/* zstd's level for the chunks of calls: the fastest of its normal levels;
 * the columns are small numbers and repeated texts, which it compresses
 * well already (docs/schema.md has the sizes). */
#ifndef CHUNK_ZSTD_LEVEL
#define CHUNK_ZSTD_LEVEL 1
#endif
/* SQLite's page size, set before the schema exists: 4 KiB was measured
 * fastest for appends (bigger pages cost more per insert in the b-tree's
 * binary searches and cell shuffles) and no less dense. */
#define PAGE_SIZE 4096
/* The writer thread appends to the WAL; the checkpointer copies it into
 * the main file whenever it holds this many pages (64 MB). */
#ifndef AUTOCHECKPOINT_PAGES
#define AUTOCHECKPOINT_PAGES 16384
#endif
/* The page cache while recording (KiB): the hot end of the table. Kept
 * small on purpose: appends touch each new page once, and a cache that
 * recycles its pages was measured 20-30% faster than one that grows (every
 * new page a malloc and page faults); a transaction that dirties more
 * spills the surplus to the WAL early, which readers never see. */
#ifndef RECORDING_CACHE_KB
#define RECORDING_CACHE_KB 4096
#endif

struct pending_call {
    struct cs_call_numbers n;
    uint32_t args_off, args_len, result_off, result_len, exc_off, exc_len;
};

/* A row of vals waiting in a batch; its text is in the batch's text. */
struct val_entry {
    int64_t id;
    uint32_t off, len, type_off, type_len;
};

struct row_entry {
    int64_t id;
    struct pending_call p;
};

/* A disk-full gap ends no sooner than this after it began (ms); each
 * failed try to resume, or gap with no commit since the last, doubles the
 * wait, up to the last. */
#define RESUME_FIRST_WAIT_MS 20
#define RESUME_LAST_WAIT_MS 1000
/* Free space a gap waits for: less would fill again at once. */
#define RESUME_ROOM_BYTES (1u << 20)

/* Rows on their way from the window to SQLite; text offsets point into
 * `text`. A batch can also close the transaction (after trimming). */
struct batch {
    struct row_entry *rows; /* the window's rows, in the order the calls ended */
    size_t n, cap;
    uint32_t *order; /* rows' indexes in id order, made when the batch is handed over */
    size_t order_cap;
    struct row_entry *late; /* calls that started before the window */
    size_t nlate, late_cap;
    struct val_entry *vals; /* written first: rows may refer to them */
    size_t nvals, vals_cap;
    struct cs_textbuf text;
    int64_t nlate_calls; /* late rows that are calls of their own (not CS_ROW_REPLACES) */
    int commit;        /* then COMMIT and BEGIN the next transaction */
    int64_t trim_keep; /* > 0: then trim calls to about this many */
    struct batch *next_free;
};

/* What `failed` holds: nothing stops the writes, an error stops them for
 * good (cs_store_error), or the disk is full and they wait for room
 * (store_disk_full.c). Either way every write in progress gives up. */
enum { STORE_OK = 0, STORE_ERROR = 1, STORE_DISK_FULL = 2 };

struct cs_store {
    sqlite3 *db;
    char *path;
    char error[512];
    atomic_int failed;
    pthread_mutex_t error_lock;
    int in_txn; /* under db_lock */
    int recording; /* created: from now on a full disk pauses the writes */

    /* Disk-full gaps (store_disk_full.c), under db_lock unless said. */
    int64_t calls_committed;   /* calls_written at the last commit */
    int64_t vals_committed;    /* max_val_id at the last commit */
    _Atomic int64_t calls_lost; /* call rows a full disk kept out of the file */
    int64_t gaps;              /* times the disk was found full */
    int64_t written_when_full; /* calls_written when the last gap began */
    int64_t resume_at_ms, resume_wait_ms; /* the next try to resume */
    /* The small tables' rows since the last commit (and while the disk is
     * full), to write again should that commit never land. */
    struct cs_textbuf journal;

    /* The caller's side. */
    int64_t next_call_id;
    int64_t window_base;
    int64_t handed_up_to; /* ids below it were given out before the last hand-over */
    uint32_t *window; /* by id - window_base: 1 + the index of its row in cur->rows, 0: none yet */
    struct batch *cur;

    /* Between the two threads, under queue_lock. */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_changed;
    struct batch *queue[QUEUE_DEPTH];
    size_t queue_head, queue_len;
    struct batch *free_batches;
    int writer_busy, writer_stop, writer_started;
    pthread_t writer;
    _Atomic int64_t writer_cpu_ns; /* CPU time the writer thread has used */
    /* Copies the WAL into the main file while recording (checkpointer.h);
     * NULL before, after, or without a thread for it. */
    struct cs_checkpointer *checkpointer;
    int64_t checkpointer_cpu_ns; /* its CPU time, once it stopped */

    /* The connection: whoever steps SQLite holds db_lock; the caller
     * raises caller_waiting first so the writer lets it in. */
    pthread_mutex_t db_lock;
    atomic_int caller_waiting;

    /* The writer's side (or the caller's once the writer is idle). */
    _Atomic int64_t calls_written;
    int64_t max_chunk_id; /* the last id of the last chunk written: rows at or below it go to call_late */
    struct cs_chunk_encoder *chunk_encoder;
    struct cs_textbuf chunk_blob;                      /* the chunk being written */
    const struct row_entry *chunk_rows[CS_CHUNK_ROWS]; /* its rows, for the skip index */
    unsigned char chunk_result_repeated[CS_CHUNK_ROWS]; /* whose result is the row before's */

    sqlite3_stmt *insert_chunk;
    sqlite3_stmt *insert_late;   /* a row of call_late, or its replacement */
    sqlite3_stmt *insert_val_chunk;
    struct cs_val_encoder *val_encoder;
    int64_t max_val_id; /* the largest id in vals: values come in id order */
    sqlite3_stmt *insert_function;
    sqlite3_stmt *insert_process;
    sqlite3_stmt *insert_thread;
    sqlite3_stmt *update_thread_name;
    sqlite3_stmt *insert_log;
    sqlite3_stmt *insert_lost;
    sqlite3_stmt *set_meta;
    sqlite3_stmt *insert_event_block; /* made by the first block (store_event_log.c) */
    struct cs_call_blocks *blocks; /* the skip index, kept by whoever writes rows */
};

/* ---- errors (store.c) ---- */

/* Keeps the first error only; either thread may meet one. It replaces a
 * full disk's pause: that error ends the recording. */
void cs_store_fail(struct cs_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The error of SQLite result code rc while `doing` (write, create...);
 * called with db_lock held (the message comes from the connection). A
 * full disk pauses the recording instead (cs_store_pause_for_room). */
void cs_store_fail_rc(struct cs_store *s, int rc, const char *doing);
/* Whether rc, just returned by the connection, says the disk is full. */
int cs_store_is_disk_full(struct cs_store *s, int rc);

static inline int failed(const struct cs_store *s)
{
    return atomic_load(&s->failed);
}

/* ---- the connection's lock ---- */

static inline void lock_db(struct cs_store *s)
{
    atomic_fetch_add(&s->caller_waiting, 1);
    pthread_mutex_lock(&s->db_lock);
    atomic_fetch_sub(&s->caller_waiting, 1);
}

static inline void unlock_db(struct cs_store *s)
{
    pthread_mutex_unlock(&s->db_lock);
}

/* The writer's way in: it lets a waiting caller go first, since a mutex
 * released and taken again in a loop would starve it. */
static inline void writer_lock_db(struct cs_store *s)
{
    while (atomic_load(&s->caller_waiting))
        sched_yield();
    pthread_mutex_lock(&s->db_lock);
}

/* Inserts s->chunk_blob as the chunk first_id..last_id of `rows` rows
 * with the statement st (insert_chunk or insert_val_chunk); db_lock held.
 * 0, or -1 after keeping the error. */
int cs_store_insert_chunk(struct cs_store *s, sqlite3_stmt *st, int64_t first_id, int64_t last_id, int rows);

/* Runs sql on the connection (db_lock held); -1 after keeping the error. */
int cs_store_exec(struct cs_store *s, const char *sql);

static inline int run(struct cs_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        cs_store_fail_rc(s, rc, "write");
        return -1;
    }
    return 0;
}

static inline void bind_text_or_null(sqlite3_stmt *st, int i, const char *text, size_t n)
{
    if (text)
        sqlite3_bind_text(st, i, text, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* ---- shared between the files ---- */

/* The writer's connection checkpoints for itself from here on (store.c). */
void cs_store_stop_checkpointer(struct cs_store *s);
/* Returns once the writer thread has written every batch handed over
 * (store_calls.c). */
void cs_store_wait_for_writer(struct cs_store *s);
/* Commits the open transaction, with its rows' blocks; db_lock held
 * (store_transactions.c). */
int cs_store_commit_locked(struct cs_store *s);
/* Deletes all but the last `keep` calls; db_lock held (store_transactions.c). */
int cs_store_trim_locked(struct cs_store *s, int64_t keep);
/* The disk is full: rolls the open transaction back, counts its calls as
 * lost and stops the writes until cs_store_resume; db_lock held
 * (store_disk_full.c). */
void cs_store_pause_for_room(struct cs_store *s);
/* Drops the rows the caller holds (window and current batch), counting
 * them as lost; with the writer idle (store_calls.c). */
void cs_store_drop_pending(struct cs_store *s);
/* Whether the open row of call id is missing (a full disk lost it): then
 * the row that replaces it is no longer counted lost, but written.
 * db_lock held, before that row is written (store_disk_full.c). */
int cs_store_open_row_lost(struct cs_store *s, int64_t id);
/* Writes the journal's rows again (store_tables.c); db_lock held. An
 * SQLite result code. */
int cs_store_replay_journal(struct cs_store *s);

#endif
