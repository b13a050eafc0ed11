/*
 * query_top.c — `callscope top PID [-i SECONDS] [-n ROUNDS] [--rows N]
 * [--hz RATE] [--calls]`: the functions the process spends its CPU time in
 * now, a table per interval, like top.
 *
 * How it is measured: the agent's loop wakes RATE times a second (100),
 * takes the GIL, and for every thread of the interpreter reads how much CPU
 * time the thread used since the last sample (its kernel CPU clock) and
 * walks its Python stack. That CPU time is credited to the innermost
 * function as self time and to every function on the stack as total time;
 * a thread that slept in between is credited nothing, so waiting is not
 * time spent. A sample lands where a thread gives up the GIL: anywhere in
 * its Python code when the interpreter asks it to (after the switch
 * interval), or at a blocking call it makes, which then gets the CPU time
 * of the short bursts before it. The program is not instrumented: nothing changes in the
 * functions it runs, and no code of the program runs. Each sample costs the
 * program one handover of the GIL and the agent's stack walks while it
 * holds it (docs/live.md has the measured cost).
 *
 * Calls are not counted by sampling: that needs every call seen. With
 * --calls the question puts a counting watch in force for as long as it
 * runs (call_count.h): the hooks then count each function's calls, which
 * costs every call of the program, and each round reports the calls of the
 * functions shown, per second of the round. Without --calls nothing is
 * instrumented.
 *
 * The samples are taken by the agent's loop between serving its clients
 * (query.h's cs_live_later), so no client waits for a round to end; the
 * client leaving ends the sampling.
 */
#include <Python.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "hooks/family.h"
#include "live/call_count.h"
#include "live/observer.h"
#include "live/query.h"
#include "py/compat.h"
#include "util/json.h"

#define DEFAULT_ROWS 20
#define MAX_ROWS 500
#define DEFAULT_HZ 100
#define MAX_HZ 1000
#define MAX_ROUNDS 1000000L
#define MAX_INTERVAL_S 3600
#define STACK_DEPTH 256      /* frames walked per thread and sample */
#define MAX_FUNCTIONS 65536  /* distinct functions counted per round */
#define MAX_THREADS 1024

struct function_time {
    PyCodeObject *code; /* strong reference; NULL: a free slot */
    int64_t self_ns, total_ns;
    long long self_samples, total_samples;
    long long seen_in_sample; /* the sample that last counted its total */
};

struct thread_clock {
    unsigned long ident;
    int64_t cpu_ns;
    long long sample; /* the last sample that saw the thread */
};

struct top_question {
    struct cs_live_later later;
    int64_t interval_ns, sample_ns, round_start, round_end;
    long rounds_left; /* -1: until the client leaves */
    long round;
    int rows;
    long long samples; /* this round */
    long long sample_id;
    int64_t cpu_ns;    /* this round, all threads */
    int threads_seen;
    struct function_time *functions;
    size_t cap, used;
    struct thread_clock threads[MAX_THREADS];
    int nthreads;
    /* --calls: the calls counted this round, and the watch counting them */
    struct cs_call_counts *calls;
    int calls_watch;
};

/* ---- the table of functions ---- */

static size_t function_slot(const struct top_question *q, PyCodeObject *code)
{
    size_t i = (((uintptr_t)code >> 4) * 0x9E3779B97F4A7C15ull) & (q->cap - 1);
    while (q->functions[i].code && q->functions[i].code != code)
        i = (i + 1) & (q->cap - 1);
    return i;
}

static int functions_grow(struct top_question *q)
{
    size_t cap = q->cap ? q->cap * 2 : 1024;
    struct function_time *bigger = calloc(cap, sizeof *bigger);
    if (!bigger)
        return -1;
    struct function_time *old = q->functions;
    size_t old_cap = q->cap;
    q->functions = bigger;
    q->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].code)
            q->functions[function_slot(q, old[i].code)] = old[i];
    free(old);
    return 0;
}

/* The function's row (NULL when the table is full). */
static struct function_time *function_row(struct top_question *q, PyCodeObject *code)
{
    if (q->used * 2 >= q->cap && (q->used >= MAX_FUNCTIONS || functions_grow(q) != 0)) {
        size_t i = function_slot(q, code);
        return q->functions[i].code ? &q->functions[i] : NULL;
    }
    size_t i = function_slot(q, code);
    if (!q->functions[i].code) {
        Py_INCREF(code);
        q->functions[i].code = code;
        q->used++;
    }
    return &q->functions[i];
}

static void functions_clear(struct top_question *q)
{
    for (size_t i = 0; i < q->cap; i++)
        Py_XDECREF(q->functions[i].code);
    memset(q->functions, 0, q->cap * sizeof *q->functions);
    q->used = 0;
}

/* ---- sampling ---- */

/* CPU time a thread has used (ns), from its kernel clock; -1 unknown. */
static int64_t thread_cpu_ns(PyThreadState *ts)
{
    clockid_t clock;
    long long tid = cs_thread_native_id(ts);
    if (tid > 0)
        clock = (clockid_t)((~(unsigned int)tid << 3) | 6u); /* the kernel's CPU clock of thread tid */
    else if (pthread_getcpuclockid((pthread_t)ts->thread_id, &clock) != 0)
        return -1;
    struct timespec t;
    if (clock_gettime(clock, &t) != 0)
        return -1;
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* CPU time the thread used since the last sample that saw it. */
static int64_t cpu_since_last(struct top_question *q, PyThreadState *ts)
{
    int64_t now = thread_cpu_ns(ts);
    if (now < 0)
        return 0;
    for (int i = 0; i < q->nthreads; i++)
        if (q->threads[i].ident == ts->thread_id) {
            int64_t d = now - q->threads[i].cpu_ns;
            q->threads[i].cpu_ns = now;
            q->threads[i].sample = q->sample_id;
            return d > 0 ? d : 0;
        }
    /* first seen: its time so far is not this round's; threads gone are
     * forgotten to make room */
    int slot = q->nthreads < MAX_THREADS ? q->nthreads++ : -1;
    for (int i = 0; slot < 0 && i < q->nthreads; i++)
        if (q->threads[i].sample < q->sample_id - 1)
            slot = i;
    if (slot >= 0)
        q->threads[slot] = (struct thread_clock){ts->thread_id, now, q->sample_id};
    return 0;
}

struct walk {
    struct top_question *q;
    int64_t cpu_ns;
    int depth;
};

static void visit_frame(void *ctx, PyCodeObject *code, PyObject *globals, PyObject *first_arg, int lineno)
{
    (void)lineno;
    struct walk *w = ctx;
    cs_live_name_walked_code(code, globals, first_arg);
    struct function_time *f = function_row(w->q, code);
    if (f && w->depth == 0) {
        f->self_ns += w->cpu_ns;
        f->self_samples++;
    }
    if (f && f->seen_in_sample != w->q->sample_id) { /* recursion counts once */
        f->seen_in_sample = w->q->sample_id;
        f->total_ns += w->cpu_ns;
        f->total_samples++;
    }
    w->depth++;
}

static void take_sample(struct top_question *q)
{
    PyThreadState *self = PyThreadState_Get();
    q->sample_id++;
    q->samples++;
    int threads = 0;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(self->interp); ts && threads < MAX_THREADS;
         ts = PyThreadState_Next(ts)) {
        if (ts == self)
            continue; /* the agent's own thread, sampling */
        threads++;
        struct walk w = {q, cpu_since_last(q, ts), 0};
        if (!w.cpu_ns)
            continue; /* it slept since the last sample */
        q->cpu_ns += w.cpu_ns;
        cs_family_walk_frames(cs_thread_frame(ts), visit_frame, &w, STACK_DEPTH);
        PyErr_Clear();
    }
    if (threads > q->threads_seen)
        q->threads_seen = threads;
}

/* ---- a round's table ---- */

static int by_self(const void *x, const void *y)
{
    const struct function_time *a = x, *b = y;
    if (a->self_ns != b->self_ns)
        return a->self_ns < b->self_ns ? 1 : -1;
    return a->total_ns < b->total_ns ? 1 : a->total_ns > b->total_ns ? -1 : 0;
}

static void round_answer(struct top_question *q, struct cs_live_answer *a, int64_t now)
{
    double wall_ns = (double)(now - q->round_start);
    if (wall_ns <= 0)
        wall_ns = 1;
    struct function_time *sorted = malloc((q->used + 1) * sizeof *sorted);
    size_t n = 0;
    for (size_t i = 0; sorted && i < q->cap; i++)
        if (q->functions[i].code && q->functions[i].total_ns)
            sorted[n++] = q->functions[i]; /* the table keeps the references */
    if (sorted)
        qsort(sorted, n, sizeof *sorted, by_self);
    double cpu_percent = (double)q->cpu_ns * 100.0 / wall_ns;
    cs_textbuf_printf(&a->json, "{\"round\":%ld,\"interval_s\":%.3f,\"samples\":%lld,\"threads\":%d,"
                                "\"cpu_percent\":%.1f,\"functions_seen\":%zu,\"functions\":[",
                      q->round, wall_ns / 1e9, q->samples, q->threads_seen, cpu_percent, n);
    cs_textbuf_printf(&a->text, "callscope top: round %ld, %.2f s, %lld samples, %d threads, CPU %.1f%%\n", q->round,
                      wall_ns / 1e9, q->samples, q->threads_seen, cpu_percent);
    /* a reset or detach may have removed the counting: no calls then */
    int counted = q->calls && cs_call_counts_in_force(q->calls);
    cs_textbuf_printf(&a->text, "%7s %7s %9s %9s  %s%s\n", "SELF%", "TOTAL%", "SELF ms", "TOTAL ms",
                      q->calls ? "  CALLS/s  " : "", "FUNCTION");
    for (size_t i = 0; i < n && (int)i < q->rows; i++) {
        struct function_time *f = &sorted[i];
        struct cs_textbuf name = {0};
        cs_live_function_name(&name, f->code);
        const char *file = PyUnicode_AsUTF8(f->code->co_filename);
        PyErr_Clear();
        double self_ms = (double)f->self_ns / 1e6, total_ms = (double)f->total_ns / 1e6;
        double self_percent = (double)f->self_ns * 100.0 / wall_ns, total_percent = (double)f->total_ns * 100.0 / wall_ns;
        cs_textbuf_puts(&a->json, i ? ",{\"function\":" : "{\"function\":");
        cs_json_string(&a->json, name.data ? name.data : "", name.len);
        cs_textbuf_puts(&a->json, ",\"filename\":");
        cs_json_string(&a->json, file ? file : "", file ? strlen(file) : 0);
        cs_textbuf_printf(&a->json, ",\"lineno\":%d,\"self_ms\":%.3f,\"total_ms\":%.3f,\"self_percent\":%.2f,"
                                    "\"total_percent\":%.2f,\"self_samples\":%lld,\"total_samples\":%lld",
                          f->code->co_firstlineno, self_ms, total_ms, self_percent, total_percent, f->self_samples,
                          f->total_samples);
        cs_textbuf_printf(&a->text, "%7.1f %7.1f %9.1f %9.1f  ", self_percent, total_percent, self_ms, total_ms);
        if (counted) {
            uint64_t calls = cs_call_counts_get(q->calls, f->code);
            double per_s = (double)calls * 1e9 / wall_ns;
            cs_textbuf_printf(&a->json, ",\"calls\":%llu,\"calls_per_s\":%.1f}", (unsigned long long)calls, per_s);
            cs_textbuf_printf(&a->text, "%9.*f  ", per_s < 100 ? 1 : 0, per_s);
        } else {
            cs_textbuf_puts(&a->json, ",\"calls\":null,\"calls_per_s\":null}");
            if (q->calls)
                cs_textbuf_printf(&a->text, "%9s  ", "-");
        }
        cs_textbuf_printf(&a->text, "%.*s (%s:%d)\n", (int)name.len, name.data ? name.data : "", file ? file : "?",
                          f->code->co_firstlineno);
        cs_textbuf_free(&name);
    }
    cs_textbuf_puts(&a->json, "]}");
    free(sorted);
    functions_clear(q); /* each round counts afresh */
    if (q->calls)
        cs_call_counts_clear(q->calls);
}

static int top_step(struct cs_live_later *self, struct cs_live_answer *a)
{
    struct top_question *q = (struct top_question *)self;
    int64_t now = cs_monotonic_ns();
    take_sample(q);
    /* the next sample on the sampling grid, not after this one's work:
     * a slow sample does not slow the rate down for good */
    while (q->later.due_ns <= now)
        q->later.due_ns += q->sample_ns;
    if (now < q->round_end)
        return CS_LATER_WAIT;
    round_answer(q, a, now);
    q->round++;
    q->samples = 0;
    q->cpu_ns = 0;
    q->threads_seen = 0;
    q->round_start = now;
    q->round_end = now + q->interval_ns;
    q->later.due_ns = now + q->sample_ns;
    if (q->rounds_left > 0 && --q->rounds_left == 0)
        return CS_LATER_LAST;
    return CS_LATER_ROUND;
}

static void top_end(struct cs_live_later *self)
{
    struct top_question *q = (struct top_question *)self;
    /* the counting ends with the question: the hooks go if nothing else
     * is observed */
    if (q->calls_watch > 0)
        cs_live_watch_remove(q->calls_watch);
    cs_call_counts_free(q->calls);
    functions_clear(q);
    free(q->functions);
    free(q);
}

static int parse_number(const char *opt, const char *v, double lo, double hi, double *out, char *err, size_t errlen)
{
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || !(d >= lo && d <= hi)) {
        snprintf(err, errlen, "top: %s takes a number from %g to %g, not '%.60s'", opt, lo, hi, v ? v : "");
        return -1;
    }
    *out = d;
    return 0;
}

int cs_query_top(int argc, char **argv, struct cs_live_answer *a)
{
    double interval = 1, rounds = -1, rows = DEFAULT_ROWS, hz = DEFAULT_HZ;
    int calls = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--calls")) {
            calls = 1;
            continue;
        }
        const char *opt = argv[i], *v = i + 1 < argc ? argv[++i] : NULL;
        double *out = !strcmp(opt, "-i") || !strcmp(opt, "--interval") ? &interval
                      : !strcmp(opt, "-n") || !strcmp(opt, "--rounds") ? &rounds
                      : !strcmp(opt, "--rows")                          ? &rows
                      : !strcmp(opt, "--hz")                            ? &hz
                                                                        : NULL;
        if (!out) {
            snprintf(a->error, sizeof a->error, "top: unexpected argument '%.100s' (top takes -i SECONDS, -n ROUNDS, "
                                                "--rows N, --hz RATE, --calls)", opt);
            return -1;
        }
        double lo = out == &interval ? 0.1 : 1;
        double hi = out == &interval ? MAX_INTERVAL_S : out == &rounds ? MAX_ROUNDS : out == &rows ? MAX_ROWS : MAX_HZ;
        if (parse_number(opt, v, lo, hi, out, a->error, sizeof a->error) != 0)
            return -1;
        if (out != &interval && *out != (double)(long)*out) {
            snprintf(a->error, sizeof a->error, "top: %s takes a whole number, not '%.60s'", opt, v);
            return -1;
        }
    }
    struct top_question *q = calloc(1, sizeof *q);
    if (!q || functions_grow(q) != 0 || (calls && !(q->calls = cs_call_counts_new()))) {
        if (q)
            free(q->functions);
        free(q);
        snprintf(a->error, sizeof a->error, "out of memory in the target");
        return -1;
    }
    /* counting from before the round starts, so its calls are the round's */
    if (calls && (q->calls_watch = cs_live_watch_add_counting(a->client, q->calls, a->error, sizeof a->error)) < 0) {
        cs_call_counts_free(q->calls);
        free(q->functions);
        free(q);
        return -1;
    }
    int64_t now = cs_monotonic_ns();
    q->interval_ns = (int64_t)(interval * 1e9);
    q->sample_ns = (int64_t)(1e9 / hz);
    q->rounds_left = (long)rounds;
    q->rows = (int)rows;
    q->round = 1;
    q->round_start = now;
    q->round_end = now + q->interval_ns;
    /* a first sample now: every thread's CPU clock is read, so the round's
     * time starts here */
    take_sample(q);
    q->samples = 0;
    q->cpu_ns = 0;
    functions_clear(q);
    if (q->calls)
        cs_call_counts_clear(q->calls);
    q->later.due_ns = now + q->sample_ns;
    q->later.step = top_step;
    q->later.end = top_end;
    a->later = &q->later;
    return 0;
}
