/*
 * chunk_table.c — what the store's virtual tables over chunks share (see
 * chunk_table.h).
 */
#include "store/chunk_table.h"

#include <stdio.h>
#include <string.h>

#include "store/modules.h"
#include "store/store.h"

struct cs_vtab_statements *cs_vtab_statements_take(struct cs_vtab_statements **idle)
{
    struct cs_vtab_statements *set = *idle;
    if (set) {
        *idle = set->next;
        return set;
    }
    set = sqlite3_malloc(sizeof *set);
    if (set)
        memset(set, 0, sizeof *set);
    return set;
}

void cs_vtab_statements_give(struct cs_vtab_statements **idle, struct cs_vtab_statements *set)
{
    if (!set)
        return;
    for (int i = 0; i < CS_VTAB_STATEMENTS; i++)
        sqlite3_reset(set->st[i]);
    set->next = *idle;
    *idle = set;
}

void cs_vtab_statements_free(struct cs_vtab_statements **idle)
{
    while (*idle) {
        struct cs_vtab_statements *set = *idle;
        *idle = set->next;
        for (int i = 0; i < CS_VTAB_STATEMENTS; i++)
            sqlite3_finalize(set->st[i]);
        sqlite3_free(set);
    }
}

int cs_vtab_prepare(sqlite3 *db, struct cs_vtab_statements *set, int i, const char *sql)
{
    if (set->st[i])
        return SQLITE_OK;
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &set->st[i], NULL);
}

int cs_vtab_chunks(sqlite3 *db, struct cs_vtab_statements *set, const char *table, int desc, int64_t lo, int64_t hi,
                   sqlite3_stmt **chunks)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             CS_MODULE_SQL_MARK "SELECT coalesce((SELECT first_id FROM %s WHERE first_id <= ?1"
                                " ORDER BY first_id DESC LIMIT 1), ?1)",
             table);
    int rc = cs_vtab_prepare(db, set, CS_VTAB_CHUNK_AT, sql);
    if (rc != SQLITE_OK)
        return rc;
    int which = desc ? CS_VTAB_CHUNKS_DESC : CS_VTAB_CHUNKS;
    snprintf(sql, sizeof sql,
             CS_MODULE_SQL_MARK "SELECT first_id, last_id, rows FROM %s WHERE first_id BETWEEN ?1 AND ?2"
                                " ORDER BY first_id%s",
             table, desc ? " DESC" : "");
    rc = cs_vtab_prepare(db, set, which, sql);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *at = set->st[CS_VTAB_CHUNK_AT];
    sqlite3_bind_int64(at, 1, lo);
    rc = sqlite3_step(at);
    int64_t from = rc == SQLITE_ROW ? sqlite3_column_int64(at, 0) : lo;
    sqlite3_reset(at);
    if (rc != SQLITE_ROW)
        return rc;
    *chunks = set->st[which];
    sqlite3_reset(*chunks);
    sqlite3_bind_int64(*chunks, 1, from);
    sqlite3_bind_int64(*chunks, 2, hi);
    return SQLITE_OK;
}

int cs_vtab_chunk_data(sqlite3 *db, struct cs_vtab_statements *set, const char *table, int64_t first_id,
                       sqlite3_stmt **data)
{
    char sql[128];
    snprintf(sql, sizeof sql, CS_MODULE_SQL_MARK "SELECT data FROM %s WHERE first_id = ?1", table);
    int rc = cs_vtab_prepare(db, set, CS_VTAB_DATA, sql);
    if (rc != SQLITE_OK)
        return rc;
    *data = set->st[CS_VTAB_DATA];
    sqlite3_bind_int64(*data, 1, first_id);
    return sqlite3_step(*data);
}

/* (store.h; here because the SQLite extension asks it too) */
int cs_store_rows_deferred(sqlite3 *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'rows'", -1, &st, NULL) != SQLITE_OK)
        return 0;
    int deferred = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
                   !strcmp((const char *)sqlite3_column_text(st, 0), "deferred");
    sqlite3_finalize(st);
    return deferred;
}

int cs_chunk_vtab_connect(sqlite3 *db, void *shape, int argc, const char *const *argv, sqlite3_vtab **out,
                          char **errmsg)
{
    (void)argc;
    (void)argv;
    /* A deferred recording's calls are not built yet: an empty table
     * would say the program made none. */
    if (cs_store_rows_deferred(db)) {
        *errmsg = sqlite3_mprintf("this recording holds the events of `callscope run --defer-rows`: its calls are"
                                  " built once the program is done, or by `callscope index FILE`; while it runs,"
                                  " `callscope sql FILE` reads the calls so far");
        return SQLITE_ERROR;
    }
    const struct cs_chunk_vtab_shape *of = shape;
    int rc = sqlite3_declare_vtab(db, of->declaration);
    if (rc != SQLITE_OK)
        return rc;
    struct cs_chunk_vtab *v = sqlite3_malloc64(of->size);
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, of->size);
    v->db = db;
    /* Nothing it does can change the file or reach outside it: a view of
     * it may be used where the schema is not trusted. */
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = &v->base;
    return SQLITE_OK;
}

void cs_chunk_vtab_free(struct cs_chunk_vtab *v)
{
    cs_vtab_statements_free(&v->idle);
    sqlite3_free(v);
}

int cs_chunk_vtab_fail(struct cs_chunk_vtab *v, int rc, const char *message)
{
    sqlite3_free(v->base.zErrMsg);
    v->base.zErrMsg = sqlite3_mprintf("%s", message);
    return rc;
}

int cs_chunk_cursor_open(struct cs_chunk_vtab *v, size_t size, sqlite3_vtab_cursor **out)
{
    struct cs_chunk_cursor *c = sqlite3_malloc64(size);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, size);
    c->vtab = v;
    if (!(c->st = cs_vtab_statements_take(&v->idle))) {
        sqlite3_free(c);
        return SQLITE_NOMEM;
    }
    *out = &c->base;
    return SQLITE_OK;
}

void cs_chunk_cursor_free(struct cs_chunk_cursor *c)
{
    cs_vtab_statements_give(&c->vtab->idle, c->st);
    sqlite3_free(c);
}

void *cs_chunk_slot_pick(void *slots, size_t stride, int n, int64_t first_id)
{
    struct cs_chunk_slot *oldest = NULL;
    for (int i = 0; i < n; i++) {
        struct cs_chunk_slot *slot = (struct cs_chunk_slot *)((char *)slots + (size_t)i * stride);
        if (slot->pins)
            continue;
        if (first_id && slot->first_id == first_id)
            return slot;
        if (!oldest || slot->used < oldest->used)
            oldest = slot;
    }
    return oldest;
}
