/*
 * decode.h — reads the events of a stream (event.h) and renders captured
 * values as the text Python's repr() would give, without running Python.
 *
 * Every function here works on a cs_reader and trusts nothing in its input:
 * a truncated or malformed event sets r->error and yields a harmless result,
 * never a read outside [p, end). The collector then drops the rest of that
 * chunk and counts a decode error.
 */
#ifndef CALLSCOPE_DECODE_H
#define CALLSCOPE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "util/textbuf.h"

/* Containers nested deeper than this in one value are treated as malformed:
 * producers stop far earlier, and the renderer recurses once per level. */
#define CS_MAX_VALUE_NESTING 64

struct cs_text {
    const char *s;
    size_t n;
};

/* A str field (core/event.h) as a view into the input. */
static inline struct cs_text cs_get_text(struct cs_reader *r)
{
    struct cs_text t;
    t.s = cs_get_str(r, &t.n);
    return t;
}

/* One event's fixed fields. Events that carry values (EV_CALL's arguments,
 * EV_RETURN / EV_YIELD / EV_UNWIND / EV_LOG's value) leave the reader on the
 * first value: the caller must render or skip them before the next event. */
struct cs_event {
    int tag;
    uint64_t id;    /* EV_CODE, EV_CFUNC, EV_CALL*, EV_RESUME, EV_CCALL */
    uint64_t dt;    /* timed events */
    uint64_t ticks; /* EV_SYNC */
    uint64_t pid, tid, ppid; /* EV_STREAM (tid also EV_THREAD_NAME) */
    struct cs_text module, qualname, filename; /* EV_CODE, EV_CFUNC */
    struct cs_text text; /* EV_THREAD_NAME name, EV_UNWIND type, EV_LOG message */
    uint64_t lineno, code_flags, nargs; /* EV_CODE */
    const unsigned char *arg_names;     /* EV_CODE: nargs strings from here */
    const unsigned char *arg_names_end; /* ... to here */
    uint64_t count, depth, low;         /* EV_LOST */
};

/* Reads one event's tag and fixed fields. Returns 0, or -1 on truncation or
 * an unknown tag (r->error set). */
int cs_decode_event(struct cs_reader *r, struct cs_event *ev);

/* Skips one value. Returns 0 or -1. */
int cs_skip_value(struct cs_reader *r);

/* Appends the repr of one value. Returns 0 or -1 (out then holds a partial
 * rendering the caller should discard). */
int cs_render_value(struct cs_reader *r, struct cs_textbuf *out);

/* The Python type name of the value next in r, without moving r: 'int',
 * 'str', 'dict', 'app.models.Model', ...; an empty text when the capture
 * does not say (an unbound local, a value cut for room). */
struct cs_text cs_value_type(const struct cs_reader *r);

/* Appends the repr of one value as a JSON string; scratch is working space. */
int cs_render_value_json(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch);

/* Appends "Type: message" for an exception whose type is `type` and whose
 * message value is next in r: the raw text when it is a str (as str(exc)
 * shows it), the repr otherwise; just "Type" when the message is empty. */
int cs_render_exception(struct cs_reader *r, struct cs_text type, struct cs_textbuf *out,
                        struct cs_textbuf *scratch);

/* Appends a JSON object for a log record's fields: a dict becomes
 * {key: repr(value)} (str keys as their text); any other value becomes
 * {"value": repr}. Sets *is_null (and appends nothing) for None. */
int cs_render_fields_json(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch,
                          int *is_null);

/* Building blocks, exposed for the tests. */
void cs_render_float(double v, struct cs_textbuf *out);
/* repr of a str given as a UTF-8 prefix of a string of `total` code
 * points: a prefix of fewer ends with the … of a shortened value. */
void cs_render_str(const char *s, size_t n, uint64_t total, struct cs_textbuf *out);
void cs_render_bytes(const unsigned char *s, size_t n, int cut, struct cs_textbuf *out);
/* Copies UTF-8 text, replacing invalid bytes with U+FFFD. */
void cs_append_utf8_clean(const char *s, size_t n, struct cs_textbuf *out);

#endif
