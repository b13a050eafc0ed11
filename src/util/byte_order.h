/*
 * byte_order.h — words read from bytes as little-endian on every machine:
 * what a file holds means the same everywhere, and a scan of eight bytes
 * at a time finds byte i at bits 8i to 8i + 7.
 */
#ifndef CALLSCOPE_UTIL_BYTE_ORDER_H
#define CALLSCOPE_UTIL_BYTE_ORDER_H

#include <stdint.h>

static inline uint64_t cs_le64(uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(w);
#else
    return w;
#endif
}

static inline uint32_t cs_le32(uint32_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap32(w);
#else
    return w;
#endif
}

#endif
