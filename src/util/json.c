/*
 * json.c — JSON string writing and flat-object reading (see json.h).
 */
#include "util/json.h"

#include <string.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hex.h"
#include "util/utf8.h"

/* 1 for the bytes a JSON string cannot hold as they are. */
static const unsigned char NEEDS_ESCAPE[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1,
};

void cs_json_string(struct cs_textbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Room for the common case, where each byte takes at most two; the
     * six-byte escapes of control characters make more room as they come. */
    if (cs_textbuf_grow(b, 2 * n + 2) != 0)
        return;
    char *o = b->data + b->len, *limit = b->data + b->cap;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!NEEDS_ESCAPE[c]) {
            *o++ = (char)c;
            continue;
        }
        if (limit - o < 8 + 2 * (ptrdiff_t)(n - i)) {
            b->len = (size_t)(o - b->data);
            if (cs_textbuf_grow(b, 6 * (n - i) + 8) != 0)
                return;
            o = b->data + b->len;
            limit = b->data + b->cap;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}

void cs_json_iter_init(struct cs_json_iter *it, const char *text, size_t n)
{
    it->p = text;
    it->end = text + n;
    it->started = 0;
}

static void skip_space(struct cs_json_iter *it)
{
    while (it->p < it->end && (*it->p == ' ' || *it->p == '\n' || *it->p == '\t' || *it->p == '\r'))
        it->p++;
}

static void put_utf8(struct cs_textbuf *out, uint32_t cp)
{
    unsigned char u[CS_UTF8_MAX];
    size_t n = cs_utf8_encode(cp, u);
    cs_textbuf_put(out, (const char *)u, n);
}

/* Reads a \uXXXX escape's four digits (the "\u" already consumed). */
static int read_hex4(struct cs_json_iter *it, uint32_t *cp)
{
    if (it->end - it->p < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = cs_hex_digit_value((unsigned char)it->p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    it->p += 4;
    *cp = v;
    return 0;
}

static int read_escape(struct cs_json_iter *it, struct cs_textbuf *out)
{
    if (it->p >= it->end)
        return -1;
    char c = *it->p++;
    switch (c) {
    case '"': case '\\': case '/': cs_textbuf_putc(out, c); return 0;
    case 'n': cs_textbuf_putc(out, '\n'); return 0;
    case 'r': cs_textbuf_putc(out, '\r'); return 0;
    case 't': cs_textbuf_putc(out, '\t'); return 0;
    case 'b': cs_textbuf_putc(out, '\b'); return 0;
    case 'f': cs_textbuf_putc(out, '\f'); return 0;
    case 'u': {
        uint32_t cp;
        if (read_hex4(it, &cp) != 0)
            return -1;
        /* A surrogate pair is two escapes; a lone half becomes U+FFFD. */
        if (cp >= 0xd800 && cp < 0xdc00 && it->end - it->p >= 6 && it->p[0] == '\\' &&
            it->p[1] == 'u') {
            struct cs_json_iter save = *it;
            uint32_t lo;
            it->p += 2;
            if (read_hex4(it, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000)
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            else
                *it = save;
        }
        if (cp >= 0xd800 && cp < 0xe000)
            cp = 0xfffd;
        put_utf8(out, cp);
        return 0;
    }
    default:
        return -1;
    }
}

static int read_string(struct cs_json_iter *it, struct cs_textbuf *out)
{
    if (it->p >= it->end || *it->p != '"')
        return -1;
    it->p++;
    while (it->p < it->end) {
        char c = *it->p++;
        if (c == '"')
            return 0;
        if (c != '\\')
            cs_textbuf_putc(out, c);
        else if (read_escape(it, out) != 0)
            return -1;
    }
    return -1;
}

/* A bare scalar (number, true, false, null): copied as its text. */
static int read_scalar(struct cs_json_iter *it, struct cs_textbuf *out)
{
    const char *start = it->p;
    while (it->p < it->end && *it->p != ',' && *it->p != '}' && *it->p != ' ' && *it->p != '\n')
        it->p++;
    if (it->p == start || *start == '{' || *start == '[')
        return -1;
    cs_textbuf_put(out, start, (size_t)(it->p - start));
    return 0;
}

int cs_json_iter_next(struct cs_json_iter *it, struct cs_textbuf *key, struct cs_textbuf *value)
{
    cs_textbuf_reset(key);
    cs_textbuf_reset(value);
    skip_space(it);
    if (!it->started) {
        if (it->p >= it->end || *it->p != '{')
            return -1;
        it->p++;
        it->started = 1;
        skip_space(it);
        if (it->p < it->end && *it->p == '}') {
            it->p++;
            return 0;
        }
    } else {
        if (it->p >= it->end)
            return -1;
        if (*it->p == '}') {
            it->p++;
            return 0;
        }
        if (*it->p != ',')
            return -1;
        it->p++;
        skip_space(it);
    }
    if (read_string(it, key) != 0)
        return -1;
    skip_space(it);
    if (it->p >= it->end || *it->p != ':')
        return -1;
    it->p++;
    skip_space(it);
    int rc = it->p < it->end && *it->p == '"' ? read_string(it, value) : read_scalar(it, value);
    if (rc != 0)
        return -1;
    skip_space(it);
    if (it->p >= it->end || (*it->p != ',' && *it->p != '}'))
        return -1;
    return 1;
}

/* ---- checking a whole JSON text ---- */

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *check_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            if (*p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (++p >= end || !*p || !strchr("0123456789abcdefABCDEF", *p))
                        return NULL;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return NULL;
}

static const char *check_number(const char *p, const char *end)
{
    const char *start = p;
    if (p < end && *p == '-')
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    if (p < end && *p == '.') {
        if (++p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    return p > start ? p : NULL;
}

int cs_json_check(const char *text, size_t n, int max_depth)
{
    /* Iterative: a stack of open containers, one char each ('{' or '['). */
    char open[256];
    if (max_depth > (int)sizeof open)
        max_depth = (int)sizeof open;
    int depth = 0;
    const char *p = text, *end = text + n;
    for (;;) {
        /* a value */
        p = skip_blanks(p, end);
        if (p >= end)
            return -1;
        if (*p == '{' || *p == '[') {
            if (depth == max_depth)
                return -1;
            open[depth++] = *p++;
            p = skip_blanks(p, end);
            if (p < end && *p == (open[depth - 1] == '{' ? '}' : ']')) {
                p++;
                depth--;
                goto after_value;
            }
            if (open[depth - 1] == '{') {
                if (!(p = check_string(p, end)) || (p = skip_blanks(p, end)) >= end || *p++ != ':')
                    return -1;
            }
            continue;
        }
        if (*p == '"')
            p = check_string(p, end);
        else if (*p == '-' || (*p >= '0' && *p <= '9'))
            p = check_number(p, end);
        else if (end - p >= 4 && (!memcmp(p, "true", 4) || !memcmp(p, "null", 4)))
            p += 4;
        else if (end - p >= 5 && !memcmp(p, "false", 5))
            p += 5;
        else
            return -1;
        if (!p)
            return -1;
    after_value:
        /* what may follow a value: the end, a comma, or a closing bracket */
        for (;;) {
            p = skip_blanks(p, end);
            if (depth == 0)
                return p == end ? 0 : -1;
            if (p >= end)
                return -1;
            char close = open[depth - 1] == '{' ? '}' : ']';
            if (*p == close) {
                p++;
                depth--;
                continue;
            }
            if (*p++ != ',')
                return -1;
            if (open[depth - 1] == '{') {
                p = skip_blanks(p, end);
                if (!(p = check_string(p, end)) || (p = skip_blanks(p, end)) >= end || *p++ != ':')
                    return -1;
            }
            break;
        }
    }
}
