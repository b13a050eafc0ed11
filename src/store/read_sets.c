/*
 * read_sets.c — cs_in_set(), a bitmap of ids tested from SQL (see
 * read_sets.h).
 */
#include "store/read_sets.h"

#include <stddef.h>
#include <stdint.h>

static void sql_in_set(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *bits = sqlite3_value_blob(argv[0]);
    int64_t n = sqlite3_value_bytes(argv[0]);
    int64_t id = sqlite3_value_int64(argv[1]);
    unsigned pair = bits && id >= 0 && id / 4 < n ? (bits[id / 4] >> (id % 4 * 2)) & 3u : 0;
    if (pair & 1)
        sqlite3_result_int(ctx, (int)(pair >> 1));
    else
        sqlite3_result_null(ctx); /* not an id the set knows */
}

int cs_read_sets_register(sqlite3 *db)
{
    return sqlite3_create_function_v2(db, "cs_in_set", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_in_set,
                                      NULL, NULL, NULL);
}
