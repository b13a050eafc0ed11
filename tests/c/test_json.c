/*
 * test_json.c — the text writers every JSON output goes through: strings
 * escaped for JSON (quotes, backslashes, control characters, long runs of
 * them that outgrow the first guess of room), exact decimals and integers.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "util/json.h"
#include "util/textbuf.h"

static const char *json_of(const char *s, size_t n)
{
    static struct cs_textbuf b;
    cs_textbuf_reset(&b);
    cs_textbuf_puts(&b, "x"); /* appends to what is there */
    cs_json_string(&b, s, n);
    return cs_textbuf_cstr(&b);
}

static void test_strings(void)
{
    CHECK_STR(json_of("", 0), "x\"\"");
    CHECK_STR(json_of("plain text", 10), "x\"plain text\"");
    CHECK_STR(json_of("a\"b\\c", 5), "x\"a\\\"b\\\\c\"");
    CHECK_STR(json_of("tab\there\nnew\rret", 16), "x\"tab\\there\\nnew\\rret\"");
    CHECK_STR(json_of("\x01\x1f", 2), "x\"\\u0001\\u001f\"");
    CHECK_STR(json_of("nul\0in", 6), "x\"nul\\u0000in\"");
    CHECK_STR(json_of("caf\xc3\xa9", 5), "x\"caf\xc3\xa9\""); /* UTF-8 as it is */

    /* every byte a six-byte escape: six times the input, well past the
     * room first made; and the same after a long plain start */
    for (size_t plain = 0; plain <= 3000; plain += 1500) {
        size_t n = plain + 2000;
        char *s = malloc(n), *want = malloc(plain + 6 * 2000 + 4);
        memset(s, 'a', plain);
        memset(s + plain, 1, 2000);
        char *w = want;
        *w++ = 'x';
        *w++ = '"';
        memset(w, 'a', plain);
        w += plain;
        for (int i = 0; i < 2000; i++, w += 6)
            memcpy(w, "\\u0001", 6);
        *w++ = '"';
        *w = 0;
        CHECK_STR(json_of(s, n), want);
        free(s);
        free(want);
    }
}

static const char *decimal_of(int64_t v, int decimals)
{
    static struct cs_textbuf b;
    cs_textbuf_reset(&b);
    cs_textbuf_decimal(&b, v, decimals);
    return cs_textbuf_cstr(&b);
}

static void test_decimals(void)
{
    CHECK_STR(decimal_of(1234567, 3), "1234.567");
    CHECK_STR(decimal_of(5, 6), "0.000005");
    CHECK_STR(decimal_of(0, 6), "0.000000");
    CHECK_STR(decimal_of(-1500, 3), "-1.500");
    CHECK_STR(decimal_of(1795527900123456, 6), "1795527900.123456");
    CHECK_STR(decimal_of(INT64_MAX, 6), "9223372036854.775807");
    CHECK_STR(decimal_of(INT64_MIN, 6), "-9223372036854.775808");
}

/* Integers as printf writes them, at every length and both ends. */
static void test_integers(void)
{
    struct cs_textbuf b = {0};
    char want[32];
    int bad = 0;
    int64_t edges[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX, -1, 0};
    for (int i = 0; i < 200000 + 5 + 2 * 18; i++) {
        int64_t v;
        if (i < 200000)
            v = i - 100000;
        else if (i < 200005)
            v = edges[i - 200000];
        else { /* 10^k - 1 and 10^k, where the digit count changes */
            int k = (i - 200005) / 2 + 1;
            v = 1;
            for (int j = 0; j < k; j++)
                v *= 10;
            v -= (i - 200005) % 2 == 0;
        }
        cs_textbuf_reset(&b);
        cs_textbuf_int(&b, v);
        snprintf(want, sizeof want, "%lld", (long long)v);
        bad += strcmp(cs_textbuf_cstr(&b), want) != 0;
    }
    CHECK_INT(bad, 0);
    cs_textbuf_free(&b);
}

/* What a live agent's answer must be before the client passes it on. */
static void test_checking_whole_texts(void)
{
    static const char *const good[] = {
        "{}", "[]", "{\"a\":[1,2.5,-3e+2,true,false,null,\"x\\n\\u00e9\"]}", " { \"k\" : { } } ", "0", "\"\"",
    };
    static const char *const bad[] = {
        "", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[1 2]", "{1:2}", "01", "1.", "-", "tru",
        "\"\\x\"", "\"\\u12g4\"", "\"a\nb\"", "{} {}", "[[[[", "\"unterminated",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK_INT(cs_json_check(good[i], strlen(good[i]), 64), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_INT(cs_json_check(bad[i], strlen(bad[i]), 64), -1);
    /* a NUL inside is not text */
    CHECK_INT(cs_json_check("\"a\0b\"", 5, 64), -1);
    CHECK_INT(cs_json_check("\"\\\0\"", 4, 64), -1);
    /* nesting beyond the limit is refused, without recursion */
    char deep[2000];
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    CHECK_INT(cs_json_check(deep, 2000, 64), -1);
    CHECK_INT(cs_json_check(deep + 1000 - 64, 128, 64), 0);
    CHECK_INT(cs_json_check(deep + 1000 - 65, 130, 64), -1);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    CHECK_RUN(test_strings());
    CHECK_RUN(test_decimals());
    CHECK_RUN(test_integers());
    CHECK_RUN(test_checking_whole_texts());
    return CHECK_REPORT("test_json");
}
