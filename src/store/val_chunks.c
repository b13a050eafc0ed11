/*
 * val_chunks.c — encodes values into compressed chunks and decodes them
 * (the format is in val_chunks.h).
 */
#include "store/val_chunks.h"

#include <stdio.h>
#include <stdlib.h>

enum { COL_ID, COL_TEXT, COL_TYPE, VAL_COLUMNS };

struct cs_val_encoder {
    struct cs_textbuf col[VAL_COLUMNS];
    struct cs_textbuf body;
    struct cs_chunk_compressor compressor;
    int rows;
    int64_t first_id, last_id;
};

struct cs_val_encoder *cs_val_encoder_new(int level)
{
    struct cs_val_encoder *e = calloc(1, sizeof *e);
    if (e)
        e->compressor.level = level;
    return e;
}

void cs_val_encoder_free(struct cs_val_encoder *e)
{
    if (!e)
        return;
    for (int c = 0; c < VAL_COLUMNS; c++)
        cs_textbuf_free(&e->col[c]);
    cs_textbuf_free(&e->body);
    cs_chunk_compressor_free(&e->compressor);
    free(e);
}

int cs_val_encoder_rows(const struct cs_val_encoder *e)
{
    return e->rows;
}

int cs_val_encoder_add(struct cs_val_encoder *e, const struct cs_val_row *row)
{
    if (e->rows == 0) {
        e->first_id = row->id;
        e->last_id = row->id - 1;
    }
    cs_chunk_put_varint(&e->col[COL_ID], (uint64_t)(row->id - e->last_id));
    cs_chunk_put_varint(&e->col[COL_TEXT], row->len);
    cs_textbuf_put(&e->col[COL_TEXT], row->text, row->len);
    if (row->type) {
        cs_chunk_put_varint(&e->col[COL_TYPE], (uint64_t)row->type_len + 1);
        cs_textbuf_put(&e->col[COL_TYPE], row->type, row->type_len);
    } else {
        cs_chunk_put_varint(&e->col[COL_TYPE], 0);
    }
    e->last_id = row->id;
    e->rows++;
    for (int c = 0; c < VAL_COLUMNS; c++)
        if (e->col[c].oom)
            return -1;
    return 0;
}

int cs_val_encoder_finish(struct cs_val_encoder *e, struct cs_textbuf *out, int64_t *first_id, int64_t *last_id,
                          int *rows, char *err, size_t errlen)
{
    cs_chunk_put_columns(&e->body, e->col, 0, VAL_COLUMNS);
    *first_id = e->first_id;
    *last_id = e->last_id;
    *rows = e->rows;
    e->rows = 0;
    return cs_chunk_compress(&e->compressor, 1, &e->body, 1, out, err, errlen);
}

static int corrupt(char *err, size_t errlen, int64_t first_id, const char *why)
{
    snprintf(err, errlen, "the chunk of values from id %lld is corrupt (%s)", (long long)first_id, why);
    return -1;
}

/* A text of n bytes from column c, which must fit a uint32_t. */
static const char *get_text(struct cs_reader *c, uint64_t n, uint32_t *len)
{
    if (n > UINT32_MAX) {
        c->error = 1;
        return NULL;
    }
    *len = (uint32_t)n;
    return cs_get_bytes(c, n);
}

int cs_val_chunk_decode(struct cs_val_chunk *c, const void *blob, size_t len, int64_t first_id, int64_t last_id,
                        int64_t rows, char *err, size_t errlen)
{
    c->n = 0;
    if (rows < 1 || rows > CS_VAL_CHUNK_ROWS || last_id < first_id || last_id - first_id >= INT64_MAX / 2)
        return corrupt(err, errlen, first_id, "its row count or id range is impossible");
    struct cs_reader col[VAL_COLUMNS];
    char why[128];
    static const int part_columns[1] = {VAL_COLUMNS};
    int layout; /* values have one layout so far */
    if (cs_chunk_open(blob, len, 1, &layout, 1, part_columns, 1, &c->buffer, col, why, sizeof why) != 0)
        return corrupt(err, errlen, first_id, why);
    if (c->cap < rows) {
        struct cs_val_row *grown = realloc(c->rows, (size_t)rows * sizeof *grown);
        if (!grown) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        c->rows = grown;
        c->cap = (int)rows;
    }
    int64_t id = first_id - 1;
    for (int64_t i = 0; i < rows; i++) {
        struct cs_val_row *row = &c->rows[i];
        uint64_t step = cs_get_varint(&col[COL_ID]);
        if (step < 1 || step > (uint64_t)(last_id - id))
            return corrupt(err, errlen, first_id, "ids out of order or out of range");
        id += (int64_t)step;
        row->id = id;
        row->text = get_text(&col[COL_TEXT], cs_get_varint(&col[COL_TEXT]), &row->len);
        uint64_t type = cs_get_varint(&col[COL_TYPE]);
        row->type = NULL;
        row->type_len = 0;
        if (type)
            row->type = get_text(&col[COL_TYPE], type - 1, &row->type_len);
        for (int k = 0; k < VAL_COLUMNS; k++)
            if (col[k].error)
                return corrupt(err, errlen, first_id, "a column ends too soon");
    }
    if (id != last_id)
        return corrupt(err, errlen, first_id, "its last id is not the one recorded");
    for (int k = 0; k < VAL_COLUMNS; k++)
        if (col[k].p != col[k].end)
            return corrupt(err, errlen, first_id, "a column is longer than its rows");
    c->n = (int)rows;
    return 0;
}

void cs_val_chunk_free(struct cs_val_chunk *c)
{
    free(c->rows);
    cs_chunk_buffer_free(&c->buffer);
    *c = (struct cs_val_chunk){0};
}

const struct cs_val_row *cs_val_chunk_find(const struct cs_val_chunk *c, int64_t id)
{
    int lo = 0, hi = c->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (c->rows[mid].id == id)
            return &c->rows[mid];
        if (c->rows[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}
