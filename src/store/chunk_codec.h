/*
 * chunk_codec.h — what the store's compressed chunks share (call_chunks.h
 * for calls, val_chunks.h for values): varints, zigzag numbers, checked
 * reading of a column, and the frame around a chunk's body.
 *
 * A chunk's blob, byte by byte:
 *
 *   byte 0        the layout of the chunk's columns, which its kind of chunk
 *                 defines (1 for values; 1 or 2 for calls, call_chunks.h);
 *                 every layout is compressed with zstd
 *   then, for each of its parts (a kind of chunk has a fixed number):
 *     a varint    the size of the part's zstd frame
 *     a varint    the size of the part's body once decompressed
 *     the frame
 *
 * A part's body is a number of columns one after the other, each a varint
 * byte length followed by that many bytes; the parts hold a kind of
 * chunk's columns in order. Parts let a reader decompress only what it
 * reads: the numbers of a chunk of calls without its texts, which are
 * most of its bytes. Every number is an unsigned LEB128 varint (7 bits per
 * byte, low first, high bit = more); a "zz" number is zigzag-coded (0, -1,
 * 1, -2 ... as 0, 1, 2, 3 ...).
 */
#ifndef CALLSCOPE_CHUNK_CODEC_H
#define CALLSCOPE_CHUNK_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "util/textbuf.h"

/* The largest body a reader accepts: far above what a chunk of the
 * longest texts the collector writes takes, so only a corrupt or hostile
 * file meets it. */
#define CS_CHUNK_MAX_BODY (256u << 20)

/* Appends a varint (core/event.h's encoding) to a column. */
static inline void cs_chunk_put_varint(struct cs_textbuf *b, uint64_t v)
{
    if (b->cap - b->len < 10 && cs_textbuf_grow(b, 10) != 0)
        return;
    unsigned char *end = cs_put_varint((unsigned char *)b->data + b->len, v);
    b->len = (size_t)((char *)end - b->data);
}

static inline uint64_t cs_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t cs_unzigzag(uint64_t v)
{
    return (int64_t)((v >> 1) ^ (0 - (v & 1)));
}

/* a - b and a + b wrapping around, as a hostile chunk may ask for: a
 * nonsense value then, never undefined behaviour. */
static inline int64_t cs_wrapping_sub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

static inline int64_t cs_wrapping_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* A column is read as an event is (core/event.h: cs_get_varint and the
 * like), its error set once it ends too soon or holds what it cannot. */
/* n bytes from c; NULL (and c->error set) when the column ends first. */
static inline const char *cs_get_bytes(struct cs_reader *c, uint64_t n)
{
    if ((uint64_t)(c->end - c->p) < n) {
        c->error = 1;
        return NULL;
    }
    const char *s = (const char *)c->p;
    c->p += n;
    return s;
}

/* Appends columns [from, to) (each: its length, then its bytes) to body,
 * and empties them. */
void cs_chunk_put_columns(struct cs_textbuf *body, struct cs_textbuf *columns, int from, int to);

/* A writer's zstd compression context (made on first use) and level. */
struct cs_chunk_compressor {
    void *zstd; /* a ZSTD_CCtx */
    int level;
    int level_tables; /* 1: the level's own hash table, for long bodies whose repeats are far apart */
};
void cs_chunk_compressor_free(struct cs_chunk_compressor *z);

/* Compresses each of nparts bodies into out (reset first) as the parts of
 * one chunk of the given layout, framed as above. -1 with a message. */
int cs_chunk_compress(struct cs_chunk_compressor *z, int layout, const struct cs_textbuf *bodies, int nparts,
                      struct cs_textbuf *out, char *err, size_t errlen);

/* What a reader keeps from one chunk it opens to the next: the buffer of
 * the uncompressed parts (which decoded texts point into) and a zstd
 * decompression context, made once rather than for every part. Zeroed
 * before first use. */
struct cs_chunk_buffer {
    char *body;
    size_t cap;
    void *zstd; /* a ZSTD_DCtx, made on first use */
};
void cs_chunk_buffer_free(struct cs_chunk_buffer *b);

/* Reads a blob of nparts parts, of which part k holds part_columns[k]
 * columns, and of a layout from 1 to max_layout (set in *layout):
 * decompresses the parts whose bit is set in want into b's body (grown as
 * needed) and splits them into their columns; the columns of the other
 * parts are left empty. -1 with the reason in err (a short phrase, to
 * follow "is corrupt"). */
int cs_chunk_open(const void *blob, size_t len, int max_layout, int *layout, int nparts, const int *part_columns,
                  unsigned want, struct cs_chunk_buffer *b, struct cs_reader *columns, char *err, size_t errlen);

#endif
