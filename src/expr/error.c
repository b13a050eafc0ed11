/*
 * error.c — how expression errors are reported: a message with the column
 * it is about, and the caret line drawn under the expression.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "expr/expr.h"

int cs_expr_errorf(struct cs_expr_error *err, int column, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    err->column = column;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

int cs_expr_column_of(const char *text, size_t offset)
{
    int column = 1;
    for (size_t i = 0; i < offset && text[i]; i++)
        if (((unsigned char)text[i] & 0xc0) != 0x80)
            column++;
    return column;
}

const char *cs_expr_op_name(enum cs_expr_op op)
{
    switch (op) {
    case CS_OP_ADD: return "+";
    case CS_OP_SUB: return "-";
    case CS_OP_MUL: return "*";
    case CS_OP_DIV: return "/";
    case CS_OP_FLOORDIV: return "//";
    case CS_OP_MOD: return "%";
    case CS_OP_EQ: return "==";
    case CS_OP_NE: return "!=";
    case CS_OP_LT: return "<";
    case CS_OP_LE: return "<=";
    case CS_OP_GT: return ">";
    case CS_OP_GE: return ">=";
    case CS_OP_IN: return "in";
    case CS_OP_NOT_IN: return "not in";
    case CS_OP_IS: return "is";
    case CS_OP_IS_NOT: return "is not";
    default: return "?";
    }
}

static void append(char *buf, size_t len, size_t *at, const char *s, size_t n)
{
    while (n-- && *at + 1 < len)
        buf[(*at)++] = *s++;
    buf[*at < len ? *at : len - 1] = '\0';
}

void cs_expr_caret(const char *text, int column, const char *indent, char *buf, size_t len)
{
    size_t at = 0;
    if (!len)
        return;
    buf[0] = '\0';
    append(buf, len, &at, indent, strlen(indent));
    for (const char *p = text; *p; p++) {
        char c = (unsigned char)*p < 0x20 ? ' ' : *p; /* one column per character */
        append(buf, len, &at, &c, 1);
    }
    append(buf, len, &at, "\n", 1);
    append(buf, len, &at, indent, strlen(indent));
    for (int i = 1; i < column; i++)
        append(buf, len, &at, " ", 1);
    append(buf, len, &at, "^\n", 2);
}
