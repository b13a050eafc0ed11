/*
 * value_json.c — captured values as typed JSON (see value_json.h).
 */
#include "collector/value_json.h"

#include <math.h>
#include <string.h>

#include "util/json.h"

static int value(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch, int nesting);

/* The text a recording shows for the value next in r, as a JSON string. */
static int as_rendered_text(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch)
{
    cs_textbuf_reset(scratch);
    if (cs_render_value(r, scratch) != 0)
        return -1;
    cs_json_string(out, scratch->data ? scratch->data : "", scratch->len);
    return 0;
}

/* A big int's digits are a JSON number when they are only digits (a value
 * cut for room ends in an ellipsis and stays text). */
static int is_integer_text(struct cs_text t)
{
    size_t i = t.n && t.s[0] == '-';
    if (i == t.n)
        return 0;
    for (; i < t.n; i++)
        if (t.s[i] < '0' || t.s[i] > '9')
            return 0;
    return 1;
}

/* A dict key as an object key: a str key as its text, another as its repr
 * (as json.dumps makes 1 into "1"). */
static int key(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch)
{
    if (r->p < r->end && *r->p == V_STR) {
        r->p++;
        (void)cs_get_varint(r);
        struct cs_text t = cs_get_text(r);
        if (r->error)
            return -1;
        cs_textbuf_reset(scratch);
        cs_append_utf8_clean(t.s, t.n, scratch);
        cs_json_string(out, scratch->data ? scratch->data : "", scratch->len);
        return 0;
    }
    return as_rendered_text(r, out, scratch);
}

/* The header of a container whose tag was read: its end, its item count and
 * how many items the capture holds. NULL when malformed. */
static const unsigned char *container(struct cs_reader *r, uint64_t *total, uint64_t *shown)
{
    uint16_t len = cs_get_u16(r);
    if (r->error || len > r->end - r->p) {
        r->error = 1;
        return NULL;
    }
    const unsigned char *end = r->p + len;
    *total = cs_get_varint(r);
    *shown = cs_get_varint(r);
    if (r->error || r->p > end || *shown > *total) {
        r->error = 1;
        return NULL;
    }
    return end;
}

/* The items of a container (its tag already read) as members of the array
 * or object being written. */
static int members(struct cs_reader *r, int tag, struct cs_textbuf *out, struct cs_textbuf *scratch, int nesting,
                   size_t *count)
{
    uint64_t total, shown;
    const unsigned char *end = container(r, &total, &shown);
    if (!end)
        return -1;
    for (uint64_t i = 0; i < shown; i++) {
        if ((*count)++)
            cs_textbuf_putc(out, ',');
        if (tag == V_DICT) {
            if (key(r, out, scratch) != 0)
                return -1;
            cs_textbuf_putc(out, ':');
        }
        if (value(r, out, scratch, nesting + 1) != 0)
            return -1;
    }
    if (total > shown) { /* the capture kept the first items only: say how many there were */
        if ((*count)++)
            cs_textbuf_putc(out, ',');
        cs_textbuf_printf(out, tag == V_DICT ? "\"\xe2\x80\xa6\":\"%llu items\"" : "\"\xe2\x80\xa6 (%llu items)\"",
                          (unsigned long long)total);
    }
    if (r->p != end) { /* the items must fill the container's byte length */
        r->error = 1;
        return -1;
    }
    return 0;
}

static int value(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch, int nesting)
{
    if (nesting > CS_MAX_VALUE_NESTING || r->p >= r->end) {
        r->error = 1;
        return -1;
    }
    const unsigned char *start = r->p;
    int tag = cs_get_byte(r);
    switch (tag) {
    case V_NONE: cs_textbuf_puts(out, "null"); break;
    case V_FALSE: cs_textbuf_puts(out, "false"); break;
    case V_TRUE: cs_textbuf_puts(out, "true"); break;
    case V_INT: cs_textbuf_int(out, cs_get_svarint(r)); break;
    case V_BIGINT: {
        struct cs_text t = cs_get_text(r);
        if (r->error)
            return -1;
        if (is_integer_text(t)) {
            cs_textbuf_put(out, t.s, t.n);
        } else {
            cs_textbuf_reset(scratch);
            cs_append_utf8_clean(t.s, t.n, scratch);
            cs_json_string(out, scratch->data ? scratch->data : "", scratch->len);
        }
        break;
    }
    case V_FLOAT: {
        uint64_t bits = cs_get_u64(r);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (r->error)
            return -1;
        cs_textbuf_reset(scratch);
        cs_render_float(d, scratch);
        if (isfinite(d)) /* Python's repr of a finite float is a JSON number */
            cs_textbuf_put(out, scratch->data, scratch->len);
        else
            cs_json_string(out, scratch->data, scratch->len);
        break;
    }
    case V_STR: {
        uint64_t total = cs_get_varint(r);
        struct cs_text t = cs_get_text(r);
        if (r->error)
            return -1;
        cs_textbuf_reset(scratch);
        cs_append_utf8_clean(t.s, t.n, scratch);
        uint64_t characters = 0;
        for (size_t i = 0; i < t.n; i++)
            characters += ((unsigned char)t.s[i] & 0xc0) != 0x80;
        if (total > characters) /* the capture kept the start only */
            cs_textbuf_puts(scratch, "\xe2\x80\xa6");
        cs_json_string(out, scratch->data ? scratch->data : "", scratch->len);
        break;
    }
    case V_TUPLE:
    case V_LIST:
    case V_SET:
    case V_FROZENSET:
    case V_DICT: {
        size_t count = 0;
        cs_textbuf_putc(out, tag == V_DICT ? '{' : '[');
        if (members(r, tag, out, scratch, nesting, &count) != 0)
            return -1;
        cs_textbuf_putc(out, tag == V_DICT ? '}' : ']');
        break;
    }
    case V_SUBCLASS: /* an int, str, dict... subclass: its value, as JSON has no class */
        (void)cs_get_text(r);
        return r->error ? -1 : value(r, out, scratch, nesting + 1);
    default:
        /* bytes, objects, functions, values left out: the rendered text */
        r->p = start;
        return as_rendered_text(r, out, scratch);
    }
    return r->error ? -1 : 0;
}

int cs_value_json(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch)
{
    return value(r, out, scratch, 0);
}

int cs_value_json_member(struct cs_reader *r, const char *name, struct cs_textbuf *out, struct cs_textbuf *scratch,
                         size_t *count)
{
    if ((*count)++)
        cs_textbuf_putc(out, ',');
    if (name) {
        cs_json_string(out, name, strlen(name));
        cs_textbuf_putc(out, ':');
    }
    return value(r, out, scratch, 0);
}

int cs_value_json_spread(struct cs_reader *r, int into_object, const char *name, struct cs_textbuf *out,
                         struct cs_textbuf *scratch, size_t *count)
{
    int tag = r->p < r->end ? *r->p : -1;
    if (into_object ? tag == V_DICT : tag == V_TUPLE || tag == V_LIST) {
        r->p++;
        return members(r, tag, out, scratch, 0, count);
    }
    return cs_value_json_member(r, into_object ? name : NULL, out, scratch, count);
}
