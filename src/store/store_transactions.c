/*
 * store_transactions.c — the store's transactions, and what runs between
 * them: trimming a recording to its last calls (--max-calls) and
 * checkpointing the WAL into the database file.
 */
#include "store/store_internal.h"

#include <stdlib.h>

#include "core/grow.h"

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
    if (cs_store_exec(s, "COMMIT") != 0)
        return -1;
    /* What a full disk would roll back from now on starts here. */
    s->calls_committed = atomic_load(&s->calls_written);
    s->vals_committed = s->max_val_id;
    s->resume_wait_ms = 0;
    cs_textbuf_reset(&s->journal);
    return 0;
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
                            sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), CS_CHUNK_ALL_COLUMNS, err,
                            sizeof err) != 0)
            cs_store_fail(s, "%s", err);
    }
    sqlite3_finalize(st);
    int kept = 0;
    for (int i = 0; i < chunk.n && !failed(s); i++)
        if (chunk.rows[i].id >= first_kept) {
            if (cs_chunk_encoder_add(s->chunk_encoder, &chunk.rows[i]) < 0)
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
            cs_store_insert_chunk(s, s->insert_chunk, new_first, new_last, rows);
        }
    }
    int cut = chunk.n - kept;
    cs_chunk_free(&chunk);
    return cut;
}

/* Rewrites a chunk of values that holds some the kept calls refer to
 * (temp.kept_vals) and some they do not, with the first only. 0, or -1
 * after keeping the error. db_lock held. */
static int cut_val_chunk(struct cs_store *s, int64_t first_id, sqlite3_stmt *chunk, sqlite3_stmt *kept)
{
    char err[256];
    struct cs_val_chunk vals = {0};
    sqlite3_bind_int64(chunk, 1, first_id);
    if (sqlite3_step(chunk) != SQLITE_ROW ||
        cs_val_chunk_decode(&vals, sqlite3_column_blob(chunk, 2), (size_t)sqlite3_column_bytes(chunk, 2), first_id,
                            sqlite3_column_int64(chunk, 0), sqlite3_column_int64(chunk, 1), err, sizeof err) != 0) {
        sqlite3_reset(chunk);
        cs_val_chunk_free(&vals);
        return 0; /* gone, or not one of ours: left as it is */
    }
    sqlite3_reset(chunk);
    /* The kept ids in the chunk's range come in order, as its values do. */
    sqlite3_bind_int64(kept, 1, first_id);
    sqlite3_bind_int64(kept, 2, vals.rows[vals.n - 1].id);
    int i = 0, added = 0;
    while (sqlite3_step(kept) == SQLITE_ROW && !failed(s)) {
        int64_t id = sqlite3_column_int64(kept, 0);
        while (i < vals.n && vals.rows[i].id < id)
            i++;
        if (i < vals.n && vals.rows[i].id == id) {
            if (cs_val_encoder_add(s->val_encoder, &vals.rows[i]) != 0)
                cs_store_fail(s, "out of memory");
            added++;
        }
    }
    sqlite3_reset(kept);
    if (added && !failed(s)) {
        int64_t new_first, new_last;
        int rows;
        if (cs_val_encoder_finish(s->val_encoder, &s->chunk_blob, &new_first, &new_last, &rows, err, sizeof err) !=
            0) {
            cs_store_fail(s, "%s", err);
        } else if (query_int(s, "DELETE FROM val_chunks WHERE first_id = ?1", first_id, 0), !failed(s)) {
            cs_store_insert_chunk(s, s->insert_val_chunk, new_first, new_last, rows);
        }
    }
    cs_val_chunk_free(&vals);
    return failed(s) ? -1 : 0;
}

/* Cuts every chunk of values that holds values no kept call refers to
 * (after the chunks with none were deleted), so that only those remain.
 * db_lock held. */
static int cut_val_chunks(struct cs_store *s)
{
    sqlite3_stmt *list = NULL, *chunk = NULL, *kept = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT c.first_id FROM val_chunks c WHERE (SELECT count(*) FROM kept_vals k"
                                " WHERE k.id BETWEEN c.first_id AND c.last_id) < c.rows",
                                -1, &list, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "SELECT last_id, rows, data FROM val_chunks WHERE first_id = ?1", -1, &chunk,
                                NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "SELECT id FROM kept_vals WHERE id BETWEEN ?1 AND ?2 ORDER BY id", -1, &kept,
                                NULL);
    /* The chunks to cut are listed first: cutting one deletes and inserts
     * rows of the table the list reads. */
    int64_t *cut = NULL;
    size_t n = 0, cap = 0;
    while (rc == SQLITE_OK && sqlite3_step(list) == SQLITE_ROW) {
        if (n == cap) {
            int64_t *grown = cs_grow(cut, &cap, sizeof *cut, 64);
            if (!grown) {
                cs_store_fail(s, "out of memory");
                break;
            }
            cut = grown;
        }
        cut[n++] = sqlite3_column_int64(list, 0);
    }
    if (rc != SQLITE_OK)
        cs_store_fail_rc(s, rc, "write");
    sqlite3_finalize(list);
    for (size_t i = 0; i < n && !failed(s); i++)
        cut_val_chunk(s, cut[i], chunk, kept);
    free(cut);
    sqlite3_finalize(chunk);
    sqlite3_finalize(kept);
    return failed(s) ? -1 : 0;
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
    /* Then the values no kept call refers to: one pass over the kept
     * calls, once, where each trim while recording would cost a pass. */
    if (rc == 0 && cs_store_exec(s, "CREATE TEMP TABLE kept_vals(id INTEGER PRIMARY KEY);"
                                    "INSERT OR IGNORE INTO kept_vals"
                                    " SELECT result FROM call_rows WHERE typeof(result) = 'integer' UNION"
                                    " SELECT a.value FROM call_rows r, json_each(r.args) a WHERE a.type = 'integer';"
                                    "DELETE FROM val_chunks WHERE NOT EXISTS (SELECT 1 FROM kept_vals k"
                                    " WHERE k.id BETWEEN val_chunks.first_id AND val_chunks.last_id);") != 0)
        rc = -1;
    if (rc == 0)
        rc = cut_val_chunks(s);
    cs_store_exec(s, "DROP TABLE IF EXISTS kept_vals");
    unlock_db(s);
    return rc;
}

int cs_store_checkpoint(struct cs_store *s)
{
    cs_store_wait_for_writer(s);
    lock_db(s);
    cs_store_stop_checkpointer(s);
    /* Without room for it the WAL stays beside the file, which readers
     * read with it: nothing is lost. */
    int rc = failed(s) ? -1 : sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    if (rc > 0 && !cs_store_is_disk_full(s, rc))
        cs_store_fail_rc(s, rc, "write");
    unlock_db(s);
    return rc == SQLITE_OK ? 0 : -1;
}
