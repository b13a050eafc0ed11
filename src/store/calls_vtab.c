/*
 * calls_vtab.c — the call_rows virtual table (see calls_vtab.h).
 *
 * A scan is a merge of two streams in id order: the rows of the chunks
 * whose ids overlap the range asked for, decoded one chunk at a time, and
 * the rows of call_late in that range (calls that were still running when
 * their chunk was written; few). An id is in one of them only.
 */
#include "store/calls_vtab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/call_chunks.h"
#include "store/id_plan.h"
#include "store/modules.h"
#include "store/vtab_statements.h"

enum column {
    COL_ID,
    COL_PARENT_ID,
    COL_THREAD_ID,
    COL_FUNCTION_ID,
    COL_DEPTH,
    COL_START_NS,
    COL_DURATION_NS,
    COL_SELF_NS,
    COL_ARGS,
    COL_RESULT,
    COL_EXCEPTION,
    COL_FLAGS,
};

/* The columns, in the order of call_late's (and of call_rows in files of
 * schema 2). */
static const char DECLARATION[] = "CREATE TABLE x(id INTEGER, parent_id INTEGER, thread_id INTEGER,"
                                  " function_id INTEGER, depth INTEGER, start_ns INTEGER, duration_ns INTEGER,"
                                  " self_ns INTEGER, args TEXT, result, exception TEXT, flags INTEGER)";

/* The statements of a cursor (vtab_statements.h), by number. */
enum { ST_CHUNK_AT, ST_CHUNKS, ST_CHUNKS_DESC, ST_LATE, ST_LATE_DESC, ST_DATA };

struct calls_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
    struct cs_chunk spare; /* a decoded chunk a closed cursor left, for the next one */
    int64_t spare_first_id;
    struct cs_vtab_statements *idle;
};

struct calls_cursor {
    sqlite3_vtab_cursor base;
    struct calls_vtab *vtab;
    struct cs_vtab_statements *st;
    sqlite3_stmt *chunks, *late; /* st's, of the cursor's direction */
    int desc;
    int64_t lo, hi;
    /* the chunk stream */
    struct cs_chunk chunk;
    int64_t chunk_first_id; /* of the decoded chunk; 0: none */
    int chunk_pos;          /* the current row of chunk, or -1/n when past it */
    int chunks_done;
    /* the late stream */
    int late_has_row;
    /* which one the current row comes from */
    int from_late;
    int eof;
};

static int vtab_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                        char **errmsg)
{
    (void)aux;
    (void)argc;
    (void)argv;
    (void)errmsg;
    int rc = sqlite3_declare_vtab(db, DECLARATION);
    if (rc != SQLITE_OK)
        return rc;
    struct calls_vtab *v = sqlite3_malloc(sizeof *v);
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->db = db;
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = &v->base;
    return SQLITE_OK;
}

static int vtab_disconnect(sqlite3_vtab *base)
{
    struct calls_vtab *v = (struct calls_vtab *)base;
    cs_chunk_free(&v->spare);
    cs_vtab_statements_free(&v->idle);
    sqlite3_free(v);
    return SQLITE_OK;
}

static int vtab_best_index(sqlite3_vtab *base, sqlite3_index_info *info)
{
    (void)base;
    return cs_id_plan_choose(info, COL_ID);
}

static int cursor_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
    struct calls_vtab *v = (struct calls_vtab *)base;
    struct calls_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->vtab = v;
    if (!(c->st = cs_vtab_statements_take(&v->idle))) {
        sqlite3_free(c);
        return SQLITE_NOMEM;
    }
    /* Take the chunk the last cursor decoded: lookups one after the other
     * (the viewer's) mostly land in it again. */
    c->chunk = v->spare;
    c->chunk_first_id = v->spare_first_id;
    memset(&v->spare, 0, sizeof v->spare);
    v->spare_first_id = 0;
    *out = &c->base;
    return SQLITE_OK;
}

static int cursor_close(sqlite3_vtab_cursor *base)
{
    struct calls_cursor *c = (struct calls_cursor *)base;
    struct calls_vtab *v = c->vtab;
    cs_vtab_statements_give(&v->idle, c->st);
    if (c->chunk_first_id && !v->spare.rows && c->chunk.n) {
        v->spare = c->chunk;
        v->spare_first_id = c->chunk_first_id;
    } else {
        cs_chunk_free(&c->chunk);
    }
    sqlite3_free(c);
    return SQLITE_OK;
}

static int fail(struct calls_cursor *c, int rc, const char *message)
{
    sqlite3_free(c->vtab->base.zErrMsg);
    c->vtab->base.zErrMsg = sqlite3_mprintf("%s", message);
    return rc;
}

static int fail_db(struct calls_cursor *c, int rc)
{
    return fail(c, rc, sqlite3_errmsg(c->vtab->db));
}

static int prepare(struct calls_cursor *c, int i, const char *sql)
{
    int rc = cs_vtab_prepare(c->vtab->db, c->st, i, sql);
    return rc == SQLITE_OK ? rc : fail_db(c, rc);
}

/* Decodes the chunk the chunks statement is on (unless it is the one
 * decoded already: its blob is read only to decode it) and places the
 * cursor on its first row in range. */
static int load_chunk(struct calls_cursor *c, sqlite3_stmt *st)
{
    int64_t first_id = sqlite3_column_int64(st, 0);
    if (first_id != c->chunk_first_id || c->chunk.n == 0) {
        char err[256];
        c->chunk_first_id = 0;
        int rc = prepare(c, ST_DATA, CS_MODULE_SQL_MARK "SELECT data FROM call_chunks WHERE first_id = ?1");
        if (rc != SQLITE_OK)
            return rc;
        sqlite3_stmt *data = c->st->st[ST_DATA];
        sqlite3_bind_int64(data, 1, first_id);
        rc = sqlite3_step(data);
        if (rc == SQLITE_ROW &&
            cs_chunk_decode(&c->chunk, sqlite3_column_blob(data, 0), (size_t)sqlite3_column_bytes(data, 0), first_id,
                            sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), err, sizeof err) != 0) {
            sqlite3_reset(data);
            return fail(c, SQLITE_CORRUPT, err);
        }
        sqlite3_reset(data);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? fail(c, SQLITE_CORRUPT, "a chunk of calls went missing") : fail_db(c, rc);
        c->chunk_first_id = first_id;
    }
    int n = c->chunk.n;
    if (!c->desc) {
        int i = 0;
        while (i < n && c->chunk.rows[i].id < c->lo)
            i++;
        c->chunk_pos = i;
    } else {
        int i = n - 1;
        while (i >= 0 && c->chunk.rows[i].id > c->hi)
            i--;
        c->chunk_pos = i;
    }
    return SQLITE_OK;
}

/* Whether the chunk stream has a row in range at chunk_pos. */
static int chunk_row_in_range(const struct calls_cursor *c)
{
    if (c->chunks_done || c->chunk_pos < 0 || c->chunk_pos >= c->chunk.n)
        return 0;
    int64_t id = c->chunk.rows[c->chunk_pos].id;
    return id >= c->lo && id <= c->hi;
}

/* Moves the chunk stream to its next row in range, reading chunks as it
 * goes; chunks_done once none is left. */
static int settle_chunks(struct calls_cursor *c)
{
    while (!c->chunks_done) {
        if (c->chunk_pos >= 0 && c->chunk_pos < c->chunk.n) {
            int64_t id = c->chunk.rows[c->chunk_pos].id;
            if ((!c->desc && id > c->hi) || (c->desc && id < c->lo))
                c->chunks_done = 1;
            return SQLITE_OK;
        }
        int rc = sqlite3_step(c->chunks);
        if (rc == SQLITE_DONE) {
            c->chunks_done = 1;
            return SQLITE_OK;
        }
        if (rc != SQLITE_ROW)
            return fail_db(c, rc);
        rc = load_chunk(c, c->chunks);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int step_late(struct calls_cursor *c)
{
    int rc = sqlite3_step(c->late);
    c->late_has_row = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : fail_db(c, rc);
}

/* Makes the current row the next one of the two streams in order. */
static void pick(struct calls_cursor *c)
{
    int chunk = chunk_row_in_range(c);
    if (!chunk && !c->late_has_row) {
        c->eof = 1;
        return;
    }
    if (!chunk || !c->late_has_row) {
        c->from_late = !chunk;
        return;
    }
    int64_t a = c->chunk.rows[c->chunk_pos].id, b = sqlite3_column_int64(c->late, 0);
    c->from_late = c->desc ? b >= a : b <= a;
}

static int cursor_filter(sqlite3_vtab_cursor *base, int plan, const char *idx, int argc, sqlite3_value **argv)
{
    (void)idx;
    struct calls_cursor *c = (struct calls_cursor *)base;
    cs_id_plan_range(plan, argc, argv, &c->lo, &c->hi, &c->desc);
    c->eof = 0;
    c->chunks_done = 0;
    c->late_has_row = 0;
    c->chunk_pos = -1;
    if (c->lo > c->hi) {
        c->eof = 1;
        return SQLITE_OK;
    }
    int rc = prepare(c, ST_CHUNK_AT,
                     CS_MODULE_SQL_MARK "SELECT coalesce((SELECT first_id FROM call_chunks WHERE first_id <= ?1"
                     " ORDER BY first_id DESC LIMIT 1), ?1)");
    if (rc == SQLITE_OK)
        rc = prepare(c, c->desc ? ST_CHUNKS_DESC : ST_CHUNKS,
                     c->desc ? CS_MODULE_SQL_MARK "SELECT first_id, last_id, rows FROM call_chunks"
                                                  " WHERE first_id BETWEEN ?1 AND ?2 ORDER BY first_id DESC"
                             : CS_MODULE_SQL_MARK "SELECT first_id, last_id, rows FROM call_chunks"
                                                  " WHERE first_id BETWEEN ?1 AND ?2 ORDER BY first_id");
    if (rc == SQLITE_OK)
        rc = prepare(c, c->desc ? ST_LATE_DESC : ST_LATE,
                     c->desc ? CS_MODULE_SQL_MARK "SELECT * FROM call_late WHERE id BETWEEN ?1 AND ?2 ORDER BY id DESC"
                             : CS_MODULE_SQL_MARK "SELECT * FROM call_late WHERE id BETWEEN ?1 AND ?2 ORDER BY id");
    if (rc != SQLITE_OK)
        return rc;
    c->chunks = c->st->st[c->desc ? ST_CHUNKS_DESC : ST_CHUNKS];
    c->late = c->st->st[c->desc ? ST_LATE_DESC : ST_LATE];
    sqlite3_reset(c->chunks);
    sqlite3_reset(c->late);
    /* The chunks that may hold ids in [lo, hi]: from the one that starts
     * at or before lo. */
    sqlite3_stmt *chunk_at = c->st->st[ST_CHUNK_AT];
    sqlite3_bind_int64(chunk_at, 1, c->lo);
    rc = sqlite3_step(chunk_at);
    int64_t from = rc == SQLITE_ROW ? sqlite3_column_int64(chunk_at, 0) : c->lo;
    sqlite3_reset(chunk_at);
    if (rc != SQLITE_ROW)
        return fail_db(c, rc);
    sqlite3_bind_int64(c->chunks, 1, from);
    sqlite3_bind_int64(c->chunks, 2, c->hi);
    sqlite3_bind_int64(c->late, 1, c->lo);
    sqlite3_bind_int64(c->late, 2, c->hi);
    rc = settle_chunks(c);
    if (rc == SQLITE_OK)
        rc = step_late(c);
    if (rc == SQLITE_OK)
        pick(c);
    return rc;
}

static int cursor_next(sqlite3_vtab_cursor *base)
{
    struct calls_cursor *c = (struct calls_cursor *)base;
    int rc;
    if (c->from_late) {
        rc = step_late(c);
    } else {
        c->chunk_pos += c->desc ? -1 : 1;
        rc = settle_chunks(c);
    }
    if (rc == SQLITE_OK)
        pick(c);
    return rc;
}

static int cursor_eof(sqlite3_vtab_cursor *base)
{
    return ((struct calls_cursor *)base)->eof;
}

static void result_text(sqlite3_context *ctx, const struct cs_chunk_text *t)
{
    if (t->present)
        sqlite3_result_text(ctx, t->text ? t->text : "", (int)t->len, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
}

static int cursor_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int column)
{
    struct calls_cursor *c = (struct calls_cursor *)base;
    if (c->from_late) {
        sqlite3_result_value(ctx, sqlite3_column_value(c->late, column));
        return SQLITE_OK;
    }
    const struct cs_chunk_row *r = &c->chunk.rows[c->chunk_pos];
    switch (column) {
    case COL_ID:
        sqlite3_result_int64(ctx, r->id);
        break;
    case COL_PARENT_ID:
        if (r->parent_id)
            sqlite3_result_int64(ctx, r->parent_id);
        else
            sqlite3_result_null(ctx);
        break;
    case COL_THREAD_ID:
        sqlite3_result_int64(ctx, r->thread_id);
        break;
    case COL_FUNCTION_ID:
        sqlite3_result_int64(ctx, r->function_id);
        break;
    case COL_DEPTH:
        sqlite3_result_int64(ctx, r->depth);
        break;
    case COL_START_NS:
        sqlite3_result_int64(ctx, r->start_ns);
        break;
    case COL_DURATION_NS:
    case COL_SELF_NS:
        if (r->finished)
            sqlite3_result_int64(ctx, column == COL_DURATION_NS ? r->duration_ns : r->self_ns);
        else
            sqlite3_result_null(ctx);
        break;
    case COL_ARGS:
        result_text(ctx, &r->args);
        break;
    case COL_RESULT:
        if (r->result_id > 0)
            sqlite3_result_int64(ctx, r->result_id);
        else
            result_text(ctx, &r->result);
        break;
    case COL_EXCEPTION:
        result_text(ctx, &r->exception);
        break;
    case COL_FLAGS:
        sqlite3_result_int64(ctx, r->flags);
        break;
    default:
        sqlite3_result_null(ctx);
        break;
    }
    return SQLITE_OK;
}

static int cursor_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    struct calls_cursor *c = (struct calls_cursor *)base;
    *rowid = c->from_late ? sqlite3_column_int64(c->late, 0) : c->chunk.rows[c->chunk_pos].id;
    return SQLITE_OK;
}

static const sqlite3_module CALLS_MODULE = {
    .iVersion = 0,
    .xCreate = vtab_connect,
    .xConnect = vtab_connect,
    .xBestIndex = vtab_best_index,
    .xDisconnect = vtab_disconnect,
    .xDestroy = vtab_disconnect,
    .xOpen = cursor_open,
    .xClose = cursor_close,
    .xFilter = cursor_filter,
    .xNext = cursor_next,
    .xEof = cursor_eof,
    .xColumn = cursor_column,
    .xRowid = cursor_rowid,
};

int cs_calls_vtab_register(sqlite3 *db)
{
    return sqlite3_create_module_v2(db, CS_CALLS_MODULE, &CALLS_MODULE, NULL, NULL);
}
