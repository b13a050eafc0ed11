/*
 * call_chunks.c — encodes call rows into compressed column chunks and
 * decodes them (the format is in call_chunks.h).
 */
#include "store/call_chunks.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ---- */

/* A chunk's two parts (chunk_codec.h): the numbers, then the texts. */
#define NUMBER_COLUMNS CS_COL_ARGS
static const int PART_COLUMNS[2] = {NUMBER_COLUMNS, CS_CHUNK_COLUMNS - NUMBER_COLUMNS};

struct cs_chunk_encoder {
    struct cs_textbuf col[CS_CHUNK_COLUMNS];
    struct cs_textbuf body[2];
    struct cs_chunk_compressor compressor;
    int rows;
    int rows_with_room; /* rows the number columns have room for (number_room) */
    int64_t first_id, last_id, last_start;
    /* The inline result of the row before, as its bytes in the result
     * column (len NO_RESULT_BEFORE: it had none). */
    size_t result_before_off, result_before_len;
};

#define NO_RESULT_BEFORE SIZE_MAX

struct cs_chunk_encoder *cs_chunk_encoder_new(int level)
{
    struct cs_chunk_encoder *e = calloc(1, sizeof *e);
    if (e)
        e->compressor.level = level;
    return e;
}

void cs_chunk_encoder_free(struct cs_chunk_encoder *e)
{
    if (!e)
        return;
    for (int c = 0; c < CS_CHUNK_COLUMNS; c++)
        cs_textbuf_free(&e->col[c]);
    cs_textbuf_free(&e->body[0]);
    cs_textbuf_free(&e->body[1]);
    cs_chunk_compressor_free(&e->compressor);
    free(e);
}

int cs_chunk_encoder_rows(const struct cs_chunk_encoder *e)
{
    return e->rows;
}

static void put_text(struct cs_textbuf *b, const struct cs_chunk_text *t)
{
    if (!t->present) {
        cs_chunk_put_varint(b, 0);
        return;
    }
    cs_chunk_put_varint(b, (uint64_t)t->len + 1);
    cs_textbuf_put(b, t->text, t->len);
}

/* The result column's entry (call_chunks.h): an inline text equal to the
 * row before's is written as k = 2, not again. Returns 1 then, else 0. */
static int put_result(struct cs_chunk_encoder *e, const struct cs_chunk_row *row)
{
    struct cs_textbuf *col = &e->col[CS_COL_RESULT];
    if (row->result_id > 0) {
        cs_chunk_put_varint(col, (uint64_t)row->result_id << 1 | 1);
        e->result_before_len = NO_RESULT_BEFORE;
        return 0;
    }
    if (!row->result.present) {
        cs_chunk_put_varint(col, 0);
        e->result_before_len = NO_RESULT_BEFORE;
        return 0;
    }
    size_t len = row->result.len;
    if (len == e->result_before_len) {
        /* (the last byte first: texts of the same length are common, ints
         * most of all, and ints differ most in their last digits) */
        const char *before = col->data + e->result_before_off;
        if (len == 0 || (before[len - 1] == row->result.text[len - 1] && memcmp(before, row->result.text, len) == 0)) {
            cs_chunk_put_varint(col, 2);
            return 1;
        }
    }
    cs_chunk_put_varint(col, ((uint64_t)len + 2) << 1);
    cs_textbuf_put(col, row->result.text, len);
    /* (out of memory, the text may not be there to compare with) */
    e->result_before_len = col->oom ? NO_RESULT_BEFORE : len;
    e->result_before_off = col->len - len;
    return 0;
}

/* Appends a varint to a number column that has room for it (number_room). */
static void put_number(struct cs_textbuf *col, uint64_t v)
{
    col->len = (size_t)((char *)cs_put_varint((unsigned char *)col->data + col->len, v) - col->data);
}

/* Makes room in every number column for the varints of a row, checked
 * once in ROOM_ROWS rows (a varint takes at most CS_VARINT_MAX bytes). */
#define ROOM_ROWS 64
static int number_room(struct cs_chunk_encoder *e)
{
    if (e->rows_with_room > 0) {
        e->rows_with_room--;
        return 0;
    }
    for (int c = 0; c < NUMBER_COLUMNS; c++)
        if (cs_textbuf_grow(&e->col[c], ROOM_ROWS * CS_VARINT_MAX) != 0)
            return -1;
    e->rows_with_room = ROOM_ROWS - 1;
    return 0;
}

int cs_chunk_encoder_add(struct cs_chunk_encoder *e, const struct cs_chunk_row *row)
{
    struct cs_textbuf *col = e->col;
    if (e->rows == 0) {
        e->first_id = row->id;
        e->last_id = row->id - 1;
        e->last_start = 0;
        e->result_before_len = NO_RESULT_BEFORE;
    }
    if (number_room(e) != 0)
        return -1;
    put_number(&col[CS_COL_ID], (uint64_t)(row->id - e->last_id));
    put_number(&col[CS_COL_PARENT], row->parent_id ? cs_zigzag(cs_wrapping_sub(row->id, row->parent_id)) + 1 : 0);
    put_number(&col[CS_COL_THREAD], (uint64_t)row->thread_id);
    put_number(&col[CS_COL_FUNCTION], (uint64_t)row->function_id);
    put_number(&col[CS_COL_DEPTH], (uint64_t)row->depth);
    put_number(&col[CS_COL_START], cs_zigzag(cs_wrapping_sub(row->start_ns, e->last_start)));
    if (row->finished) {
        put_number(&col[CS_COL_DURATION], cs_zigzag(row->duration_ns) + 1);
        put_number(&col[CS_COL_SELF], cs_zigzag(cs_wrapping_sub(row->duration_ns, row->self_ns)));
    } else {
        put_number(&col[CS_COL_DURATION], 0);
    }
    put_number(&col[CS_COL_FLAGS], (uint64_t)row->flags);
    put_text(&col[CS_COL_ARGS], &row->args);
    int repeated = put_result(e, row);
    put_text(&col[CS_COL_EXCEPTION], &row->exception);
    e->last_id = row->id;
    e->last_start = row->start_ns;
    e->rows++;
    /* (a text column out of memory is found by cs_chunk_encoder_finish:
     * its body is then marked so) */
    return repeated;
}

int cs_chunk_encoder_finish(struct cs_chunk_encoder *e, struct cs_textbuf *out, int64_t *first_id,
                            int64_t *last_id, int *rows, char *err, size_t errlen)
{
    cs_chunk_put_columns(&e->body[0], e->col, 0, NUMBER_COLUMNS);
    cs_chunk_put_columns(&e->body[1], e->col, NUMBER_COLUMNS, CS_CHUNK_COLUMNS);
    *first_id = e->first_id;
    *last_id = e->last_id;
    *rows = e->rows;
    e->rows = 0;
    return cs_chunk_compress(&e->compressor, CS_CHUNK_LAYOUT, e->body, 2, out, err, errlen);
}

/* ---- reading ---- */

static int get_text(struct cs_reader *r, struct cs_chunk_text *t)
{
    uint64_t k = cs_get_varint(r);
    t->present = k != 0;
    t->len = 0;
    t->text = NULL;
    if (!k)
        return 0;
    if (k - 1 > UINT32_MAX) {
        r->error = 1;
        return -1;
    }
    t->len = (uint32_t)(k - 1);
    t->text = cs_get_bytes(r, k - 1);
    return r->error ? -1 : 0;
}

static int corrupt(char *err, size_t errlen, int64_t first_id, const char *why)
{
    snprintf(err, errlen, "the chunk of calls from id %lld is corrupt (%s)", (long long)first_id, why);
    return -1;
}

/* Reads one number per row from a column into the rows (field at offset
 * `field` of each row, as an int64_t). */
static void get_numbers(struct cs_reader *col, struct cs_chunk_row *rows, int64_t n, size_t field)
{
    for (int64_t i = 0; i < n; i++)
        *(int64_t *)((char *)&rows[i] + field) = (int64_t)cs_get_varint(col);
}

#define TEXT_COLUMNS (CS_CHUNK_ALL_COLUMNS & ~((1u << NUMBER_COLUMNS) - 1))

/* The number columns asked for, column by column (the ids always): a scan
 * that needs a function's id does not pay for the others. */
static int decode_numbers(struct cs_chunk *c, struct cs_reader *col, int64_t first_id, int64_t last_id, int64_t rows,
                          unsigned columns, char *err, size_t errlen)
{
    struct cs_chunk_row *r = c->rows;
    int64_t id = first_id - 1;
    for (int64_t i = 0; i < rows; i++) {
        uint64_t step = cs_get_varint(&col[CS_COL_ID]);
        if (step < 1 || step > (uint64_t)(last_id - id))
            return corrupt(err, errlen, first_id, "ids out of order or out of range");
        id += (int64_t)step;
        r[i].id = id;
    }
    if (id != last_id)
        return corrupt(err, errlen, first_id, "its last id is not the one recorded");
    if (columns & (1u << CS_COL_PARENT))
        for (int64_t i = 0; i < rows; i++) {
            uint64_t parent = cs_get_varint(&col[CS_COL_PARENT]);
            r[i].parent_id = parent ? cs_wrapping_sub(r[i].id, cs_unzigzag(parent - 1)) : 0;
        }
    if (columns & (1u << CS_COL_THREAD))
        get_numbers(&col[CS_COL_THREAD], r, rows, offsetof(struct cs_chunk_row, thread_id));
    if (columns & (1u << CS_COL_FUNCTION))
        get_numbers(&col[CS_COL_FUNCTION], r, rows, offsetof(struct cs_chunk_row, function_id));
    if (columns & (1u << CS_COL_DEPTH))
        get_numbers(&col[CS_COL_DEPTH], r, rows, offsetof(struct cs_chunk_row, depth));
    if (columns & (1u << CS_COL_START)) {
        int64_t start = 0;
        for (int64_t i = 0; i < rows; i++) {
            start = cs_wrapping_add(start, cs_unzigzag(cs_get_varint(&col[CS_COL_START])));
            r[i].start_ns = start;
        }
    }
    if (columns & (1u << CS_COL_DURATION))
        for (int64_t i = 0; i < rows; i++) {
            uint64_t duration = cs_get_varint(&col[CS_COL_DURATION]);
            r[i].finished = duration != 0;
            r[i].duration_ns = duration ? cs_unzigzag(duration - 1) : 0;
            r[i].self_ns = 0;
            if (duration && (columns & (1u << CS_COL_SELF)))
                r[i].self_ns = cs_wrapping_sub(r[i].duration_ns, cs_unzigzag(cs_get_varint(&col[CS_COL_SELF])));
        }
    if (columns & (1u << CS_COL_FLAGS))
        get_numbers(&col[CS_COL_FLAGS], r, rows, offsetof(struct cs_chunk_row, flags));
    return 0;
}

/* The result column of a chunk of the given layout (call_chunks.h). A
 * row that says "the same as the row before" where that row has no text
 * is corrupt. */
static void decode_results(struct cs_chunk_row *r, struct cs_reader *col, int64_t rows, int layout)
{
    for (int64_t i = 0; i < rows; i++) {
        uint64_t result = cs_get_varint(col);
        r[i].result_id = 0;
        r[i].result.present = 0;
        if (result & 1) {
            r[i].result_id = (int64_t)(result >> 1);
        } else if (result == 2 && layout >= 2) {
            if (i == 0 || !r[i - 1].result.present) {
                col->error = 1;
                return;
            }
            r[i].result = r[i - 1].result;
        } else if (result) {
            uint64_t n = (result >> 1) - (layout >= 2 ? 2 : 1);
            r[i].result.present = 1;
            r[i].result.len = n > UINT32_MAX ? 0 : (uint32_t)n;
            r[i].result.text = n > UINT32_MAX ? NULL : cs_get_bytes(col, n);
            if (!r[i].result.text)
                col->error = 1;
        }
    }
}

/* The text columns asked for: they point into the buffer the blob was
 * decompressed into. */
static void decode_texts(struct cs_chunk_row *r, struct cs_reader *col, int64_t rows, unsigned columns, int layout)
{
    if (columns & (1u << CS_COL_ARGS))
        for (int64_t i = 0; i < rows; i++)
            get_text(&col[CS_COL_ARGS], &r[i].args);
    if (columns & (1u << CS_COL_RESULT))
        decode_results(r, &col[CS_COL_RESULT], rows, layout);
    if (columns & (1u << CS_COL_EXCEPTION))
        for (int64_t i = 0; i < rows; i++)
            get_text(&col[CS_COL_EXCEPTION], &r[i].exception);
}

int cs_chunk_decode(struct cs_chunk *c, const void *blob, size_t len, int64_t first_id, int64_t last_id,
                    int64_t rows, unsigned columns, char *err, size_t errlen)
{
    if (rows < 1 || rows > CS_CHUNK_ROWS || last_id < first_id || last_id - first_id >= INT64_MAX / 2) {
        c->n = 0;
        c->first_id = 0;
        c->columns = 0;
        return corrupt(err, errlen, first_id, "its row count or id range is impossible");
    }
    columns |= 1u << CS_COL_ID;
    if (columns & (1u << CS_COL_SELF))
        columns |= 1u << CS_COL_DURATION; /* its entries follow the durations */
    /* Only texts missing from a chunk decoded without any: its numbers
     * stay (the rows hold them), and the buffer is free for the texts. */
    unsigned held = c->first_id == first_id && c->n == rows ? c->columns : 0;
    int texts_only = held && !(held & TEXT_COLUMNS) && !(columns & ~held & ~TEXT_COLUMNS);
    if (!texts_only) {
        c->n = 0;
        c->first_id = 0;
        c->columns = 0;
    }
    struct cs_reader col[CS_CHUNK_COLUMNS];
    char why[128];
    /* the texts only when asked for */
    unsigned parts = (texts_only ? 0u : 1u) | ((columns & TEXT_COLUMNS) ? 2u : 0u);
    int layout;
    if (cs_chunk_open(blob, len, CS_CHUNK_LAYOUT, &layout, 2, PART_COLUMNS, parts, &c->buffer, col, why, sizeof why) !=
        0)
        goto corrupt;
    if (c->cap < rows) {
        struct cs_chunk_row *grown = realloc(c->rows, (size_t)rows * sizeof *grown);
        if (!grown) {
            snprintf(err, errlen, "out of memory");
            c->n = 0;
            c->first_id = 0;
            return -1;
        }
        c->rows = grown;
        c->cap = (int)rows;
    }
    if (texts_only)
        columns &= ~held;
    else if (decode_numbers(c, col, first_id, last_id, rows, columns, err, errlen) != 0)
        goto fail;
    decode_texts(c->rows, col, rows, columns, layout);
    /* Every column read holds exactly its rows' entries. */
    for (int k = 0; k < CS_CHUNK_COLUMNS; k++) {
        if (!(columns & (1u << k)))
            continue;
        if (col[k].error) {
            snprintf(why, sizeof why, "a column ends too soon");
            goto corrupt;
        }
        if (col[k].p != col[k].end) {
            snprintf(why, sizeof why, "a column is longer than its rows");
            goto corrupt;
        }
    }
    c->n = (int)rows;
    c->first_id = first_id;
    c->columns = texts_only ? held | columns : columns;
    return 0;
corrupt:
    corrupt(err, errlen, first_id, why);
fail:
    c->n = 0;
    c->first_id = 0;
    c->columns = 0;
    return -1;
}

void cs_chunk_free(struct cs_chunk *c)
{
    free(c->rows);
    cs_chunk_buffer_free(&c->buffer);
    c->rows = NULL;
    c->n = c->cap = 0;
}
