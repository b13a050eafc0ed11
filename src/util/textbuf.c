/*
 * textbuf.c — growable text buffer (see textbuf.h).
 */
#include "util/textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int cs_textbuf_grow(struct cs_textbuf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n + 1) { /* +1: room for cs_textbuf_cstr's NUL */
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void cs_textbuf_free(struct cs_textbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void cs_textbuf_printf(struct cs_textbuf *b, const char *fmt, ...)
{
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        cs_textbuf_put(b, small, (size_t)n);
        return;
    }
    if (cs_textbuf_grow(b, (size_t)n + 1) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Digits of u in decimal, without a division per digit: from its bit
 * length, log10(2) ~ 1233 / 4096 gives the count or one less. */
static size_t decimal_digits(uint64_t u)
{
    static const uint64_t powers[20] = {
        1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
        1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
        100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
        1000000000000000000ull, 10000000000000000000ull};
    /* u | 1: 0 has one digit too; the powers compared with from 10 on are
     * even, so the low bit never decides */
    unsigned bits = 64 - (unsigned)__builtin_clzll(u | 1);
    unsigned guess = (bits * 1233) >> 12; /* the count or one less; at most 19 */
    return guess + ((u | 1) >= powers[guess]);
}

size_t cs_int_text(int64_t v, char out[CS_INT_TEXT_MAX])
{
    /* Two digits per division, written from the end once the length is
     * known: most ints written are ids and positions of four to seven
     * digits, several per call. */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    /* Negate as unsigned so INT64_MIN works. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = (v < 0) + decimal_digits(u);
    char *p = out + n;
    while (u >= 100) {
        unsigned k = (unsigned)(u % 100) * 2;
        u /= 100;
        *--p = pairs[k + 1];
        *--p = pairs[k];
    }
    if (u >= 10) {
        *--p = pairs[u * 2 + 1];
        *--p = pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    return n;
}

void cs_textbuf_int(struct cs_textbuf *b, int64_t v)
{
    if (b->cap - b->len < CS_INT_TEXT_MAX && cs_textbuf_grow(b, CS_INT_TEXT_MAX) != 0)
        return;
    b->len += cs_int_text(v, b->data + b->len);
}

void cs_textbuf_decimal(struct cs_textbuf *b, int64_t v, int decimals)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v, scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (v < 0)
        cs_textbuf_putc(b, '-');
    cs_textbuf_int(b, (int64_t)(u / scale));
    char frac[24];
    uint64_t rest = u % scale;
    frac[0] = '.';
    for (int i = decimals; i > 0; i--, rest /= 10)
        frac[i] = (char)('0' + rest % 10);
    cs_textbuf_put(b, frac, (size_t)decimals + 1);
}

const char *cs_textbuf_cstr(struct cs_textbuf *b)
{
    if (b->oom || cs_textbuf_grow(b, 1) != 0)
        return "";
    b->data[b->len] = '\0';
    return b->data;
}
