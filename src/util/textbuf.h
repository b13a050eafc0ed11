/*
 * textbuf.h — a growable byte buffer for building text.
 *
 * The collector renders every argument, result and JSON object through one
 * of these; it is reset (not freed) between rows so the hot path allocates
 * nothing once the buffer has grown to its working size. A failed allocation
 * is sticky (`oom`) so callers check once at the end instead of after every
 * append.
 */
#ifndef CALLSCOPE_UTIL_TEXTBUF_H
#define CALLSCOPE_UTIL_TEXTBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cs_textbuf {
    char *data;
    size_t len;
    size_t cap;
    int oom; /* an allocation failed; contents are incomplete */
};

/* Makes room for n more bytes; 0, or -1 (and oom set). */
int cs_textbuf_grow(struct cs_textbuf *b, size_t n);
void cs_textbuf_free(struct cs_textbuf *b);
void cs_textbuf_printf(struct cs_textbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends the decimal digits of v. */
void cs_textbuf_int(struct cs_textbuf *b, int64_t v);
/* Writes the decimal digits of v (no NUL) into out; returns how many. */
#define CS_INT_TEXT_MAX 20 /* "-9223372036854775808" */
size_t cs_int_text(int64_t v, char out[CS_INT_TEXT_MAX]);
/* Appends v / 10^decimals with exactly `decimals` (1 to 18) digits after
 * the point: (1234567, 3) is 1234.567. Exact, unlike printf of a double. */
void cs_textbuf_decimal(struct cs_textbuf *b, int64_t v, int decimals);
/* A NUL-terminated view of the contents ("" if empty or out of memory). */
const char *cs_textbuf_cstr(struct cs_textbuf *b);

static inline void cs_textbuf_put(struct cs_textbuf *b, const void *s, size_t n)
{
    if (n == 0)
        return; /* s may be NULL then, and so may data: no memcpy of nothing */
    if (b->cap - b->len < n && cs_textbuf_grow(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static inline void cs_textbuf_putc(struct cs_textbuf *b, char c)
{
    if (b->cap == b->len && cs_textbuf_grow(b, 1) != 0)
        return;
    b->data[b->len++] = c;
}

static inline void cs_textbuf_puts(struct cs_textbuf *b, const char *s)
{
    cs_textbuf_put(b, s, strlen(s));
}

static inline void cs_textbuf_reset(struct cs_textbuf *b)
{
    b->len = 0;
    b->oom = 0;
}

#endif
