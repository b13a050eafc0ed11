/*
 * call_chunks.c — encodes call rows into compressed column chunks and
 * decodes them (the format is in call_chunks.h).
 */
#include "store/call_chunks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/grow.h"

/* ---- writing ---- */

struct cs_chunk_encoder {
    struct cs_textbuf col[CS_CHUNK_COLUMNS];
    struct cs_textbuf body;
    ZSTD_CCtx *zstd;
    int level;
    int rows;
    int64_t first_id, last_id, last_start;
};

struct cs_chunk_encoder *cs_chunk_encoder_new(int level)
{
    struct cs_chunk_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->zstd = ZSTD_createCCtx();
    if (!e->zstd) {
        free(e);
        return NULL;
    }
    e->level = level;
    return e;
}

void cs_chunk_encoder_free(struct cs_chunk_encoder *e)
{
    if (!e)
        return;
    for (int c = 0; c < CS_CHUNK_COLUMNS; c++)
        cs_textbuf_free(&e->col[c]);
    cs_textbuf_free(&e->body);
    ZSTD_freeCCtx(e->zstd);
    free(e);
}

int cs_chunk_encoder_rows(const struct cs_chunk_encoder *e)
{
    return e->rows;
}

static void put_text(struct cs_textbuf *b, const struct cs_chunk_text *t)
{
    if (!t->present) {
        cs_put_varint(b, 0);
        return;
    }
    cs_put_varint(b, (uint64_t)t->len + 1);
    cs_textbuf_put(b, t->text, t->len);
}

int cs_chunk_encoder_add(struct cs_chunk_encoder *e, const struct cs_chunk_row *row)
{
    struct cs_textbuf *col = e->col;
    if (e->rows == 0) {
        e->first_id = row->id;
        e->last_id = row->id - 1;
        e->last_start = 0;
    }
    cs_put_varint(&col[CS_COL_ID], (uint64_t)(row->id - e->last_id));
    cs_put_varint(&col[CS_COL_PARENT], row->parent_id ? cs_zigzag(cs_wrapping_sub(row->id, row->parent_id)) + 1 : 0);
    cs_put_varint(&col[CS_COL_THREAD], (uint64_t)row->thread_id);
    cs_put_varint(&col[CS_COL_FUNCTION], (uint64_t)row->function_id);
    cs_put_varint(&col[CS_COL_DEPTH], (uint64_t)row->depth);
    cs_put_varint(&col[CS_COL_START], cs_zigzag(cs_wrapping_sub(row->start_ns, e->last_start)));
    if (row->finished) {
        cs_put_varint(&col[CS_COL_DURATION], cs_zigzag(row->duration_ns) + 1);
        cs_put_varint(&col[CS_COL_SELF], cs_zigzag(cs_wrapping_sub(row->duration_ns, row->self_ns)));
    } else {
        cs_put_varint(&col[CS_COL_DURATION], 0);
    }
    cs_put_varint(&col[CS_COL_FLAGS], (uint64_t)row->flags);
    put_text(&col[CS_COL_ARGS], &row->args);
    if (row->result_id > 0) {
        cs_put_varint(&col[CS_COL_RESULT], (uint64_t)row->result_id << 1 | 1);
    } else if (row->result.present) {
        cs_put_varint(&col[CS_COL_RESULT], ((uint64_t)row->result.len + 1) << 1);
        cs_textbuf_put(&col[CS_COL_RESULT], row->result.text, row->result.len);
    } else {
        cs_put_varint(&col[CS_COL_RESULT], 0);
    }
    put_text(&col[CS_COL_EXCEPTION], &row->exception);
    e->last_id = row->id;
    e->last_start = row->start_ns;
    e->rows++;
    for (int c = 0; c < CS_CHUNK_COLUMNS; c++)
        if (col[c].oom)
            return -1;
    return 0;
}

int cs_chunk_encoder_finish(struct cs_chunk_encoder *e, struct cs_textbuf *out, int64_t *first_id,
                            int64_t *last_id, int *rows, char *err, size_t errlen)
{
    cs_chunk_put_columns(&e->body, e->col, CS_CHUNK_COLUMNS);
    *first_id = e->first_id;
    *last_id = e->last_id;
    *rows = e->rows;
    e->rows = 0;
    return cs_chunk_compress(e->zstd, e->level, &e->body, out, err, errlen);
}

/* ---- reading ---- */

static int get_text(struct cs_column *r, struct cs_chunk_text *t)
{
    uint64_t k = cs_get_varint(r);
    t->present = k != 0;
    t->len = 0;
    t->text = NULL;
    if (!k)
        return 0;
    if (k - 1 > UINT32_MAX) {
        r->bad = 1;
        return -1;
    }
    t->len = (uint32_t)(k - 1);
    t->text = cs_get_bytes(r, k - 1);
    return r->bad ? -1 : 0;
}

static int corrupt(char *err, size_t errlen, int64_t first_id, const char *why)
{
    snprintf(err, errlen, "the chunk of calls from id %lld is corrupt (%s)", (long long)first_id, why);
    return -1;
}

int cs_chunk_decode(struct cs_chunk *c, const void *blob, size_t len, int64_t first_id, int64_t last_id,
                    int64_t rows, char *err, size_t errlen)
{
    c->n = 0;
    if (rows < 1 || rows > CS_CHUNK_ROWS || last_id < first_id || last_id - first_id >= INT64_MAX / 2)
        return corrupt(err, errlen, first_id, "its row count or id range is impossible");
    struct cs_column col[CS_CHUNK_COLUMNS];
    char why[128];
    if (cs_chunk_open(blob, len, &c->body, &c->body_cap, col, CS_CHUNK_COLUMNS, why, sizeof why) != 0)
        return corrupt(err, errlen, first_id, why);
    if (c->cap < rows) {
        struct cs_chunk_row *grown = realloc(c->rows, (size_t)rows * sizeof *grown);
        if (!grown) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        c->rows = grown;
        c->cap = (int)rows;
    }
    int64_t id = first_id - 1, start = 0;
    for (int64_t i = 0; i < rows; i++) {
        struct cs_chunk_row *row = &c->rows[i];
        uint64_t step = cs_get_varint(&col[CS_COL_ID]);
        if (step < 1 || step > (uint64_t)(last_id - id))
            return corrupt(err, errlen, first_id, "ids out of order or out of range");
        id += (int64_t)step;
        row->id = id;
        uint64_t parent = cs_get_varint(&col[CS_COL_PARENT]);
        row->parent_id = parent ? cs_wrapping_sub(id, cs_unzigzag(parent - 1)) : 0;
        row->thread_id = (int64_t)cs_get_varint(&col[CS_COL_THREAD]);
        row->function_id = (int64_t)cs_get_varint(&col[CS_COL_FUNCTION]);
        row->depth = (int64_t)cs_get_varint(&col[CS_COL_DEPTH]);
        start = cs_wrapping_add(start, cs_unzigzag(cs_get_varint(&col[CS_COL_START])));
        row->start_ns = start;
        uint64_t duration = cs_get_varint(&col[CS_COL_DURATION]);
        row->finished = duration != 0;
        if (duration) {
            row->duration_ns = cs_unzigzag(duration - 1);
            row->self_ns = cs_wrapping_sub(row->duration_ns, cs_unzigzag(cs_get_varint(&col[CS_COL_SELF])));
        } else {
            row->duration_ns = row->self_ns = 0;
        }
        row->flags = (int64_t)cs_get_varint(&col[CS_COL_FLAGS]);
        get_text(&col[CS_COL_ARGS], &row->args);
        uint64_t result = cs_get_varint(&col[CS_COL_RESULT]);
        row->result_id = 0;
        row->result.present = 0;
        if (result & 1) {
            row->result_id = (int64_t)(result >> 1);
        } else if (result) {
            uint64_t n = (result >> 1) - 1;
            row->result.present = 1;
            row->result.len = n > UINT32_MAX ? 0 : (uint32_t)n;
            row->result.text = n > UINT32_MAX ? NULL : cs_get_bytes(&col[CS_COL_RESULT], n);
            if (!row->result.text)
                col[CS_COL_RESULT].bad = 1;
        }
        get_text(&col[CS_COL_EXCEPTION], &row->exception);
        for (int k = 0; k < CS_CHUNK_COLUMNS; k++)
            if (col[k].bad)
                return corrupt(err, errlen, first_id, "a column ends too soon");
    }
    if (id != last_id)
        return corrupt(err, errlen, first_id, "its last id is not the one recorded");
    for (int k = 0; k < CS_CHUNK_COLUMNS; k++)
        if (col[k].p != col[k].end)
            return corrupt(err, errlen, first_id, "a column is longer than its rows");
    c->n = (int)rows;
    return 0;
}

void cs_chunk_free(struct cs_chunk *c)
{
    free(c->rows);
    free(c->body);
    c->rows = NULL;
    c->body = NULL;
    c->n = c->cap = 0;
    c->body_cap = 0;
}
