/*
 * filter_complete.c — completion of a record filter being typed (for the
 * viewer): at a condition's start the field names, after a field its
 * operators, after an operator the values the recording holds, after a
 * value 'and' and 'or'.
 */
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "expr/lexer.h"
#include "query/common.h"
#include "query/filter.h"

#define MAX_VALUES 50

static int add(struct cs_completion *c, size_t *cap, const char *s, size_t n)
{
    if (c->n == *cap) {
        char **grown = cs_grow(c->items, cap, sizeof *grown, 16);
        if (!grown)
            return -1;
        c->items = grown;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    c->items[c->n++] = copy;
    return 0;
}

static int add_matching(struct cs_completion *c, size_t *cap, const char *const *words, const char *prefix,
                        size_t plen)
{
    for (size_t i = 0; words[i]; i++)
        if (strncmp(words[i], prefix, plen) == 0 && add(c, cap, words[i], strlen(words[i])) != 0)
            return -1;
    return 0;
}

/* 'value' quoted as a string literal of the language. */
static int add_quoted(struct cs_completion *c, size_t *cap, const char *v)
{
    struct cs_textbuf b = {0};
    cs_textbuf_putc(&b, '\'');
    for (const char *p = v; *p; p++) {
        if (*p == '\'' || *p == '\\')
            cs_textbuf_putc(&b, '\\');
        cs_textbuf_putc(&b, *p);
    }
    cs_textbuf_putc(&b, '\'');
    int rc = b.oom ? -1 : add(c, cap, b.data, b.len);
    cs_textbuf_free(&b);
    return rc;
}

static int add_values(sqlite3 *db, struct cs_completion *c, size_t *cap, const char *field, const char *prefix,
                      size_t plen)
{
    const char *values = cs_filter_field_values_sql(field);
    if (!db || !values)
        return 0;
    struct cs_textbuf sql = {0};
    cs_textbuf_printf(&sql, "SELECT v FROM (%s) WHERE substr(v, 1, ?1) = ?2 ORDER BY v LIMIT %d", values,
                      MAX_VALUES);
    sqlite3_stmt *st;
    int rc = 0;
    if (sqlite3_prepare_v2(db, cs_textbuf_cstr(&sql), -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)plen);
        sqlite3_bind_text(st, 2, prefix, (int)plen, SQLITE_TRANSIENT);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            if (sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
                char num[32];
                snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(st, 0));
                rc = add(c, cap, num, strlen(num));
            } else if (cs_col_text(st, 0)) {
                rc = add_quoted(c, cap, cs_col_text(st, 0));
            }
        }
        sqlite3_finalize(st);
    }
    cs_textbuf_free(&sql);
    return rc;
}

static int is_field(const char *text, const struct cs_token *t)
{
    if (t->kind != CS_TOK_NAME)
        return 0;
    for (size_t i = 0; cs_filter_field_names[i]; i++)
        if (cs_tok_is(t, text, cs_filter_field_names[i]))
            return 1;
    return 0;
}

static int starts_condition(const char *text, const struct cs_token *t)
{
    return !t || cs_tok_is(t, text, "(") || cs_tok_is(t, text, "and") || cs_tok_is(t, text, "or") ||
           cs_tok_is(t, text, "not");
}

static int is_compare_op(const char *text, const struct cs_token *t)
{
    static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
    for (size_t i = 0; i < 6; i++)
        if (cs_tok_is(t, text, ops[i]))
            return 1;
    return 0;
}

static int ends_value(const struct cs_token *t, const char *text)
{
    return t->kind == CS_TOK_STR || t->kind == CS_TOK_INT || t->kind == CS_TOK_FLOAT || cs_tok_is(t, text, ")") ||
           cs_tok_is(t, text, "True") || cs_tok_is(t, text, "False") || cs_tok_is(t, text, "None");
}

static char *field_name(const char *text, const struct cs_token *t)
{
    return strndup(text + t->offset, t->len);
}

int cs_filter_complete(sqlite3 *db, const char *text, size_t cursor, struct cs_completion *out)
{
    static const char *const joiners[] = {"and", "or", NULL};
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    if (cursor > len)
        cursor = len;
    char *head = strndup(text, cursor);
    if (!head)
        return -1;
    struct cs_tokens toks;
    struct cs_expr_error err;
    if (cs_lex(head, 1, &toks, &err) != 0) {
        free(head);
        return 0; /* nothing sensible to offer */
    }
    size_t cap = 0, n = toks.n - 1; /* tokens before END */
    int rc = 0;
    const struct cs_token *last = n ? &toks.items[n - 1] : NULL;
    /* the word being typed: a name or an open string touching the cursor */
    int partial = last && last->offset + last->len == cursor &&
                  (last->kind == CS_TOK_NAME || (last->kind == CS_TOK_STR && last->unterminated) ||
                   (last->kind == CS_TOK_OP && !cs_tok_is(last, head, "(") && !cs_tok_is(last, head, ")")));
    const struct cs_token *before = partial ? (n >= 2 ? &toks.items[n - 2] : NULL) : last;
    const struct cs_token *before2 = partial ? (n >= 3 ? &toks.items[n - 3] : NULL) : (n >= 2 ? &toks.items[n - 2] : NULL);
    out->from = partial ? last->offset : cursor;
    const char *prefix = partial ? head + last->offset : "";
    size_t plen = partial ? last->len : 0;

    if (partial && last->kind == CS_TOK_STR) {
        /* a value being typed after "field op" */
        if (before && is_compare_op(head, before) && before2 && is_field(head, before2)) {
            char *field = field_name(head, before2);
            rc = field ? add_values(db, out, &cap, field, last->str, last->str_len) : -1;
            free(field);
        }
    } else if (partial && last->kind == CS_TOK_OP) {
        /* an operator being typed after a field */
        if (before && is_field(head, before)) {
            char *field = field_name(head, before);
            rc = field ? add_matching(out, &cap, cs_filter_field_ops(field), prefix, plen) : -1;
            free(field);
        }
    } else if (starts_condition(head, before)) {
        rc = add_matching(out, &cap, cs_filter_field_names, prefix, plen);
    } else if (is_field(head, before) && !partial) {
        char *field = field_name(head, before);
        rc = field ? add_matching(out, &cap, cs_filter_field_ops(field), "", 0) : -1;
        free(field);
    } else if (is_compare_op(head, before) && !partial) {
        if (before2 && is_field(head, before2)) {
            char *field = field_name(head, before2);
            rc = field ? add_values(db, out, &cap, field, "", 0) : -1;
            free(field);
        }
    } else if (ends_value(before, head)) {
        rc = add_matching(out, &cap, joiners, prefix, plen);
    }
    cs_tokens_free(&toks);
    free(head);
    if (rc != 0)
        cs_completion_free(out);
    return rc;
}

void cs_completion_free(struct cs_completion *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i]);
    free(c->items);
    memset(c, 0, sizeof *c);
}
