/*
 * sqlite_extension.c — callscope's loadable SQLite extension: what the
 * sqlite3 shell (`.load callscope_sqlite`), Python's sqlite3
 * (`load_extension`) or Datasette (`--load-extension`) load to read the
 * calls of a recording (docs/schema.md). It adds the modules of the
 * recording's virtual tables (call_rows, vals), nothing else; its views
 * need nothing more.
 */
#include "store/modules.h"

SQLITE_EXTENSION_INIT1

/* SQLite derives this name from the file's, callscope_sqlite.so. */
__attribute__((visibility("default"))) int sqlite3_callscopesqlite_init(sqlite3 *db, char **errmsg,
                                                                         const sqlite3_api_routines *api)
{
    (void)errmsg;
    SQLITE_EXTENSION_INIT2(api);
    return cs_store_register_modules(db);
}
