/*
 * repr_guard.c — the watchdog that bounds a --repr call (see repr_guard.h).
 */
#include <Python.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "capture/repr_guard.h"
#include "core/clock.h"

#define BOUND_NS ((int64_t)CS_REPR_BOUND_S * 1000000000)
#define POLL_NS 20000000
#define MAX_GUARDED 64 /* reprs running at once, one per thread at most */

/* A repr in progress. The deadline is read by the watchdog without the GIL
 * (to decide whether to take it at all); everything else is changed only
 * under the GIL. */
struct guarded {
    _Atomic int64_t deadline; /* 0: the slot is free */
    unsigned long thread_id;
    int fired;
};

static struct guarded slots[MAX_GUARDED];
static PyObject *timeout_type;
static pthread_t watchdog;
static pid_t watchdog_pid; /* the process whose watchdog runs; 0: none */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static int stopping;

static int any_due(int64_t now)
{
    for (int i = 0; i < MAX_GUARDED; i++) {
        int64_t d = atomic_load_explicit(&slots[i].deadline, memory_order_acquire);
        if (d && d <= now)
            return 1;
    }
    return 0;
}

/* Under the GIL: every repr past its deadline gets the exception, and a new
 * deadline in case it catches it. */
static void fire_due(void)
{
    int64_t now = cs_monotonic_ns();
    for (int i = 0; i < MAX_GUARDED; i++) {
        struct guarded *g = &slots[i];
        int64_t d = atomic_load_explicit(&g->deadline, memory_order_relaxed);
        if (d && d <= now) {
            g->fired = 1;
            PyThreadState_SetAsyncExc(g->thread_id, timeout_type);
            atomic_store_explicit(&g->deadline, now + BOUND_NS, memory_order_relaxed);
        }
    }
}

static void *watch(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&lock);
    while (!stopping) {
        /* An absolute time on CLOCK_MONOTONIC, the clock `wake` waits on. */
        int64_t wake_ns = cs_monotonic_ns() + POLL_NS;
        struct timespec until = {(time_t)(wake_ns / 1000000000), (long)(wake_ns % 1000000000)};
        pthread_cond_timedwait(&wake, &lock, &until);
        if (stopping || !any_due(cs_monotonic_ns()))
            continue;
        /* The GIL only when a repr is overdue: a program whose reprs
         * return in time never shares it with this thread. */
        pthread_mutex_unlock(&lock);
        PyGILState_STATE gil = PyGILState_Ensure();
        fire_due();
        PyGILState_Release(gil);
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

static int start_watchdog(void)
{
    if (!timeout_type) {
        timeout_type = PyErr_NewExceptionWithDoc("callscope.ReprTimeout",
                                                 "a __repr__ ran past callscope's time bound under --repr",
                                                 PyExc_BaseException, NULL);
        if (!timeout_type) {
            PyErr_Clear();
            return -1;
        }
    }
    /* In a forked child the lock may have been copied held, and the slots
     * describe the parent's threads. */
    lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    wake = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
    for (int i = 0; i < MAX_GUARDED; i++)
        atomic_store(&slots[i].deadline, 0);
    stopping = 0;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wake, &attr);
    pthread_condattr_destroy(&attr);
    /* The program's signals stay with the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&watchdog, NULL, watch, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return -1;
    watchdog_pid = getpid();
    return 0;
}

int cs_repr_guard_enter(void)
{
    if (watchdog_pid != getpid() && start_watchdog() != 0)
        return -1;
    for (int i = 0; i < MAX_GUARDED; i++) {
        struct guarded *g = &slots[i];
        if (atomic_load_explicit(&g->deadline, memory_order_relaxed) == 0) {
            g->thread_id = PyThread_get_thread_ident();
            g->fired = 0;
            atomic_store_explicit(&g->deadline, cs_monotonic_ns() + BOUND_NS, memory_order_release);
            return i;
        }
    }
    return -1;
}

int cs_repr_guard_leave(int slot)
{
    struct guarded *g = &slots[slot];
    int fired = g->fired;
    if (fired)
        PyThreadState_SetAsyncExc(g->thread_id, NULL); /* one raised after the repr had returned */
    atomic_store_explicit(&g->deadline, 0, memory_order_release);
    return fired;
}

void cs_repr_guard_stop(void)
{
    if (watchdog_pid != getpid())
        return;
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    /* The watchdog may be waiting for the GIL: let it have it. */
    Py_BEGIN_ALLOW_THREADS
    pthread_join(watchdog, NULL);
    Py_END_ALLOW_THREADS
    watchdog_pid = 0;
}
