/*
 * lexer.c — the tokenizer of the expression language.
 *
 * It recognises Python's literal syntax closely enough to refuse what the
 * language leaves out with a message that names it (f-strings, walrus,
 * '**', ';', '...', bitwise operators, displays) rather than a vague
 * "unexpected character".
 */
#include "expr/lexer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "util/hex.h"
#include "util/utf8.h"

int cs_tok_is(const struct cs_token *t, const char *text, const char *s)
{
    size_t n = strlen(s);
    return (t->kind == CS_TOK_NAME || t->kind == CS_TOK_OP) && t->len == n && memcmp(text + t->offset, s, n) == 0;
}

void cs_tokens_free(struct cs_tokens *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->items[i].str);
    free(t->items);
    t->items = NULL;
    t->n = 0;
}

static int is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_ident(int c)
{
    return is_ident_start(c) || is_digit(c);
}

static void put_utf8(char *out, size_t *n, unsigned cp)
{
    *n += cs_utf8_encode(cp, (unsigned char *)out + *n);
}

/* A quoted string starting at text[*pos] (the quote). Escapes as in Python;
 * an unknown escape keeps its backslash (so '100\%' stays 100\%). */
static int lex_string(const char *text, size_t *pos, int tolerant, struct cs_token *t, struct cs_expr_error *err)
{
    size_t i = *pos;
    char quote = text[i];
    if (text[i + 1] == quote && text[i + 2] == quote)
        return cs_expr_errorf(err, t->column, "triple-quoted strings are not supported");
    size_t cap = strlen(text + i) + 1;
    char *out = malloc(cap * 2 + 4); /* \u escapes never grow the text beyond 2x */
    if (!out)
        return cs_expr_errorf(err, t->column, "out of memory");
    size_t n = 0;
    i++;
    for (;;) {
        char c = text[i];
        if (c == '\0') {
            if (tolerant) {
                t->unterminated = 1;
                break;
            }
            free(out);
            return cs_expr_errorf(err, t->column, "this string has no closing %c", quote);
        }
        if (c == quote) {
            i++;
            break;
        }
        if (c != '\\') {
            out[n++] = c;
            i++;
            continue;
        }
        char e = text[i + 1];
        int col = cs_expr_column_of(text, i);
        i += 2;
        switch (e) {
        case '\\': out[n++] = '\\'; break;
        case '\'': out[n++] = '\''; break;
        case '"': out[n++] = '"'; break;
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case '0': out[n++] = '\0'; break;
        case 'a': out[n++] = '\a'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'v': out[n++] = '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            unsigned cp = 0;
            for (int d = 0; d < digits; d++) {
                int h = cs_hex_digit_value((unsigned char)text[i + (size_t)d]);
                if (h < 0) {
                    free(out);
                    return cs_expr_errorf(err, col, "\\%c needs %d hex digits", e, digits);
                }
                cp = cp * 16 + (unsigned)h;
            }
            i += (size_t)digits;
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                free(out);
                return cs_expr_errorf(err, col, "\\%c escape is not a valid character", e);
            }
            put_utf8(out, &n, cp);
            break;
        }
        case 'N':
            free(out);
            return cs_expr_errorf(err, col, "\\N{...} escapes are not supported");
        case '\0':
            if (tolerant) {
                out[n++] = '\\';
                i--;
                t->unterminated = 1;
                goto done;
            }
            free(out);
            return cs_expr_errorf(err, t->column, "this string has no closing %c", quote);
        default:
            out[n++] = '\\';
            out[n++] = e;
        }
    }
done:
    out[n] = '\0';
    t->kind = CS_TOK_STR;
    t->str = out;
    t->str_len = n;
    t->len = i - *pos;
    *pos = i;
    return 0;
}

static int lex_number(const char *text, size_t *pos, struct cs_token *t, struct cs_expr_error *err)
{
    size_t i = *pos;
    int is_float = 0;
    if (text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X' || text[i + 1] == 'o' || text[i + 1] == 'O' ||
                           text[i + 1] == 'b' || text[i + 1] == 'B')) {
        int base = text[i + 1] == 'x' || text[i + 1] == 'X' ? 16 : text[i + 1] == 'o' || text[i + 1] == 'O' ? 8 : 2;
        i += 2;
        size_t start = i;
        while (cs_hex_digit_value((unsigned char)text[i]) >= 0 && cs_hex_digit_value((unsigned char)text[i]) < base)
            i++;
        if (i == start || is_ident(text[i]))
            return cs_expr_errorf(err, t->column, "malformed number");
        errno = 0;
        unsigned long long v = strtoull(text + start, NULL, base);
        if (errno || v > INT64_MAX)
            return cs_expr_errorf(err, t->column, "integer too large (the limit is 2**63 - 1)");
        t->kind = CS_TOK_INT;
        t->ival = (int64_t)v;
    } else {
        while (is_digit(text[i]))
            i++;
        if (text[i] == '.' && text[i + 1] != '.') {
            is_float = 1;
            i++;
            while (is_digit(text[i]))
                i++;
        }
        if (text[i] == 'e' || text[i] == 'E') {
            size_t j = i + 1;
            if (text[j] == '+' || text[j] == '-')
                j++;
            if (is_digit(text[j])) {
                is_float = 1;
                i = j;
                while (is_digit(text[i]))
                    i++;
            }
        }
        if (text[i] == '_')
            return cs_expr_errorf(err, t->column, "underscores in numbers are not supported");
        if (text[i] == 'j' || text[i] == 'J')
            return cs_expr_errorf(err, t->column, "complex numbers are not supported");
        if (is_ident(text[i]))
            return cs_expr_errorf(err, t->column, "malformed number");
        char *end;
        errno = 0;
        if (is_float) {
            t->kind = CS_TOK_FLOAT;
            t->fval = strtod(text + *pos, &end);
            if (errno == ERANGE && (t->fval > 1 || t->fval < -1))
                return cs_expr_errorf(err, t->column, "number too large");
        } else {
            if (text[*pos] == '0' && i - *pos > 1)
                return cs_expr_errorf(err, t->column, "leading zeros in an integer are not allowed (use 0o for octal)");
            t->kind = CS_TOK_INT;
            long long v = strtoll(text + *pos, &end, 10);
            if (errno == ERANGE)
                return cs_expr_errorf(err, t->column, "integer too large (the limit is 2**63 - 1)");
            t->ival = v;
        }
    }
    t->len = i - *pos;
    *pos = i;
    return 0;
}

/* Operators the language refuses, with the reason; longest first. */
static const struct {
    const char *text, *why;
} REFUSED_OPS[] = {
    {"...", "'...' (Ellipsis) is not allowed"},
    {"**=", "assignment is not allowed"},
    {"//=", "assignment is not allowed"},
    {">>=", "assignment is not allowed"},
    {"<<=", "assignment is not allowed"},
    {":=", "':=' (assignment expression) is not allowed"},
    {"**", "'**' is not allowed (no power operator, no keyword unpacking)"},
    {"+=", "assignment is not allowed"},
    {"-=", "assignment is not allowed"},
    {"*=", "assignment is not allowed"},
    {"/=", "assignment is not allowed"},
    {"%=", "assignment is not allowed"},
    {"&=", "assignment is not allowed"},
    {"|=", "assignment is not allowed"},
    {"^=", "assignment is not allowed"},
    {"@=", "assignment is not allowed"},
    {"->", "'->' is not allowed"},
    {"<<", "bitwise operators are not supported ('<<')"},
    {">>", "bitwise operators are not supported ('>>')"},
    {"<>", "'<>' is not an operator; use '!='"},
    {";", "';' is not allowed: one expression, no statements"},
    {"@", "'@' is not allowed (no decorators, no matrix product)"},
    {"~", "bitwise operators are not supported ('~')"},
    {"&", "bitwise operators are not supported ('&'); use 'and'"},
    {"|", "bitwise operators are not supported ('|'); use 'or'"},
    {"^", "bitwise operators are not supported ('^')"},
    {"{", "dict and set displays ('{...}') are not allowed"},
    {"}", "dict and set displays ('{...}') are not allowed"},
    {"#", "comments are not allowed"},
    {"`", "'`' is not allowed"},
    {"$", "'$' is not allowed"},
    {"?", "'?' is not allowed"},
};

static const char *const OPS[] = {"==", "!=", "<=", ">=", "//", "<", ">", "+", "-", "*", "/", "%",
                                  "(", ")", "[", "]", ",", ".", ":", "="};

static int push(struct cs_tokens *out, size_t *cap, const struct cs_token *t)
{
    if (out->n == *cap) {
        struct cs_token *grown = cs_grow(out->items, cap, sizeof *grown, 16);
        if (!grown)
            return -1;
        out->items = grown;
    }
    out->items[out->n++] = *t;
    return 0;
}

static int is_string_prefix(const char *s, size_t n)
{
    static const char *const prefixes[] = {"f", "r", "b", "u", "rb", "br", "fr", "rf"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        if (strlen(prefixes[i]) != n)
            continue;
        size_t k = 0;
        while (k < n && (s[k] | 0x20) == prefixes[i][k])
            k++;
        if (k == n)
            return 1;
    }
    return 0;
}

static int lex_one(const char *text, size_t *pos, int tolerant, struct cs_token *t, struct cs_expr_error *err)
{
    size_t i = *pos;
    unsigned char c = (unsigned char)text[i];
    if (c == '\'' || c == '"')
        return lex_string(text, pos, tolerant, t, err);
    if (is_digit(c) || (c == '.' && is_digit(text[i + 1])))
        return lex_number(text, pos, t, err);
    if (is_ident_start(c)) {
        size_t j = i;
        while (is_ident(text[j]))
            j++;
        if ((text[j] == '\'' || text[j] == '"') && is_string_prefix(text + i, j - i)) {
            if (memchr(text + i, 'f', j - i) || memchr(text + i, 'F', j - i))
                return cs_expr_errorf(err, t->column, "f-strings are not allowed");
            return cs_expr_errorf(err, t->column, "string prefix '%.*s' is not supported", (int)(j - i), text + i);
        }
        t->kind = CS_TOK_NAME;
        t->len = j - i;
        *pos = j;
        return 0;
    }
    for (size_t k = 0; k < sizeof REFUSED_OPS / sizeof *REFUSED_OPS; k++) {
        size_t n = strlen(REFUSED_OPS[k].text);
        if (strncmp(text + i, REFUSED_OPS[k].text, n) == 0)
            return cs_expr_errorf(err, t->column, "%s", REFUSED_OPS[k].why);
    }
    for (size_t k = 0; k < sizeof OPS / sizeof *OPS; k++) {
        size_t n = strlen(OPS[k]);
        if (strncmp(text + i, OPS[k], n) == 0) {
            t->kind = CS_TOK_OP;
            t->len = n;
            *pos = i + n;
            return 0;
        }
    }
    if (c == '\\')
        return cs_expr_errorf(err, t->column, "'\\' outside a string is not allowed");
    if (c == '!')
        return cs_expr_errorf(err, t->column, "'!' is not an operator; use 'not' or '!='");
    if (c >= 0x80)
        return cs_expr_errorf(err, t->column, "unexpected non-ASCII character (names are ASCII; text goes in quotes)");
    return cs_expr_errorf(err, t->column, "unexpected character '%c'", c >= 0x20 && c < 0x7f ? c : '?');
}

int cs_lex(const char *text, int tolerant, struct cs_tokens *out, struct cs_expr_error *err)
{
    size_t cap = 0, pos = 0;
    out->items = NULL;
    out->n = 0;
    if (strlen(text) > CS_EXPR_MAX_LENGTH)
        return cs_expr_errorf(err, 0, "expression too long (the limit is %d characters)", CS_EXPR_MAX_LENGTH);
    for (;;) {
        while (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r')
            pos++;
        struct cs_token t;
        memset(&t, 0, sizeof t);
        t.offset = pos;
        t.column = cs_expr_column_of(text, pos);
        if (text[pos] == '\0') {
            t.kind = CS_TOK_END;
            if (push(out, &cap, &t) != 0)
                goto oom;
            return 0;
        }
        if (lex_one(text, &pos, tolerant, &t, err) != 0) {
            if (!tolerant) {
                cs_tokens_free(out);
                return -1;
            }
            /* completion: stop at what cannot be lexed */
            memset(&t, 0, sizeof t);
            t.kind = CS_TOK_END;
            t.offset = pos;
            t.column = cs_expr_column_of(text, pos);
            if (push(out, &cap, &t) != 0)
                goto oom;
            return 0;
        }
        if (push(out, &cap, &t) != 0) {
            free(t.str);
            goto oom;
        }
    }
oom:
    cs_tokens_free(out);
    return cs_expr_errorf(err, 0, "out of memory");
}
