/*
 * store_disk_full.c — a recording whose disk fills up: it pauses, and
 * resumes once there is room again.
 *
 * When a write finds the disk full, the open transaction is rolled back:
 * what the earlier commits wrote stays, whole and readable. From then on
 * calls are dropped, and counted, as soon as they reach the store; the
 * small tables' rows go on into the journal (store_tables.c), since later
 * calls refer to them. Every so often (cs_store_resume, from the caller's
 * thread), once the file system has RESUME_ROOM_BYTES free, the store
 * tries again: it writes the journal and the gap's counts in a
 * transaction of their own, and if that commits, recording goes on with
 * the next calls. The file then holds the calls from before
 * and after the gap; the calls of the gap are missing, and meta says how
 * many (docs/schema.md).
 *
 * Values are the one thing later calls refer to that the store cannot
 * keep for them: a value written in the rolled-back transaction, or in a
 * batch dropped since, has no row. The caller learns which ids survived
 * (cs_store_gaps.values_kept) and must give every value met after the gap a
 * new row; the collector forgets the ids it gave out (value_cache.h).
 */
#include "store/store_internal.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include "core/clock.h"

/* db_lock held. */
void cs_store_pause_for_room(struct cs_store *s)
{
    pthread_mutex_lock(&s->error_lock);
    int was = atomic_load(&s->failed);
    if (was == STORE_OK)
        atomic_store(&s->failed, STORE_DISK_FULL);
    pthread_mutex_unlock(&s->error_lock);
    if (was != STORE_OK)
        return;
    /* SQLite may have rolled back the transaction already, or not. */
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = 0;
    s->gaps++;
    s->written_when_full = atomic_load(&s->calls_written);
    atomic_fetch_add(&s->calls_lost, s->written_when_full - s->calls_committed);
    atomic_store(&s->calls_written, s->calls_committed);
    /* A disk that fills again before any commit landed is tried less often. */
    s->resume_wait_ms = s->resume_wait_ms ? s->resume_wait_ms * 2 : RESUME_FIRST_WAIT_MS;
    if (s->resume_wait_ms > RESUME_LAST_WAIT_MS)
        s->resume_wait_ms = RESUME_LAST_WAIT_MS;
    s->resume_at_ms = cs_monotonic_ms() + s->resume_wait_ms;
}

static int set_meta(struct cs_store *s, const char *key, int64_t value)
{
    sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->set_meta, 2, value);
    int rc = sqlite3_step(s->set_meta);
    sqlite3_reset(s->set_meta);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The calls in the file (a call's open row and its final one are one). */
static int count_calls(struct cs_store *s, int64_t *calls)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT (SELECT coalesce(sum(rows), 0) FROM call_chunks)"
                                " + (SELECT count(*) FROM call_late)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *calls = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* One try: the journal and the gap's counts in a transaction of their
 * own. db_lock held, the writer idle. An SQLite result code. */
static int try_to_resume(struct cs_store *s, int64_t *calls)
{
    /* The chunks being built when the disk filled are dropped with it. */
    char err[256];
    int64_t first, last;
    int rows;
    if (cs_chunk_encoder_rows(s->chunk_encoder))
        cs_chunk_encoder_finish(s->chunk_encoder, &s->chunk_blob, &first, &last, &rows, err, sizeof err);
    if (cs_val_encoder_rows(s->val_encoder))
        cs_val_encoder_finish(s->val_encoder, &s->chunk_blob, &first, &last, &rows, err, sizeof err);
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = cs_store_replay_journal(s);
    if (rc == SQLITE_OK)
        rc = count_calls(s, calls);
    if (rc == SQLITE_OK)
        rc = set_meta(s, "disk_full_gaps", s->gaps);
    if (rc == SQLITE_OK)
        rc = set_meta(s, "disk_full_lost_calls", atomic_load(&s->calls_lost));
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Whether the file system of path has room to resume in. A write that
 * fits in what the file already holds (the rolled-back transaction's
 * pages at the end of the WAL) proves nothing. */
static int room_for(const char *path)
{
    struct statvfs fs;
    if (statvfs(path, &fs) != 0)
        return 1; /* the write will tell */
    uint64_t blocks = geteuid() == 0 ? fs.f_bfree : fs.f_bavail;
    return blocks * fs.f_frsize >= RESUME_ROOM_BYTES;
}

/* Waits longer before the next try (db_lock held). */
static void try_later(struct cs_store *s)
{
    if ((s->resume_wait_ms *= 2) > RESUME_LAST_WAIT_MS)
        s->resume_wait_ms = RESUME_LAST_WAIT_MS;
    s->resume_at_ms = cs_monotonic_ms() + s->resume_wait_ms;
}

int cs_store_resume(struct cs_store *s, int now)
{
    if (failed(s) != STORE_DISK_FULL)
        return 0;
    lock_db(s);
    int due = now || cs_monotonic_ms() >= s->resume_at_ms;
    if (due && !room_for(s->path)) {
        try_later(s);
        due = 0;
    }
    unlock_db(s);
    if (!due)
        return 0;
    /* What was handed over or kept meanwhile cannot be written: it may
     * refer to values that were lost. */
    cs_store_wait_for_writer(s);
    cs_store_drop_pending(s);
    lock_db(s);
    int64_t calls = 0;
    int rc = try_to_resume(s, &calls);
    if (rc == SQLITE_OK) {
        atomic_store(&s->calls_written, calls);
        s->calls_committed = calls;
        cs_textbuf_reset(&s->journal);
        pthread_mutex_lock(&s->error_lock);
        if (atomic_load(&s->failed) == STORE_DISK_FULL)
            atomic_store(&s->failed, STORE_OK);
        pthread_mutex_unlock(&s->error_lock);
    } else if (cs_store_is_disk_full(s, rc)) {
        try_later(s);
    } else {
        cs_store_fail(s, "cannot write %s: %s", s->path, sqlite3_errmsg(s->db));
    }
    unlock_db(s);
    return failed(s) ? 0 : 1;
}

int cs_store_open_row_lost(struct cs_store *s, int64_t id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM call_late WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, id);
    int lost = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    if (lost)
        atomic_fetch_sub(&s->calls_lost, 1);
    return lost;
}

void cs_store_disk_full_gaps(struct cs_store *s, struct cs_store_gaps *out)
{
    lock_db(s);
    out->gaps = s->gaps;
    out->calls_lost = atomic_load(&s->calls_lost);
    out->full = failed(s) == STORE_DISK_FULL;
    out->values_kept = s->vals_committed;
    unlock_db(s);
}
