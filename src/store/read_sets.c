/*
 * read_sets.c — cs_in_set(), a bitmap of ids tested from SQL (see
 * read_sets.h).
 */
#include "store/read_sets.h"

static void sql_in_set(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *set = sqlite3_value_blob(argv[0]);
    unsigned bits = cs_set_bits(set, (size_t)sqlite3_value_bytes(argv[0]), sqlite3_value_int64(argv[1]));
    if (bits & 1)
        sqlite3_result_int(ctx, (int)(bits >> 1));
    else
        sqlite3_result_null(ctx); /* not an id the set knows */
}

int cs_read_sets_register(sqlite3 *db)
{
    return sqlite3_create_function_v2(db, "cs_in_set", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_in_set,
                                      NULL, NULL, NULL);
}
