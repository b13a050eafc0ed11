/*
 * filter_fields.c — the table of a record filter's fields: for each, the
 * column it compares, the type its values must have, the operators it takes
 * and how to list the values a recording holds (for checks, suggestions and
 * completion). docs/filter.md documents the same fields for users.
 */
#include "query/filter_fields.h"

#include <string.h>

#include "query/call_rows.h"
#include "query/filter.h"

static const struct cs_filter_field FIELDS[] = {
    {"time", "c.start_ns", FT_TIME, OPS_EQ | OPS_ORDER, 0, NULL, 0, "a date and time"},
    {"tid", "t.tid", FT_INT, OPS_EQ | OPS_ORDER, 0, "SELECT DISTINCT tid AS v FROM threads", 0, "a thread id"},
    {"pid", "t.pid", FT_INT, OPS_EQ | OPS_ORDER, 0, "SELECT DISTINCT pid AS v FROM threads", 0, "a process id"},
    {"thread", "t.name", FT_TEXT, OPS_EQ, 0, "SELECT DISTINCT name AS v FROM threads WHERE name IS NOT NULL", 1,
     "a thread name"},
    {"module", "f.module", FT_TEXT, OPS_EQ, 0,
     "SELECT DISTINCT module AS v FROM functions WHERE module IS NOT NULL", 1, "a module"},
    {"func", "f.qualname", FT_TEXT, OPS_EQ, 0,
     "SELECT DISTINCT qualname AS v FROM functions WHERE qualname IS NOT NULL", 1, "a qualified name"},
    {"function", "f.name", FT_TEXT, OPS_EQ, 0, "SELECT DISTINCT name AS v FROM functions WHERE name IS NOT NULL",
     1, "a function"},
    {"file", "f.filename", FT_TEXT, OPS_EQ, 0,
     "SELECT DISTINCT filename AS v FROM functions WHERE filename IS NOT NULL", 1, "a file"},
    {"line", "f.lineno", FT_INT, OPS_EQ | OPS_ORDER, 0, NULL, 0, "a line number"},
    {"depth", "c.depth", FT_INT, OPS_EQ | OPS_ORDER, 0, NULL, 0, "a depth"},
    {"duration", "c.duration_ns", FT_MS, OPS_EQ | OPS_ORDER, 0, NULL, 0, "milliseconds"},
    {"arg", "a.key", FT_TEXT, OPS_EQ, 1,
     "SELECT DISTINCT j.value AS v FROM functions, json_each(functions.arg_names) j", 1, "an argument name"},
    {"value", "a.value", FT_REPR, OPS_EQ, 1,
     "SELECT DISTINCT a.value AS v FROM (SELECT args, function_id FROM call_rows"
     " WHERE args IS NOT NULL LIMIT 5000) s, cs_each(s.args, s.function_id) a",
     0, "an argument value"},
    /* (every type: ints, booleans and None are stored inline, the rest in
     * vals; no DISTINCT, so that finding one that exists stops early) */
    {"type", "a.type", FT_TEXT, OPS_EQ, 1,
     "SELECT 'int' AS v UNION ALL SELECT 'bool' UNION ALL SELECT 'NoneType'"
     " UNION ALL SELECT type FROM vals WHERE type IS NOT NULL",
     1, "a type name"},
    {"return", CS_RESULT_SQL, FT_REPR, OPS_EQ, 0,
     "SELECT DISTINCT " CS_RESULT_SQL " AS v FROM (SELECT result FROM call_rows c WHERE result IS NOT NULL LIMIT 5000) c", 0,
     "a return value"},
    {"exception", "c.exception", FT_TEXT, OPS_EQ, 0,
     "SELECT DISTINCT exception AS v FROM (SELECT exception FROM call_rows WHERE exception IS NOT NULL LIMIT 5000)", 0,
     "an exception"},
};
#define NFIELDS (sizeof FIELDS / sizeof *FIELDS)

const char *const cs_filter_field_names[] = {"time", "tid", "pid", "thread", "module", "func", "function", "file",
                                             "line", "depth", "duration", "arg", "value", "type", "return",
                                             "exception", NULL};

/* Completion offers the names and compilation finds fields in the table:
 * both lists must name the same fields. */
_Static_assert(sizeof cs_filter_field_names / sizeof *cs_filter_field_names == NFIELDS + 1,
               "cs_filter_field_names lists every field of FIELDS, and only those");

static const char *const OPS_ALL[] = {"==", "!=", "<", "<=", ">", ">=", NULL};
static const char *const OPS_EQ_ONLY[] = {"==", "!=", NULL};

const struct cs_filter_field *cs_filter_find_field(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(FIELDS[i].name, name) == 0)
            return &FIELDS[i];
    return NULL;
}

const char *const *cs_filter_field_ops(const char *name)
{
    const struct cs_filter_field *f = cs_filter_find_field(name);
    if (!f)
        return NULL;
    return f->ops & OPS_ORDER ? OPS_ALL : OPS_EQ_ONLY;
}

const char *cs_filter_field_values_sql(const char *name)
{
    const struct cs_filter_field *f = cs_filter_find_field(name);
    return f ? f->values_sql : NULL;
}

size_t cs_filter_field_count(void)
{
    return NFIELDS;
}
