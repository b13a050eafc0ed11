/*
 * names.c — the names the export formats give processes and functions
 * (see names.h).
 */
#include "export/names.h"

#include <stdio.h>
#include <stdlib.h>

#include "query/common.h"

void cs_export_process_name(char *out, size_t size, int64_t pid, int is_child, int64_t parent,
                            const char *command)
{
    if (is_child)
        snprintf(out, size, "pid %lld (child of %lld)", (long long)pid, (long long)parent);
    else
        snprintf(out, size, "%.140s", command ? command : "python");
}

int cs_export_each_process(sqlite3 *db, int (*visit)(void *ctx, int64_t pid, const char *name), void *ctx)
{
    sqlite3_stmt *st;
    const char *sql = "SELECT p.pid, p.parent_pid, p.parent_pid IN (SELECT pid FROM processes),"
                      " (SELECT value FROM meta WHERE key = 'command') FROM processes p ORDER BY p.pid";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc;
    char name[160];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t pid = sqlite3_column_int64(st, 0);
        cs_export_process_name(name, sizeof name, pid, sqlite3_column_int(st, 2), sqlite3_column_int64(st, 1),
                               cs_col_text(st, 3));
        if (visit(ctx, pid, name) != 0)
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

const char **cs_export_names_by_id(const struct cs_export *x)
{
    uint32_t max_name = 0;
    for (uint32_t i = 0; i < x->nfns; i++)
        if (x->fns[i].name_id > max_name)
            max_name = x->fns[i].name_id;
    const char **names = calloc((size_t)max_name + 1, sizeof *names);
    if (!names)
        return NULL;
    for (uint32_t i = 0; i < x->nfns; i++)
        names[x->fns[i].name_id] = x->fns[i].name;
    return names;
}
