/*
 * call_chunks.h — how calls are kept in the file: a few thousand call rows
 * at a time, column by column, compressed (docs/schema.md, "call_chunks").
 *
 * One SQLite row per call costs SQLite's insert per call and about 70 bytes
 * of b-tree record; a chunk costs one insert per CS_CHUNK_ROWS calls and,
 * because the columns of consecutive calls resemble each other (the same
 * thread, ids one apart, depths and functions that repeat, start times a
 * few hundred ns apart), compresses to a small fraction of that. SQL still
 * sees one row per call: the `call_rows` virtual table (calls_vtab.c)
 * decodes chunks on the fly.
 *
 * A chunk is framed and split into columns as chunk_codec.h says, in two
 * parts: columns 0 to 8 (the numbers), then 9 to 11 (the texts), so that
 * a scan of numbers (a filter's count, stats, a tree's shape) does not
 * decompress the texts. The twelve columns, one entry per row, rows in id
 * order:
 *
 *   0  id        id - previous id (the first: id - first_id + 1), >= 1
 *   1  parent    0: NULL; else zz(id - parent_id) + 1
 *   2  thread    thread_id
 *   3  function  function_id
 *   4  depth     depth
 *   5  start     zz(start_ns - previous start_ns) (the first: from 0)
 *   6  duration  0: NULL (the call had not ended); else zz(duration_ns) + 1
 *   7  self      zz(duration_ns - self_ns), for rows with a duration only
 *   8  flags     flags
 *   9  args      0: NULL; else length + 1, then the text (call_rows.args)
 *   10 result    0: NULL; odd k: the vals id k >> 1; in layout 2 (what
 *                callscope writes), k = 2: the same text as the row
 *                before, which holds one; other even k: a text of
 *                (k >> 1) - 2 bytes follows. Layout 1 (recordings of
 *                schema 3) has no k for "the same": an even k is a text of
 *                (k >> 1) - 1 bytes.
 *   11 exception 0: NULL; else length + 1, then the text
 *
 * "The same as the row before" is for a value passed up: a parser's
 * dispatcher returns what the call it made just returned, and the two rows
 * are next to each other in id order. It takes a quarter of a json.decoder
 * recording's rows, and a third of its result bytes: bytes zstd then
 * neither reads nor keeps.
 *
 * A chunk is written once and never changed. A call whose row comes after
 * its chunk was written (it was still running then) goes to the plain
 * table call_late instead, which the virtual table reads beside the chunks.
 *
 * Everything read from a file is checked: a chunk that does not decode
 * exactly (sizes, counts, ids outside its range or out of order) is
 * reported as corrupt, never read past its end.
 */
#ifndef CALLSCOPE_CALL_CHUNKS_H
#define CALLSCOPE_CALL_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "store/chunk_codec.h"
#include "util/textbuf.h"

/* Rows per chunk: enough for the columns to compress well, few enough that
 * reading one call (the viewer's lookups) decodes little. */
#define CS_CHUNK_ROWS 2048

/* The layout written (byte 0 of the blob, chunk_codec.h); readers read
 * layouts 1 to this one. */
#define CS_CHUNK_LAYOUT 2

enum cs_chunk_column {
    CS_COL_ID,
    CS_COL_PARENT,
    CS_COL_THREAD,
    CS_COL_FUNCTION,
    CS_COL_DEPTH,
    CS_COL_START,
    CS_COL_DURATION,
    CS_COL_SELF,
    CS_COL_FLAGS,
    CS_COL_ARGS,
    CS_COL_RESULT,
    CS_COL_EXCEPTION,
    CS_CHUNK_COLUMNS
};

/* A text of a row; len is meaningful only when present. */
struct cs_chunk_text {
    const char *text;
    uint32_t len;
    unsigned char present;
};

/* One call row as a chunk holds it; texts point into the chunk's body
 * (decoding) or the caller's memory (encoding). */
struct cs_chunk_row {
    int64_t id;
    int64_t parent_id; /* 0: NULL */
    int64_t thread_id;
    int64_t function_id;
    int64_t depth;
    int64_t start_ns;
    int64_t duration_ns; /* with self_ns: only when finished */
    int64_t self_ns;
    int64_t flags;
    int64_t result_id; /* > 0: the result is this vals row */
    struct cs_chunk_text args, result, exception;
    unsigned char finished;
};

/* ---- writing ---- */

struct cs_chunk_encoder;

/* NULL when out of memory. level: zstd's compression level. */
struct cs_chunk_encoder *cs_chunk_encoder_new(int level);
void cs_chunk_encoder_free(struct cs_chunk_encoder *e);
/* Rows so far in the chunk being built. */
int cs_chunk_encoder_rows(const struct cs_chunk_encoder *e);
/* Adds a row; ids must grow from row to row. Returns 1 when its result is
 * an inline text equal to the row before's (kept once), else 0; -1 when
 * out of memory (a text column's want of memory is found by
 * cs_chunk_encoder_finish). */
int cs_chunk_encoder_add(struct cs_chunk_encoder *e, const struct cs_chunk_row *row);
/* Compresses the rows added since the last time into out (reset first),
 * with their first and last ids, and starts a new chunk. -1 with a
 * message when compression or memory fails. */
int cs_chunk_encoder_finish(struct cs_chunk_encoder *e, struct cs_textbuf *out, int64_t *first_id,
                            int64_t *last_id, int *rows, char *err, size_t errlen);

/* ---- reading ---- */

/* A decoded chunk: rows[0..n) in id order, with the fields of the columns
 * decoded (a bit per enum cs_chunk_column). Reused from chunk to chunk. */
struct cs_chunk {
    struct cs_chunk_row *rows;
    int n, cap;
    int64_t first_id; /* of the chunk decoded (with n rows); 0 before */
    unsigned columns;
    struct cs_chunk_buffer buffer; /* the texts point into its body */
};

#define CS_CHUNK_ALL_COLUMNS ((1u << CS_CHUNK_COLUMNS) - 1)

/* Decodes the blob of the chunk first_id..last_id holding `rows` rows
 * into c: the ids, and the columns whose bits are set in `columns` (the
 * other fields are left as they were). When c holds that chunk already
 * with all the number columns asked for and no text, only the texts are
 * decoded: a reader that places calls first and prints them next pays
 * for the numbers once. -1 with a one-line reason in err if it is not a
 * chunk as written (the caller names the file). */
int cs_chunk_decode(struct cs_chunk *c, const void *blob, size_t len, int64_t first_id, int64_t last_id,
                    int64_t rows, unsigned columns, char *err, size_t errlen);
void cs_chunk_free(struct cs_chunk *c);

#endif
