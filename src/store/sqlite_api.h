/*
 * sqlite_api.h — SQLite's API for the files compiled both into callscope
 * and into its loadable SQLite extension (calls_vtab.c).
 *
 * Inside callscope they call SQLite directly. Built into the extension
 * (CS_SQLITE_LOADABLE defined), the same calls go through the table of
 * functions the loading SQLite hands over, so the extension uses the
 * sqlite3 shell's or Python's own SQLite, whichever version it is.
 */
#ifndef CALLSCOPE_SQLITE_API_H
#define CALLSCOPE_SQLITE_API_H

#ifdef CS_SQLITE_LOADABLE
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#else
#include <sqlite3.h>
#endif

#endif
