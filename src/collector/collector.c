/*
 * collector.c — pairs each thread's call and return events into call rows
 * (see collector.h).
 *
 * State kept per stream (one traced thread): its stack of open calls and the
 * arguments of those calls, stored LIFO in one text buffer so that a call's
 * arguments cost no allocation. Every value becomes the id of its
 * vals row (value_cache.h): a value met before is found by its captured
 * bytes and never rendered again. Functions are kept in a table indexed by
 * their ring-wide id. Nothing here allocates per event once the buffers
 * are warm.
 */
#include "collector/collector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/decode.h"
#include "collector/event_log.h"
#include "collector/value_cache.h"
#include "core/clock.h"
#include "core/event.h"
#include "core/grow.h"
#include "store/store.h"
#include "util/json.h"
#include "util/textbuf.h"

/* Ids beyond these are taken as corruption rather than grown into. The
 * depth is what Python 3.12+ reaches with a raised recursion limit (its
 * frames live on the heap): a few hundred bytes per level here as there. */
#define MAX_FUNCTION_ID (1u << 24)
#define MAX_STREAM_ID (1u << 22)
#define MAX_STACK_DEPTH (1u << 22)

#define CALIBRATE_EVERY_NS 50000000 /* 50 ms */
#define COMMIT_EVERY_NS 100000000 /* readers see rows at least this often */
/* Having caught up, the collector commits what is pending so readers see
 * it now, but not more often than this: one that keeps up is idle between
 * most steps, and each commit ends a chunk of the file however few rows it
 * holds (a chunk of a hundred rows compresses far worse than one of two
 * thousand). */
#define IDLE_COMMIT_NS 20000000
#define COMMIT_EVERY_ROWS 200000
#define NO_ARGS UINT32_MAX

static const char C_RAISED[] = "<unknown exception>"; /* EV_CRAISE carries no type */

struct frame {
    int64_t id;        /* row id; 0 when no row is kept (placeholder, too deep) */
    int64_t parent_id; /* 0: none */
    uint64_t function_id;
    uint64_t start_ticks;
    int64_t child_ns; /* time spent in callees, for self time */
    uint32_t args_off, args_len;
    int flags;
    int placeholder; /* stands for a frame whose call event was lost */
    int shown;       /* an open row was written for it (see show_open_calls) */
};

/* A value met lately, and its vals row. An argument mostly has the same
 * self, document or settings as at its function's previous call, and a
 * result is often the one returned just before, passed up by a wrapper:
 * then a compare of bytes still in the CPU's cache finds it, where the
 * value cache would hash them and probe its large tables. */
struct last_value {
    int64_t id;     /* 0: none */
    uint64_t turns; /* of the value cache when id was found: see value_cache.h */
    uint32_t len, cap;
    unsigned char *bytes;
    char id_text[CS_INT_TEXT_MAX]; /* id in decimal, as an args array holds it, once written */
    uint8_t id_text_len; /* 0: not written yet */
};
#define LAST_ARG_POSITIONS 16     /* the first arguments of each function */
#define LAST_VALUE_MAX_BYTES 512  /* longer values are looked up each time */

/* A function whose results are nearly always new (a parser's tokens, a
 * factory's objects) has them rendered inline without asking the value
 * cache: such a lookup misses, and a miss is a trip to memory for each
 * generation's table plus a copy of the bytes kept for the next one, which
 * costs more than the rendering a rare hit saves. A function's score goes
 * up by one for each new result and down by KNOWN_RESULT_WEIGHT for each
 * known one, so it rises only while fewer than one result in
 * KNOWN_RESULT_WEIGHT + 1 is known. From NEW_RESULTS_TO_SKIP on, its
 * results skip the cache but one in RESULTS_RECHECK_EVERY, which brings it
 * back once it returns known values again. A known result kept inline is
 * only stored once more: readers see the same rows. */
#define NEW_RESULTS_TO_SKIP 32
#define NEW_RESULTS_MAX 40
#define KNOWN_RESULT_WEIGHT 8
#define RESULTS_RECHECK_EVERY 32

struct function {
    int defined;
    int is_c;
    uint32_t nargs;
    uint32_t new_results;     /* its score: see NEW_RESULTS_TO_SKIP */
    uint32_t skipped_results; /* counts the results that skipped the value cache */
    struct last_value *last; /* min(nargs, LAST_ARG_POSITIONS), made at the first call */
    struct last_value last_result;
};

/* The last result of a thread rendered straight from its event (a function
 * whose results are nearly always new, NEW_RESULTS_TO_SKIP): its bytes and
 * its text. A wrapper returns what its callee returned just before (a
 * parser's dispatcher passes up each token), and that rendering is then
 * copied rather than made again. */
#define PASSED_UP_MAX_BYTES 256
struct passed_up {
    uint32_t len; /* 0: none */
    unsigned char bytes[PASSED_UP_MAX_BYTES];
    struct cs_textbuf text;
};

struct stream {
    int64_t thread_row; /* 0 until known */
    uint32_t pid;
    uint64_t ticks; /* time of the last timed event */
    int skipping;   /* after bad bytes: ignore input until the next chunk */
    struct frame *stack;
    size_t depth, cap;
    struct cs_textbuf args; /* arguments of the open frames (call_rows.args arrays), LIFO */
    struct last_value last_result; /* the last value returned or yielded in this thread */
    struct passed_up passed_up;
};

struct thread_key {
    int64_t pid, tid;
};

struct cs_collector {
    struct cs_ring *ring;             /* NULL while building the rows of a log */
    struct cs_ring_reader *reader;
    struct cs_collector_facts facts;  /* the ring's, or a log's record of them */
    struct cs_event_log *log;         /* --defer-rows: what is read goes here */
    int building;                     /* the rows of a log are being built */
    int log_refused;                  /* the store took no more of the log (a full disk) */
    struct cs_store *store;
    struct cs_collector_options opt;

    struct cs_clock_calibration cal;
    uint64_t ref_ticks; /* ticks -> ns: ref_ns + (ticks - ref_ticks) * ns_per_tick */
    int64_t ref_ns;
    double ns_per_tick;
    int64_t last_calibration, last_commit; /* monotonic ns */

    struct stream **streams; /* by stream id */
    size_t nstreams;
    struct function *functions; /* by function id */
    size_t nfunctions;
    struct thread_key *threads; /* row id - 1 */
    size_t nthreads, threads_cap;
    int64_t *pids;
    size_t npids, pids_cap;

    struct cs_textbuf exception, scratch, fields, value;
    struct cs_value_cache *values; /* every value's vals id */
    int value_was_new; /* the last value looked up was unknown to the cache */
    int64_t rows_in_step, rows_since_commit, rows_since_trim;
    uint64_t lost_events, decode_errors;
    int oom;
};

/* ---- time ---- */

/* Ticks to ns from c->cal on. */
static void use_calibration(struct cs_collector *c)
{
    c->ref_ticks = c->cal.ticks1;
    c->ref_ns = cs_clock_ticks_to_ns(&c->cal, c->ref_ticks);
    c->ns_per_tick = (double)cs_clock_sub(cs_clock_ticks_to_ns(&c->cal, c->ref_ticks + 1000000000u), c->ref_ns) / 1e9;
}

/* A fresh reference point (the log's, while its rows are built). */
static void calibrate(struct cs_collector *c)
{
    if (c->building)
        return;
    cs_clock_calibration_update(&c->cal);
    if (c->log)
        cs_event_log_calibration(c->log, &c->cal);
    use_calibration(c);
    c->last_calibration = cs_monotonic_ns();
}

/* The ring's creation is the first reference point: it is the earliest
 * pair we have, and the longer the baseline the better the rate. */
static void start_clock(struct cs_collector *c)
{
    c->cal.ticks0 = c->facts.ticks0;
    c->cal.ns0 = c->facts.monotonic0_ns;
    cs_clock_calibration_update(&c->cal);
    if (c->cal.ticks1 - c->cal.ticks0 < 10000000) {
        struct timespec pause = {0, 5000000};
        nanosleep(&pause, NULL);
    }
    calibrate(c);
}

/* Nanoseconds since the ring was created. */
static int64_t ticks_to_start_ns(const struct cs_collector *c, uint64_t ticks)
{
    int64_t dticks = (int64_t)(ticks - c->ref_ticks);
    return cs_clock_sub(cs_clock_add(c->ref_ns, cs_clock_ns_of((double)dticks * c->ns_per_tick)),
                        c->facts.monotonic0_ns);
}

static int64_t ticks_to_duration(const struct cs_collector *c, uint64_t start, uint64_t end)
{
    if (end <= start)
        return 0;
    int64_t ns = cs_clock_ns_of((double)(end - start) * c->ns_per_tick);
    return ns > 0 ? ns : 0;
}

/* ---- threads, processes, streams ---- */

static int64_t thread_row(struct cs_collector *c, int64_t pid, int64_t tid)
{
    for (size_t i = 0; i < c->nthreads; i++)
        if (c->threads[i].pid == pid && c->threads[i].tid == tid)
            return (int64_t)i + 1;
    if (c->nthreads == c->threads_cap) {
        struct thread_key *grown = cs_grow(c->threads, &c->threads_cap, sizeof *grown, 16);
        if (!grown) {
            c->oom = 1;
            return 0;
        }
        c->threads = grown;
    }
    c->threads[c->nthreads++] = (struct thread_key){pid, tid};
    cs_store_add_thread(c->store, (int64_t)c->nthreads, pid, tid);
    return (int64_t)c->nthreads;
}

static void note_process(struct cs_collector *c, int64_t pid, int64_t ppid)
{
    for (size_t i = 0; i < c->npids; i++)
        if (c->pids[i] == pid)
            return;
    if (c->npids == c->pids_cap) {
        int64_t *grown = cs_grow(c->pids, &c->pids_cap, sizeof *grown, 16);
        if (!grown) {
            c->oom = 1;
            return;
        }
        c->pids = grown;
    }
    c->pids[c->npids++] = pid;
    cs_store_add_process(c->store, pid, ppid);
}

static struct stream *get_stream(struct cs_collector *c, uint64_t id, uint32_t pid)
{
    if (id >= MAX_STREAM_ID)
        return NULL;
    if (id >= c->nstreams) {
        struct stream **grown = cs_grow_to(c->streams, &c->nstreams, sizeof *grown, 64, id);
        if (!grown)
            return NULL;
        c->streams = grown;
    }
    if (!c->streams[id]) {
        c->streams[id] = calloc(1, sizeof(struct stream));
        if (!c->streams[id])
            return NULL;
        c->streams[id]->pid = pid;
    }
    return c->streams[id];
}

/* A stream that skipped EV_STREAM (corrupt) still gets a thread row. */
static int64_t stream_thread(struct cs_collector *c, struct stream *st)
{
    if (!st->thread_row)
        st->thread_row = thread_row(c, st->pid, 0);
    return st->thread_row;
}

static void free_stream(struct stream *st)
{
    if (!st)
        return;
    free(st->stack);
    cs_textbuf_free(&st->args);
    free(st->last_result.bytes);
    cs_textbuf_free(&st->passed_up.text);
    free(st);
}

/* ---- functions ---- */

static struct function *function_slot(struct cs_collector *c, uint64_t id)
{
    if (id >= MAX_FUNCTION_ID)
        return NULL;
    if (id >= c->nfunctions) {
        struct function *grown = cs_grow_to(c->functions, &c->nfunctions, sizeof *grown, 1024, id);
        if (!grown) {
            c->oom = 1;
            return NULL;
        }
        c->functions = grown;
    }
    return &c->functions[id];
}

static struct function *known_function(struct cs_collector *c, uint64_t id)
{
    return id < c->nfunctions && c->functions[id].defined ? &c->functions[id] : NULL;
}

/* EV_CODE: remembers how many arguments a call brings and stores the
 * function row with their names. Ids are ring-wide, so a redefinition is
 * the same one. */
static int define_code(struct cs_collector *c, const struct cs_event *ev)
{
    struct function *fn = function_slot(c, ev->id);
    if (!fn || ev->nargs > 100000)
        return -1;
    if (fn->defined)
        return 0;
    struct cs_textbuf names = {0};
    /* cs_decode_event validated the names; read them again in place. */
    struct cs_reader r = {ev->arg_names, ev->arg_names_end, 0};
    cs_textbuf_putc(&names, '[');
    for (uint64_t i = 0; i < ev->nargs; i++) {
        size_t n;
        const char *name = cs_get_str(&r, &n);
        if (i)
            cs_textbuf_putc(&names, ',');
        cs_json_string(&names, name, n);
    }
    cs_textbuf_putc(&names, ']');
    if (names.oom || r.error) {
        cs_textbuf_free(&names);
        c->oom = !r.error;
        return -1;
    }
    fn->defined = 1;
    fn->nargs = (uint32_t)ev->nargs;
    cs_store_add_function(c->store, (int64_t)ev->id, "python", ev->module.s, ev->module.n,
                          ev->qualname.s, ev->qualname.n, ev->filename.s, ev->filename.n,
                          (int64_t)ev->lineno, names.data, names.len);
    cs_textbuf_free(&names);
    return 0;
}

static int define_cfunc(struct cs_collector *c, const struct cs_event *ev)
{
    struct function *fn = function_slot(c, ev->id);
    if (!fn)
        return -1;
    if (fn->defined)
        return 0;
    fn->defined = 1;
    fn->is_c = 1;
    cs_store_add_function(c->store, (int64_t)ev->id, "builtin", ev->module.s, ev->module.n,
                          ev->qualname.s, ev->qualname.n, NULL, 0, 0, NULL, 0);
    return 0;
}

/* ---- rows ---- */

/* The row of a call as far as its frame tells: what it is, where it sits,
 * when it started, its arguments. */
static struct cs_call_row row_of(struct cs_collector *c, struct stream *st, const struct frame *f, int depth)
{
    return (struct cs_call_row){
        .id = f->id,
        .mode = f->shown ? CS_ROW_REPLACES : 0, /* in place of its open row */
        .parent_id = f->parent_id,
        .thread_id = stream_thread(c, st),
        .function_id = (int64_t)f->function_id,
        .start_ns = ticks_to_start_ns(c, f->start_ticks),
        .depth = depth,
        .flags = f->flags,
        .args = f->args_len == NO_ARGS ? NULL : st->args.data + f->args_off,
        .args_len = f->args_len == NO_ARGS ? 0 : f->args_len,
    };
}

static void count_row(struct cs_collector *c)
{
    c->rows_in_step++;
    c->rows_since_commit++;
    c->rows_since_trim++;
}

static void add_row(struct cs_collector *c, const struct cs_call_row *row)
{
    cs_store_add_call(c->store, row);
    count_row(c);
}

/* The row of a frame that ends. Most are the call's only row, filled in
 * the store's place for it; a call shown while it ran replaces its open
 * row. */
static void write_row(struct cs_collector *c, struct stream *st, const struct frame *f, int depth,
                      int finished, int64_t duration, int64_t result, const struct cs_textbuf *result_text,
                      const struct cs_textbuf *exception, int extra_flags)
{
    const char *text = result > 0 || !result_text ? NULL : result_text->data ? result_text->data : "";
    size_t text_len = text ? result_text->len : 0;
    const char *exception_text = exception ? exception->data : NULL;
    size_t exception_len = exception ? exception->len : 0;
    int64_t self = duration > f->child_ns ? duration - f->child_ns : 0;
    if (f->shown) {
        struct cs_call_row row = row_of(c, st, f, depth);
        row.finished = finished;
        row.duration_ns = duration;
        row.self_ns = self;
        row.flags |= extra_flags;
        row.result = result;
        row.result_text = text;
        row.result_len = text_len;
        row.exception = exception_text;
        row.exception_len = exception_len;
        add_row(c, &row);
        return;
    }
    int has_args = f->args_len != NO_ARGS;
    struct cs_call_numbers *n =
        cs_store_add_ended_call(c->store, f->id, has_args ? st->args.data + f->args_off : NULL,
                                has_args ? f->args_len : 0, text, text_len, exception_text, exception_len);
    count_row(c);
    if (!n)
        return;
    n->parent_id = f->parent_id;
    n->thread_id = stream_thread(c, st);
    n->function_id = (int64_t)f->function_id;
    n->start_ns = ticks_to_start_ns(c, f->start_ticks);
    n->duration_ns = duration;
    n->self_ns = self;
    n->result = result;
    n->depth = depth;
    n->flags = f->flags | extra_flags;
    n->finished = (unsigned char)(finished != 0);
}

/* ---- the stack ---- */

static struct frame *push(struct cs_collector *c, struct stream *st, uint64_t function_id, int flags,
                          int placeholder)
{
    if (st->depth == st->cap) {
        if (st->cap >= MAX_STACK_DEPTH)
            return NULL;
        struct frame *grown = cs_grow(st->stack, &st->cap, sizeof *grown, 64);
        if (!grown) {
            c->oom = 1;
            return NULL;
        }
        st->stack = grown;
    }
    struct frame *parent = st->depth ? &st->stack[st->depth - 1] : NULL;
    struct frame *f = &st->stack[st->depth];
    int keep = !placeholder && (c->opt.max_depth < 0 || (int64_t)st->depth <= c->opt.max_depth);
    f->id = keep ? cs_store_next_call_id(c->store) : 0;
    f->parent_id = parent ? parent->id : 0;
    f->function_id = function_id;
    f->start_ticks = st->ticks;
    f->child_ns = 0;
    f->args_off = (uint32_t)st->args.len;
    f->args_len = NO_ARGS;
    f->flags = flags | (parent && parent->placeholder ? CS_CALL_LOST : 0);
    f->placeholder = placeholder;
    f->shown = 0;
    st->depth++;
    return f;
}

/* Ends the top frame at the stream's current time. A return with nothing
 * open belongs to a frame entered before tracing began: nothing to pair. */
static void pop(struct cs_collector *c, struct stream *st, int64_t result,
                const struct cs_textbuf *result_text, const struct cs_textbuf *exception, int extra_flags)
{
    if (st->depth == 0)
        return;
    struct frame *f = &st->stack[--st->depth];
    int64_t duration = ticks_to_duration(c, f->start_ticks, st->ticks);
    if (st->depth) {
        /* (saturated: durations made of hostile ticks may sum past int64) */
        int64_t *child_ns = &st->stack[st->depth - 1].child_ns;
        *child_ns = duration > INT64_MAX - *child_ns ? INT64_MAX : *child_ns + duration;
    }
    if (f->id && duration >= c->opt.min_duration_ns)
        write_row(c, st, f, (int)st->depth, 1, duration, result, result_text, exception, extra_flags);
    st->args.len = f->args_off;
}

/* Ends the top frame without an end: it is written with no duration. */
static void pop_unfinished(struct cs_collector *c, struct stream *st, int extra_flags)
{
    struct frame *f = &st->stack[--st->depth];
    if (f->id)
        write_row(c, st, f, (int)st->depth, 0, 0, 0, NULL, NULL, extra_flags);
    st->args.len = f->args_off;
}

static void unwind_all(struct cs_collector *c, struct stream *st)
{
    while (st->depth)
        pop_unfinished(c, st, 0);
}

/* ---- events ---- */

/* Notes a value and its vals row, 0 if none (last may be NULL). */
static void remember(struct cs_collector *c, struct last_value *last, const unsigned char *bytes, size_t len,
                     int64_t id)
{
    if (!last)
        return;
    last->id = 0;
    if (!id || len > LAST_VALUE_MAX_BYTES)
        return;
    if (last->cap < len) {
        unsigned char *grown = realloc(last->bytes, len);
        if (!grown)
            return;
        last->bytes = grown;
        last->cap = (uint32_t)len;
    }
    memcpy(last->bytes, bytes, len);
    last->len = (uint32_t)len;
    last->id = id;
    last->id_text_len = 0;
    last->turns = cs_value_cache_turns(c->values);
}

/* The vals row of the value [bytes, bytes + len) if last is that value,
 * else 0. After the value cache turned over, the cache is asked again, which
 * keeps the value known there too. */
static int64_t known_as(const struct cs_collector *c, const struct last_value *last, const unsigned char *bytes,
                        size_t len)
{
    return last->id && last->turns == cs_value_cache_turns(c->values) && last->len == len &&
                   memcmp(last->bytes, bytes, len) == 0
               ? last->id
               : 0;
}

static int is_inline_tag(int tag)
{
    return tag == V_INT || tag == V_NONE || tag == V_TRUE || tag == V_FALSE;
}

/* Renders the value next in `value` into c->value, to be kept inline: 0,
 * or -1 (and r->error set) when it is malformed. */
static int render_inline(struct cs_collector *c, struct cs_reader *value, struct cs_reader *r)
{
    cs_textbuf_reset(&c->value);
    if (cs_render_value(value, &c->value) != 0) {
        r->error = 1;
        return -1;
    }
    return 0;
}

/* render_inline() for the value [start, r->p) that r has skipped. */
static int take_inline(struct cs_collector *c, struct cs_reader *r, const unsigned char *start)
{
    struct cs_reader value = {start, r->p, 0};
    return render_inline(c, &value, r);
}

/* render_inline() for a result of a function that skips the value cache:
 * the thread's last such result, if these bytes begin with it, is this one
 * (an encoding ends where its own bytes say), and its text is copied. */
static int render_result_inline(struct cs_collector *c, struct stream *st, struct cs_reader *r)
{
    struct passed_up *k = &st->passed_up;
    if (k->len && k->len <= (size_t)(r->end - r->p) && memcmp(r->p, k->bytes, k->len) == 0) {
        r->p += k->len;
        cs_textbuf_reset(&c->value);
        cs_textbuf_put(&c->value, k->text.data, k->text.len);
        return 0;
    }
    const unsigned char *start = r->p;
    if (render_inline(c, r, r) != 0)
        return -1;
    size_t len = (size_t)(r->p - start);
    k->len = 0;
    if (len > PASSED_UP_MAX_BYTES)
        return 0;
    cs_textbuf_reset(&k->text);
    cs_textbuf_put(&k->text, c->value.data, c->value.len);
    if (k->text.oom)
        return 0; /* not kept: only a copy saved is lost */
    memcpy(k->bytes, start, len);
    k->len = (uint32_t)len;
    return 0;
}

/* take_value() for a value already skipped: it is [start, r->p). */
static int64_t take_value_at(struct cs_collector *c, struct cs_reader *r, const unsigned char *start,
                             int64_t result_of, struct last_value *last)
{
    size_t len = (size_t)(r->p - start);
    int inline_value = is_inline_tag(*start);
    if (last && !inline_value && known_as(c, last, start, len))
        return last->id;
    int64_t held_by = 0;
    int64_t id = inline_value ? 0 : cs_value_cache_find(c->values, start, len, &held_by);
    c->value_was_new = !id && !held_by;
    if (id) {
        remember(c, last, start, len, id);
        return id;
    }
    if (take_inline(c, r, start) != 0)
        return -1;
    if (inline_value)
        return 0;
    if (!held_by && result_of) {
        cs_value_cache_add_inline(c->values, start, len, result_of);
        return 0;
    }
    id = cs_value_cache_add(c->values, start, len);
    remember(c, last, start, len, id);
    struct cs_text type = cs_value_type(&(struct cs_reader){start, r->p, 0});
    cs_store_add_value(c->store, id, c->value.data ? c->value.data : "", c->value.len, type.s, type.n);
    if (held_by)
        cs_store_refer_result(c->store, held_by, id);
    return id;
}

/* Reads the value next in r: returns the id of its vals row, or 0 when it
 * is stored inline, its rendering then in c->value; -1 when r is
 * malformed. Ints, None and booleans are inline: their text is as short as
 * an id, and ints are often unique (positions, counters). The result of
 * call `result_of` (0: r holds no result), met for the first time, is
 * inline too until it is met again (value_cache.h). Every other value is
 * rendered and stored once. `last` (NULL for results) is what the
 * argument at this position was at the function's previous call; it is
 * updated. */
static int64_t take_value(struct cs_collector *c, struct cs_reader *r, int64_t result_of, struct last_value *last)
{
    const unsigned char *start = r->p;
    if (cs_skip_value(r) != 0)
        return -1;
    return take_value_at(c, r, start, result_of, last);
}

/* Whether fn's next result goes inline without a lookup (see
 * NEW_RESULTS_TO_SKIP). */
static int skips_value_cache(struct function *fn)
{
    return fn && fn->new_results >= NEW_RESULTS_TO_SKIP && ++fn->skipped_results % RESULTS_RECHECK_EVERY != 0;
}

/* Scores a result that the value cache was asked about. */
static void note_result(struct function *fn, int was_new)
{
    if (!fn)
        return;
    if (was_new)
        fn->new_results += fn->new_results < NEW_RESULTS_MAX;
    else
        fn->new_results = fn->new_results > KNOWN_RESULT_WEIGHT ? fn->new_results - KNOWN_RESULT_WEIGHT : 0;
}

/* Reads the return or yielded value of call `call_id` of function fn (NULL:
 * unknown) as take_value does. The thread's last result and the function's
 * are tried first: a value passed up through a wrapper is the one returned
 * just before, and a getter returns the same as last time. */
static int64_t take_result(struct cs_collector *c, struct stream *st, struct function *fn, struct cs_reader *r,
                           int64_t call_id)
{
    const unsigned char *start = r->p;
    if (skips_value_cache(fn)) {
        /* Rendered as it is read: with no lookup, nothing needs its bytes
         * first. What is remembered of the results before no longer holds. */
        st->last_result.id = fn->last_result.id = 0;
        return render_result_inline(c, st, r);
    }
    if (cs_skip_value(r) != 0)
        return -1;
    if (is_inline_tag(*start))
        return take_value_at(c, r, start, call_id, NULL);
    size_t len = (size_t)(r->p - start);
    int64_t id = known_as(c, &st->last_result, start, len);
    if (!id && fn)
        id = known_as(c, &fn->last_result, start, len);
    if (!id) {
        if ((id = take_value_at(c, r, start, call_id, NULL)) < 0)
            return -1;
        note_result(fn, c->value_was_new);
    }
    remember(c, &st->last_result, start, len, id);
    if (fn)
        remember(c, &fn->last_result, start, len, id);
    return id;
}

/* Writes last's id into an args array: an argument is mostly the value
 * it was at the function's previous call, whose id was written then. */
static void put_id_of(struct cs_textbuf *out, struct last_value *last)
{
    if (!last->id_text_len)
        last->id_text_len = (uint8_t)cs_int_text(last->id, last->id_text);
    cs_textbuf_put(out, last->id_text, last->id_text_len);
}

/* Writes the inline value next in r (is_inline_tag) as the JSON string
 * of its rendering, the way an args array holds it: 0, or -1 when r is
 * malformed. */
static int put_inline_value(struct cs_textbuf *out, struct cs_reader *r)
{
    int tag = cs_get_byte(r);
    if (tag == V_INT) {
        int64_t v = cs_get_svarint(r);
        cs_textbuf_putc(out, '"');
        cs_textbuf_int(out, v);
        cs_textbuf_putc(out, '"');
    } else {
        cs_textbuf_puts(out, tag == V_NONE ? "\"None\"" : tag == V_TRUE ? "\"True\"" : "\"False\"");
    }
    return r->error ? -1 : 0;
}

static int on_call(struct cs_collector *c, struct stream *st, struct cs_reader *r,
                   const struct cs_event *ev)
{
    struct function *fn = known_function(c, ev->id);
    if (!fn || fn->is_c)
        return -1; /* undefined id: the rest of the chunk is unreadable */
    struct frame *f = push(c, st, ev->id, 0, 0);
    if (!f)
        return -1;
    if (!fn->last && fn->nargs)
        fn->last = calloc(fn->nargs < LAST_ARG_POSITIONS ? fn->nargs : LAST_ARG_POSITIONS, sizeof *fn->last);
    cs_textbuf_putc(&st->args, '[');
    for (uint32_t i = 0; i < fn->nargs; i++) {
        if (i)
            cs_textbuf_putc(&st->args, ',');
        if (r->p < r->end && is_inline_tag(*r->p)) {
            if (put_inline_value(&st->args, r) != 0)
                return -1;
            continue;
        }
        struct last_value *last = fn->last && i < LAST_ARG_POSITIONS ? &fn->last[i] : NULL;
        int64_t id = take_value(c, r, 0, last);
        if (id < 0)
            return -1;
        if (id && last && last->id == id)
            put_id_of(&st->args, last);
        else if (id)
            cs_textbuf_int(&st->args, id);
        else
            cs_json_string(&st->args, c->value.data ? c->value.data : "", c->value.len);
    }
    cs_textbuf_putc(&st->args, ']');
    if (st->args.oom || st->args.len - f->args_off >= NO_ARGS) {
        c->oom = st->args.oom;
        return -1;
    }
    f->args_len = (uint32_t)(st->args.len - f->args_off);
    return 0;
}

static int on_bare_call(struct cs_collector *c, struct stream *st, const struct cs_event *ev, int flags)
{
    struct function *fn = known_function(c, ev->id);
    if (!fn || (fn->is_c != ((flags & CS_CALL_C) != 0)))
        return -1;
    return push(c, st, ev->id, flags, 0) ? 0 : -1;
}

static int on_return(struct cs_collector *c, struct stream *st, struct cs_reader *r, int with_value,
                     int flags)
{
    int64_t id = 0;
    if (with_value && st->depth) {
        const struct frame *f = &st->stack[st->depth - 1];
        id = take_result(c, st, known_function(c, f->function_id), r, f->id);
    } else if (with_value) {
        id = take_value(c, r, 0, NULL);
    }
    if (id < 0)
        return -1;
    pop(c, st, id, with_value && !id ? &c->value : NULL, NULL, flags);
    return 0;
}

static int on_unwind(struct cs_collector *c, struct stream *st, struct cs_reader *r,
                     const struct cs_event *ev)
{
    cs_textbuf_reset(&c->exception);
    if (cs_render_exception(r, ev->text, &c->exception, &c->scratch) != 0)
        return -1;
    pop(c, st, 0, NULL, &c->exception, 0);
    return 0;
}

static void on_craise(struct cs_collector *c, struct stream *st)
{
    cs_textbuf_reset(&c->exception);
    cs_textbuf_puts(&c->exception, C_RAISED);
    pop(c, st, 0, NULL, &c->exception, 0);
}

/* EV_LOST: the thread dropped events, went as shallow as `low` meanwhile
 * and is now `depth` calls deep. Frames deeper than `low` ended unseen (a
 * call that returned and a new one at its depth must not be taken for one
 * call); frames above it stay, marked because their self time now
 * includes callees we never saw; missing ones become placeholders. */
static int on_lost(struct cs_collector *c, struct stream *st, const struct cs_event *ev)
{
    if (ev->depth > MAX_STACK_DEPTH)
        return -1;
    c->lost_events += ev->count;
    cs_store_add_lost(c->store, stream_thread(c, st), ticks_to_start_ns(c, st->ticks),
                      (int64_t)ev->count);
    uint64_t low = ev->low < ev->depth ? ev->low : ev->depth;
    while (st->depth > low)
        pop_unfinished(c, st, CS_CALL_LOST);
    for (size_t i = 0; i < st->depth; i++)
        st->stack[i].flags |= CS_CALL_LOST;
    while (st->depth < ev->depth) {
        if (!push(c, st, 0, CS_CALL_LOST, 1))
            return -1;
    }
    return 0;
}

static int on_log(struct cs_collector *c, struct stream *st, struct cs_reader *r,
                  const struct cs_event *ev)
{
    int is_null;
    cs_textbuf_reset(&c->fields);
    if (cs_render_fields_json(r, &c->fields, &c->scratch, &is_null) != 0)
        return -1;
    cs_textbuf_reset(&c->scratch);
    cs_append_utf8_clean(ev->text.s, ev->text.n, &c->scratch);
    int64_t call_id = st->depth ? st->stack[st->depth - 1].id : 0;
    cs_store_add_log(c->store, call_id, stream_thread(c, st), ticks_to_start_ns(c, st->ticks),
                     c->scratch.data ? c->scratch.data : "", c->scratch.len,
                     is_null ? NULL : c->fields.data, c->fields.len);
    return 0;
}

static void on_stream(struct cs_collector *c, struct stream *st, const struct cs_event *ev)
{
    st->pid = (uint32_t)ev->pid;
    note_process(c, (int64_t)ev->pid, (int64_t)ev->ppid);
    st->thread_row = thread_row(c, (int64_t)ev->pid, (int64_t)ev->tid);
}

static void on_thread_name(struct cs_collector *c, struct stream *st, const struct cs_event *ev)
{
    int64_t row = thread_row(c, st->pid, (int64_t)ev->tid);
    cs_textbuf_reset(&c->scratch);
    cs_append_utf8_clean(ev->text.s, ev->text.n, &c->scratch);
    if (row)
        cs_store_set_thread_name(c->store, row, c->scratch.data ? c->scratch.data : "", c->scratch.len);
}

/* Handles one decoded event; the reader sits on its values, if any. */
static int dispatch(struct cs_collector *c, struct stream *st, struct cs_reader *r,
                    const struct cs_event *ev)
{
    switch (ev->tag) {
    case EV_SYNC: st->ticks = ev->ticks; return 0;
    case EV_STREAM: on_stream(c, st, ev); return 0;
    case EV_THREAD_NAME: on_thread_name(c, st, ev); return 0;
    case EV_CODE: return define_code(c, ev);
    case EV_CFUNC: return define_cfunc(c, ev);
    case EV_LOST: return on_lost(c, st, ev);
    }
    /* The rest are timed. */
    st->ticks += ev->dt;
    switch (ev->tag) {
    case EV_CALL: return on_call(c, st, r, ev);
    case EV_CALL_BARE: return on_bare_call(c, st, ev, 0);
    case EV_RESUME: return on_bare_call(c, st, ev, CS_CALL_RESUME);
    case EV_CCALL: return on_bare_call(c, st, ev, CS_CALL_C);
    case EV_RETURN: return on_return(c, st, r, 1, 0);
    case EV_RETURN_BARE: return on_return(c, st, r, 0, 0);
    case EV_YIELD: return on_return(c, st, r, 1, CS_CALL_YIELDED);
    case EV_YIELD_BARE: return on_return(c, st, r, 0, CS_CALL_YIELDED);
    case EV_UNWIND: return on_unwind(c, st, r, ev);
    case EV_CRETURN: pop(c, st, 0, NULL, NULL, 0); return 0;
    case EV_CRAISE: on_craise(c, st); return 0;
    case EV_LOG: return on_log(c, st, r, ev);
    case EV_STOP: unwind_all(c, st); return 0;
    }
    return -1;
}

/* The store's writer thread does the commit (and trim) after the rows
 * handed over before it; the collector goes on decoding meanwhile. */
static void commit_if_due(struct cs_collector *c, int64_t interval);

/* cs_ring_read callback: one stream's next bytes, whole events. */
static void on_bytes(void *ctx, uint64_t stream_id, uint32_t pid, const unsigned char *bytes, size_t n)
{
    struct cs_collector *c = ctx;
    struct stream *st = get_stream(c, stream_id, pid);
    if (!st) {
        c->decode_errors++;
        return;
    }
    /* After bad bytes the rest of that chunk is unreadable; every chunk
     * starts with EV_SYNC, which is where reading can resume. */
    if (st->skipping) {
        if (n == 0 || bytes[0] != EV_SYNC)
            return;
        st->skipping = 0;
    }
    struct cs_reader r = {bytes, bytes + n, 0};
    struct cs_event ev;
    while (r.p < r.end) {
        if (cs_decode_event(&r, &ev) != 0 || dispatch(c, st, &r, &ev) != 0 || r.error) {
            c->decode_errors++;
            st->skipping = 1;
            break;
        }
    }
    if (c->rows_since_commit >= COMMIT_EVERY_ROWS)
        commit_if_due(c, 0);
}

/* ---- the public API ---- */

static void write_start_meta(struct cs_collector *c)
{
    struct cs_store *s = c->store;
    cs_store_set_meta_text(s, "format", "callscope");
    cs_store_set_meta_int(s, "schema_version", CS_STORE_SCHEMA_VERSION);
    cs_store_set_meta_text(s, "command", c->opt.command_line ? c->opt.command_line : "");
    cs_store_set_meta_int(s, "started_wall_ns", c->facts.wall0_ns);
    cs_store_set_meta_text(s, "clock", CS_TICKS_ARE_NS ? "monotonic" : "tsc");
    cs_store_set_meta_int(s, "finished", 0);
    cs_store_set_meta_int(s, "calls", 0);
    cs_store_set_meta_int(s, "lost_events", 0);
    cs_store_set_meta_int(s, "decode_errors", 0);
    cs_store_set_meta_int(s, "no_args", (c->facts.capture_flags & CS_OPT_NO_ARGS) != 0);
}

/* What building the rows of a deferred recording needs besides its log
 * (cs_collector_build_rows reads it back). */
static void write_deferred_meta(struct cs_collector *c)
{
    struct cs_store *s = c->store;
    cs_store_set_meta_text(s, "rows", "deferred");
    cs_store_set_meta_int(s, "ring_ticks0", (int64_t)c->facts.ticks0);
    cs_store_set_meta_int(s, "ring_monotonic0_ns", c->facts.monotonic0_ns);
    cs_store_set_meta_int(s, "capture_flags", c->facts.capture_flags);
    cs_store_set_meta_int(s, "min_duration_ns", c->opt.min_duration_ns);
    cs_store_set_meta_int(s, "max_depth", c->opt.max_depth);
    cs_store_set_meta_int(s, "recorder_pid", getpid());
}

/* Seals what the log gathered and stores it as a block. */
static void keep_log_block(struct cs_collector *c)
{
    char err[256];
    int sealed = cs_event_log_seal(c->log, err, sizeof err);
    if (sealed < 0)
        c->oom = 1;
    else if (sealed && cs_store_add_event_block(c->store, c->log->blob.data, c->log->blob.len) != 0)
        c->log_refused = 1;
}

/* cs_ring_read callback of a deferred recording. */
static void log_delivery(void *ctx, uint64_t stream_id, uint32_t pid, const unsigned char *bytes, size_t n)
{
    struct cs_collector *c = ctx;
    cs_event_log_delivery(c->log, stream_id, pid, bytes, n);
    if (c->log->records.len >= CS_EVENT_LOG_BLOCK_BYTES)
        keep_log_block(c);
}

struct cs_collector *cs_collector_open(struct cs_ring *ring, const struct cs_collector_options *options,
                                       char *err, size_t errlen)
{
    struct cs_collector *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->ring = ring;
    c->opt = *options;
    c->facts = (struct cs_collector_facts){ring->header->ticks0, ring->header->monotonic0_ns, ring->header->wall0_ns,
                                           ring->header->options.flags, 0};
    c->reader = cs_ring_reader_new(ring);
    c->values = cs_value_cache_new();
    if (options->defer_rows && (c->log = malloc(sizeof *c->log)))
        cs_event_log_init(c->log);
    if (!c->reader || !c->values || (options->defer_rows && !c->log)) {
        snprintf(err, errlen, "out of memory");
        cs_collector_free(c);
        return NULL;
    }
    c->store = cs_store_create(options->db_path, err, errlen);
    if (!c->store) {
        cs_collector_free(c);
        return NULL;
    }
    start_clock(c);
    cs_store_begin(c->store);
    write_start_meta(c);
    if (c->log)
        write_deferred_meta(c);
    /* Commit now so a reader can open the file from the start (a disk
     * already full pauses the recording: no error). */
    if (cs_store_commit(c->store) != 0 && cs_store_error(c->store)) {
        snprintf(err, errlen, "%s", cs_store_error(c->store));
        cs_collector_free(c);
        return NULL;
    }
    c->last_commit = cs_monotonic_ns();
    return c;
}

static int report_error(struct cs_collector *c, char *err, size_t errlen);

struct cs_collector *cs_collector_open_building(const struct cs_collector_facts *facts,
                                                const struct cs_collector_options *options, char *err,
                                                size_t errlen)
{
    struct cs_collector *c = calloc(1, sizeof *c);
    if (!c || !(c->values = cs_value_cache_new())) {
        snprintf(err, errlen, "out of memory");
        cs_collector_free(c);
        return NULL;
    }
    c->building = 1;
    c->facts = *facts;
    c->opt = *options;
    c->opt.defer_rows = 0;
    c->store = cs_store_create(options->db_path, err, errlen);
    if (!c->store) {
        cs_collector_free(c);
        return NULL;
    }
    /* Until the log's first calibration (its first record): a tick a ns. */
    c->cal = (struct cs_clock_calibration){facts->ticks0, facts->monotonic0_ns, facts->ticks0 + 1000000000u,
                                           cs_clock_add(facts->monotonic0_ns, 1000000000)};
    use_calibration(c);
    cs_store_begin(c->store);
    write_start_meta(c);
    c->last_commit = cs_monotonic_ns();
    return c;
}

void cs_collector_deliver(struct cs_collector *c, uint64_t stream_id, uint32_t pid, const unsigned char *bytes,
                          size_t n)
{
    cs_store_begin(c->store);
    on_bytes(c, stream_id, pid, bytes, n);
    commit_if_due(c, COMMIT_EVERY_NS);
}

void cs_collector_use_calibration(struct cs_collector *c, const struct cs_clock_calibration *cal)
{
    /* A hostile log's calibration must not divide by zero or run backwards. */
    if (cal->ticks1 <= cal->ticks0 || cal->ns1 <= cal->ns0)
        return;
    c->cal = *cal;
    use_calibration(c);
}

int cs_collector_error(struct cs_collector *c, char *err, size_t errlen)
{
    return report_error(c, err, errlen);
}

/* Trim once as many rows again arrived: the file holds at most about
 * twice the limit, and each trim costs about as much as the inserts.
 * Returns how many calls to keep, or 0 when no trim is due. */
static int64_t trim_due(struct cs_collector *c)
{
    int64_t keep = c->opt.max_calls;
    if (keep > 0 && c->rows_since_trim >= (keep > 50000 ? keep : 50000)) {
        c->rows_since_trim = 0;
        return keep;
    }
    return 0;
}

/* Calls that have been running for a while (main(), a server's loop, a
 * request stuck in a slow query) get a row now, with no end yet, so that
 * readers see them while the program runs and their callees have a parent
 * to hang from; the row is replaced when the call ends. */
static void show_open_calls_now(struct cs_collector *c)
{
    int64_t now = ticks_to_start_ns(c, cs_ticks());
    for (size_t s = 0; s < c->nstreams; s++) {
        struct stream *st = c->streams[s];
        for (size_t i = 0; st && i < st->depth; i++) {
            struct frame *f = &st->stack[i];
            /* (a call shown cannot end up shorter than --min-duration) */
            int64_t running = now - ticks_to_start_ns(c, f->start_ticks);
            if (!f->id || f->shown || running < COMMIT_EVERY_NS || running < c->opt.min_duration_ns)
                continue;
            struct cs_call_row row = row_of(c, st, f, (int)i);
            row.mode = CS_ROW_OPEN;
            add_row(c, &row);
            f->shown = 1;
        }
    }
}

static void show_open_calls(struct cs_collector *c)
{
    if (!c->building) /* (a build's readers wait for its end; a follower's see show_so_far) */
        show_open_calls_now(c);
}

void cs_collector_show_so_far(struct cs_collector *c)
{
    /* The log's ticks are this machine's clock, read by the recorder: a
     * call running since is as old as it would be in a live recording. */
    show_open_calls_now(c);
    cs_store_commit(c->store);
    c->last_commit = cs_monotonic_ns();
    c->rows_since_commit = 0;
}

void cs_collector_set_ring_lost(struct cs_collector *c, uint64_t lost_events)
{
    c->facts.lost_events = lost_events;
}

/* Commits unless the last commit was less than `interval` ns ago. */
static void commit_if_due(struct cs_collector *c, int64_t interval)
{
    int64_t now = cs_monotonic_ns();
    if (now - c->last_commit < interval)
        return;
    show_open_calls(c);
    if (c->log)
        keep_log_block(c);
    cs_store_commit_async(c->store, trim_due(c));
    c->last_commit = now;
    c->rows_since_commit = 0;
}

/* Whether a stored args array refers to a vals id above `kept`. Its items
 * are ids and JSON strings. */
static int refers_above(const char *p, const char *end, int64_t kept)
{
    while (p < end) {
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++)
                p += *p == '\\';
            p++;
        } else if (*p >= '0' && *p <= '9') {
            int64_t id = 0;
            while (p < end && *p >= '0' && *p <= '9')
                id = id * 10 + (*p++ - '0');
            if (id > kept)
                return 1;
        } else {
            p++;
        }
    }
    return 0;
}

/* The store resumed after its disk was full, and values with ids above
 * `kept` have no rows: every value is stored anew from now on, and the
 * calls still open whose arguments refer to a lost one keep none (their
 * rows say that events around them were lost). */
static void after_disk_full(struct cs_collector *c)
{
    struct cs_store_gaps gaps;
    cs_store_disk_full_gaps(c->store, &gaps);
    int64_t kept = gaps.values_kept;
    cs_value_cache_forget(c->values);
    for (size_t s = 0; s < c->nstreams; s++) {
        struct stream *st = c->streams[s];
        for (size_t i = 0; st && i < st->depth; i++) {
            struct frame *f = &st->stack[i];
            const char *args = st->args.data + f->args_off;
            if (f->args_len != NO_ARGS && refers_above(args, args + f->args_len, kept)) {
                f->args_len = NO_ARGS;
                f->flags |= CS_CALL_LOST;
            }
        }
    }
}

static int report_error(struct cs_collector *c, char *err, size_t errlen)
{
    if (c->oom) {
        snprintf(err, errlen, "out of memory while collecting");
        return -1;
    }
    const char *e = cs_store_error(c->store);
    if (e) {
        snprintf(err, errlen, "%s", e);
        return -1;
    }
    if (c->log) {
        /* A log with a gap would be built into calls paired wrongly
         * across it: it ends where the disk filled. */
        struct cs_store_gaps gaps;
        cs_store_disk_full_gaps(c->store, &gaps);
        if (c->log_refused || gaps.gaps) {
            snprintf(err, errlen, "cannot write %s: the disk is full (a recording with --defer-rows does not pause"
                     " for room)", c->opt.db_path);
            return -1;
        }
    }
    return 0;
}

long cs_collector_step(struct cs_collector *c, char *err, size_t errlen)
{
    int64_t now = cs_monotonic_ns();
    if (now - c->last_calibration >= CALIBRATE_EVERY_NS)
        calibrate(c);
    c->rows_in_step = 0;
    if (cs_store_resume(c->store, 0))
        after_disk_full(c);
    cs_store_begin(c->store);
    size_t delivered = cs_ring_read(c->reader, c->log ? log_delivery : on_bytes, c);
    cs_store_flush_calls(c->store);
    /* Idle: commit what is pending so readers see it soon; with nothing
     * pending, only as often as the open calls are shown. */
    commit_if_due(c, delivered == 0 && c->rows_since_commit ? IDLE_COMMIT_NS : COMMIT_EVERY_NS);
    if (report_error(c, err, errlen) != 0)
        return -1;
    return (long)c->rows_in_step;
}

/* cs_collector_finish of a deferred recording: the rest of the log, and
 * what building its rows will need to know of the end. */
static int finish_log(struct cs_collector *c, char *err, size_t errlen)
{
    struct cs_store *s = c->store;
    cs_store_begin(s);
    calibrate(c);
    for (int i = 0; i < 64 && cs_ring_read(c->reader, log_delivery, c) > 0; i++)
        ;
    keep_log_block(c);
    cs_store_set_meta_int(s, "ring_lost_events", (int64_t)atomic_load(&c->ring->header->lost_events));
    cs_store_set_meta_int(s, "finished", 1);
    cs_store_set_meta_int(s, "collector_cpu_ns", cs_thread_cpu_ns());
    cs_store_commit(s);
    cs_store_checkpoint(s);
    return report_error(c, err, errlen);
}

int cs_collector_finish(struct cs_collector *c, char *err, size_t errlen)
{
    if (c->reader)
        cs_ring_reap_dead(c->reader);
    if (c->log)
        return finish_log(c, err, errlen);
    if (cs_store_resume(c->store, 1))
        after_disk_full(c);
    cs_store_begin(c->store);
    calibrate(c);
    /* Dead producers' chunks are delivered by the read after the reap. */
    for (int i = 0; c->reader && i < 64 && cs_ring_read(c->reader, on_bytes, c) > 0; i++)
        ;
    for (size_t i = 0; i < c->nstreams; i++)
        if (c->streams[i])
            unwind_all(c, c->streams[i]);
    cs_store_sync(c->store);
    if (c->opt.max_calls > 0)
        cs_store_trim_calls(c->store, c->opt.max_calls);
    uint64_t ring_lost = c->ring ? atomic_load(&c->ring->header->lost_events) : c->facts.lost_events;
    if (ring_lost > c->lost_events) {
        /* Dropped by threads that never had a chunk again to say where
         * (they ended first): one row, of no thread, at the end. */
        uint64_t end = c->building ? c->cal.ticks1 : cs_ticks();
        cs_store_add_lost(c->store, -1, ticks_to_start_ns(c, end), (int64_t)(ring_lost - c->lost_events));
        c->lost_events = ring_lost;
    }
    struct cs_store *s = c->store;
    /* A disk still full gets a last try, for the rows that end the file. */
    if (cs_store_resume(s, 1))
        after_disk_full(c);
    cs_store_begin(s);
    struct cs_store_gaps gaps;
    cs_store_disk_full_gaps(s, &gaps);
    if (gaps.gaps) {
        cs_store_set_meta_int(s, "disk_full_gaps", gaps.gaps);
        cs_store_set_meta_int(s, "disk_full_lost_calls", gaps.calls_lost);
    }
    cs_store_set_meta_int(s, "finished", 1);
    cs_store_set_meta_int(s, "calls", cs_store_calls_written(s));
    cs_store_set_meta_int(s, "lost_events", (int64_t)c->lost_events);
    cs_store_set_meta_int(s, "decode_errors", (int64_t)c->decode_errors);
    /* What the recording cost the collector, before the last checkpoint:
     * the rate it can sustain is calls over the busier thread. */
    cs_store_set_meta_int(s, "collector_cpu_ns", cs_thread_cpu_ns());
    cs_store_set_meta_int(s, "writer_cpu_ns", cs_store_writer_cpu_ns(s));
    cs_store_set_meta_int(s, "checkpoint_cpu_ns", cs_store_checkpointer_cpu_ns(s));
    cs_store_commit(s);
    cs_store_checkpoint(s);
    return report_error(c, err, errlen);
}

void cs_collector_totals(const struct cs_collector *c, struct cs_collector_totals *out)
{
    out->calls = (uint64_t)cs_store_calls_written(c->store);
    /* (a deferred recording decodes no EV_LOST: the ring's count it is) */
    out->lost_events = c->log ? atomic_load(&c->ring->header->lost_events) : c->lost_events;
    struct cs_store_gaps gaps;
    cs_store_disk_full_gaps(c->store, &gaps);
    out->disk_full_gaps = gaps.gaps;
    out->calls_lost_to_full_disk = gaps.calls_lost;
    out->disk_still_full = gaps.full;
    out->processes = c->npids;
    out->threads = c->nthreads;
    out->deferred_bytes = c->log ? c->log->bytes_in : 0;
}

int cs_collector_producers_alive(struct cs_collector *c)
{
    return c->reader ? cs_ring_reap_dead(c->reader) : 0;
}

uint64_t cs_collector_decode_errors(const struct cs_collector *c)
{
    return c->decode_errors;
}

void cs_collector_free(struct cs_collector *c)
{
    if (!c)
        return;
    cs_store_close(c->store);
    cs_ring_reader_free(c->reader);
    if (c->log) {
        cs_event_log_free(c->log);
        free(c->log);
    }
    for (size_t i = 0; i < c->nstreams; i++)
        free_stream(c->streams[i]);
    free(c->streams);
    for (size_t i = 0; i < c->nfunctions; i++) {
        struct function *fn = &c->functions[i];
        for (uint32_t k = 0; fn->last && k < fn->nargs && k < LAST_ARG_POSITIONS; k++)
            free(fn->last[k].bytes);
        free(fn->last);
        free(fn->last_result.bytes);
    }
    free(c->functions);
    free(c->threads);
    free(c->pids);
    cs_textbuf_free(&c->exception);
    cs_textbuf_free(&c->scratch);
    cs_textbuf_free(&c->fields);
    cs_textbuf_free(&c->value);
    cs_value_cache_free(c->values);
    free(c);
}
