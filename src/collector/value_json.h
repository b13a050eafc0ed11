/*
 * value_json.h — a captured value (core/event.h) as the JSON value it is:
 * None as null, bools, ints and finite floats as numbers, a str as its own
 * text, tuples, lists and sets as arrays, a dict as an object. What JSON has
 * no form for (an object of the program's classes, bytes, a function, NaN)
 * becomes the text a recording shows for it, so a script reading the JSON
 * gets every value, typed where a type exists.
 *
 * Like decode.h, nothing in the input is trusted: a malformed value sets
 * r->error and the caller discards what was appended.
 */
#ifndef CALLSCOPE_VALUE_JSON_H
#define CALLSCOPE_VALUE_JSON_H

#include <stddef.h>

#include "collector/decode.h"

/* Appends one value. 0, or -1 when it is malformed. scratch is working
 * space. */
int cs_value_json(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch);

/* Appends one value as a further member of the JSON array (name NULL) or
 * object (under `name`) being written, after a comma when *count is not 0;
 * counts it in *count. */
int cs_value_json_member(struct cs_reader *r, const char *name, struct cs_textbuf *out, struct cs_textbuf *scratch,
                         size_t *count);

/* Appends the items of a tuple or list value as further members of the JSON
 * array being written (a dict's entries: members of the object being
 * written), as cs_value_json_member does for one. Used to spread *args into a list of arguments and **kwargs into
 * an object of keyword arguments. A value of another kind (a container cut
 * for room) is appended as one member: in an object, under `name`. */
int cs_value_json_spread(struct cs_reader *r, int into_object, const char *name, struct cs_textbuf *out,
                         struct cs_textbuf *scratch, size_t *count);

#endif
