/*
 * run.c — `callscope run` and `callscope collect`: create the ring, start
 * the program (or wait for an in-process recording), and collect its events
 * into the store until every traced process is gone.
 *
 * The collector is this process, not the program's: whatever way the
 * program ends (exit, os._exit, a signal, SIGKILL, a crash), everything it
 * committed to the ring reaches the database.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/record_options.h"
#include "core/clock.h"
#include "query/common.h"
#include "util/error.h"

static volatile sig_atomic_t forward_to; /* pid that gets SIGTERM/SIGHUP */
static volatile sig_atomic_t owner_gone;
static pid_t recorder_pid; /* this process, as the program's parent */

static void forward_signal(int sig)
{
    if (forward_to > 0)
        kill((pid_t)forward_to, sig);
}

/* The directory holding the `callscope` Python package (build/lib). */
int cs_find_package_root(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = 0;
    const char *candidates[] = {"%s/lib", "%s/.."};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        char dir[PATH_MAX], probe[PATH_MAX + 64];
        snprintf(dir, sizeof dir, candidates[i], exe);
        snprintf(probe, sizeof probe, "%s/callscope/_bootstrap.py", dir);
        if (access(probe, R_OK) == 0 && realpath(dir, out) && strlen(out) < size)
            return 0;
    }
    return -1;
}

/* Set when a child process ends, so the collect loop notices the program's
 * end at once rather than at its next periodic check. */
static volatile sig_atomic_t child_ended;

static void on_child_ended(int sig)
{
    (void)sig;
    child_ended = 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What collect_loop watches besides the ring: the program it started (run)
 * or the process that asked for the recording (collect). */
struct loop_state {
    pid_t child;        /* run: the program */
    int child_status;   /* its wait status once reaped */
    int child_exited;
    int owner_pid;      /* collect: the process that asked for the recording */
    struct cs_ring *ring;
    int seen_producer;
    const char *path; /* the recording */
};

static void reap_children(struct loop_state *s)
{
    int status;
    pid_t pid;
    /* As subreaper we also adopt the program's orphans: reap them all. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == s->child) {
            s->child_status = status;
            s->child_exited = 1;
        }
    }
}

/* The store cannot be written: producers stop waiting for room (they drop
 * what they record), and the program runs on to its own end. */
static void give_up(struct loop_state *s)
{
    atomic_store(&s->ring->header->collector_pid, -1);
    while (s->child && !s->child_exited) {
        reap_children(s);
        sleep_ms(10);
    }
}

/* What a recording that failed lost: the program itself is not stopped. */
#define LOST_FROM_THERE "the program's calls after that point are not recorded"

/* One line for the calls a full disk kept out of the recording, if any:
 * said whatever stderr is, as an error would be. */
static void report_disk_full(struct cs_collector *c, const char *path)
{
    struct cs_collector_totals t;
    cs_collector_totals(c, &t);
    if (!t.disk_full_gaps)
        return;
    if (t.disk_still_full)
        cs_error("cannot write %s: the disk is full; " LOST_FROM_THERE " (%lld calls lost)", path,
                 (long long)t.calls_lost_to_full_disk);
    else
        cs_error("%lld calls were not recorded in %s while its disk was full; recording resumed once there was room",
                 (long long)t.calls_lost_to_full_disk, path);
}

/* Collects until the program and everything it started are gone (run), or
 * until no process records any more or the owner is gone (collect);
 * returns 0 or -1 after printing the error. */
static int collect_loop(struct cs_collector *c, struct loop_state *s)
{
    char err[512];
    int64_t last_check = 0;
    int idle_steps = 0;
    for (;;) {
        long rows = cs_collector_step(c, err, sizeof err);
        if (rows < 0) {
            cs_error("%s; " LOST_FROM_THERE, err);
            give_up(s);
            return -1;
        }
        int64_t t = cs_monotonic_ms();
        if (t - last_check >= 50 || child_ended) {
            last_check = t;
            child_ended = 0;
            if (s->child)
                reap_children(s);
            int alive = cs_collector_producers_alive(c);
            /* Joined, possibly for a moment only: a recording may start and
             * stop between two checks. */
            if (alive || atomic_load(&s->ring->header->producers_joined))
                s->seen_producer = 1;
            int owner_alive = s->owner_pid ? (kill(s->owner_pid, 0) == 0 || errno == EPERM) : 0;
            if (s->child && s->child_exited && alive == 0)
                break;
            if (s->owner_pid && ((s->seen_producer && alive == 0) || !owner_alive))
                break;
        }
        /* Idle: short sleeps at first, longer ones once the program has
         * been quiet for a while (a server between requests), so that a
         * recording of an idle program costs next to nothing; the ring
         * holds what comes meanwhile. */
        if (rows == 0)
            sleep_ms(++idle_steps < 50 ? 2 : 10);
        else
            idle_steps = 0;
    }
    if (cs_collector_step(c, err, sizeof err) < 0 || cs_collector_finish(c, err, sizeof err) != 0) {
        cs_error("%s; " LOST_FROM_THERE, err);
        give_up(s);
        return -1;
    }
    report_disk_full(c, s->path);
    return 0;
}

static void print_summary(struct cs_collector *c, const struct cs_ring *ring, const char *path, int defer_rows)
{
    if (!isatty(2))
        return; /* the program's stderr stays exactly its own */
    struct cs_collector_totals t;
    cs_collector_totals(c, &t);
    char lost[64] = "", short_ring[128] = "";
    if (t.lost_events)
        snprintf(lost, sizeof lost, " (%llu events lost: buffer full)", (unsigned long long)t.lost_events);
    /* A ring that could not grow to --buffer made the program wait (or
     * drop events) sooner than asked: say why, or it looks like slowness. */
    size_t had, size;
    if (cs_ring_growth_refused(ring, &had, &size))
        snprintf(short_ring, sizeof short_ring, "; the buffer stopped at %zu of %zu MB: /dev/shm is full",
                 (had + (1u << 19)) >> 20, (size + (1u << 19)) >> 20);
    int kb = t.deferred_bytes < 1000000; /* (a small program's events are a few kB) */
    double amount = (double)t.deferred_bytes / (kb ? 1e3 : 1e6);
    if (t.deferred_bytes && defer_rows == CS_DEFER_LATER)
        cs_note("%.1f %s of events recorded in %s%s%s; `callscope index %s` builds its calls", amount,
                kb ? "kB" : "MB", path, lost, short_ring, path);
    else if (t.deferred_bytes)
        cs_note("%.1f %s of events recorded in %s%s%s; its calls are being built (`callscope index %s` waits for"
                " them)", amount, kb ? "kB" : "MB", path, lost, short_ring, path);
    else
        cs_note("%llu calls recorded in %s%s%s", (unsigned long long)t.calls, path, lost, short_ring);
}

/* --defer-rows: once the program is done, the calls are built by a
 * process of their own, so that whoever waits for the program gets it
 * back at once. It holds the build's lock from before this returns:
 * a reader started next finds the build under way and waits for it. */
static void build_rows_in_background(const char *path)
{
    char err[600];
    int lock_fd = cs_collector_lock_for_build(path, err, sizeof err);
    if (lock_fd < 0)
        return; /* (readers then say to run `callscope index`) */
    pid_t pid = fork();
    if (pid == 0) {
        setsid(); /* not the terminal's to stop */
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0), dup2(null, 1), dup2(null, 2);
            close(null);
        }
        setpriority(PRIO_PROCESS, 0, 10); /* behind what the user runs next */
        int built;
        _exit(cs_collector_build_rows_locked(path, lock_fd, &built, err, sizeof err) == 0 ? 0 : 1);
    }
    close(lock_fd); /* the child's copy keeps the lock */
}

static int open_ring(struct cs_ring *ring, struct cs_record_options *o)
{
    char err[256];
    if (cs_ring_create(ring, o->buffer_bytes, CS_RING_DEFAULT_CHUNK, &o->capture, err, sizeof err) != 0) {
        cs_error("%s", err);
        return -1;
    }
    atomic_store(&ring->header->collector_pid, (int32_t)getpid());
    return 0;
}

static struct cs_collector *open_collector(struct cs_ring *ring, struct cs_record_options *o,
                                           const char *command_line)
{
    char err[512];
    /* The file to replace may be a deferred recording whose calls are being
     * built: once that build is done, this recording's own one cannot meet
     * it (they would share the file beside it). */
    cs_wait_for_build(o->collect.db_path, 1); /* (quietly: stderr is the program's) */
    o->collect.command_line = command_line;
    struct cs_collector *c = cs_collector_open(ring, &o->collect, err, sizeof err);
    if (!c)
        cs_error("%s", err);
    return c;
}

static char *join_args(int argc, char **argv)
{
    size_t n = 1;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *s = calloc(1, n);
    if (!s)
        return NULL;
    for (int i = 0; i < argc; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

static void exec_program(struct cs_record_options *o, const char *root, const char *ring_name, int argc,
                         char **argv)
{
    char pythonpath[3 * PATH_MAX];
    const char *old = getenv("PYTHONPATH");
    snprintf(pythonpath, sizeof pythonpath, "%s:%s/callscope/_autostart%s%s", root, root, old && *old ? ":" : "",
             old && *old ? old : "");
    setenv("PYTHONPATH", pythonpath, 1);
    setenv("CALLSCOPE_RING", ring_name, 1);
    setenv("CALLSCOPE_RING_MAIN", ring_name, 1);
    char flags[64] = "";
    if (o->capture.flags & CS_OPT_NO_STDLIB)
        strcat(flags, "no-stdlib,");
    if (o->capture.flags & CS_OPT_NO_SITE)
        strcat(flags, "no-site,");
    setenv("CALLSCOPE_FLAGS", flags, 1);
    signal(SIGXFSZ, SIG_DFL); /* ignored by the collector only */
    /* The program dies with its recorder: killed outright (SIGKILL, a
     * crash), `callscope run` can no longer forward signals or drain the
     * ring, which the program would then fill and wait on for ever. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != recorder_pid)
        _exit(CS_EXIT_EXEC_FAILED);
    /* In the child, between fork and exec, messages are written with
     * fprintf: cs_error allocates, and the collector's threads may have
     * held the allocator's lock when the parent forked. */
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (!args) {
        fprintf(stderr, "callscope: out of memory\n");
        _exit(CS_EXIT_EXEC_FAILED);
    }
    args[0] = (char *)o->python;
    args[1] = "-m";
    args[2] = "callscope._bootstrap";
    for (int i = 0; i < argc; i++)
        args[3 + i] = argv[i];
    execvp(o->python, args);
    fprintf(stderr, "callscope: cannot run %s: %s (see --python)\n", o->python, strerror(errno));
    _exit(CS_EXIT_EXEC_FAILED);
}

int cs_cmd_run(int argc, char **argv)
{
    struct cs_record_options o;
    cs_record_options_init(&o);
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: callscope run [OPTIONS] SCRIPT [ARGS...]\n"
               "       callscope run [OPTIONS] -m MODULE [ARGS...]\n\n"
               "Runs a Python program and records every call into a SQLite database.\n\n"
               "  --python PATH          the interpreter (default python3)\n");
        cs_record_options_usage(stdout);
        return CS_EXIT_OK;
    }
    int first = cs_record_options_parse(&o, argc, argv, 1);
    if (first < 0)
        return CS_EXIT_USAGE;
    int nprog = argc - first;
    char **prog = argv + first;
    if (nprog == 0 || (!strcmp(prog[0], "-m") && nprog < 2)) {
        cs_error("run needs a script or -m MODULE (see callscope run --help)");
        return CS_EXIT_USAGE;
    }
    if (strcmp(prog[0], "-m") != 0) {
        struct stat st;
        if (stat(prog[0], &st) != 0 || !S_ISREG(st.st_mode) || access(prog[0], R_OK) != 0) {
            cs_error("cannot open script '%s': %s", prog[0],
                    errno && !S_ISDIR(st.st_mode) ? strerror(errno) : "not a file");
            return CS_EXIT_USAGE;
        }
    }
    char root[PATH_MAX];
    if (cs_find_package_root(root, sizeof root) != 0) {
        cs_error("cannot find the callscope Python package next to this binary; run `make`");
        return CS_EXIT_USAGE;
    }
    /* TRACE_MODULES: folders to trace, colon-separated, as pytrace reads it. */
    const char *trace_modules = getenv("TRACE_MODULES");
    if (trace_modules && *trace_modules &&
        cs_record_options_add_folders(&o, "TRACE_MODULES", trace_modules) != 0)
        return CS_EXIT_USAGE;
    /* Past a file size limit, writes fail with EFBIG and we say so, rather
     * than being killed with the record half written. */
    signal(SIGXFSZ, SIG_IGN);

    struct cs_ring ring;
    if (open_ring(&ring, &o) != 0)
        return CS_EXIT_FAILURE;
    char *command = join_args(nprog, prog);
    struct cs_collector *c = open_collector(&ring, &o, command);
    if (!c) {
        cs_ring_unlink(&ring);
        free(command);
        return CS_EXIT_FAILURE;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    recorder_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        cs_error("cannot start the program: %s", strerror(errno));
        cs_ring_unlink(&ring); /* nothing of the run left behind */
        cs_collector_free(c);
        free(command);
        return CS_EXIT_FAILURE;
    }
    if (pid == 0)
        exec_program(&o, root, ring.name, nprog, prog);

    /* Terminal signals reach the whole process group, so the program gets
     * them itself; we stay alive to write what it recorded. */
    forward_to = pid;
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGTERM, forward_signal);
    signal(SIGHUP, forward_signal);
    /* nanosleep is cut short by a handled signal even with SA_RESTART, so
     * the loop's idle sleep ends with the program, and nothing else of ours
     * sees EINTR */
    struct sigaction on_child = {.sa_handler = on_child_ended, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
    sigemptyset(&on_child.sa_mask);
    sigaction(SIGCHLD, &on_child, NULL);

    struct loop_state s = {.child = pid, .ring = &ring, .path = o.collect.db_path};
    int rc = collect_loop(c, &s);
    cs_ring_unlink(&ring);
    if (rc == 0 && atomic_load(&ring.header->target_started))
        print_summary(c, &ring, o.collect.db_path, o.collect.defer_rows);
    cs_collector_free(c);
    free(command);
    if (rc == 0 && o.collect.defer_rows == CS_DEFER_BACKGROUND)
        build_rows_in_background(o.collect.db_path);
    /* A recording that failed (said above, in one line: a full disk...)
     * does not hide how the program ended: its status is passed on. */
    if (rc != 0 && !s.child_exited)
        return CS_EXIT_FAILURE;
    if (WIFSIGNALED(s.child_status)) {
        /* Die the way the program died, so shells and supervisors see it. */
        int sig = WTERMSIG(s.child_status);
        signal(sig, SIG_DFL);
        fflush(NULL);
        prctl(PR_SET_CHILD_SUBREAPER, 0);
        kill(getpid(), sig);
        return 128 + sig;
    }
    return WIFEXITED(s.child_status) ? WEXITSTATUS(s.child_status) : CS_EXIT_FAILURE;
}

static void on_owner_signal(int sig)
{
    (void)sig;
    owner_gone = 1;
}

int cs_cmd_collect(int argc, char **argv)
{
    struct cs_record_options o;
    cs_record_options_init(&o);
    int first = cs_record_options_parse(&o, argc, argv, 0);
    if (first < 0)
        return CS_EXIT_USAGE;
    if (first != argc || !o.owner_pid) {
        cs_error("usage: callscope collect --owner PID [OPTIONS]  (used by callscope.start())");
        return CS_EXIT_USAGE;
    }
    signal(SIGXFSZ, SIG_IGN);
    struct cs_ring ring;
    if (open_ring(&ring, &o) != 0)
        return CS_EXIT_FAILURE;
    struct cs_collector *c = open_collector(&ring, &o, "callscope.start()");
    if (!c) {
        cs_ring_unlink(&ring);
        return CS_EXIT_FAILURE;
    }
    /* The owner's terminal signals are the owner's business. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, on_owner_signal);
    printf("%s\n", ring.name);
    fflush(stdout);
    struct loop_state s = {.owner_pid = o.owner_pid, .ring = &ring, .path = o.collect.db_path};
    int rc = collect_loop(c, &s);
    cs_ring_unlink(&ring);
    cs_collector_free(c);
    if (rc == 0 && o.collect.defer_rows == CS_DEFER_BACKGROUND)
        build_rows_in_background(o.collect.db_path);
    return rc == 0 ? CS_EXIT_OK : CS_EXIT_FAILURE;
}
