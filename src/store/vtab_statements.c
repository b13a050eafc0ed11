/*
 * vtab_statements.c — statements the store's virtual tables keep from
 * cursor to cursor (see vtab_statements.h).
 */
#include "store/vtab_statements.h"

#include <string.h>

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
