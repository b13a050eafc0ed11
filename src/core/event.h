/*
 * event.h — the binary event format shared by producers (the extension) and
 * the collector.
 *
 * A traced thread writes a *stream* of events into the chunks it claims from
 * the ring (ring.h). Every chunk payload is a whole number of events and
 * starts with EV_SYNC. Every stream is self-contained: a code or C function
 * id is defined (EV_CODE / EV_CFUNC) in a stream before the stream first uses
 * it. Ids are global to the ring, so the same id always means the same
 * function. Nothing here depends on Python.
 *
 * Encoding primitives
 *   varint  unsigned LEB128 (7 bits per byte, low bits first)
 *   svarint zigzag-encoded signed value as a varint
 *   str     varint byte length, then that many bytes (UTF-8 unless noted)
 *   dt      varint: timestamp ticks since the previous timed event of the
 *           same chunk (or since EV_SYNC). Ticks convert to nanoseconds with
 *           the ring's clock calibration (clock.h).
 *
 * Events (first byte is the tag)
 *   EV_SYNC        u64 little-endian absolute tick count
 *   EV_STREAM      varint pid, varint native tid, varint parent pid
 *                  (first event after SYNC of a stream's first chunk)
 *   EV_THREAD_NAME varint native tid, str name (tid may be another thread
 *                  of the same process)
 *   EV_CODE        varint code_id, str module, str qualname, str filename,
 *                  varint first line, varint CS_CODE_* flags, varint nargs,
 *                  nargs x str argument name (positional, keyword-only,
 *                  then *args, then **kwargs: the order of EV_CALL values)
 *   EV_CFUNC       varint cfunc_id, str module, str qualname
 *   EV_CALL        varint code_id, dt, nargs x value
 *   EV_CALL_BARE   varint code_id, dt                 (--no-args)
 *   EV_RESUME      varint code_id, dt                 (generator/coroutine resumed)
 *   EV_RETURN      dt, value
 *   EV_RETURN_BARE dt
 *   EV_YIELD       dt, value                          (ends a resume-call)
 *   EV_YIELD_BARE  dt
 *   EV_UNWIND      dt, str exception type name, value (the message: a str,
 *                  or the exception's args when they are not one str)
 *   EV_CCALL       varint cfunc_id, dt                (--c-calls)
 *   EV_CRETURN     dt
 *   EV_CRAISE      dt
 *   EV_LOST        varint count, varint depth, varint low: this thread
 *                  dropped `count` events before this one (ring full,
 *                  --on-full drop); its call depth is now `depth`, and
 *                  while the events were lost it went as shallow as `low`
 *                  (so the calls deeper than `low` had ended by then, even
 *                  when the depth came back to where it was)
 *   EV_LOG         dt, str message, value fields (a dict, or None)
 *   EV_STOP        dt: tracing stopped in this thread; calls still open
 *                  are kept unfinished
 *
 * Values (first byte is the tag)
 *   V_NONE V_FALSE V_TRUE
 *   V_INT       svarint
 *   V_BIGINT    str decimal digits (or "<int of N bits>")
 *   V_FLOAT     8 bytes little-endian IEEE double
 *   V_STR       varint total length in code points, str UTF-8 prefix
 *               (lone surrogates are encoded as "\udXXX" escapes)
 *   V_BYTES     varint total length, str raw prefix
 *   V_TUPLE V_LIST V_SET V_FROZENSET
 *               u16 little-endian byte length of the rest, varint total
 *               length, varint shown, shown x value
 *   V_DICT      u16 byte length of the rest, varint total length, varint
 *               shown, shown x (value key, value)
 *               (the byte length lets the collector step over a container
 *               it already knows without walking its items; an event is
 *               at most CS_MAX_EVENT_BYTES, so it always fits)
 *   V_OBJECT    str type name (module.Qualname), varint address
 *   V_SUBCLASS  str type name, value (an instance of a subclass of a
 *               built-in type, shown as Type(inner))
 *   V_REPR      str type name, varint total length in code points, str UTF-8 prefix (--repr)
 *   V_REPR_FAILED str type name, varint address, str exception type name
 *   V_ELIDED    str type name, varint total length (not expanded: nesting
 *               limit or event size budget reached)
 *   V_UNBOUND   argument slot was empty
 *   V_NAMED     str kind, str name, varint address: an object known by its
 *               name, shown <function f at 0x…>, <class 'm.C'>, <module 'm'>
 */
#ifndef CALLSCOPE_EVENT_H
#define CALLSCOPE_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum cs_event_tag {
    EV_SYNC = 0x01,
    EV_STREAM = 0x02,
    EV_THREAD_NAME = 0x03,
    EV_CODE = 0x04,
    EV_CFUNC = 0x05,
    EV_CALL = 0x10,
    EV_CALL_BARE = 0x11,
    EV_RESUME = 0x12,
    EV_RETURN = 0x13,
    EV_RETURN_BARE = 0x14,
    EV_YIELD = 0x15,
    EV_YIELD_BARE = 0x16,
    EV_UNWIND = 0x17,
    EV_CCALL = 0x18,
    EV_CRETURN = 0x19,
    EV_CRAISE = 0x1a,
    EV_LOST = 0x20,
    EV_LOG = 0x21,
    EV_STOP = 0x22,
};

enum cs_value_tag {
    V_NONE = 0,
    V_FALSE = 1,
    V_TRUE = 2,
    V_INT = 3,
    V_BIGINT = 4,
    V_FLOAT = 5,
    V_STR = 6,
    V_BYTES = 7,
    V_TUPLE = 8,
    V_LIST = 9,
    V_SET = 10,
    V_FROZENSET = 11,
    V_DICT = 12,
    V_OBJECT = 13,
    V_SUBCLASS = 14,
    V_REPR = 15,
    V_REPR_FAILED = 16,
    V_ELIDED = 17,
    V_UNBOUND = 18,
    V_NAMED = 19,
};

/* EV_CODE flags */
enum cs_code_flags {
    CS_CODE_GENERATOR = 1 << 0, /* generator, coroutine or async generator */
    CS_CODE_VARARGS = 1 << 1,
    CS_CODE_VARKEYWORDS = 1 << 2,
};

/* Longest encoded varint of a 64-bit value: 7 bits a byte. */
#define CS_VARINT_MAX 10
_Static_assert(CS_VARINT_MAX * 7 >= 64, "cs_put_varint writes at most CS_VARINT_MAX bytes of a uint64_t");

/* ---- writing: the caller guarantees room (see capture's budget checks) ----
 *
 * No writer checks its room: an event is written into the CS_MAX_EVENT_BYTES
 * that cs_writer_begin guarantees, each value encoder stops at the limit it
 * is given, and cs_writer_commit checks (CS_ASSERT) that the event ended
 * inside its chunk. cs_put_varint needs CS_VARINT_MAX bytes, cs_put_u64 8,
 * cs_put_u16 2, cs_put_str CS_VARINT_MAX + n. */

static inline unsigned char *cs_put_varint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static inline unsigned char *cs_put_svarint(unsigned char *p, int64_t v)
{
    return cs_put_varint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline unsigned char *cs_put_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8); /* all supported targets are little-endian */
    return p + 8;
}

static inline unsigned char *cs_put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static inline unsigned char *cs_put_str(unsigned char *p, const char *s, size_t n)
{
    p = cs_put_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

/* ---- reading: every getter checks the end and reports truncation ---- */

struct cs_reader {
    const unsigned char *p;
    const unsigned char *end;
    int error; /* set once input ran out or was malformed; sticky */
};

static inline uint64_t cs_get_long_varint(struct cs_reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->error = 1;
            return 0;
        }
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->error = 1;
    return 0;
}

static inline uint64_t cs_get_varint(struct cs_reader *r)
{
    /* most are small (lengths, ids, deltas): one byte */
    if (r->p < r->end && *r->p < 0x80)
        return *r->p++;
    return cs_get_long_varint(r);
}

static inline int64_t cs_get_svarint(struct cs_reader *r)
{
    uint64_t u = cs_get_varint(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static inline uint64_t cs_get_u64(struct cs_reader *r)
{
    uint64_t v = 0;
    if (r->end - r->p < 8) {
        r->error = 1;
        r->p = r->end;
        return 0;
    }
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}

static inline uint16_t cs_get_u16(struct cs_reader *r)
{
    if (r->end - r->p < 2) {
        r->error = 1;
        r->p = r->end;
        return 0;
    }
    uint16_t v = (uint16_t)(r->p[0] | r->p[1] << 8);
    r->p += 2;
    return v;
}

static inline int cs_get_byte(struct cs_reader *r)
{
    if (r->p >= r->end) {
        r->error = 1;
        return -1;
    }
    return *r->p++;
}

/* Returns a pointer into the input (not NUL-terminated) and its length. */
static inline const char *cs_get_str(struct cs_reader *r, size_t *len)
{
    uint64_t n = cs_get_varint(r);
    if (r->error || n > (uint64_t)(r->end - r->p)) {
        r->error = 1;
        *len = 0;
        return "";
    }
    const char *s = (const char *)r->p;
    r->p += n;
    *len = (size_t)n;
    return s;
}

#endif
