/*
 * store.h — the SQLite file a recording lands in: its schema (version 4,
 * documented in docs/schema.md), the writers the collector uses, and the
 * checks every reader makes before trusting a file.
 *
 * Writing is built for throughput: one connection, WAL (so readers can open
 * the file while it grows), synchronous=OFF, and calls and values kept a
 * few thousand at a time in compressed column chunks (call_chunks.h,
 * val_chunks.h), one SQLite row per chunk instead of one per call.
 * Call rows are handed in batches to a writer thread of the store's own,
 * which encodes, compresses and writes them while the caller goes on
 * decoding: the two halves of the work run on two cores. The caller must
 * be one thread.
 * Call rows go into chunks in id order: ids are given out when a call
 * starts but rows complete children-first, so completed rows wait in a
 * window of recent ids and go out sorted. A call still running when the
 * chunk of its id is written gets a row of its own in call_late instead.
 *
 * Errors are sticky: the first failure is kept (cs_store_error) and later
 * writes do nothing, so the collector checks once per step. Messages are one
 * line and do not start with "callscope:". A full disk is no error: the
 * recording pauses until there is room (see "a full disk" below).
 */
#ifndef CALLSCOPE_STORE_H
#define CALLSCOPE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#define CS_STORE_APPLICATION_ID 0x43534350 /* "CSCP" */
#define CS_STORE_SCHEMA_VERSION 4
/* Files of schemas 2 and 3 are read too: schema 2's call_rows is a plain
 * table with the columns of the later virtual table, and schema 3's chunks
 * of calls have the first layout (call_chunks.h). */
#define CS_STORE_OLDEST_READ_VERSION 2

/* calls.flags */
enum cs_call_flags {
    CS_CALL_RESUME = 1,    /* a generator or coroutine resumed */
    CS_CALL_YIELDED = 2,   /* ended by a yield (or await): suspended, not done */
    CS_CALL_C = 4,         /* a builtin or other C function */
    CS_CALL_LOST = 8,      /* events inside or around it were lost */
};

/* One row of calls. Text pointers are copied before cs_store_add_call
 * returns; a NULL pointer stores SQL NULL. */
struct cs_call_row {
    int64_t id;
    int64_t parent_id; /* 0: none */
    int64_t thread_id;
    int64_t function_id;
    int64_t start_ns;
    int64_t duration_ns; /* with self_ns: ignored when !finished */
    int64_t self_ns;
    int depth;
    int flags;
    int finished;
    /* JSON array in the function's arg_names order: a vals id, or the
     * rendered value as a string when it is inline. NULL: not recorded. */
    const char *args;
    size_t args_len;
    /* 0: the call's row. CS_ROW_OPEN: a row for a call still running,
     * written so that readers see it meanwhile (finished is 0); its own
     * row comes later with CS_ROW_REPLACES, and takes its place. */
    int mode;
    int64_t result;          /* the vals row of the return (or yielded) value; 0: see result_text */
    const char *result_text; /* the value inline, when result is 0; NULL: none */
    size_t result_len;
    const char *exception;
    size_t exception_len;
};

enum { CS_ROW_OPEN = 1, CS_ROW_REPLACES = 2 };

/* The numbers of a row as the store keeps them until it is written (the
 * fields of cs_call_row of the same names). */
struct cs_call_numbers {
    int64_t parent_id, thread_id, function_id, start_ns, duration_ns, self_ns;
    int64_t result; /* the vals row of the result; 0: its text inline, or none */
    int32_t depth, flags;
    unsigned char finished, mode;
};

struct cs_store;

/* Removes the write-ahead files SQLite keeps beside the file at path
 * (-wal, -shm): they must not outlive it, or they would be read as the
 * next file's own. */
void cs_store_remove_side_files(const char *path);
/* Creates a fresh store at path, replacing an older callscope store there
 * (but never another kind of file). NULL with a message in err. */
struct cs_store *cs_store_create(const char *path, char *err, size_t errlen);
/* Writes what is pending and closes. */
void cs_store_close(struct cs_store *s);

/* The first error met, or NULL. */
const char *cs_store_error(const struct cs_store *s);

int cs_store_begin(struct cs_store *s);
/* Writes every pending call row, waits for it, and commits (no-op outside a
 * transaction). */
int cs_store_commit(struct cs_store *s);
/* Hands pending call rows to the writer followed by a commit and a new
 * transaction, trimming calls to `trim_keep` first if it is > 0; returns
 * at once (errors show up in cs_store_error). */
void cs_store_commit_async(struct cs_store *s, int64_t trim_keep);
int cs_store_in_transaction(struct cs_store *s);

/* Call ids are given out here, in start order, so the store can sort rows. */
int64_t cs_store_next_call_id(struct cs_store *s);
void cs_store_add_call(struct cs_store *s, const struct cs_call_row *row);
/* cs_store_add_call for the row of a call that ended (mode 0) without the
 * copy of a cs_call_row: the texts are copied now (result_text: NULL when
 * the result is a vals row), and the caller fills in the numbers at the
 * place returned before its next call into the store. NULL: the row is not
 * kept (the store has failed; it is counted lost). */
struct cs_call_numbers *cs_store_add_ended_call(struct cs_store *s, int64_t id, const char *args, size_t args_len,
                                                const char *result_text, size_t result_len, const char *exception,
                                                size_t exception_len);
/* A row of vals: a rendered value and its type name (none when type_len
 * is 0) that call rows refer to by id. It reaches the file no later than
 * the rows handed over after it. Ids must grow from one hand-over to the
 * next (values are kept in chunks of consecutive ids). */
void cs_store_add_value(struct cs_store *s, int64_t id, const char *text, size_t len, const char *type,
                        size_t type_len);
/* The result of call_id, added with its text inline, now has the vals row
 * val_id: the call's row refers to it instead if it is still waiting in
 * the window (and keeps its text otherwise). */
void cs_store_refer_result(struct cs_store *s, int64_t call_id, int64_t val_id);
/* A block of a deferred recording's event log (collector/event_log.h),
 * after the ones before it: 0, or -1 when it was not stored (the store
 * failed, or the disk is full: cs_store_error then says why, or is NULL
 * for a full disk). */
int cs_store_add_event_block(struct cs_store *s, const void *blob, size_t len);
/* Hands each block of the event log of the file open in db after the
 * block numbered after_seq (0: from the first) to fn, in order, with its
 * number, until fn returns non-zero (which is returned): 0 when all were
 * read, -1 with a message in err. One read transaction: the blocks a
 * recording commits meanwhile are left for the next call. */
int cs_store_each_event_block(sqlite3 *db, int64_t after_seq,
                              int (*fn)(void *ctx, int64_t seq, const void *blob, size_t len), void *ctx, char *err,
                              size_t errlen);
/* Whether the file open in db holds an event log whose calls are not built. */
int cs_store_rows_deferred(sqlite3 *db);
/* The integer meta holds at key in the file open in db, or fallback. */
int64_t cs_store_meta_int(sqlite3 *db, const char *key, int64_t fallback);
/* Its text at key, to free ("" when there is none); NULL when out of memory. */
char *cs_store_meta_text(sqlite3 *db, const char *key);
/* Whether the process recording that log may still be at it. */
int cs_store_deferred_recorder_alive(sqlite3 *db);
/* Hands the completed rows waiting in the window to the writer once
 * enough ids were given out since the last time (commits and
 * cs_store_sync hand over everything). */
int cs_store_flush_calls(struct cs_store *s);
/* Flushes and waits until the writer has written everything. */
int cs_store_sync(struct cs_store *s);
/* CPU time, in ns, the writer thread has used so far (0 without one). */
int64_t cs_store_writer_cpu_ns(const struct cs_store *s);
/* The same for the thread that copies the WAL into the main file. */
int64_t cs_store_checkpointer_cpu_ns(const struct cs_store *s);
/* Rows written into calls so far (after flushes, less trimmed ones). */
int64_t cs_store_calls_written(const struct cs_store *s);

void cs_store_add_function(struct cs_store *s, int64_t id, const char *kind, const char *module,
                           size_t module_len, const char *qualname, size_t qualname_len,
                           const char *filename, size_t filename_len, int64_t lineno,
                           const char *arg_names_json, size_t arg_names_len);
void cs_store_add_process(struct cs_store *s, int64_t pid, int64_t parent_pid);
void cs_store_add_thread(struct cs_store *s, int64_t id, int64_t pid, int64_t tid);
void cs_store_set_thread_name(struct cs_store *s, int64_t id, const char *name, size_t len);
void cs_store_add_log(struct cs_store *s, int64_t call_id, int64_t thread_id, int64_t time_ns,
                      const char *message, size_t message_len, const char *fields,
                      size_t fields_len);
/* thread_id -1: events whose thread could not say where it lost them. */
void cs_store_add_lost(struct cs_store *s, int64_t thread_id, int64_t time_ns, int64_t count);
void cs_store_set_meta_text(struct cs_store *s, const char *key, const char *value);
void cs_store_set_meta_int(struct cs_store *s, const char *key, int64_t value);

/* Deletes all but the newest `keep` calls (by id), and the values no call
 * left refers to. */
int cs_store_trim_calls(struct cs_store *s, int64_t keep);
/* Moves the WAL into the main file so the store is one self-contained file. */
int cs_store_checkpoint(struct cs_store *s);

/* ---- a full disk (store_disk_full.c) ---- */

/* A write that finds the disk full does not end the recording: what was
 * committed stays, the calls are dropped (and counted) while the disk is
 * full, and this, called from the caller's thread every step, tries every
 * so often (at once if `now`) to resume. 1 when it just resumed: then the
 * caller must write every value it meets from now on anew, except those
 * with ids up to cs_store_gaps.values_kept, and must not refer to others. */
int cs_store_resume(struct cs_store *s, int now);

struct cs_store_gaps {
    int64_t gaps;        /* times the disk was found full */
    int64_t calls_lost;  /* call rows that could not be written meanwhile */
    int full;            /* the disk is full now: not resumed (yet) */
    int64_t values_kept; /* vals ids up to this one have their rows */
};
void cs_store_disk_full_gaps(struct cs_store *s, struct cs_store_gaps *out);

/* Opens a store for reading after checking that it is one this callscope
 * understands. NULL with a one-line message in err. */
sqlite3 *cs_store_open_readonly(const char *path, char *err, size_t errlen);
/* The name cs_store_open_readonly gives SQLite for path, for another
 * program that is to read it the same way (callscope sql's sqlite3 shell):
 * "file:PATH?immutable=1" for a finished recording, so that reading it
 * creates no -wal or -shm file beside it, and 1; path itself while a
 * recording is under way, and 0; -1 when it does not fit in size. */
int cs_store_reader_name(const char *path, char *out, size_t size);
/* Closes a connection from cs_store_open_readonly, finalizing what is left on it. */
void cs_store_close_readonly(sqlite3 *db);

#endif
