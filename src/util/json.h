/*
 * json.h — the little JSON the store needs: writing strings, and reading back
 * the flat objects of strings it keeps in calls.args and logs.fields.
 *
 * Writing is on the collector's hot path, so it appends straight into a
 * cs_textbuf. Reading is for `callscope show`, which prints `name=value`
 * pairs; it accepts only what it can parse and reports anything else as
 * malformed instead of guessing (a store may come from anywhere).
 */
#ifndef CALLSCOPE_UTIL_JSON_H
#define CALLSCOPE_UTIL_JSON_H

#include <stddef.h>

#include "util/textbuf.h"

/* Appends s (UTF-8, n bytes) as a quoted JSON string. */
void cs_json_string(struct cs_textbuf *b, const char *s, size_t n);

/* Iterates the members of an object whose values are strings (other scalar
 * values are returned as their JSON text). */
struct cs_json_iter {
    const char *p;
    const char *end;
    int started;
};

void cs_json_iter_init(struct cs_json_iter *it, const char *text, size_t n);
/* Reads the next member into key and value (both reset first). Returns 1 for
 * a member, 0 at the end of the object, -1 if the text is not such an object. */
int cs_json_iter_next(struct cs_json_iter *it, struct cs_textbuf *key, struct cs_textbuf *value);

/* 0 when text is exactly one well-formed JSON value, nested at most
 * max_depth deep (at most 256); else -1. For JSON that arrives from
 * elsewhere (a live agent's answer) before it is passed on. */
int cs_json_check(const char *text, size_t n, int max_depth);

#endif
