/*
 * session.c — starting and stopping a recording in this process, and
 * keeping every traced thread's stream sound across thread exit and fork.
 */
#include "capture/recorder.h" /* Python.h first: it sets the feature macros */

#include <pthread.h>
#include <unistd.h>

#include "capture/repr_guard.h"
#include "capture/values.h"

struct cs_recording_state cs_rec = {.session = 1, .code_extra_index = -1};

/* Every thread that has a stream; changed under `threads_lock` because
 * threads leave without the GIL. */
static struct cs_thread *threads;
static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t thread_key;
static int registered_pid; /* this process is listed among the ring's producers */

static void list_remove(struct cs_thread *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else if (threads == t)
        threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

/* A thread ends: its last chunk is complete, hand it over. */
static void thread_exit(void *p)
{
    struct cs_thread *t = p;
    pthread_mutex_lock(&threads_lock);
    if (cs_rec.recording) {
        cs_record_held_unwinds(t, NULL, NULL);
        cs_writer_flush(&t->writer);
    }
    list_remove(t);
    pthread_mutex_unlock(&threads_lock);
    cs_writer_free(&t->writer);
    free(t);
}

void cs_session_track_thread(struct cs_thread *t)
{
    pthread_mutex_lock(&threads_lock);
    t->next = threads;
    if (threads)
        threads->prev = t;
    threads = t;
    pthread_mutex_unlock(&threads_lock);
    pthread_setspecific(thread_key, t);
    if (registered_pid != getpid()) {
        /* Registered lazily: a child that forks only to exec another program
         * never writes, and must not keep the collector waiting. */
        registered_pid = getpid();
        cs_ring_add_producer(&cs_rec.ring, registered_pid);
    }
}

/* In the child after fork: only the forking thread survives. Its stream
 * and the chunks it owned belong to the parent; start afresh. */
static void after_fork_child(void)
{
    threads_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    pid_t pid = getpid();
    struct cs_thread *self = pthread_getspecific(thread_key);
    threads = NULL; /* the other threads' states are copies: let them go */
    if (self) {
        self->next = self->prev = NULL;
        threads = self;
        cs_writer_reset(&self->writer, (uint32_t)pid, (uint32_t)getppid());
        self->writer.tid = (uint32_t)gettid();
    }
    registered_pid = 0;
    if (self && cs_rec.recording) {
        registered_pid = pid;
        cs_ring_add_producer(&cs_rec.ring, pid);
    }
}

static int suspend_tracing(int on)
{
    struct cs_thread *t = cs_thread_get();
    if (!t)
        return 0;
    int was = t->suppressed > 0;
    t->suppressed += on ? 1 : -1;
    return was;
}

int cs_session_init(void)
{
    static int done;
    if (done)
        return 0;
    if (pthread_key_create(&thread_key, thread_exit) != 0 || pthread_atfork(NULL, NULL, after_fork_child) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "callscope: cannot set up thread bookkeeping");
        return -1;
    }
    cs_values_suspend_tracing = suspend_tracing;
    done = 1;
    return cs_code_info_init();
}

int cs_recorder_start(struct cs_ring *ring, const char *extra_excludes)
{
    if (cs_session_init() != 0)
        return -1;
    const struct cs_capture_options *o = &ring->header->options;
    /* Exclusions: the ring's, then this process's own (stdlib paths...). */
    char excludes[2 * CS_PATTERN_BYTES + 2];
    size_t n = 0;
    for (const char *s = o->exclude; *s && n + strlen(s) + 2 < sizeof excludes; s += strlen(s) + 1) {
        memcpy(excludes + n, s, strlen(s) + 1);
        n += strlen(s) + 1;
    }
    for (const char *s = extra_excludes; s && *s && n + strlen(s) + 2 < sizeof excludes; s += strlen(s) + 1) {
        memcpy(excludes + n, s, strlen(s) + 1);
        n += strlen(s) + 1;
    }
    excludes[n] = 0;
    if (cs_filters_set(o->include, excludes) != 0) {
        PyErr_NoMemory();
        return -1;
    }
    cs_rec.ring = *ring;
    cs_writer_forget_collector();
    cs_rec.limits.max_string = o->max_string ? o->max_string : 120;
    cs_rec.limits.max_items = o->max_items ? (o->max_items > CS_MAX_ITEMS_LIMIT ? CS_MAX_ITEMS_LIMIT : o->max_items) : 10;
    cs_rec.limits.max_nesting = o->max_nesting ? o->max_nesting : 2;
    cs_rec.limits.use_repr = (o->flags & CS_OPT_REPR) != 0;
    cs_rec.no_args = (o->flags & CS_OPT_NO_ARGS) != 0;
    cs_rec.session++;
    /* A @notrace region the last session was stopped in does not silence
     * this one: its end is not matched against this session's count; nor
     * do frames it left open end calls of this one. */
    pthread_mutex_lock(&threads_lock);
    for (struct cs_thread *t = threads; t; t = t->next) {
        t->suppressed = 0;
        t->nbypassed = 0;
        t->entering = NULL;
    }
    pthread_mutex_unlock(&threads_lock);
    cs_rec.recording = 1;
    /* Joined now, even if no call is ever recorded: the collector waits for
     * this process to leave. Forked children join on their first event. */
    registered_pid = getpid();
    cs_ring_add_producer(&cs_rec.ring, registered_pid);
    return 0;
}

void cs_recorder_stop(void)
{
    if (!cs_rec.recording)
        return;
    uint64_t now = cs_ticks();
    pthread_mutex_lock(&threads_lock);
    for (struct cs_thread *t = threads; t; t = t->next) {
        cs_record_held_unwinds(t, NULL, NULL);
        if (t->writer.chunk) {
            unsigned char *p = cs_writer_begin(&t->writer, now);
            if (p) {
                *p++ = EV_STOP;
                p = cs_writer_put_dt(&t->writer, p, now);
                cs_writer_commit(&t->writer, p);
            }
        }
        cs_writer_flush(&t->writer);
        cs_writer_reset(&t->writer, (uint32_t)getpid(), (uint32_t)getppid());
    }
    pthread_mutex_unlock(&threads_lock);
    cs_rec.recording = 0;
    if (registered_pid == getpid())
        cs_ring_remove_producer(&cs_rec.ring, registered_pid);
    registered_pid = 0;
    cs_filters_clear();
    cs_repr_guard_stop();
}
