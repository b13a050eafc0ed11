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

/* ---- varints ---- */

static inline void put_varint(struct cs_textbuf *b, uint64_t v)
{
    if (b->cap - b->len < 10 && cs_textbuf_grow(b, 10) != 0)
        return;
    unsigned char *p = (unsigned char *)b->data + b->len;
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    b->len = (size_t)((char *)p - b->data);
}

static inline uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v)
{
    return (int64_t)((v >> 1) ^ (0 - (v & 1)));
}

/* a - b and a + b wrapping around, as a hostile chunk may ask for: a
 * nonsense value then, never undefined behaviour. */
static inline int64_t wrapping_sub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline int64_t wrapping_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* A column being read: [p, end). */
struct reader {
    const unsigned char *p, *end;
    int bad;
};

static inline uint64_t get_varint(struct reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = 1;
            return 0;
        }
        unsigned char byte = *r->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    r->bad = 1; /* more than ten bytes */
    return 0;
}

/* n bytes of text from r; NULL (and bad) when the column ends first. */
static inline const char *get_bytes(struct reader *r, uint64_t n)
{
    if ((uint64_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += n;
    return s;
}

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
        put_varint(b, 0);
        return;
    }
    put_varint(b, (uint64_t)t->len + 1);
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
    put_varint(&col[CS_COL_ID], (uint64_t)(row->id - e->last_id));
    put_varint(&col[CS_COL_PARENT], row->parent_id ? zigzag(wrapping_sub(row->id, row->parent_id)) + 1 : 0);
    put_varint(&col[CS_COL_THREAD], (uint64_t)row->thread_id);
    put_varint(&col[CS_COL_FUNCTION], (uint64_t)row->function_id);
    put_varint(&col[CS_COL_DEPTH], (uint64_t)row->depth);
    put_varint(&col[CS_COL_START], zigzag(wrapping_sub(row->start_ns, e->last_start)));
    if (row->finished) {
        put_varint(&col[CS_COL_DURATION], zigzag(row->duration_ns) + 1);
        put_varint(&col[CS_COL_SELF], zigzag(wrapping_sub(row->duration_ns, row->self_ns)));
    } else {
        put_varint(&col[CS_COL_DURATION], 0);
    }
    put_varint(&col[CS_COL_FLAGS], (uint64_t)row->flags);
    put_text(&col[CS_COL_ARGS], &row->args);
    if (row->result_id > 0) {
        put_varint(&col[CS_COL_RESULT], (uint64_t)row->result_id << 1 | 1);
    } else if (row->result.present) {
        put_varint(&col[CS_COL_RESULT], ((uint64_t)row->result.len + 1) << 1);
        cs_textbuf_put(&col[CS_COL_RESULT], row->result.text, row->result.len);
    } else {
        put_varint(&col[CS_COL_RESULT], 0);
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
    struct cs_textbuf *body = &e->body;
    cs_textbuf_reset(body);
    for (int c = 0; c < CS_CHUNK_COLUMNS; c++) {
        put_varint(body, e->col[c].len);
        cs_textbuf_put(body, e->col[c].data, e->col[c].len);
        cs_textbuf_reset(&e->col[c]);
    }
    *first_id = e->first_id;
    *last_id = e->last_id;
    *rows = e->rows;
    e->rows = 0;
    cs_textbuf_reset(out);
    if (body->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t bound = ZSTD_compressBound(body->len);
    cs_textbuf_putc(out, CS_CHUNK_CODEC_ZSTD);
    put_varint(out, body->len);
    if (cs_textbuf_grow(out, bound) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = ZSTD_compressCCtx(e->zstd, out->data + out->len, bound, body->data, body->len, e->level);
    if (ZSTD_isError(n)) {
        snprintf(err, errlen, "compressing calls: %s", ZSTD_getErrorName(n));
        return -1;
    }
    out->len += n;
    return 0;
}

/* ---- reading ---- */

static int get_text(struct reader *r, struct cs_chunk_text *t)
{
    uint64_t k = get_varint(r);
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
    t->text = get_bytes(r, k - 1);
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
    struct reader head = {blob, (const unsigned char *)blob + len, 0};
    if (len < 1 || *head.p++ != CS_CHUNK_CODEC_ZSTD)
        return corrupt(err, errlen, first_id, "unknown encoding");
    uint64_t body_len = get_varint(&head);
    if (head.bad || body_len > CS_CHUNK_MAX_BODY)
        return corrupt(err, errlen, first_id, "impossible size");
    size_t frame_len = (size_t)(head.end - head.p);
    unsigned long long frame_size = ZSTD_getFrameContentSize(head.p, frame_len);
    if (frame_size != body_len)
        return corrupt(err, errlen, first_id, "its sizes disagree");
    if (c->body_cap < body_len + 1) {
        char *grown = realloc(c->body, body_len + 1);
        if (!grown) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        c->body = grown;
        c->body_cap = body_len + 1;
    }
    size_t got = ZSTD_decompress(c->body, body_len, head.p, frame_len);
    if (ZSTD_isError(got) || got != body_len)
        return corrupt(err, errlen, first_id, "it does not decompress");
    if (c->cap < rows) {
        struct cs_chunk_row *grown = realloc(c->rows, (size_t)rows * sizeof *grown);
        if (!grown) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        c->rows = grown;
        c->cap = (int)rows;
    }
    struct reader body = {(const unsigned char *)c->body, (const unsigned char *)c->body + body_len, 0};
    struct reader col[CS_CHUNK_COLUMNS];
    for (int k = 0; k < CS_CHUNK_COLUMNS; k++) {
        uint64_t n = get_varint(&body);
        const char *start = get_bytes(&body, n);
        if (body.bad)
            return corrupt(err, errlen, first_id, "a column runs past its end");
        col[k] = (struct reader){(const unsigned char *)start, (const unsigned char *)start + n, 0};
    }
    int64_t id = first_id - 1, start = 0;
    for (int64_t i = 0; i < rows; i++) {
        struct cs_chunk_row *row = &c->rows[i];
        uint64_t step = get_varint(&col[CS_COL_ID]);
        if (step < 1 || step > (uint64_t)(last_id - id))
            return corrupt(err, errlen, first_id, "ids out of order or out of range");
        id += (int64_t)step;
        row->id = id;
        uint64_t parent = get_varint(&col[CS_COL_PARENT]);
        row->parent_id = parent ? wrapping_sub(id, unzigzag(parent - 1)) : 0;
        row->thread_id = (int64_t)get_varint(&col[CS_COL_THREAD]);
        row->function_id = (int64_t)get_varint(&col[CS_COL_FUNCTION]);
        row->depth = (int64_t)get_varint(&col[CS_COL_DEPTH]);
        start = wrapping_add(start, unzigzag(get_varint(&col[CS_COL_START])));
        row->start_ns = start;
        uint64_t duration = get_varint(&col[CS_COL_DURATION]);
        row->finished = duration != 0;
        if (duration) {
            row->duration_ns = unzigzag(duration - 1);
            row->self_ns = wrapping_sub(row->duration_ns, unzigzag(get_varint(&col[CS_COL_SELF])));
        } else {
            row->duration_ns = row->self_ns = 0;
        }
        row->flags = (int64_t)get_varint(&col[CS_COL_FLAGS]);
        get_text(&col[CS_COL_ARGS], &row->args);
        uint64_t result = get_varint(&col[CS_COL_RESULT]);
        row->result_id = 0;
        row->result.present = 0;
        if (result & 1) {
            row->result_id = (int64_t)(result >> 1);
        } else if (result) {
            uint64_t n = (result >> 1) - 1;
            row->result.present = 1;
            row->result.len = n > UINT32_MAX ? 0 : (uint32_t)n;
            row->result.text = n > UINT32_MAX ? NULL : get_bytes(&col[CS_COL_RESULT], n);
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
