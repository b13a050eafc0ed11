/*
 * schema.h — the store's SQL schema, version 2 (docs/schema.md explains every
 * column), and the checks that tell a callscope store from any other file.
 * Only store.c and the readers' open function use it.
 */
#ifndef CALLSCOPE_SCHEMA_H
#define CALLSCOPE_SCHEMA_H

#include <stddef.h>
#include <sqlite3.h>

/* Creates the tables and the view in an empty database. 0 or an SQLite code. */
int cs_schema_create(sqlite3 *db);
/* What kind of file is at path, judged from its first 100 bytes. */
enum cs_file_kind {
    CS_FILE_MISSING,
    CS_FILE_EMPTY,
    CS_FILE_UNREADABLE,
    CS_FILE_OTHER,    /* not SQLite */
    CS_FILE_SQLITE,   /* SQLite, but not callscope */
    CS_FILE_CALLSCOPE,
};
enum cs_file_kind cs_schema_file_kind(const char *path);

#endif
