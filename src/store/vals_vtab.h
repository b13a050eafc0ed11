/*
 * vals_vtab.h — `vals`, the virtual table of the values calls refer to,
 * read from the chunks of val_chunks (val_chunks.h). Read only; lookups
 * and ranges of ids are served from the chunks' ids (id_plan.h).
 */
#ifndef CALLSCOPE_VALS_VTAB_H
#define CALLSCOPE_VALS_VTAB_H

#include "store/sqlite_api.h"

#define CS_VALS_MODULE "callscope_vals"

int cs_vals_vtab_register(sqlite3 *db);

#endif
