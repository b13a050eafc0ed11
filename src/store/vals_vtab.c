/*
 * vals_vtab.c — `vals`, the virtual table of the values calls refer to
 * (docs/schema.md, "Values"), read from the chunks of val_chunks
 * (val_chunks.h). See vals_vtab.h.
 *
 * Values are mostly read one at a time, by id, from everywhere in the
 * recording (the calls view looks up each argument; readers look up the
 * values of the calls they walk), and each lookup needs its chunk
 * decoded. The table keeps the chunks it decoded last, shared by its
 * cursors, so that a run of lookups near each other (the common case:
 * calls refer to values made shortly before) decodes each chunk once.
 */
#include "store/vals_vtab.h"

#include <stdint.h>
#include <string.h>

#include "store/id_plan.h"
#include "store/modules.h"
#include "store/val_chunks.h"
#include "store/chunk_table.h"

enum column { COL_ID, COL_TEXT, COL_TYPE };

static const char DECLARATION[] = "CREATE TABLE x(id INTEGER, text TEXT, type TEXT)";

/* Decoded chunks kept per table: 16 of 1,024 values, a few MB at most. */
#define CACHED_CHUNKS 16

struct cached_chunk {
    struct cs_chunk_slot slot;
    struct cs_val_chunk chunk;
};

struct vals_vtab {
    struct cs_chunk_vtab t;
    struct cached_chunk cache[CACHED_CHUNKS];
    uint64_t clock;
};

static const struct cs_chunk_vtab_shape SHAPE = {DECLARATION, sizeof(struct vals_vtab)};

struct vals_cursor {
    struct cs_chunk_cursor head;
    struct vals_vtab *vtab;
    sqlite3_stmt *chunks; /* st's chunks statement of the cursor's direction */
    int desc, eof;
    int done; /* no further chunk to read: the one at holds the whole range */
    int64_t lo, hi;
    struct cached_chunk *at; /* the chunk being read, pinned */
    struct cached_chunk own; /* used when every cached chunk is pinned */
    int pos;
};

static int vtab_disconnect(sqlite3_vtab *base)
{
    struct vals_vtab *v = (struct vals_vtab *)base;
    for (int i = 0; i < CACHED_CHUNKS; i++)
        cs_val_chunk_free(&v->cache[i].chunk);
    cs_chunk_vtab_free(&v->t);
    return SQLITE_OK;
}

static int vtab_best_index(sqlite3_vtab *base, sqlite3_index_info *info)
{
    (void)base;
    return cs_id_plan_choose(info, COL_ID);
}

static int cursor_open(sqlite3_vtab *base, sqlite3_vtab_cursor **out)
{
    int rc = cs_chunk_cursor_open((struct cs_chunk_vtab *)base, sizeof(struct vals_cursor), out);
    if (rc == SQLITE_OK)
        ((struct vals_cursor *)*out)->vtab = (struct vals_vtab *)base;
    return rc;
}

static void unpin(struct vals_cursor *c)
{
    if (c->at && c->at != &c->own)
        c->at->slot.pins--;
    c->at = NULL;
}

static int cursor_close(sqlite3_vtab_cursor *base)
{
    struct vals_cursor *c = (struct vals_cursor *)base;
    unpin(c);
    cs_val_chunk_free(&c->own.chunk);
    cs_chunk_cursor_free(&c->head);
    return SQLITE_OK;
}

static int fail(struct vals_cursor *c, int rc, const char *message)
{
    return cs_chunk_vtab_fail(&c->vtab->t, rc, message);
}

/* Places the cursor in chunk slot (pinned) on its first value in range. */
static void enter(struct vals_cursor *c, struct cached_chunk *slot)
{
    slot->slot.used = ++c->vtab->clock;
    if (slot != &c->own)
        slot->slot.pins++;
    c->at = slot;
    const struct cs_val_chunk *k = &slot->chunk;
    int i;
    if (!c->desc)
        for (i = 0; i < k->n && k->rows[i].id < c->lo; i++)
            ;
    else
        for (i = k->n - 1; i >= 0 && k->rows[i].id > c->hi; i--)
            ;
    c->pos = i;
}

/* A lookup of one id in a chunk decoded already: the usual case (values
 * are looked up near where the last lookups were) costs no SQL at all. */
static int find_cached(struct vals_cursor *c, int64_t id)
{
    struct vals_vtab *v = c->vtab;
    for (int i = 0; i < CACHED_CHUNKS; i++) {
        struct cached_chunk *slot = &v->cache[i];
        if (slot->slot.first_id && slot->slot.first_id <= id && id <= slot->slot.last_id) {
            enter(c, slot);
            c->done = 1; /* no other chunk holds it */
            return 1;
        }
    }
    return 0;
}

/* Makes the chunk the chunks statement is on the cursor's current one:
 * from the cache, or decoded into the least recently used unpinned entry
 * (the cursor's own when all are pinned). Its blob is read only then. */
static int take_chunk(struct vals_cursor *c)
{
    struct vals_vtab *v = c->vtab;
    sqlite3_stmt *st = c->chunks;
    int64_t first_id = sqlite3_column_int64(st, 0);
    unpin(c);
    struct cached_chunk *slot = NULL;
    for (int i = 0; i < CACHED_CHUNKS && !slot; i++)
        if (v->cache[i].slot.first_id == first_id && first_id)
            slot = &v->cache[i]; /* (pinned or not: its rows never change) */
    if (!slot) {
        slot = cs_chunk_slot_pick(v->cache, sizeof *v->cache, CACHED_CHUNKS, 0);
        if (!slot)
            slot = &c->own;
        char err[256];
        slot->slot.first_id = 0;
        sqlite3_stmt *data = NULL;
        int rc = cs_vtab_chunk_data(v->t.db, c->head.st, "val_chunks", first_id, &data);
        if (rc == SQLITE_ROW &&
            cs_val_chunk_decode(&slot->chunk, sqlite3_column_blob(data, 0), (size_t)sqlite3_column_bytes(data, 0),
                                first_id, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), err,
                                sizeof err) != 0) {
            sqlite3_reset(data);
            return fail(c, SQLITE_CORRUPT, err);
        }
        sqlite3_reset(data);
        if (rc != SQLITE_ROW)
            return fail(c, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, sqlite3_errmsg(v->t.db));
        slot->slot.first_id = first_id;
        slot->slot.last_id = sqlite3_column_int64(st, 1);
    }
    enter(c, slot);
    return SQLITE_OK;
}

/* Moves to the next value in range, reading chunks as it goes. */
static int settle(struct vals_cursor *c)
{
    for (;;) {
        if (c->at && c->pos >= 0 && c->pos < c->at->chunk.n) {
            int64_t id = c->at->chunk.rows[c->pos].id;
            c->eof = c->desc ? id < c->lo : id > c->hi;
            return SQLITE_OK;
        }
        if (c->done) {
            c->eof = 1;
            return SQLITE_OK;
        }
        int rc = sqlite3_step(c->chunks);
        if (rc == SQLITE_DONE) {
            c->eof = 1;
            return SQLITE_OK;
        }
        if (rc != SQLITE_ROW)
            return fail(c, rc, sqlite3_errmsg(c->vtab->t.db));
        rc = take_chunk(c);
        if (rc != SQLITE_OK)
            return rc;
    }
}

static int cursor_filter(sqlite3_vtab_cursor *base, int plan, const char *idx, int argc, sqlite3_value **argv)
{
    struct vals_cursor *c = (struct vals_cursor *)base;
    /* (comparisons of text or type come as tests: SQLite applies them) */
    struct cs_id_plan_test tests[CS_ID_PLAN_MAX_TESTS];
    int ntests;
    cs_id_plan_range(plan, idx, argc, argv, &c->lo, &c->hi, &c->desc, tests, &ntests);
    unpin(c);
    c->eof = 0;
    c->done = 0;
    if (c->lo > c->hi) {
        c->eof = 1;
        return SQLITE_OK;
    }
    if (c->lo == c->hi && find_cached(c, c->lo))
        return settle(c);
    int rc = cs_vtab_chunks(c->vtab->t.db, c->head.st, "val_chunks", c->desc, c->lo, c->hi, &c->chunks);
    if (rc != SQLITE_OK)
        return fail(c, rc, sqlite3_errmsg(c->vtab->t.db));
    return settle(c);
}

static int cursor_next(sqlite3_vtab_cursor *base)
{
    struct vals_cursor *c = (struct vals_cursor *)base;
    c->pos += c->desc ? -1 : 1;
    return settle(c);
}

static int cursor_eof(sqlite3_vtab_cursor *base)
{
    return ((struct vals_cursor *)base)->eof;
}

static int cursor_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int column)
{
    struct vals_cursor *c = (struct vals_cursor *)base;
    const struct cs_val_row *r = &c->at->chunk.rows[c->pos];
    switch (column) {
    case COL_ID:
        sqlite3_result_int64(ctx, r->id);
        break;
    case COL_TEXT:
        sqlite3_result_text(ctx, r->text ? r->text : "", (int)r->len, SQLITE_TRANSIENT);
        break;
    case COL_TYPE:
        if (r->type)
            sqlite3_result_text(ctx, r->type, (int)r->type_len, SQLITE_TRANSIENT);
        else
            sqlite3_result_null(ctx);
        break;
    default:
        sqlite3_result_null(ctx);
        break;
    }
    return SQLITE_OK;
}

static int cursor_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    struct vals_cursor *c = (struct vals_cursor *)base;
    *rowid = c->at->chunk.rows[c->pos].id;
    return SQLITE_OK;
}

static const sqlite3_module VALS_MODULE = {
    .iVersion = 0,
    .xCreate = cs_chunk_vtab_connect,
    .xConnect = cs_chunk_vtab_connect,
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

int cs_vals_vtab_register(sqlite3 *db)
{
    return sqlite3_create_module_v2(db, CS_VALS_MODULE, &VALS_MODULE, (void *)&SHAPE, NULL);
}
