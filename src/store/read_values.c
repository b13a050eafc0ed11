/*
 * read_values.c — cs_val() and cs_args() for readers (see read_values.h).
 *
 * Both look values up through a direct-mapped cache of vals rows: readers
 * walk calls in id order, and values were given ids as they were first
 * met, so neighbouring calls mostly share the few values they refer to.
 */
#include "store/read_values.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/textbuf.h"

#define VAL_SLOTS (1u << 16)
#define MAX_FUNCTIONS (1u << 20) /* argument names cached for ids below this */
/* vals rows read at once, from the one wanted on: at first a few, more
 * while the reader goes on where the last read ended */
#define READ_AHEAD_MIN 32
#define READ_AHEAD_MAX 4096

struct cached_val {
    int64_t id; /* 0: empty */
    char *text; /* the text, then (after its NUL) the type name */
    size_t len;
    const char *type; /* NULL: not known */
};

/* A function's arg_names, each element kept as its JSON string text. */
struct arg_names {
    int loaded;
    char *json; /* the elements, back to back */
    uint32_t *end;
    uint32_t n;
};

struct read_values {
    sqlite3 *db;
    sqlite3_stmt *val, *names;
    struct cached_val vals[VAL_SLOTS];
    int broken;               /* vals could not be read */
    int64_t read_to;          /* the last id the last read of vals covered */
    int64_t read_ahead;       /* how many ids the next read covers */
    struct arg_names *functions;
    size_t nfunctions;
    struct cs_textbuf out;
};

static void destroy(void *p)
{
    /* The statements are finalized by cs_store_close_readonly, with every
     * other statement left on the connection, before it closes. */
    struct read_values *rv = p;
    if (!rv)
        return;
    for (size_t i = 0; i < VAL_SLOTS; i++)
        free(rv->vals[i].text);
    for (size_t i = 0; i < rv->nfunctions; i++) {
        free(rv->functions[i].json);
        free(rv->functions[i].end);
    }
    free(rv->functions);
    cs_textbuf_free(&rv->out);
    free(rv);
}

/* Caches the vals row `val` is on. */
static const struct cached_val *cache_row(struct read_values *rv)
{
    int64_t id = sqlite3_column_int64(rv->val, 0);
    const char *t = (const char *)sqlite3_column_text(rv->val, 1);
    size_t n = (size_t)sqlite3_column_bytes(rv->val, 1);
    const char *type = (const char *)sqlite3_column_text(rv->val, 2);
    size_t type_n = type ? (size_t)sqlite3_column_bytes(rv->val, 2) : 0;
    struct cached_val *c = &rv->vals[(uint64_t)id & (VAL_SLOTS - 1)];
    char *copy = malloc(n + type_n + 2);
    if (!copy)
        return NULL;
    memcpy(copy, t ? t : "", n);
    copy[n] = 0;
    if (type)
        memcpy(copy + n + 1, type, type_n);
    copy[n + 1 + type_n] = 0;
    free(c->text);
    *c = (struct cached_val){id, copy, n, type ? copy + n + 1 : NULL};
    return c;
}

/* The text of vals row id, or NULL (no such row, or out of memory).
 * Values get ids in the order the program first passed them, so readers
 * walking calls in id order mostly want the next few vals rows: a value
 * not in the cache brings the rows after it along, in one read of up to
 * READ_AHEAD_MAX ids (fewer than the cache's slots, so none of them
 * pushes out another); a reader that keeps going on from where the last
 * read ended gets longer reads, one that jumps about short ones.
 *
 * The statement is reset before this returns, never left part-way through
 * vals: a statement still running keeps its connection's read transaction
 * open, so a reader of a recording still being written would not see
 * what was written since, and the connection could not change its SQL
 * functions (the next scan's cs_scan_row: "unable to delete/modify
 * user-function due to active statements"). */
static const struct cached_val *lookup_val(struct read_values *rv, int64_t id)
{
    struct cached_val *c = &rv->vals[(uint64_t)id & (VAL_SLOTS - 1)];
    if (c->id == id && id)
        return c;
    if (!rv->val && (rv->broken || sqlite3_prepare_v2(rv->db, "SELECT id, text, type FROM vals WHERE id >= ?1 ORDER BY id",
                                                       -1, &rv->val, NULL) != SQLITE_OK)) {
        rv->broken = 1; /* not a table this reader knows: values read as NULL, once */
        return NULL;
    }
    int goes_on = id > rv->read_to && (uint64_t)id - (uint64_t)rv->read_to <= (uint64_t)rv->read_ahead;
    rv->read_ahead = !goes_on ? READ_AHEAD_MIN : rv->read_ahead < READ_AHEAD_MAX ? 2 * rv->read_ahead : READ_AHEAD_MAX;
    rv->read_to = id > INT64_MAX - rv->read_ahead ? INT64_MAX : id + rv->read_ahead - 1;
    sqlite3_bind_int64(rv->val, 1, id);
    const struct cached_val *found = NULL;
    /* the bound is checked here: in SQL it costs more per row */
    while (sqlite3_step(rv->val) == SQLITE_ROW && sqlite3_column_int64(rv->val, 0) <= rv->read_to) {
        const struct cached_val *got = cache_row(rv);
        if (!got)
            break;
        if (got->id == id)
            found = got;
    }
    sqlite3_reset(rv->val);
    return found;
}

/* Bytes that may stand in a JSON string as they are. */
static int plain_json_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '\\' || s[i] == '"')
            return 0;
    return 1;
}

/* Splits a JSON array of strings into its elements' texts, each a JSON
 * string ready to print as a key: as stored when it is plain text (a
 * Python identifier always is), else its bytes encoded again, so cs_args()
 * prints valid JSON whatever the file holds. 0 or -1. */
static int split_names(const char *s, size_t len, struct arg_names *a)
{
    const char *p = s, *end = s + len;
    struct cs_textbuf out = {0};
    a->end = malloc((len / 2 + 1) * sizeof *a->end);
    if (!a->end)
        return -1;
    while (p < end && *p != '[')
        p++;
    int rc = -1;
    for (p += p < end; p < end;) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p >= end || *p == ']') {
            rc = 0;
            break;
        }
        if (*p != '"')
            break;
        const char *q = p + 1;
        while (q < end && *q != '"')
            q += *q == '\\' ? 2 : 1;
        if (q >= end)
            break;
        if (plain_json_text(p + 1, (size_t)(q - p - 1)))
            cs_textbuf_put(&out, p, (size_t)(q + 1 - p));
        else
            cs_json_string(&out, p + 1, (size_t)(q - p - 1));
        a->end[a->n++] = (uint32_t)out.len;
        p = q + 1;
    }
    a->json = out.data;
    return out.oom ? -1 : rc;
}

static const struct arg_names *lookup_names(struct read_values *rv, int64_t function_id)
{
    if (function_id < 0 || (uint64_t)function_id >= MAX_FUNCTIONS)
        return NULL;
    if ((size_t)function_id >= rv->nfunctions) {
        size_t n = rv->nfunctions ? rv->nfunctions : 256;
        while (n <= (size_t)function_id)
            n *= 2;
        struct arg_names *grown = realloc(rv->functions, n * sizeof *grown);
        if (!grown)
            return NULL;
        memset(grown + rv->nfunctions, 0, (n - rv->nfunctions) * sizeof *grown);
        rv->functions = grown;
        rv->nfunctions = n;
    }
    struct arg_names *a = &rv->functions[function_id];
    if (a->loaded)
        return a;
    if (!rv->names &&
        sqlite3_prepare_v2(rv->db, "SELECT arg_names FROM functions WHERE id = ?", -1, &rv->names, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(rv->names, 1, function_id);
    int ok = 0;
    if (sqlite3_step(rv->names) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(rv->names, 0);
        ok = split_names(t ? t : "[]", (size_t)sqlite3_column_bytes(rv->names, 0), a) == 0;
    }
    sqlite3_reset(rv->names);
    if (!ok) {
        free(a->json);
        free(a->end);
        *a = (struct arg_names){0};
        return NULL;
    }
    a->loaded = 1;
    return a;
}

static void sql_val(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER) {
        sqlite3_result_value(ctx, argv[0]); /* inline text, or NULL */
        return;
    }
    const struct cached_val *v = lookup_val(sqlite3_user_data(ctx), sqlite3_value_int64(argv[0]));
    if (v)
        sqlite3_result_text(ctx, v->text, (int)v->len, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
}

/* One element of a call_rows.args array: a value stored inline (its
 * JSON string, quotes included, in json/len) or the id of its vals row. */
struct arg_elem {
    const char *json; /* NULL: the element is an id */
    size_t len;
    int64_t id;
};

/* Reads the element at *p and moves past it: 1, or 0 at the end of the
 * array (or where it is malformed: what came before is still shown). */
static int next_elem(const char **p, struct arg_elem *e)
{
    const char *s = *p;
    while (*s == '[' || *s == ',' || *s == ' ')
        s++;
    if (!*s || *s == ']')
        return 0;
    if (*s == '"') {
        const char *q = s + 1;
        while (*q && *q != '"')
            q += q[1] && *q == '\\' ? 2 : 1;
        if (!*q)
            return 0;
        *e = (struct arg_elem){s, (size_t)(q + 1 - s), 0};
        *p = q + 1;
        return 1;
    }
    int64_t id = 0;
    while (*s >= '0' && *s <= '9')
        id = id * 10 + (*s++ - '0');
    while (*s && *s != ',' && *s != ']')
        s++; /* anything unexpected: on to the next element */
    *e = (struct arg_elem){NULL, 0, id};
    *p = s;
    return 1;
}

/* The type of a value stored inline: only ints, None and booleans are. */
static const char *inline_type(const char *json_string, size_t n)
{
    if (n == 6 && memcmp(json_string, "\"None\"", 6) == 0)
        return "NoneType";
    if ((n == 6 && memcmp(json_string, "\"True\"", 6) == 0) || (n == 7 && memcmp(json_string, "\"False\"", 7) == 0))
        return "bool";
    return "int";
}

/* The type a repr text shows, for a result stored inline (its type is
 * not stored with it): None, booleans, numbers, strings, bytes, lists,
 * tuples and the default repr of an object, `<module.Class object at
 * 0x...>`; NULL for anything else. */
static const char *repr_type(const char *t, char *buf, size_t size)
{
    size_t n = strlen(t);
    if (strcmp(t, "None") == 0)
        return "NoneType";
    if (strcmp(t, "True") == 0 || strcmp(t, "False") == 0)
        return "bool";
    if (t[0] == '\'' || t[0] == '"')
        return "str";
    if (t[0] == 'b' && (t[1] == '\'' || t[1] == '"'))
        return "bytes";
    if (t[0] == '[' && t[n - 1] == ']')
        return "list";
    if (t[0] == '(' && t[n - 1] == ')')
        return "tuple";
    const char *d = t + (t[0] == '-');
    if (*d && strspn(d, "0123456789") == strlen(d))
        return "int";
    if (*d && strspn(d, "0123456789.e+-") == strlen(d) && strpbrk(d, ".e") && (d[0] >= '0' && d[0] <= '9'))
        return "float";
    if (strcmp(d, "inf") == 0 || strcmp(t, "nan") == 0)
        return "float";
    const char *at = strstr(t, " object at 0x");
    if (t[0] == '<' && at && t[n - 1] == '>' && (size_t)(at - t - 1) < size && !memchr(t + 1, ' ', (size_t)(at - t - 1))) {
        memcpy(buf, t + 1, (size_t)(at - t - 1));
        buf[at - t - 1] = '\0';
        return buf;
    }
    return NULL;
}

/* cs_val_type(x): the type of a value given as cs_val takes it, a vals id
 * or the text of an inline value; NULL when unknown. */
static void sql_val_type(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_INTEGER) {
        const struct cached_val *v = lookup_val(sqlite3_user_data(ctx), sqlite3_value_int64(argv[0]));
        if (v && v->type)
            sqlite3_result_text(ctx, v->type, -1, SQLITE_TRANSIENT);
        else
            sqlite3_result_null(ctx);
        return;
    }
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    if (!text) {
        sqlite3_result_null(ctx);
        return;
    }
    char buf[256];
    const char *type = *text ? repr_type(text, buf, sizeof buf) : NULL;
    if (type)
        sqlite3_result_text(ctx, type, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
}

/* What sql_args_object() makes of call_rows.args with the function's
 * argument names. */
enum args_form {
    ARGS_JSON,  /* the JSON object name -> value text */
    ARGS_TYPES, /* the JSON object name -> type name */
    ARGS_TEXT,  /* name=value, name=value: what `show` prints */
};

static void put_arg_json(struct read_values *rv, struct cs_textbuf *b, const struct arg_elem *e, int types)
{
    if (e->json && types) {
        cs_textbuf_putc(b, '"');
        cs_textbuf_puts(b, inline_type(e->json, e->len));
        cs_textbuf_putc(b, '"');
    } else if (e->json && plain_json_text(e->json + 1, e->len - 2)) {
        cs_textbuf_put(b, e->json, e->len); /* already a JSON string */
    } else if (e->json) {
        cs_json_string(b, e->json + 1, e->len - 2); /* not written by callscope: encoded again */
    } else {
        const struct cached_val *v = lookup_val(rv, e->id);
        if (v && !types)
            cs_json_string(b, v->text, v->len);
        else if (v && v->type)
            cs_json_string(b, v->type, strlen(v->type));
        else
            cs_textbuf_puts(b, "null");
    }
}

static void put_arg_text(struct read_values *rv, struct cs_textbuf *b, const struct arg_elem *e)
{
    const struct cached_val *v = e->json ? NULL : lookup_val(rv, e->id);
    if (e->json)
        cs_textbuf_put(b, e->json + 1, e->len - 2);
    else if (v)
        cs_textbuf_put(b, v->text, v->len);
    else
        cs_textbuf_puts(b, "null"); /* its vals row is missing */
}

static void sql_args_object(sqlite3_context *ctx, sqlite3_value **argv, enum args_form form)
{
    struct read_values *rv = sqlite3_user_data(ctx);
    const char *ids = (const char *)sqlite3_value_text(argv[0]);
    const struct arg_names *names = ids ? lookup_names(rv, sqlite3_value_int64(argv[1])) : NULL;
    if (!names) {
        sqlite3_result_null(ctx);
        return;
    }
    struct cs_textbuf *b = &rv->out;
    cs_textbuf_reset(b);
    if (form != ARGS_TEXT)
        cs_textbuf_putc(b, '{');
    const char *p = ids;
    struct arg_elem e;
    /* fewer values than names: show what there is */
    for (uint32_t i = 0; i < names->n && next_elem(&p, &e); i++) {
        uint32_t start = i ? names->end[i - 1] : 0, len = names->end[i] - start;
        if (form == ARGS_TEXT) {
            if (i)
                cs_textbuf_put(b, ", ", 2);
            cs_textbuf_put(b, names->json + start + 1, len - 2); /* without its quotes */
            cs_textbuf_putc(b, '=');
            put_arg_text(rv, b, &e);
        } else {
            if (i)
                cs_textbuf_putc(b, ',');
            cs_textbuf_put(b, names->json + start, len);
            cs_textbuf_putc(b, ':');
            put_arg_json(rv, b, &e, form == ARGS_TYPES);
        }
    }
    if (form != ARGS_TEXT)
        cs_textbuf_putc(b, '}');
    if (b->oom)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_text(ctx, b->data, (int)b->len, SQLITE_TRANSIENT);
}

/* A parameter name a filter asks of every call, with its position in
 * each function's arguments as found so far (position + 1; -1: the
 * function has no such parameter; 0: not looked at yet). SQLite keeps it
 * with the statement (sqlite3_set_auxdata) while the name is a constant. */
struct asked_name {
    char *name;
    size_t len;
    int32_t *positions;
    size_t npositions;
};

static void free_asked_name(void *p)
{
    struct asked_name *a = p;
    if (a) {
        free(a->name);
        free(a->positions);
        free(a);
    }
}

/* The asked_name of argument `arg`, kept from an earlier call or made now;
 * NULL when out of memory (or the name is NULL). */
static struct asked_name *asked_name(sqlite3_context *ctx, sqlite3_value *value, int arg)
{
    struct asked_name *a = sqlite3_get_auxdata(ctx, arg);
    if (a)
        return a;
    const char *name = (const char *)sqlite3_value_text(value);
    if (!name || !(a = calloc(1, sizeof *a)))
        return NULL;
    a->len = (size_t)sqlite3_value_bytes(value);
    if (!(a->name = malloc(a->len + 1))) {
        free(a);
        return NULL;
    }
    memcpy(a->name, name, a->len + 1);
    sqlite3_set_auxdata(ctx, arg, a, free_asked_name); /* frees it at once if it cannot be kept */
    return sqlite3_get_auxdata(ctx, arg);
}

/* The position of the asked parameter among a function's arguments: >= 0,
 * -1 when it has none, -2 when out of memory. */
static int32_t arg_position(struct read_values *rv, struct asked_name *a, int64_t function_id)
{
    if ((uint64_t)function_id < a->npositions && a->positions[function_id]) /* the usual case: known */
        return a->positions[function_id] > 0 ? a->positions[function_id] - 1 : -1;
    const struct arg_names *names = lookup_names(rv, function_id);
    if (!names)
        return -1;
    if ((size_t)function_id >= a->npositions) { /* lookup_names made room for it in rv */
        int32_t *grown = realloc(a->positions, rv->nfunctions * sizeof *grown);
        if (!grown)
            return -2;
        memset(grown + a->npositions, 0, (rv->nfunctions - a->npositions) * sizeof *grown);
        a->positions = grown;
        a->npositions = rv->nfunctions;
    }
    uint32_t at = 0;
    for (; at < names->n; at++) { /* names are kept as JSON strings: "n" */
        uint32_t start = at ? names->end[at - 1] : 0;
        if (names->end[at] - start == a->len + 2 && memcmp(names->json + start + 1, a->name, a->len) == 0)
            break;
    }
    a->positions[function_id] = at < names->n ? (int32_t)at + 1 : -1;
    return at < names->n ? (int32_t)at : -1;
}

/* The element of args for the parameter argv[2] names (argv[1] being the
 * function id): 1, 0 when the call has none, -1 when out of memory. */
static int named_elem(sqlite3_context *ctx, sqlite3_value **argv, struct arg_elem *e)
{
    const char *p = (const char *)sqlite3_value_text(argv[0]);
    if (!p || sqlite3_value_type(argv[2]) == SQLITE_NULL)
        return 0;
    struct asked_name *a = asked_name(ctx, argv[2], 2);
    int32_t at = a ? arg_position(sqlite3_user_data(ctx), a, sqlite3_value_int64(argv[1])) : -2;
    if (at < 0)
        return at == -1 ? 0 : -1;
    for (int32_t i = 0; next_elem(&p, e); i++)
        if (i == at)
            return 1;
    return 0;
}

/* cs_arg(args, function_id, name): the text of one argument, found by
 * position without building the whole object; what `arg == 'n' and
 * value < ...` filters read for every call. */
static void sql_arg(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct read_values *rv = sqlite3_user_data(ctx);
    struct arg_elem e;
    int found = named_elem(ctx, argv, &e);
    const struct cached_val *v = found > 0 && !e.json ? lookup_val(rv, e.id) : NULL;
    if (found < 0)
        sqlite3_result_error_nomem(ctx);
    else if (found && e.json) /* inline values (ints, None, booleans) need no unescaping */
        sqlite3_result_text(ctx, e.json + 1, (int)e.len - 2, SQLITE_TRANSIENT);
    else if (v)
        sqlite3_result_text(ctx, v->text, (int)v->len, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
}

static int value_matches(const char *text, size_t len, const char *pattern, size_t pattern_len, int glob,
                         struct cs_textbuf *scratch)
{
    if (!glob)
        return len == pattern_len && memcmp(text, pattern, len) == 0;
    cs_textbuf_reset(scratch);
    cs_textbuf_put(scratch, text, len);
    return !scratch->oom && sqlite3_strglob(pattern, cs_textbuf_cstr(scratch)) == 0;
}

/* cs_has_value(args, pattern, glob): whether some argument's text is
 * pattern (glob = 0) or matches it as a GLOB pattern; what `value == X`
 * filters ask of every call, answered without a row per argument. */
static void sql_has_value(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct read_values *rv = sqlite3_user_data(ctx);
    const char *p = (const char *)sqlite3_value_text(argv[0]);
    const char *pattern = (const char *)sqlite3_value_text(argv[1]);
    size_t pattern_len = (size_t)sqlite3_value_bytes(argv[1]);
    int glob = sqlite3_value_int(argv[2]);
    if (!p || !pattern) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    struct arg_elem e;
    while (next_elem(&p, &e)) {
        const struct cached_val *v = e.json ? NULL : lookup_val(rv, e.id);
        /* inline: an int, None or a boolean, no escapes */
        if ((e.json && value_matches(e.json + 1, e.len - 2, pattern, pattern_len, glob, &rv->out)) ||
            (v && value_matches(v->text, v->len, pattern, pattern_len, glob, &rv->out))) {
            sqlite3_result_int(ctx, 1);
            return;
        }
    }
    sqlite3_result_int(ctx, 0);
}

/* cs_arg_is(args, function_id, name, pattern, glob): whether the argument
 * `name` is pattern (or GLOB-matches it); `arg == 'n' and value == X`,
 * the most common filter on arguments, compared in place rather than
 * through a copy of the text as cs_arg() returns it. */
static void sql_arg_is(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct read_values *rv = sqlite3_user_data(ctx);
    const char *pattern = (const char *)sqlite3_value_text(argv[3]);
    size_t pattern_len = (size_t)sqlite3_value_bytes(argv[3]);
    int glob = sqlite3_value_int(argv[4]);
    struct arg_elem e;
    int found = pattern ? named_elem(ctx, argv, &e) : 0;
    const struct cached_val *v = found > 0 && !e.json ? lookup_val(rv, e.id) : NULL;
    if (found < 0)
        sqlite3_result_error_nomem(ctx);
    else
        sqlite3_result_int(ctx, (found && e.json && value_matches(e.json + 1, e.len - 2, pattern, pattern_len, glob,
                                                                  &rv->out)) ||
                                    (v && value_matches(v->text, v->len, pattern, pattern_len, glob, &rv->out)));
}

static void sql_args(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sql_args_object(ctx, argv, ARGS_JSON);
}

static void sql_arg_types(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sql_args_object(ctx, argv, ARGS_TYPES);
}

static void sql_args_text(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sql_args_object(ctx, argv, ARGS_TEXT);
}

/* ---- cs_each(args, function_id): one row per argument ----
 *
 * A table-valued function with the columns key (the name), value (its
 * text) and type, for filters about "some argument": it walks the stored
 * array in place, and looks a value up only when its column is read. */

enum { EACH_KEY, EACH_VALUE, EACH_TYPE, EACH_ARGS, EACH_FUNCTION };

struct each_cursor {
    sqlite3_vtab_cursor base;
    struct read_values *rv;
    const struct arg_names *names;
    char *args;         /* a copy of the array */
    const char *p;       /* the next element */
    struct arg_elem elem; /* the current one */
    int started;
    uint32_t index;      /* of the current element */
    int eof;
};

struct each_vtab {
    sqlite3_vtab base;
    struct read_values *rv;
};

static int each_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err)
{
    (void)argc, (void)argv, (void)err;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(key, value, type, args HIDDEN, function_id HIDDEN)");
    if (rc != SQLITE_OK)
        return rc;
    struct each_vtab *t = sqlite3_malloc(sizeof *t);
    if (!t)
        return SQLITE_NOMEM;
    memset(t, 0, sizeof *t);
    t->rv = aux;
    *out = &t->base;
    return SQLITE_OK;
}

static int each_disconnect(sqlite3_vtab *t)
{
    sqlite3_free(t);
    return SQLITE_OK;
}

/* Both hidden arguments must be given, as equality constraints. */
static int each_best_index(sqlite3_vtab *t, sqlite3_index_info *info)
{
    (void)t;
    int args = -1, fn = -1;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (c->op != SQLITE_INDEX_CONSTRAINT_EQ)
            continue;
        if (c->iColumn == EACH_ARGS) {
            if (!c->usable)
                return SQLITE_CONSTRAINT;
            args = i;
        } else if (c->iColumn == EACH_FUNCTION) {
            if (!c->usable)
                return SQLITE_CONSTRAINT;
            fn = i;
        }
    }
    if (args < 0 || fn < 0)
        return SQLITE_CONSTRAINT;
    info->aConstraintUsage[args].argvIndex = 1;
    info->aConstraintUsage[args].omit = 1;
    info->aConstraintUsage[fn].argvIndex = 2;
    info->aConstraintUsage[fn].omit = 1;
    info->estimatedCost = 10;
    info->estimatedRows = 4;
    return SQLITE_OK;
}

static int each_open(sqlite3_vtab *t, sqlite3_vtab_cursor **out)
{
    struct each_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    c->rv = ((struct each_vtab *)t)->rv;
    *out = &c->base;
    return SQLITE_OK;
}

static int each_close(sqlite3_vtab_cursor *cur)
{
    struct each_cursor *c = (struct each_cursor *)cur;
    sqlite3_free(c->args);
    sqlite3_free(c);
    return SQLITE_OK;
}

/* Moves to the next element, or to the end. */
static int each_next(sqlite3_vtab_cursor *cur)
{
    struct each_cursor *c = (struct each_cursor *)cur;
    if (c->started)
        c->index++;
    c->started = 1;
    if (!c->p || !c->names || c->index >= c->names->n || !next_elem(&c->p, &c->elem))
        c->eof = 1;
    return SQLITE_OK;
}

static int each_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc, sqlite3_value **argv)
{
    (void)idx, (void)idx_str;
    struct each_cursor *c = (struct each_cursor *)cur;
    sqlite3_free(c->args);
    c->args = NULL;
    c->p = NULL;
    c->started = 0;
    c->index = 0;
    c->eof = 1;
    const char *args = argc >= 2 ? (const char *)sqlite3_value_text(argv[0]) : NULL;
    c->names = args ? lookup_names(c->rv, sqlite3_value_int64(argv[1])) : NULL;
    if (!args || !c->names)
        return SQLITE_OK;
    c->args = sqlite3_mprintf("%s", args);
    if (!c->args)
        return SQLITE_NOMEM;
    c->p = c->args;
    c->eof = 0;
    return each_next(cur);
}

static int each_eof(sqlite3_vtab_cursor *cur)
{
    return ((struct each_cursor *)cur)->eof;
}

static int each_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    struct each_cursor *c = (struct each_cursor *)cur;
    const struct arg_elem *e = &c->elem;
    if (col == EACH_KEY) {
        uint32_t start = c->index ? c->names->end[c->index - 1] : 0;
        /* the names are JSON strings of identifiers: the text between the quotes */
        sqlite3_result_text(ctx, c->names->json + start + 1, (int)(c->names->end[c->index] - start - 2),
                            SQLITE_TRANSIENT);
    } else if (col == EACH_VALUE || col == EACH_TYPE) {
        const struct cached_val *v = e->json ? NULL : lookup_val(c->rv, e->id);
        if (e->json && col == EACH_VALUE)
            sqlite3_result_text(ctx, e->json + 1, (int)e->len - 2, SQLITE_TRANSIENT);
        else if (e->json)
            sqlite3_result_text(ctx, inline_type(e->json, e->len), -1, SQLITE_STATIC);
        else if (!v || (col == EACH_TYPE && !v->type))
            sqlite3_result_null(ctx);
        else if (col == EACH_VALUE)
            sqlite3_result_text(ctx, v->text, (int)v->len, SQLITE_TRANSIENT);
        else
            sqlite3_result_text(ctx, v->type, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_result_null(ctx);
    }
    return SQLITE_OK;
}

static int each_rowid(sqlite3_vtab_cursor *cur, sqlite_int64 *rowid)
{
    *rowid = ((struct each_cursor *)cur)->index;
    return SQLITE_OK;
}

static const sqlite3_module EACH_MODULE = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: used as cs_each(...), never created */
    .xConnect = each_connect,
    .xBestIndex = each_best_index,
    .xDisconnect = each_disconnect,
    .xOpen = each_open,
    .xClose = each_close,
    .xFilter = each_filter,
    .xNext = each_next,
    .xEof = each_eof,
    .xColumn = each_column,
    .xRowid = each_rowid,
};

int cs_read_values_register(sqlite3 *db)
{
    struct read_values *rv = calloc(1, sizeof *rv);
    if (!rv)
        return SQLITE_NOMEM;
    rv->db = db;
    static const struct {
        const char *name;
        int nargs;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } functions[] = {
        {"cs_val", 1, sql_val},         {"cs_val_type", 1, sql_val_type}, {"cs_arg_types", 2, sql_arg_types},
        {"cs_args_text", 2, sql_args_text}, {"cs_arg", 3, sql_arg},       {"cs_arg_is", 5, sql_arg_is},
        {"cs_has_value", 3, sql_has_value},
    };
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC, rc = SQLITE_OK;
    for (size_t i = 0; i < sizeof functions / sizeof *functions && rc == SQLITE_OK; i++)
        rc = sqlite3_create_function_v2(db, functions[i].name, functions[i].nargs, flags, rv, functions[i].fn, NULL,
                                        NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_module(db, "cs_each", &EACH_MODULE, rv);
    if (rc == SQLITE_OK) /* owns rv from here on: freed when the connection closes */
        rc = sqlite3_create_function_v2(db, "cs_args", 2, flags, rv, sql_args, NULL, NULL, destroy);
    else
        free(rv);
    return rc;
}
