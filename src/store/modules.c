/*
 * modules.c — registers the store's virtual tables (see modules.h).
 */
#include "store/modules.h"

#include <string.h>

#include "store/calls_vtab.h"
#include "store/vals_vtab.h"

int cs_store_register_modules(sqlite3 *db)
{
    int rc = cs_calls_vtab_register(db);
    return rc == SQLITE_OK ? cs_vals_vtab_register(db) : rc;
}

int cs_store_module_statement(sqlite3_stmt *st)
{
    const char *sql = sqlite3_sql(st);
    return sql && strncmp(sql, CS_MODULE_SQL_MARK, sizeof CS_MODULE_SQL_MARK - 1) == 0;
}
