/*
 * chunk_codec.c — the frame around a compressed chunk (see chunk_codec.h).
 */
#include "store/chunk_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

void cs_chunk_put_columns(struct cs_textbuf *body, struct cs_textbuf *columns, int ncolumns)
{
    cs_textbuf_reset(body);
    for (int c = 0; c < ncolumns; c++) {
        cs_put_varint(body, columns[c].len);
        cs_textbuf_put(body, columns[c].data, columns[c].len);
        if (columns[c].oom)
            body->oom = 1;
        cs_textbuf_reset(&columns[c]);
    }
}

int cs_chunk_compress(void *zstd, int level, const struct cs_textbuf *body, struct cs_textbuf *out, char *err,
                      size_t errlen)
{
    cs_textbuf_reset(out);
    if (body->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t bound = ZSTD_compressBound(body->len);
    cs_textbuf_putc(out, CS_CHUNK_CODEC_ZSTD);
    cs_put_varint(out, body->len);
    if (out->oom || cs_textbuf_grow(out, bound) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = ZSTD_compressCCtx(zstd, out->data + out->len, bound, body->data, body->len, level);
    if (ZSTD_isError(n)) {
        snprintf(err, errlen, "compressing: %s", ZSTD_getErrorName(n));
        return -1;
    }
    out->len += n;
    return 0;
}

int cs_chunk_open(const void *blob, size_t len, char **body, size_t *body_cap, struct cs_column *columns,
                  int ncolumns, char *err, size_t errlen)
{
    struct cs_column head = {blob, (const unsigned char *)blob + len, 0};
    if (!blob || len < 1 || *head.p++ != CS_CHUNK_CODEC_ZSTD) {
        snprintf(err, errlen, "unknown encoding");
        return -1;
    }
    uint64_t body_len = cs_get_varint(&head);
    if (head.bad || body_len > CS_CHUNK_MAX_BODY) {
        snprintf(err, errlen, "impossible size");
        return -1;
    }
    size_t frame_len = (size_t)(head.end - head.p);
    if (ZSTD_getFrameContentSize(head.p, frame_len) != body_len) {
        snprintf(err, errlen, "its sizes disagree");
        return -1;
    }
    if (*body_cap < body_len + 1) {
        char *grown = realloc(*body, body_len + 1);
        if (!grown) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        *body = grown;
        *body_cap = body_len + 1;
    }
    size_t got = ZSTD_decompress(*body, body_len, head.p, frame_len);
    if (ZSTD_isError(got) || got != body_len) {
        snprintf(err, errlen, "it does not decompress");
        return -1;
    }
    struct cs_column all = {(const unsigned char *)*body, (const unsigned char *)*body + body_len, 0};
    for (int k = 0; k < ncolumns; k++) {
        uint64_t n = cs_get_varint(&all);
        const char *start = cs_get_bytes(&all, n);
        if (all.bad) {
            snprintf(err, errlen, "a column runs past its end");
            return -1;
        }
        columns[k] = (struct cs_column){(const unsigned char *)start, (const unsigned char *)start + n, 0};
    }
    if (all.p != all.end) {
        snprintf(err, errlen, "bytes after its last column");
        return -1;
    }
    return 0;
}
