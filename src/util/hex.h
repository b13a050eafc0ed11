/*
 * hex.h — the value of one hexadecimal digit, for the escapes the JSON
 * reader (\uXXXX) and the expression lexer (\xNN, \uXXXX, 0x...) read.
 */
#ifndef CALLSCOPE_UTIL_HEX_H
#define CALLSCOPE_UTIL_HEX_H

/* 0 to 15 for 0-9, a-f and A-F; -1 for anything else. */
static inline int cs_hex_digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
