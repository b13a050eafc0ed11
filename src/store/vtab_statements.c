/*
 * vtab_statements.c — statements the store's virtual tables keep from
 * cursor to cursor (see vtab_statements.h).
 */
#include "store/vtab_statements.h"

#include <stdio.h>
#include <string.h>

#include "store/modules.h"

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

int cs_vtab_connect(sqlite3 *db, const char *declaration, size_t size, sqlite3_vtab **out)
{
    int rc = sqlite3_declare_vtab(db, declaration);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_vtab *v = sqlite3_malloc64(size);
    if (!v)
        return SQLITE_NOMEM;
    memset(v, 0, size);
    /* Nothing it does can change the file or reach outside it: a view of
     * it may be used where the schema is not trusted. */
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    *out = v;
    return SQLITE_OK;
}
