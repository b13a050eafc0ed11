/*
 * val_chunks.h — how the values calls refer to (the rows of `vals`) are
 * kept: a thousand or so at a time, compressed (docs/schema.md, "Values").
 *
 * The values of a program are texts that resemble each other (records of
 * one shape, strings with a common prefix, reprs of one class): stored one
 * SQLite row each they took most of a recording; compressed together they
 * take a tenth. SQL sees one row per value through the `vals` virtual
 * table (vals_vtab.c).
 *
 * A chunk is framed and split into columns as chunk_codec.h says. Its
 * three columns, one entry per value, in id order:
 *
 *   0  id    id - previous id (the first: id - first_id + 1), >= 1
 *   1  text  its length, then the text
 *   2  type  0: NULL; else length + 1, then the type's name
 */
#ifndef CALLSCOPE_VAL_CHUNKS_H
#define CALLSCOPE_VAL_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "store/chunk_codec.h"

/* Values per chunk: a reader that wants one value decodes its chunk, so
 * fewer than for calls. */
#define CS_VAL_CHUNK_ROWS 1024

struct cs_val_row {
    int64_t id;
    const char *text;
    uint32_t len;
    const char *type; /* NULL: none */
    uint32_t type_len;
};

/* ---- writing ---- */

struct cs_val_encoder;

struct cs_val_encoder *cs_val_encoder_new(int level);
void cs_val_encoder_free(struct cs_val_encoder *e);
int cs_val_encoder_rows(const struct cs_val_encoder *e);
/* Adds a value; ids must grow. -1 when out of memory. */
int cs_val_encoder_add(struct cs_val_encoder *e, const struct cs_val_row *row);
/* Compresses the values added since the last time into out, with their
 * first and last ids and count, and starts a new chunk; -1 with a message. */
int cs_val_encoder_finish(struct cs_val_encoder *e, struct cs_textbuf *out, int64_t *first_id, int64_t *last_id,
                          int *rows, char *err, size_t errlen);

/* ---- reading ---- */

struct cs_val_chunk {
    struct cs_val_row *rows;
    int n, cap;
    struct cs_chunk_buffer buffer; /* the texts point into its body */
};

/* Decodes the blob of the chunk first_id..last_id of `rows` values into
 * c; -1 with a one-line reason if it is not one as written. */
int cs_val_chunk_decode(struct cs_val_chunk *c, const void *blob, size_t len, int64_t first_id, int64_t last_id,
                        int64_t rows, char *err, size_t errlen);
void cs_val_chunk_free(struct cs_val_chunk *c);
/* The value with this id in a decoded chunk, or NULL. */
const struct cs_val_row *cs_val_chunk_find(const struct cs_val_chunk *c, int64_t id);

#endif
