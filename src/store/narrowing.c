/*
 * narrowing.c — the tests the call table answers while it reads (see
 * narrowing.h).
 */
#include "store/narrowing.h"

#include <string.h>

#include "store/read_sets.h"
#include "util/sorted.h"

static void sql_function_may(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *set = sqlite3_value_blob(argv[1]);
    sqlite3_result_int(ctx, cs_set_may_hold(set, (size_t)sqlite3_value_bytes(argv[1]), sqlite3_value_int64(argv[0])));
}

/* Outside the table nothing is known of which vals rows hold the text. */
static void sql_value_may(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_int(ctx, 1);
}

int cs_narrowing_find(int nargs, const char *name, void (**fn)(sqlite3_context *, int, sqlite3_value **))
{
    if (nargs != 2)
        return 0;
    if (sqlite3_stricmp(name, "cs_function_may") == 0) {
        *fn = sql_function_may;
        return CS_NARROW_FUNCTION;
    }
    if (sqlite3_stricmp(name, "cs_value_may") == 0) {
        *fn = sql_value_may;
        return CS_NARROW_VALUE;
    }
    return 0;
}

int cs_text_id_may_match(const struct cs_text_ids *ids, int64_t id)
{
    if (id > ids->known_up_to)
        return 1;
    size_t at = cs_lower_bound_i64(ids->ids, ids->n, id);
    return at < ids->n && ids->ids[at] == id;
}

int cs_args_may_hold(const char *args, size_t args_len, const char *text, size_t text_len,
                     const struct cs_text_ids *ids)
{
    const char *p = args, *end = args + args_len;
    while (p < end) {
        char ch = *p;
        if (ch == '[' || ch == ',' || ch == ' ' || ch == ']') {
            p++;
        } else if (ch == '"') {
            /* inline: an int, None or a boolean, never an escape */
            const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
            if (!q)
                return 1; /* not as written: let SQLite decide */
            if ((size_t)(q - p - 1) == text_len && memcmp(p + 1, text, text_len) == 0)
                return 1;
            p = q + 1;
        } else if (ch >= '0' && ch <= '9') {
            int64_t id = 0;
            while (p < end && *p >= '0' && *p <= '9' && id < INT64_MAX / 10)
                id = id * 10 + (*p++ - '0');
            if (cs_text_id_may_match(ids, id))
                return 1;
        } else {
            return 1;
        }
    }
    return 0;
}

int cs_narrowing_register(sqlite3 *db)
{
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
    int rc = sqlite3_create_function_v2(db, "cs_function_may", 2, flags, NULL, sql_function_may, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(db, "cs_value_may", 2, flags, NULL, sql_value_may, NULL, NULL, NULL);
    return rc;
}
