/*
 * utf8.h — encoding one code point as UTF-8: the value encoder (capture),
 * the expression lexer's \u escapes and the JSON reader's share it.
 * Inline, because the value encoder runs on the traced program's calls.
 */
#ifndef CALLSCOPE_UTIL_UTF8_H
#define CALLSCOPE_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The longest encoding of a code point. */
#define CS_UTF8_MAX 4

/* Writes cp (at most U+10FFFF; callers decide what a lone surrogate
 * becomes) as 1 to 4 bytes at out, and returns how many. */
static inline size_t cs_utf8_encode(uint32_t cp, unsigned char out[CS_UTF8_MAX])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

#endif
