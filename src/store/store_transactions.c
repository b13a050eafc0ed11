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

/* Runs a one-row query with an int64 parameter; the first column, or
 * `otherwise` when there is no row or it is NULL (db_lock held). */
static int64_t query_int(struct cs_store *s, const char *sql, int64_t param, int64_t otherwise)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        cs_store_fail_rc(s, rc, "write");
        return otherwise;
    }
    sqlite3_bind_int64(st, 1, param);
    int64_t v = otherwise;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        cs_store_fail_rc(s, rc, "write");
    sqlite3_finalize(st);
    return v;
}

/* Rewrites the chunk that holds first_kept and ids below it so that it
 * starts at first_kept (db_lock held; the writer's encoder is idle
 * between batches). Returns the number of rows cut off. */
static int64_t cut_chunk(struct cs_store *s, int64_t first_kept)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT first_id, last_id, rows, data FROM call_chunks WHERE first_id < ?1"
                                " ORDER BY first_id DESC LIMIT 1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        cs_store_fail_rc(s, rc, "write");
        return 0;
    }
    sqlite3_bind_int64(st, 1, first_kept);
    struct cs_chunk chunk = {0};
    char err[256];
    int64_t first_id = 0;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 1) >= first_kept) {
        first_id = sqlite3_column_int64(st, 0);
        if (cs_chunk_decode(&chunk, sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3), first_id,
                            sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), err, sizeof err) != 0)
            cs_store_fail(s, "%s", err);
    }
    sqlite3_finalize(st);
    int kept = 0;
    for (int i = 0; i < chunk.n && !failed(s); i++)
        if (chunk.rows[i].id >= first_kept) {
            if (cs_chunk_encoder_add(s->chunk_encoder, &chunk.rows[i]) != 0)
                cs_store_fail(s, "out of memory");
            kept++;
        }
    if (kept && !failed(s)) {
        int64_t new_first, new_last;
        int rows;
        if (cs_chunk_encoder_finish(s->chunk_encoder, &s->chunk_blob, &new_first, &new_last, &rows, err,
                                    sizeof err) != 0) {
            cs_store_fail(s, "%s", err);
        } else if (query_int(s, "DELETE FROM call_chunks WHERE first_id = ?1", first_id, 0), !failed(s)) {
            sqlite3_stmt *ins = s->insert_chunk;
            sqlite3_bind_int64(ins, 1, new_first);
            sqlite3_bind_int64(ins, 2, new_last);
            sqlite3_bind_int(ins, 3, rows);
            sqlite3_bind_blob(ins, 4, s->chunk_blob.data, (int)s->chunk_blob.len, SQLITE_STATIC);
            run(s, ins);
        }
    }
    int cut = chunk.n - kept;
    cs_chunk_free(&chunk);
    return cut;
}

/* Keeps the newest `keep` calls: whole chunks go, and the one that
 * straddles the first call kept is cut to start there. db_lock held. */
int cs_store_trim_locked(struct cs_store *s, int64_t keep)
{
    int64_t first_kept = query_int(s, "SELECT id FROM call_rows ORDER BY id DESC LIMIT 1 OFFSET ?1", keep - 1, 0);
    if (first_kept <= 0 || failed(s))
        return failed(s) ? -1 : 0;
    int64_t dropped = query_int(s, "SELECT sum(rows) FROM call_chunks WHERE last_id < ?1", first_kept, 0) +
                      query_int(s, "SELECT count(*) FROM call_late WHERE id < ?1", first_kept, 0);
    dropped += cut_chunk(s, first_kept);
    query_int(s, "DELETE FROM call_chunks WHERE first_id < ?1", first_kept, 0);
    query_int(s, "DELETE FROM call_late WHERE id < ?1", first_kept, 0);
    if (!failed(s)) {
        atomic_fetch_sub(&s->calls_written, dropped);
        int rc = cs_call_blocks_trim(s->blocks, first_kept);
        if (rc != SQLITE_OK)
            cs_store_fail_rc(s, rc, "write");
    }
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
    /* Then the chunks of values no kept call refers to: one pass over the
     * kept calls, once, where each trim while recording would cost a pass.
     * A chunk with a value still referred to stays whole; values are
     * referred to mostly by calls soon after them, so the old chunks go. */
    if (rc == 0 && cs_store_exec(s, "CREATE TEMP TABLE kept_vals(id INTEGER PRIMARY KEY);"
                                    "INSERT OR IGNORE INTO kept_vals"
                                    " SELECT result FROM call_rows WHERE typeof(result) = 'integer' UNION"
                                    " SELECT a.value FROM call_rows r, json_each(r.args) a WHERE a.type = 'integer';"
                                    "DELETE FROM val_chunks WHERE NOT EXISTS (SELECT 1 FROM kept_vals k"
                                    " WHERE k.id BETWEEN val_chunks.first_id AND val_chunks.last_id);"
                                    "DROP TABLE kept_vals;") != 0)
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
