/*
 * fuzz_chunks.c — libFuzzer harness: the chunks of calls and values a
 * recording keeps (src/store/call_chunks.h, val_chunks.h), read from a
 * file that may be corrupt or hostile: by the decoders directly, and
 * through the virtual tables call_rows and vals as SQL reads them.
 *
 * Input: byte 0 picks calls (even) or values (odd), and for calls the
 * layout (bit 1: layout 2, else 1; call_chunks.h); bytes 1-2 are the
 * chunk's row count, bytes 3-4 how far its last id lies past its first,
 * bytes 5-6 where the body splits into the parts of a chunk of calls
 * (numbers, texts: all little-endian); the rest is the chunk's body before
 * compression, which the harness compresses, so that the fuzzer reaches
 * the columns rather than stopping at the zstd frames. The same bytes are
 * also decoded as a blob as they are, for the frames' checks.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/call_chunks.h"
#include "store/modules.h"
#include "store/narrowing.h"
#include "store/schema.h"
#include "store/val_chunks.h"
#include "util/textbuf.h"

static struct cs_textbuf blob;

/* The body compressed and framed as the store frames it: in two parts,
 * split at `split`, for calls (of the layout given), in one for values. */
static void frame(const uint8_t *body, size_t n, size_t split, int values, int layout)
{
    cs_textbuf_reset(&blob);
    if (split > n)
        split = n;
    struct cs_textbuf parts[2] = {{(char *)body, n, n, 0}};
    if (!values) {
        parts[0] = (struct cs_textbuf){(char *)body, split, split, 0};
        parts[1] = (struct cs_textbuf){(char *)body + split, n - split, n - split, 0};
    }
    static struct cs_chunk_compressor compressor = {.level = 1};
    char err[128];
    if (cs_chunk_compress(&compressor, values ? 1 : layout, parts, values ? 1 : 2, &blob, err, sizeof err) != 0)
        cs_textbuf_reset(&blob);
}

/* Reads every row of the table through SQL, as a reader would. */
static void read_all(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW)
        for (int i = 0; i < sqlite3_column_count(st); i++)
            sqlite3_column_text(st, i);
    sqlite3_finalize(st);
}

/* One database for every run (making the schema each time would take
 * most of the time); each run's chunk gets ids of its own, so that no
 * chunk a virtual table decoded before stands in for it. */
static void through_sql(int values, int64_t rows, int64_t span)
{
    static sqlite3 *db;
    static int64_t first_id;
    if (!db && (sqlite3_open(":memory:", &db) != SQLITE_OK || cs_schema_create(db) != SQLITE_OK ||
                cs_narrowing_register(db) != SQLITE_OK)) {
        sqlite3_close(db);
        db = NULL;
        return;
    }
    first_id += 1 << 17;
    sqlite3_exec(db, "DELETE FROM call_chunks; DELETE FROM val_chunks; DELETE FROM call_late", NULL, NULL, NULL);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, values ? "INSERT INTO val_chunks VALUES (?1, ?2, ?3, ?4)"
                                      : "INSERT INTO call_chunks VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, first_id);
        sqlite3_bind_int64(st, 2, first_id + span);
        sqlite3_bind_int64(st, 3, rows);
        sqlite3_bind_blob(st, 4, blob.data, (int)blob.len, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    char sql[160];
    snprintf(sql, sizeof sql, "INSERT INTO call_late (id, thread_id, function_id, depth, start_ns) VALUES (%lld, 1, 1, 0, 0)",
             (long long)first_id + 1);
    sqlite3_exec(db, sql, NULL, NULL, NULL);
    read_all(db, values ? "SELECT * FROM vals" : "SELECT * FROM call_rows");
    snprintf(sql, sizeof sql, values ? "SELECT * FROM vals WHERE id = %lld" : "SELECT * FROM call_rows WHERE id BETWEEN %lld AND %lld + 9",
             (long long)first_id + 2, (long long)first_id);
    read_all(db, sql);
    read_all(db, values ? "SELECT * FROM vals ORDER BY id DESC" : "SELECT * FROM call_rows ORDER BY id DESC");
    /* the tests the call table answers while it reads (narrowing.h) */
    if (!values)
        read_all(db, "SELECT * FROM call_rows c WHERE cs_function_may(c.function_id, x'ff0f') AND"
                     " cs_value_may(c.args, '5') AND cs_value_may(c.result, '5') AND c.duration_ns > 2.5 AND"
                     " c.parent_id <= 9 AND c.depth = 1");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 7)
        return 0;
    int values = data[0] & 1;
    int64_t rows = data[1] | data[2] << 8;
    int64_t span = data[3] | data[4] << 8, last_id = 1 + span;
    size_t split = (size_t)(data[5] | data[6] << 8);
    char err[256];
    struct cs_chunk calls = {0};
    struct cs_val_chunk vals = {0};
    /* the bytes as a blob, then as a body */
    cs_chunk_decode(&calls, data + 7, size - 7, 1, last_id, rows, CS_CHUNK_ALL_COLUMNS, err, sizeof err);
    cs_val_chunk_decode(&vals, data + 7, size - 7, 1, last_id, rows, err, sizeof err);
    frame(data + 7, size - 7, split, values, data[0] & 2 ? 2 : 1);
    if (values) {
        if (cs_val_chunk_decode(&vals, blob.data, blob.len, 1, last_id, rows, err, sizeof err) == 0)
            for (int i = 0; i < vals.n; i++)
                cs_val_chunk_find(&vals, vals.rows[i].id);
    } else {
        /* every column, then a few alone, as a scan that needs them would,
         * then all again: the texts are added to the numbers decoded */
        cs_chunk_decode(&calls, blob.data, blob.len, 1, last_id, rows, CS_CHUNK_ALL_COLUMNS, err, sizeof err);
        cs_chunk_decode(&calls, blob.data, blob.len, 1, last_id, rows, (unsigned)data[0] << 4 | data[1], err,
                        sizeof err);
        cs_chunk_decode(&calls, blob.data, blob.len, 1, last_id, rows, CS_CHUNK_ALL_COLUMNS, err, sizeof err);
    }
    cs_chunk_free(&calls);
    cs_val_chunk_free(&vals);
    through_sql(values, rows, span);
    return 0;
}
