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
#include "store/narrowing.h"
#include "store/read_sets.h"
#include "store/chunk_table.h"

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

/* The chunk column of a table column. */
static const unsigned char CHUNK_COLUMN[] = {
    [COL_ID] = CS_COL_ID,           [COL_PARENT_ID] = CS_COL_PARENT,     [COL_THREAD_ID] = CS_COL_THREAD,
    [COL_FUNCTION_ID] = CS_COL_FUNCTION, [COL_DEPTH] = CS_COL_DEPTH,      [COL_START_NS] = CS_COL_START,
    [COL_DURATION_NS] = CS_COL_DURATION, [COL_SELF_NS] = CS_COL_SELF,     [COL_ARGS] = CS_COL_ARGS,
    [COL_RESULT] = CS_COL_RESULT,   [COL_EXCEPTION] = CS_COL_EXCEPTION, [COL_FLAGS] = CS_COL_FLAGS,
};

/* The columns, in the order of call_late's (and of call_rows in files of
 * schema 2). */
static const char DECLARATION[] = "CREATE TABLE x(id INTEGER, parent_id INTEGER, thread_id INTEGER,"
                                  " function_id INTEGER, depth INTEGER, start_ns INTEGER, duration_ns INTEGER,"
                                  " self_ns INTEGER, args TEXT, result, exception TEXT, flags INTEGER)";

/* The statements of a cursor of its own (chunk_table.h), by number. */
enum { ST_LATE = CS_VTAB_OWN, ST_LATE_DESC, ST_LAST_VAL, ST_TEXT_IDS };

/* Decoded chunks kept per table, shared by its cursors: a reader that
 * asks for one range of ids after another (the skip index's blocks, a
 * count and then the rows, the viewer's lookups) decodes each chunk once.
 * Sixteen chunks of 2,048 calls: a few MB. */
#define CACHED_CHUNKS 16

struct cached_chunk {
    struct cs_chunk_slot slot; /* (its last_id is not used) */
    struct cs_chunk chunk;
};

/* The vals ids of a text cs_value_may asks for, looked up once per
 * table: a filter asks for the same text in every range it reads. */
#define KNOWN_TEXTS 8
#define MAX_TEXT_IDS 4096 /* more: the text is not tested */

struct known_text {
    char *text;
    size_t len;
    int usable; /* found at most MAX_TEXT_IDS */
    int64_t *ids;
    struct cs_text_ids found;
};

struct calls_vtab {
    struct cs_chunk_vtab t;
    struct cached_chunk cache[CACHED_CHUNKS];
    uint64_t clock;
    struct known_text texts[KNOWN_TEXTS];
    int ntexts;
};

static const struct cs_chunk_vtab_shape SHAPE = {DECLARATION, sizeof(struct calls_vtab)};

/* A test a cursor applies to its chunk rows: a comparison of a number
 * column, or a narrowing function (narrowing.h). */
struct row_test {
    int op; /* CS_NARROW_FUNCTION, CS_NARROW_VALUE, or RANGE */
    int column;
    int64_t lo, hi; /* RANGE: the values the column may have, both included */
    unsigned char *set; /* CS_NARROW_FUNCTION: a copy of the set */
    size_t set_len, set_cap;
    const struct known_text *text; /* CS_NARROW_VALUE: the table's */
};

#define RANGE 1 /* not an op SQLite uses for a constraint */

struct calls_cursor {
    struct cs_chunk_cursor head;
    struct calls_vtab *vtab;
    sqlite3_stmt *chunks, *late; /* st's, of the cursor's direction */
    int desc;
    int64_t lo, hi;
    unsigned columns; /* of the chunks, the columns the statement reads */
    /* the narrowing tests the statement asked for: chunk rows that fail
     * one are passed over */
    struct row_test tests[CS_ID_PLAN_MAX_TESTS];
    int ntests;
    /* the chunk stream */
    struct cached_chunk *at; /* the chunk being read, pinned (or own) */
    struct cached_chunk own; /* used when every cached chunk is pinned */
    const struct cs_chunk *chunk; /* at's chunk; own's (empty) before the first */
    int chunk_pos;                /* the current row of chunk, or -1/n when past it */
    int chunks_done;
    /* the late stream */
    int late_has_row;
    /* which one the current row comes from */
    int from_late;
    int eof;
};

static int vtab_disconnect(sqlite3_vtab *base)
{
    struct calls_vtab *v = (struct calls_vtab *)base;
    for (int i = 0; i < CACHED_CHUNKS; i++)
        cs_chunk_free(&v->cache[i].chunk);
    for (int i = 0; i < v->ntexts; i++) {
        sqlite3_free(v->texts[i].text);
        sqlite3_free(v->texts[i].ids);
    }
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
    int rc = cs_chunk_cursor_open((struct cs_chunk_vtab *)base, sizeof(struct calls_cursor), out);
    if (rc == SQLITE_OK) {
        struct calls_cursor *c = (struct calls_cursor *)*out;
        c->vtab = (struct calls_vtab *)base;
        c->chunk = &c->own.chunk;
    }
    return rc;
}

static void unpin(struct calls_cursor *c)
{
    if (c->at && c->at != &c->own)
        c->at->slot.pins--;
    c->at = NULL;
}

static int cursor_close(sqlite3_vtab_cursor *base)
{
    struct calls_cursor *c = (struct calls_cursor *)base;
    unpin(c);
    cs_chunk_free(&c->own.chunk);
    for (int i = 0; i < CS_ID_PLAN_MAX_TESTS; i++)
        sqlite3_free(c->tests[i].set);
    cs_chunk_cursor_free(&c->head);
    return SQLITE_OK;
}

static int fail(struct calls_cursor *c, int rc, const char *message)
{
    return cs_chunk_vtab_fail(&c->vtab->t, rc, message);
}

static int fail_db(struct calls_cursor *c, int rc)
{
    return fail(c, rc, sqlite3_errmsg(c->vtab->t.db));
}

static int prepare(struct calls_cursor *c, int i, const char *sql)
{
    int rc = cs_vtab_prepare(c->vtab->t.db, c->head.st, i, sql);
    return rc == SQLITE_OK ? rc : fail_db(c, rc);
}

/* The cached chunk that starts at first_id with the columns the cursor
 * reads, or NULL. */
static struct cached_chunk *find_cached(struct calls_cursor *c, int64_t first_id)
{
    struct calls_vtab *v = c->vtab;
    for (int i = 0; i < CACHED_CHUNKS; i++)
        if (v->cache[i].slot.first_id == first_id && first_id && !(c->columns & ~v->cache[i].chunk.columns))
            return &v->cache[i];
    return NULL;
}

/* Makes the chunk the chunks statement is on the cursor's current one:
 * from the cache, or decoded (its blob read only then) into the least
 * recently used unpinned entry, or the cursor's own when all are pinned;
 * and places the cursor on its first row in range. */
static int load_chunk(struct calls_cursor *c, sqlite3_stmt *st)
{
    struct calls_vtab *v = c->vtab;
    int64_t first_id = sqlite3_column_int64(st, 0);
    unpin(c);
    struct cached_chunk *slot = find_cached(c, first_id);
    if (!slot) {
        /* the entry with the chunk's other columns, else the least
         * recently used */
        slot = cs_chunk_slot_pick(v->cache, sizeof *v->cache, CACHED_CHUNKS, first_id);
        if (!slot)
            slot = &c->own;
        /* the columns decoded before for the same chunk stay decoded */
        unsigned columns = c->columns | (slot->slot.first_id == first_id ? slot->chunk.columns : 0);
        char err[256];
        slot->slot.first_id = 0;
        sqlite3_stmt *data = NULL;
        int rc = cs_vtab_chunk_data(c->vtab->t.db, c->head.st, "call_chunks", first_id, &data);
        if (rc == SQLITE_ROW &&
            cs_chunk_decode(&slot->chunk, sqlite3_column_blob(data, 0), (size_t)sqlite3_column_bytes(data, 0),
                            first_id, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2), columns, err,
                            sizeof err) != 0) {
            sqlite3_reset(data);
            return fail(c, SQLITE_CORRUPT, err);
        }
        sqlite3_reset(data);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? fail(c, SQLITE_CORRUPT, "a chunk of calls went missing") : fail_db(c, rc);
        slot->slot.first_id = first_id;
    }
    slot->slot.used = ++v->clock;
    if (slot != &c->own)
        slot->slot.pins++;
    c->at = slot;
    c->chunk = &slot->chunk;
    int n = c->chunk->n;
    if (!c->desc) {
        int i = 0;
        while (i < n && c->chunk->rows[i].id < c->lo)
            i++;
        c->chunk_pos = i;
    } else {
        int i = n - 1;
        while (i >= 0 && c->chunk->rows[i].id > c->hi)
            i--;
        c->chunk_pos = i;
    }
    return SQLITE_OK;
}

/* Whether the chunk stream has a row in range at chunk_pos. */
static int chunk_row_in_range(const struct calls_cursor *c)
{
    if (c->chunks_done || c->chunk_pos < 0 || c->chunk_pos >= c->chunk->n)
        return 0;
    int64_t id = c->chunk->rows[c->chunk_pos].id;
    return id >= c->lo && id <= c->hi;
}

/* A number column of a chunk row; 0 when it is NULL (or not a number
 * column). */
static int number_of(const struct cs_chunk_row *r, int column, int64_t *value)
{
    switch (column) {
    case COL_ID: *value = r->id; return 1;
    case COL_PARENT_ID: *value = r->parent_id; return r->parent_id != 0;
    case COL_THREAD_ID: *value = r->thread_id; return 1;
    case COL_FUNCTION_ID: *value = r->function_id; return 1;
    case COL_DEPTH: *value = r->depth; return 1;
    case COL_START_NS: *value = r->start_ns; return 1;
    case COL_DURATION_NS: *value = r->duration_ns; return r->finished;
    case COL_SELF_NS: *value = r->self_ns; return r->finished;
    case COL_FLAGS: *value = r->flags; return 1;
    default: return 0;
    }
}

/* Whether a chunk row passes every test of the cursor. */
static int row_may_pass(const struct calls_cursor *c, const struct cs_chunk_row *r)
{
    for (int i = 0; i < c->ntests; i++) {
        const struct row_test *t = &c->tests[i];
        int64_t value;
        if (t->op == RANGE && (!number_of(r, t->column, &value) || value < t->lo || value > t->hi))
            return 0;
        if (t->op == CS_NARROW_FUNCTION && !cs_set_may_hold(t->set, t->set_len, r->function_id))
            return 0;
        if (t->op != CS_NARROW_VALUE || !t->text)
            continue;
        const struct known_text *k = t->text;
        if (t->column == COL_ARGS &&
            (!r->args.present || !cs_args_may_hold(r->args.text, r->args.len, k->text, k->len, &k->found)))
            return 0;
        if (t->column == COL_RESULT) {
            int may = r->result_id > 0 ? cs_text_id_may_match(&k->found, r->result_id)
                                       : r->result.present && r->result.len == k->len &&
                                             (k->len == 0 || memcmp(r->result.text, k->text, k->len) == 0);
            if (!may)
                return 0;
        }
    }
    return 1;
}

/* Moves the chunk stream to its next row in range that passes the
 * cursor's tests, reading chunks as it goes; chunks_done once none is
 * left. It stops early at a row past the late stream's current one, which
 * comes first (pick): a scan whose only matches are late rows (the roots
 * of trees) would otherwise read every chunk before returning the first.
 * The row is tested again once the late row is taken. */
static int settle_chunks(struct calls_cursor *c)
{
    int64_t late_id = c->late_has_row ? sqlite3_column_int64(c->late, 0) : 0;
    while (!c->chunks_done) {
        if (c->chunk_pos >= 0 && c->chunk_pos < c->chunk->n) {
            const struct cs_chunk_row *r = &c->chunk->rows[c->chunk_pos];
            if ((!c->desc && r->id > c->hi) || (c->desc && r->id < c->lo))
                c->chunks_done = 1;
            else if (c->ntests && !row_may_pass(c, r)) {
                if (c->late_has_row && (c->desc ? r->id < late_id : r->id > late_id))
                    return SQLITE_OK;
                c->chunk_pos += c->desc ? -1 : 1;
                continue;
            }
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
    int64_t a = c->chunk->rows[c->chunk_pos].id, b = sqlite3_column_int64(c->late, 0);
    c->from_late = c->desc ? b >= a : b <= a;
}

/* The chunk columns that hold the table's columns used (a bit each). */
static unsigned chunk_columns(unsigned used)
{
    unsigned columns = 0;
    for (unsigned k = 0; k < sizeof CHUNK_COLUMN; k++)
        if (used & (1u << k))
            columns |= 1u << CHUNK_COLUMN[k];
    return columns;
}

/* The vals ids holding text, found now or before; NULL when they are too
 * many to be worth testing (or on an error, reported through *rc). */
static const struct known_text *known_text(struct calls_cursor *c, const char *text, size_t len, int *rc)
{
    struct calls_vtab *v = c->vtab;
    for (int i = 0; i < v->ntexts; i++)
        if (v->texts[i].len == len && memcmp(v->texts[i].text, text, len) == 0)
            return v->texts[i].usable ? &v->texts[i] : NULL;
    if (v->ntexts == KNOWN_TEXTS)
        return NULL;
    struct known_text k = {sqlite3_malloc64(len + 1), len, 0, sqlite3_malloc64(MAX_TEXT_IDS * sizeof(int64_t)), {0}};
    if (!k.text || !k.ids) {
        sqlite3_free(k.text);
        sqlite3_free(k.ids);
        *rc = SQLITE_NOMEM;
        return NULL;
    }
    memcpy(k.text, text, len);
    k.text[len] = '\0';
    /* The last id first: one added while the ids are looked up is above
     * it, and may hold the text. */
    *rc = prepare(c, ST_LAST_VAL, CS_MODULE_SQL_MARK "SELECT id FROM vals ORDER BY id DESC LIMIT 1");
    if (*rc == SQLITE_OK)
        *rc = prepare(c, ST_TEXT_IDS, CS_MODULE_SQL_MARK "SELECT id FROM vals WHERE text = ?1 ORDER BY id");
    if (*rc != SQLITE_OK) {
        sqlite3_free(k.text);
        sqlite3_free(k.ids);
        return NULL;
    }
    sqlite3_stmt *last = c->head.st->st[ST_LAST_VAL], *ids = c->head.st->st[ST_TEXT_IDS];
    int step = sqlite3_step(last);
    k.found.known_up_to = step == SQLITE_ROW ? sqlite3_column_int64(last, 0) : 0;
    sqlite3_reset(last);
    size_t n = 0;
    int too_many = 0;
    if (step == SQLITE_ROW || step == SQLITE_DONE) {
        sqlite3_bind_text(ids, 1, text, (int)len, SQLITE_STATIC);
        while ((step = sqlite3_step(ids)) == SQLITE_ROW && !(too_many = n == MAX_TEXT_IDS))
            k.ids[n++] = sqlite3_column_int64(ids, 0);
        sqlite3_reset(ids);
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        sqlite3_free(k.text);
        sqlite3_free(k.ids);
        *rc = fail_db(c, step);
        return NULL;
    }
    k.usable = !too_many;
    k.found.ids = k.ids;
    k.found.n = n;
    v->texts[v->ntexts] = k;
    return v->texts[v->ntexts++].usable ? &v->texts[v->ntexts - 1] : NULL;
}

/* A comparison of a number column with a number, as the range of values
 * a row may have: widened (a real bound to the integers around it, > as
 * >=), never narrower than SQLite's own test. 0 when it is not one. */
static int comparison_range(const struct cs_id_plan_test *in, int64_t *lo, int64_t *hi)
{
    int type = sqlite3_value_type(in->arg);
    if (in->column == COL_ID || (in->column >= COL_ARGS && in->column != COL_FLAGS))
        return 0;
    if (type != SQLITE_INTEGER && type != SQLITE_FLOAT)
        return 0;
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    switch (in->op) {
    case SQLITE_INDEX_CONSTRAINT_EQ: *lo = cs_id_plan_bound(in->arg, 1); *hi = cs_id_plan_bound(in->arg, 0); return 1;
    case SQLITE_INDEX_CONSTRAINT_GT:
    case SQLITE_INDEX_CONSTRAINT_GE: *lo = cs_id_plan_bound(in->arg, 1); return 1;
    case SQLITE_INDEX_CONSTRAINT_LT:
    case SQLITE_INDEX_CONSTRAINT_LE: *hi = cs_id_plan_bound(in->arg, 0); return 1;
    default: return 0;
    }
}

/* Takes the tests xFilter was given: a comparison becomes a range, a
 * function set is copied (SQLite's argument lives only as long as the
 * call), a text is looked up in vals once per table. A test the cursor
 * cannot apply is left to SQLite, which checks every test again anyway. */
static int take_tests(struct calls_cursor *c, const struct cs_id_plan_test *tests, int ntests)
{
    c->ntests = 0;
    for (int i = 0; i < ntests; i++) {
        struct row_test *t = &c->tests[c->ntests];
        const struct cs_id_plan_test *in = &tests[i];
        if (comparison_range(in, &t->lo, &t->hi)) {
            t->op = RANGE;
            t->column = in->column;
            c->columns |= 1u << CHUNK_COLUMN[in->column];
            if (in->column == COL_PARENT_ID || in->column == COL_SELF_NS)
                c->columns |= 1u << CS_COL_DURATION; /* (whether the row is finished) */
            c->ntests++;
            continue;
        }
        if (in->op == CS_NARROW_FUNCTION && in->column == COL_FUNCTION_ID) {
            size_t n = (size_t)sqlite3_value_bytes(in->arg);
            const void *bytes = sqlite3_value_blob(in->arg);
            if (n > t->set_cap) {
                unsigned char *grown = sqlite3_realloc64(t->set, n);
                if (!grown)
                    return SQLITE_NOMEM;
                t->set = grown;
                t->set_cap = n;
            }
            if (n)
                memcpy(t->set, bytes, n);
            t->set_len = n;
            c->columns |= 1u << CS_COL_FUNCTION;
        } else if (in->op == CS_NARROW_VALUE && (in->column == COL_ARGS || in->column == COL_RESULT) &&
                   sqlite3_value_type(in->arg) == SQLITE_TEXT) {
            int rc = SQLITE_OK;
            const char *text = (const char *)sqlite3_value_text(in->arg);
            t->text = known_text(c, text, (size_t)sqlite3_value_bytes(in->arg), &rc);
            if (rc != SQLITE_OK)
                return rc;
            if (!t->text)
                continue;
            c->columns |= 1u << (in->column == COL_ARGS ? CS_COL_ARGS : CS_COL_RESULT);
        } else {
            continue;
        }
        t->op = in->op;
        t->column = in->column;
        c->ntests++;
    }
    return SQLITE_OK;
}

static int cursor_filter(sqlite3_vtab_cursor *base, int plan, const char *idx, int argc, sqlite3_value **argv)
{
    struct calls_cursor *c = (struct calls_cursor *)base;
    struct cs_id_plan_test tests[CS_ID_PLAN_MAX_TESTS];
    int ntests;
    cs_id_plan_range(plan, idx, argc, argv, &c->lo, &c->hi, &c->desc, tests, &ntests);
    c->columns = chunk_columns(cs_id_plan_columns(plan));
    int rc = take_tests(c, tests, ntests);
    if (rc != SQLITE_OK)
        return rc;
    unpin(c);
    c->chunk = &c->own.chunk;
    c->own.chunk.n = 0;
    c->eof = 0;
    c->chunks_done = 0;
    c->late_has_row = 0;
    c->chunk_pos = -1;
    if (c->lo > c->hi) {
        c->eof = 1;
        return SQLITE_OK;
    }
    rc = cs_vtab_chunks(c->vtab->t.db, c->head.st, "call_chunks", c->desc, c->lo, c->hi, &c->chunks);
    if (rc == SQLITE_OK)
        rc = prepare(c, c->desc ? ST_LATE_DESC : ST_LATE,
                     c->desc ? CS_MODULE_SQL_MARK "SELECT * FROM call_late WHERE id BETWEEN ?1 AND ?2 ORDER BY id DESC"
                             : CS_MODULE_SQL_MARK "SELECT * FROM call_late WHERE id BETWEEN ?1 AND ?2 ORDER BY id");
    if (rc != SQLITE_OK)
        return fail_db(c, rc);
    c->late = c->head.st->st[c->desc ? ST_LATE_DESC : ST_LATE];
    sqlite3_reset(c->late);
    sqlite3_bind_int64(c->late, 1, c->lo);
    sqlite3_bind_int64(c->late, 2, c->hi);
    rc = step_late(c);
    if (rc == SQLITE_OK)
        rc = settle_chunks(c);
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
        if (rc == SQLITE_OK) /* (the chunk row waiting may fail the tests) */
            rc = settle_chunks(c);
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
    const struct cs_chunk_row *r = &c->chunk->rows[c->chunk_pos];
    int64_t value;
    switch (column) {
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
    default:
        if (number_of(r, column, &value))
            sqlite3_result_int64(ctx, value);
        else
            sqlite3_result_null(ctx);
        break;
    }
    return SQLITE_OK;
}

static int cursor_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
    struct calls_cursor *c = (struct calls_cursor *)base;
    *rowid = c->from_late ? sqlite3_column_int64(c->late, 0) : c->chunk->rows[c->chunk_pos].id;
    return SQLITE_OK;
}

/* The narrowing functions (narrowing.h) are answered while reading as
 * well (settle_chunks); SQLite still calls them on each row returned. */
static int vtab_find_function(sqlite3_vtab *base, int nargs, const char *name,
                              void (**fn)(sqlite3_context *, int, sqlite3_value **), void **arg)
{
    (void)base;
    *arg = NULL;
    return cs_narrowing_find(nargs, name, fn);
}

static const sqlite3_module CALLS_MODULE = {
    .iVersion = 0,
    .xFindFunction = vtab_find_function,
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

int cs_calls_vtab_register(sqlite3 *db)
{
    return sqlite3_create_module_v2(db, CS_CALLS_MODULE, &CALLS_MODULE, (void *)&SHAPE, NULL);
}
