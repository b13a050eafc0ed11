/*
 * filter_fields.h — the fields a record filter can name, shared by the
 * filter's own files (filter_fields.c holds the table; filter_compile.c and
 * filter_suggest.c read it). Not for use outside src/query/filter_*.c: the
 * public side is filter.h.
 */
#ifndef CALLSCOPE_QUERY_FILTER_FIELDS_H
#define CALLSCOPE_QUERY_FILTER_FIELDS_H

#include <stddef.h>

/* What a field's values are, which decides how a literal compiles. */
enum field_type {
    FT_TEXT,   /* GLOB patterns with % and _ */
    FT_INT,    /* a number */
    FT_MS,     /* milliseconds, stored as ns */
    FT_TIME,   /* a local date and time, compared with the call's start */
    FT_REPR,   /* text holding a Python repr: numbers, True/False/None become their repr */
};

/* The operators a field takes: OPS_EQ for == and !=, OPS_ORDER for the rest. */
#define OPS_EQ (1u << 0)
#define OPS_ORDER (1u << 1)

struct cs_filter_field {
    const char *name;
    const char *column;
    enum field_type type;
    unsigned ops;
    int per_arg;            /* a column of cs_each(...) a, one row per argument */
    const char *values_sql; /* existing values, one column v */
    int check_values;       /* '==' on a value that exists nowhere is an error */
    const char *what;       /* for messages: "a module name" */
};

/* The field named `name`, or NULL. */
const struct cs_filter_field *cs_filter_find_field(const char *name);

/* How many fields there are (cs_filter_field_names without its NULL). */
size_t cs_filter_field_count(void);

#endif
