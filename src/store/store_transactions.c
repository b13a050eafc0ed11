/*
 * store_transactions.c — the store's transactions, and what runs between
 * them: trimming a recording to its last calls (--max-calls) and
 * checkpointing the WAL into the database file.
 */
#include "store/store_internal.h"

int cs_store_begin(struct cs_store *s)
{
    int rc = 0;
    lock_db(s);
    if (!s->in_txn) {
        rc = cs_store_exec(s, "BEGIN");
        if (rc == 0)
            s->in_txn = 1;
    }
    unlock_db(s);
    return rc;
}

/* db_lock held. */
int cs_store_commit_locked(struct cs_store *s)
{
    if (!s->in_txn)
        return failed(s) ? -1 : 0;
    /* the blocks of the rows this transaction wrote go with them */
    int rc = failed(s) ? SQLITE_OK : cs_call_blocks_write(s->blocks);
    if (rc != SQLITE_OK)
        cs_store_fail_rc(s, rc, "write");
    s->in_txn = 0;
    if (failed(s)) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return cs_store_exec(s, "COMMIT");
}

int cs_store_commit(struct cs_store *s)
{
    cs_store_sync(s);
    lock_db(s);
    int rc = cs_store_commit_locked(s);
    unlock_db(s);
    return rc;
}

int cs_store_in_transaction(struct cs_store *s)
{
    lock_db(s);
    int in = s->in_txn;
    unlock_db(s);
    return in;
}

/* ---- trimming and checkpoints ---- */

/* db_lock held. */
int cs_store_trim_locked(struct cs_store *s, int64_t keep)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                "DELETE FROM call_rows WHERE id < "
                                "(SELECT id FROM call_rows ORDER BY id DESC LIMIT 1 OFFSET ?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        cs_store_fail_rc(s, rc, "write");
        return -1;
    }
    sqlite3_bind_int64(st, 1, keep - 1);
    if (run(s, st) == 0)
        atomic_fetch_sub(&s->calls_written, sqlite3_changes(s->db));
    sqlite3_finalize(st);
    sqlite3_stmt *first;
    rc = sqlite3_prepare_v2(s->db, "SELECT min(id) FROM call_rows", -1, &first, NULL);
    if (rc == SQLITE_OK && sqlite3_step(first) == SQLITE_ROW && sqlite3_column_type(first, 0) == SQLITE_INTEGER)
        rc = cs_call_blocks_trim(s->blocks, sqlite3_column_int64(first, 0));
    sqlite3_finalize(first);
    if (rc != SQLITE_OK && !failed(s))
        cs_store_fail_rc(s, rc, "write");
    return failed(s) ? -1 : 0;
}

int cs_store_trim_calls(struct cs_store *s, int64_t keep)
{
    if (keep <= 0 || failed(s))
        return failed(s) ? -1 : 0;
    if (cs_store_sync(s) != 0)
        return -1;
    lock_db(s);
    int rc = cs_store_trim_locked(s, keep);
    /* Then the values no kept call refers to: one pass over the kept calls,
     * once, where each trim while recording would cost a pass. */
    if (rc == 0 && cs_store_exec(s, "DELETE FROM vals WHERE id NOT IN ("
                           "SELECT result FROM call_rows WHERE typeof(result) = 'integer' UNION ALL "
                           "SELECT a.value FROM call_rows r, json_each(r.args) a WHERE a.type = 'integer')") != 0)
        rc = -1;
    unlock_db(s);
    return rc;
}

int cs_store_checkpoint(struct cs_store *s)
{
    cs_store_wait_for_writer(s);
    lock_db(s);
    cs_store_stop_checkpointer(s);
    int rc = cs_store_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
    unlock_db(s);
    return rc;
}
