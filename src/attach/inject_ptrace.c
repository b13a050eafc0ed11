/*
 * inject_ptrace.c — our own injector: stop one thread of the target with
 * ptrace, make it call dlopen() and then the entry function as if it had
 * called them itself, and put everything back.
 *
 * How a call is made: the thread's registers are saved (general purpose
 * and the whole XSAVE area), the strings are written below the stack's red
 * zone, a return address of 0 is pushed so that returning faults with rip 0
 * (a SIGSEGV we intercept and never deliver), and the thread is resumed at
 * the function with its arguments in rdi/rsi. orig_rax is set to -1 so that
 * a system call the thread was blocked in is not restarted into our call;
 * restoring the saved registers afterwards lets the kernel restart it (or
 * return EINTR) exactly as it would have.
 *
 * The tracing itself runs in a child process: if anything goes wrong past
 * every timeout, that child exits and the kernel detaches the target, which
 * can then never stay stopped. Signals that arrive for the thread while it
 * is held are suppressed and sent again, in order, once it is released.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach/child_process.h"
#include "attach/elf_symbols.h"
#include "attach/inject.h"
#include "attach/target.h"
#include "core/clock.h"

#define RTLD_NOW_FLAG 2
#define RED_ZONE 128
#define XSTATE_MAX (64 * 1024)
#define MAX_HELD_SIGNALS 64
#define STOP_TIMEOUT_MS 3000
#define SAFE_POINT_TRIES 200

/* A thread held under ptrace, and everything needed to give it back. */
struct held {
    pid_t tid;
    int mem;                        /* /proc/PID/mem */
    struct user_regs_struct regs;   /* as it was stopped */
    unsigned char *xstate;          /* XSAVE area (or user_fpregs_struct) */
    size_t xstate_len;
    int xstate_is_fpregs;
    uintptr_t scratch;              /* stack bytes we overwrite ... */
    unsigned char saved[8192];      /* ... and what they held */
    size_t scratch_len;
    uintptr_t errno_at;             /* the thread's errno (0: not known yet) ... */
    int errno_value;                /* ... and its value when stopped */
    int signals[MAX_HELD_SIGNALS];  /* arrived while held: sent again after release */
    int nsignals;
    int64_t deadline_ms;            /* the whole injection */
};

struct outcome {
    int status;
    int result;
    char err[512];
};

/* The message of every step that finds the process (or the thread) gone;
 * returns CS_INJECT_GONE. */
static int exited_during_attach(struct outcome *o, pid_t pid)
{
    snprintf(o->err, sizeof o->err, "process %d exited during attach", (int)pid);
    return CS_INJECT_GONE;
}

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static void hold_signal(struct held *h, int sig)
{
    if (h->nsignals < MAX_HELD_SIGNALS)
        h->signals[h->nsignals++] = sig;
}

/* Waits (at most timeout_ms) for the thread's next ptrace stop. Returns 0
 * with *status, CS_INJECT_GONE if it exited, CS_INJECT_TIMEOUT. */
static int wait_stop(struct held *h, int *status, int timeout_ms)
{
    int64_t until = cs_monotonic_ms() + timeout_ms;
    long pause_us = 50;
    for (;;) {
        pid_t r = waitpid(h->tid, status, WNOHANG | __WALL);
        if (r == h->tid) {
            if (WIFEXITED(*status) || WIFSIGNALED(*status))
                return CS_INJECT_GONE;
            return 0;
        }
        if (r < 0 && errno != EINTR)
            return CS_INJECT_GONE; /* ECHILD: no longer ours to wait for */
        if (cs_monotonic_ms() >= until)
            return CS_INJECT_TIMEOUT;
        nap_us(pause_us);
        if (pause_us < 2000)
            pause_us *= 2;
    }
}

static int is_event_stop(int status)
{
    return (status >> 16) == PTRACE_EVENT_STOP;
}

/* Interrupts the running thread and waits for the interrupt's stop; signals
 * delivered before it are held. */
static int interrupt_and_wait(struct held *h, struct outcome *o)
{
    if (ptrace(PTRACE_INTERRUPT, h->tid, 0, 0) != 0)
        return exited_during_attach(o, h->tid);
    for (;;) {
        int status, rc = wait_stop(h, &status, STOP_TIMEOUT_MS);
        if (rc == CS_INJECT_GONE)
            return exited_during_attach(o, h->tid);
        if (rc == CS_INJECT_TIMEOUT) {
            snprintf(o->err, sizeof o->err, "process %d did not stop within %d ms (uninterruptible sleep?)",
                     (int)h->tid, STOP_TIMEOUT_MS);
            return rc;
        }
        if (is_event_stop(status)) {
            int sig = WSTOPSIG(status);
            if (sig == SIGTRAP)
                return 0;
            /* A group-stop: the process was stopped (SIGSTOP, ^Z) as we came. */
            hold_signal(h, SIGSTOP);
            ptrace(PTRACE_CONT, h->tid, 0, 0);
            continue;
        }
        hold_signal(h, WSTOPSIG(status));
        if (ptrace(PTRACE_CONT, h->tid, 0, 0) != 0)
            return exited_during_attach(o, h->tid);
    }
}

static int get_state(struct held *h, struct outcome *o)
{
    if (ptrace(PTRACE_GETREGS, h->tid, 0, &h->regs) != 0) {
        snprintf(o->err, sizeof o->err, "cannot read the registers of %d: %s", (int)h->tid, strerror(errno));
        return CS_INJECT_GONE;
    }
    struct iovec iov = {h->xstate, XSTATE_MAX};
    if (ptrace(PTRACE_GETREGSET, h->tid, (void *)NT_X86_XSTATE, &iov) == 0) {
        h->xstate_len = iov.iov_len;
        h->xstate_is_fpregs = 0;
        return 0;
    }
    if (ptrace(PTRACE_GETFPREGS, h->tid, 0, h->xstate) != 0) {
        snprintf(o->err, sizeof o->err, "cannot read the FP registers of %d: %s", (int)h->tid, strerror(errno));
        return CS_INJECT_GONE;
    }
    h->xstate_len = sizeof(struct user_fpregs_struct);
    h->xstate_is_fpregs = 1;
    return 0;
}

static int set_regs(struct held *h, struct user_regs_struct *r)
{
    return ptrace(PTRACE_SETREGS, h->tid, 0, r);
}

static int restore_state(struct held *h)
{
    int rc = 0;
    if (h->errno_at && pwrite(h->mem, &h->errno_value, sizeof h->errno_value, (off_t)h->errno_at) !=
                           (ssize_t)sizeof h->errno_value)
        rc = -1;
    if (h->scratch_len && pwrite(h->mem, h->saved, h->scratch_len, (off_t)h->scratch) != (ssize_t)h->scratch_len)
        rc = -1;
    if (set_regs(h, &h->regs) != 0)
        rc = -1;
    if (h->xstate_is_fpregs) {
        if (ptrace(PTRACE_SETFPREGS, h->tid, 0, h->xstate) != 0)
            rc = -1;
    } else {
        struct iovec iov = {h->xstate, h->xstate_len};
        if (ptrace(PTRACE_SETREGSET, h->tid, (void *)NT_X86_XSTATE, &iov) != 0)
            rc = -1;
    }
    return rc;
}

/* Lets the thread go and sends again the signals it missed meanwhile. */
static void release(struct held *h)
{
    ptrace(PTRACE_DETACH, h->tid, 0, 0);
    for (int i = 0; i < h->nsignals; i++)
        syscall(SYS_tgkill, h->tid, h->tid, h->signals[i]);
    h->nsignals = 0;
}

/* What every failure after the thread stopped does: its registers, stack,
 * errno and signals back as they were, and the thread let go. */
static void restore_and_release(struct held *h)
{
    restore_state(h);
    release(h);
}

/* Executable ranges of the C library and the dynamic linker: a thread
 * stopped running code there may hold one of their locks (malloc, the
 * loader's), which dlopen would then wait for forever. */
struct ranges {
    uintptr_t lo[32], hi[32];
    int n;
};

static void runtime_ranges(pid_t pid, struct ranges *r)
{
    char path[64], line[PATH_MAX + 256];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    r->n = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    while (fgets(line, sizeof line, f) && r->n < 32) {
        unsigned long lo, hi;
        char perms[8];
        int at = 0;
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &at) < 3 || !at || perms[2] != 'x')
            continue;
        const char *base = strrchr(line, '/');
        if (base && (!strncmp(base, "/libc.so", 8) || !strncmp(base, "/libc-", 6) || !strncmp(base, "/ld-linux", 9) ||
                     !strncmp(base, "/libpthread", 11) || !strncmp(base, "/libdl", 6))) {
            r->lo[r->n] = lo;
            r->hi[r->n] = hi;
            r->n++;
        }
    }
    fclose(f);
}

static int in_syscall(const struct user_regs_struct *r)
{
    return (long)r->orig_rax >= 0;
}

/* Stops the thread somewhere a call into dlopen is safe: blocked in a
 * system call, or running code outside libc and the dynamic linker. */
static int stop_at_safe_point(struct held *h, struct outcome *o)
{
    struct ranges rt;
    runtime_ranges(h->tid, &rt);
    for (int attempt = 0;; attempt++) {
        int rc = interrupt_and_wait(h, o);
        if (rc != 0)
            return rc;
        if ((rc = get_state(h, o)) != 0)
            return rc;
        int unsafe = 0;
        if (!in_syscall(&h->regs))
            for (int i = 0; i < rt.n; i++)
                if (h->regs.rip >= rt.lo[i] && h->regs.rip < rt.hi[i])
                    unsafe = 1;
        if (!unsafe)
            return 0;
        if (attempt >= SAFE_POINT_TRIES || cs_monotonic_ms() > h->deadline_ms) {
            snprintf(o->err, sizeof o->err, "process %d stayed inside the C library (0x%llx) for %d tries; "
                     "try again", (int)h->tid, (unsigned long long)h->regs.rip, attempt + 1);
            return CS_INJECT_TIMEOUT;
        }
        if (ptrace(PTRACE_CONT, h->tid, 0, 0) != 0)
            return exited_during_attach(o, h->tid);
        nap_us(200 + 100 * attempt);
    }
}

/* Calls fn(a0, a1) in the thread; the return value in *ret. On failure the
 * thread is restored (when it still exists) before returning. */
static int remote_call(struct held *h, uintptr_t fn, uint64_t a0, uint64_t a1, uintptr_t call_rsp, uint64_t *ret,
                       const char *what, struct outcome *o)
{
    struct user_regs_struct r = h->regs;
    r.rip = fn;
    r.rdi = a0;
    r.rsi = a1;
    r.rax = 0;
    r.rsp = call_rsp;
    r.orig_rax = (unsigned long long)-1; /* no system call restart into the call */
    uint64_t zero = 0;
    if (pwrite(h->mem, &zero, sizeof zero, (off_t)call_rsp) != (ssize_t)sizeof zero || set_regs(h, &r) != 0 ||
        ptrace(PTRACE_CONT, h->tid, 0, 0) != 0) {
        if (errno == ESRCH || cs_process_gone(h->tid))
            return exited_during_attach(o, h->tid);
        snprintf(o->err, sizeof o->err, "cannot set up the call to %s in process %d: %s", what, (int)h->tid,
                 strerror(errno));
        restore_and_release(h);
        return CS_INJECT_TOOL;
    }
    for (;;) {
        int status;
        int left = (int)(h->deadline_ms - cs_monotonic_ms());
        int rc = wait_stop(h, &status, left > 0 ? left : 1);
        if (rc == CS_INJECT_GONE) {
            snprintf(o->err, sizeof o->err, "process %d exited during attach (in %s)", (int)h->tid, what);
            return rc;
        }
        if (rc == CS_INJECT_TIMEOUT) {
            /* Take the thread back where it is and give it its own state:
             * whatever the call was doing is abandoned. */
            if (interrupt_and_wait(h, o) == 0) {
                restore_and_release(h);
            }
            snprintf(o->err, sizeof o->err, "%s did not return in process %d in time; it was abandoned and the "
                     "process resumed", what, (int)h->tid);
            return CS_INJECT_TIMEOUT;
        }
        int sig = WSTOPSIG(status);
        if (is_event_stop(status)) {
            if (sig != SIGTRAP)
                hold_signal(h, SIGSTOP);
            ptrace(PTRACE_CONT, h->tid, 0, 0);
            continue;
        }
        struct user_regs_struct now;
        if (ptrace(PTRACE_GETREGS, h->tid, 0, &now) != 0)
            return exited_during_attach(o, h->tid);
        if (sig == SIGSEGV && now.rip == 0 && now.rsp == call_rsp + 8) {
            *ret = now.rax;
            return 0;
        }
        if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) {
            restore_and_release(h);
            snprintf(o->err, sizeof o->err, "%s crashed in process %d (signal %d at 0x%llx); the process was "
                     "restored but may be unwell", what, (int)h->tid, sig, (unsigned long long)now.rip);
            return CS_INJECT_CRASHED;
        }
        hold_signal(h, sig);
        if (ptrace(PTRACE_CONT, h->tid, 0, 0) != 0)
            return exited_during_attach(o, h->tid);
    }
}

static int read_string(struct held *h, uintptr_t addr, char *out, size_t size)
{
    ssize_t n = pread(h->mem, out, size - 1, (off_t)addr);
    if (n <= 0)
        return -1;
    out[n] = 0;
    return 0;
}

/* dlopen: in libc since glibc 2.34, in libdl before. */
static int find_dl_function(pid_t pid, const char *name, uintptr_t *addr, struct outcome *o)
{
    const char *libs[] = {"libc.so.6", "libdl.so.2"};
    char err[512] = "";
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
        struct cs_mapped_object obj;
        if (cs_proc_find_object(pid, cs_match_basename, libs[i], &obj, err, sizeof err) == 0 &&
            cs_proc_symbol_in(pid, &obj, name, addr, err, sizeof err) == 0)
            return 0;
    }
    if (cs_process_gone(pid))
        return exited_during_attach(o, pid);
    snprintf(o->err, sizeof o->err, "cannot find %s in the C library of process %d (glibc 2.34+, or libdl "
             "loaded)%s%.300s", name, (int)pid, err[0] ? ": " : "", err);
    return CS_INJECT_TOOL;
}

/* Whether /proc shows any mapping for pid: a process that is exiting has
 * none left, even before it becomes a zombie. */
static int has_mappings(pid_t pid)
{
    char path[64], line[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    int any = f && fgets(line, sizeof line, f) != NULL;
    if (f)
        fclose(f);
    return any;
}

static int inject(const struct cs_inject_request *req, struct held *h, struct outcome *o)
{
    uintptr_t dlopen_at, dlerror_at, errno_location_at;
    /* Declared before the first `goto undo`, which must find them set. */
    struct cs_mapped_object obj;
    uintptr_t entry_at;
    char err[400] = "";
    int entry_missing = 0; /* the library loaded, but its entry is not found */
    int rc = find_dl_function(req->pid, "dlopen", &dlopen_at, o);
    if (rc == 0)
        rc = find_dl_function(req->pid, "dlerror", &dlerror_at, o);
    if (rc == 0)
        rc = find_dl_function(req->pid, "__errno_location", &errno_location_at, o);
    if (rc != 0)
        return rc;

    size_t lib_len = strlen(req->library) + 1, arg_len = strlen(req->arg) + 1;
    if (lib_len + arg_len + 128 > sizeof h->saved) { /* + alignment, gap, return slot */
        snprintf(o->err, sizeof o->err, "path too long: %s", req->library);
        return CS_INJECT_TOOL;
    }

    if (ptrace(PTRACE_SEIZE, req->pid, 0, 0) != 0) {
        if (errno == ESRCH || cs_process_gone(req->pid))
            return exited_during_attach(o, req->pid);
        char why[400];
        cs_ptrace_restriction(cs_have_cap_sys_ptrace(), why, sizeof why);
        snprintf(o->err, sizeof o->err, "not permitted to trace process %d: %s", (int)req->pid,
                 why[0] ? why : strerror(errno));
        return CS_INJECT_DENIED;
    }
    rc = stop_at_safe_point(h, o);
    if (rc == CS_INJECT_TIMEOUT) {
        release(h); /* stopped (tries exhausted), or never stopped: the child's exit detaches it */
        return rc;
    }
    if (rc != 0)
        return rc;

    /* Scratch below the red zone: [scratch, top) holds the return address
     * slot, the two strings, and alignment. */
    uintptr_t top = (uintptr_t)h->regs.rsp - RED_ZONE;
    uintptr_t strings = (top - lib_len - arg_len) & ~(uintptr_t)15;
    uintptr_t call_rsp = ((strings - 64) & ~(uintptr_t)15) - 8; /* (rsp + 8) % 16 == 0 at entry */
    h->scratch = call_rsp;
    h->scratch_len = top - call_rsp;
    if (pread(h->mem, h->saved, h->scratch_len, (off_t)h->scratch) != (ssize_t)h->scratch_len ||
        pwrite(h->mem, req->library, lib_len, (off_t)strings) != (ssize_t)lib_len ||
        pwrite(h->mem, req->arg, arg_len, (off_t)(strings + lib_len)) != (ssize_t)arg_len) {
        snprintf(o->err, sizeof o->err, "cannot write to the stack of process %d: %s", (int)req->pid,
                 strerror(errno));
        h->scratch_len = 0;
        rc = CS_INJECT_TOOL;
        goto undo;
    }

    /* dlopen and the entry may set errno: the thread gets its own back, in
     * case it stopped between a failing call and the reading of errno. */
    uint64_t handle = 0, value = 0, errno_at = 0;
    rc = remote_call(h, errno_location_at, 0, 0, call_rsp, &errno_at, "__errno_location", o);
    if (rc != 0)
        return rc;
    if (errno_at && pread(h->mem, &h->errno_value, sizeof h->errno_value, (off_t)errno_at) ==
                        (ssize_t)sizeof h->errno_value)
        h->errno_at = (uintptr_t)errno_at;
    rc = remote_call(h, dlopen_at, strings, RTLD_NOW_FLAG, call_rsp, &handle, "dlopen", o);
    if (rc != 0)
        return rc;
    if (handle == 0) {
        char msg[400] = "unknown reason";
        uint64_t text = 0;
        if (remote_call(h, dlerror_at, 0, 0, call_rsp, &text, "dlerror", o) != 0)
            return CS_INJECT_LOAD_FAILED;
        if (text)
            read_string(h, (uintptr_t)text, msg, sizeof msg);
        snprintf(o->err, sizeof o->err, "cannot load the agent into process %d: %s", (int)req->pid, msg);
        rc = CS_INJECT_LOAD_FAILED;
        goto undo;
    }

    if (cs_proc_find_object(req->pid, cs_match_path, req->library, &obj, err, sizeof err) != 0 ||
        cs_proc_symbol_in(req->pid, &obj, req->entry, &entry_at, err, sizeof err) != 0) {
        entry_missing = 1;
        rc = CS_INJECT_LOAD_FAILED;
        goto undo;
    }
    rc = remote_call(h, entry_at, strings + lib_len, 0, call_rsp, &value, req->entry, o);
    if (rc != 0)
        return rc;
    if (restore_state(h) != 0) {
        snprintf(o->err, sizeof o->err, "cannot restore process %d: %s", (int)req->pid, strerror(errno));
        release(h);
        return CS_INJECT_CRASHED;
    }
    release(h);
    o->result = (int)(uint32_t)value;
    return CS_INJECT_OK;

    /* A failure once the stack holds our strings: the thread gets its state
     * back and goes. (The steps that return early leave the thread as
     * their own failure left it: gone, or already restored.) */
undo:
    restore_and_release(h);
    if (entry_missing) {
        /* Another thread may have ended the process meanwhile: its
         * mappings vanish before /proc calls it a zombie, so an exit under
         * way gets a moment to show. */
        int gone = cs_process_gone(req->pid);
        for (int i = 0; i < 20 && !gone && !has_mappings(req->pid); i++) {
            usleep(25000);
            gone = cs_process_gone(req->pid);
        }
        if (gone)
            return exited_during_attach(o, req->pid);
        snprintf(o->err, sizeof o->err, "loaded %s into process %d but cannot find its %s: %s", req->library,
                 (int)req->pid, req->entry, err[0] ? err : "the library is not mapped");
    }
    return rc;
}

/* The child's side: trace, inject, report through the pipe. */
static void run_child(const struct cs_inject_request *req, int timeout_ms, int out)
{
    /* Finish what was started even if the terminal's ^C reaches us too:
     * dying in the middle of a call would leave the target in it. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    struct outcome o = {CS_INJECT_TOOL, 0, ""};
    static unsigned char xstate[XSTATE_MAX] __attribute__((aligned(64)));
    static struct held h;
    memset(&h, 0, sizeof h);
    h.tid = req->pid;
    h.xstate = xstate;
    h.deadline_ms = cs_monotonic_ms() + timeout_ms;
    char mem[64];
    snprintf(mem, sizeof mem, "/proc/%d/mem", (int)req->pid);
    h.mem = open(mem, O_RDWR | O_CLOEXEC);
    if (h.mem < 0) {
        if (errno == ENOENT) {
            o.status = CS_INJECT_GONE;
            snprintf(o.err, sizeof o.err, "no process with pid %d", (int)req->pid);
        } else {
            o.status = CS_INJECT_DENIED;
            snprintf(o.err, sizeof o.err, "not permitted to open the memory of process %d: %s", (int)req->pid,
                     strerror(errno));
        }
    } else {
        o.status = inject(req, &h, &o);
    }
    if (write(out, &o, sizeof o) != (ssize_t)sizeof o)
        _exit(1);
    _exit(0);
}

int cs_inject_ptrace(const struct cs_inject_request *req, int *result, char *err, size_t errlen)
{
    int timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 20000;
    int fds[2];
    pid_t child = cs_fork_with_pipe(fds, err, errlen);
    if (child < 0)
        return CS_INJECT_TOOL;
    if (child == 0) {
        close(fds[0]);
        run_child(req, timeout_ms, fds[1]);
    }
    close(fds[1]);
    struct outcome o;
    size_t got = 0;
    int timed_out = 0;
    /* The child's own timeouts come first; this one only guards against a
     * child that hangs outright. */
    int64_t until = cs_monotonic_ms() + timeout_ms + 2 * STOP_TIMEOUT_MS + 2000;
    while (got < sizeof o) {
        int left = (int)(until - cs_monotonic_ms());
        struct pollfd p = {fds[0], POLLIN, 0};
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int r = poll(&p, 1, left);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        ssize_t n = read(fds[0], (char *)&o + got, sizeof o - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    if (timed_out)
        kill(child, SIGKILL); /* the kernel detaches the target when its tracer dies */
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        snprintf(err, errlen, "the injector did not finish in time with process %d", (int)req->pid);
        return CS_INJECT_TIMEOUT;
    }
    if (got < sizeof o) {
        snprintf(err, errlen, "the injector for process %d failed (%s %d)", (int)req->pid,
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return CS_INJECT_TOOL;
    }
    if (o.status == CS_INJECT_OK)
        *result = o.result;
    else
        snprintf(err, errlen, "%s", o.err);
    return o.status;
}
