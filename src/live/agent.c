/*
 * agent.c — the agent thread inside an attached process.
 *
 * It listens on a Unix socket in a directory only the process's user can
 * enter, and accepts clients of the same user (or root), checked with
 * SO_PEERCRED. It waits in poll() without the GIL, takes the GIL only to
 * install or remove instrumentation, and sends the observations that the
 * hooks queue for each client. A client that goes away takes its watches
 * with it; the last watch gone, every hook is removed. `detach` ends the
 * thread; the extension itself stays loaded, ready for the next attach.
 */
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "capture/code_info.h"
#include "core/clock.h"
#include "live/agent_entry.h"
#include "live/observer.h"
#include "live/pattern.h"
#include "live/query.h"
#include "live/socket_path.h"
#include "util/textbuf.h"

#define MAX_CLIENTS 16
#define OUTBOX_LIMIT (8u << 20) /* queued bytes per client before dropping */
/* A request is a few KB (CS_LIVE_REQUEST_MAX); a client that announces
 * more, or leaves one unfinished this long, is dropped. */
#define REQUEST_FRAME_MAX (64u << 10)
#define PARTIAL_REQUEST_NS (10LL * 1000000000LL)

struct cs_live_client {
    int fd;               /* non-blocking: one slow client holds up no other */
    pthread_mutex_t lock; /* guards out, dropped (hooks fill, agent drains) */
    struct cs_textbuf out;
    size_t sent_upto;
    long long dropped;
    int finished_watches; /* set by hooks when a watch reached -n */
    struct cs_textbuf in; /* the bytes of requests received so far */
    int64_t partial_since; /* when the unfinished request in `in` began, or 0 */
    struct cs_live_later *later; /* a question still being answered (query.h) */
};

static atomic_int running;
/* The running agent has left its loop and is closing down (its socket may
 * be gone already): an attach then must wait for it, not use it. */
static atomic_int stopping;
static char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int wake_pipe[2] = {-1, -1};
static struct cs_live_client *clients[MAX_CLIENTS];
static int next_watch_id = 1;

static void wake(void)
{
    char c = 1;
    if (wake_pipe[1] >= 0 && write(wake_pipe[1], &c, 1) < 0) {
        /* the pipe is full: the agent is awake already */
    }
}

/* ---- called by the hooks, GIL held ---- */

/* Queues a notice of the observations dropped since the last one (lock
 * held): after the client has caught up, or before a frame that ends or
 * explains something, so that it comes before the end. */
static void queue_drop_notice(struct cs_live_client *c)
{
    if (!c->dropped)
        return;
    char text[160];
    int n = snprintf(text, sizeof text,
                     "%lld observation%s dropped: they came faster than this client read them (at most %u MB wait)",
                     c->dropped, c->dropped == 1 ? " was" : "s were", OUTBOX_LIMIT >> 20);
    unsigned char payload[CS_VARINT_MAX + sizeof text], h[CS_FRAME_HEADER];
    unsigned char *end = cs_put_str(payload, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
    cs_frame_header(h, CS_MSG_NOTICE, (size_t)(end - payload));
    cs_textbuf_put(&c->out, h, sizeof h);
    cs_textbuf_put(&c->out, payload, (size_t)(end - payload));
    c->dropped = 0;
}

void cs_live_send(struct cs_live_client *c, int kind, const void *payload, size_t len)
{
    unsigned char h[CS_FRAME_HEADER];
    cs_frame_header(h, kind, len);
    pthread_mutex_lock(&c->lock);
    int was_empty = c->sent_upto == c->out.len;
    if (kind != CS_MSG_OBSERVATION)
        queue_drop_notice(c);
    /* Only observations are dropped for a slow client: the frames that
     * start, end or explain something are small, and a client that missed
     * one would wait forever. */
    if (kind == CS_MSG_OBSERVATION && c->out.len - c->sent_upto + len > OUTBOX_LIMIT) {
        c->dropped++;
    } else {
        cs_textbuf_put(&c->out, h, sizeof h);
        cs_textbuf_put(&c->out, payload, len);
    }
    pthread_mutex_unlock(&c->lock);
    /* A non-empty outbox is already polled for room to write. */
    if (was_empty)
        wake();
}

void cs_live_watch_finished(struct cs_live_watch *w)
{
    unsigned char buf[CS_VARINT_MAX];
    size_t n = (size_t)(cs_put_varint(buf, (uint64_t)w->sent) - buf);
    cs_live_send(w->owner, CS_MSG_DONE, buf, n);
}

/* ---- watches: changed with the GIL held ---- */

static void send_text(struct cs_live_client *c, int kind, const char *text)
{
    unsigned char buf[2048];
    size_t n = strlen(text);
    if (n > sizeof buf - CS_VARINT_MAX)
        n = sizeof buf - CS_VARINT_MAX;
    unsigned char *end = cs_put_str(buf, text, n);
    cs_live_send(c, kind, buf, (size_t)(end - buf));
}

static void free_watch(int slot)
{
    struct cs_live_watch *w = cs_live_watches[slot];
    cs_live_watches[slot] = NULL;
    cs_live_condition_free(&w->cond);
    Py_XDECREF(w->codes);
    PyMem_RawFree(w);
}

/* Tells a watch's client that its observation ended for `reason` (a reset,
 * a detach): the client then ends instead of waiting for observations that
 * will never come. */
static void send_stopped(struct cs_live_watch *w, const char *reason)
{
    unsigned char buf[CS_VARINT_MAX + 2 * CS_VARINT_MAX + 64];
    unsigned char *p = cs_put_varint(buf, (uint64_t)w->id);
    p = cs_put_varint(p, (uint64_t)w->sent);
    p = cs_put_str(p, reason, strlen(reason) < 64 ? strlen(reason) : 64);
    cs_live_send(w->owner, CS_MSG_STOPPED, buf, (size_t)(p - buf));
}

/* Removes a client's watches (those matching `pattern`, or all). Returns
 * how many. `reason` non-NULL: their clients are told (the client that
 * went away is not). GIL held. */
static int remove_watches(struct cs_live_client *c, const char *pattern, const char *reason)
{
    int removed = 0;
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        if (w && (!c || w->owner == c) && (!pattern || !pattern[0] || !strcmp(pattern, w->req.pattern) ||
                                            !strcmp(pattern, w->target_name))) {
            if (reason)
                send_stopped(w, reason);
            free_watch(i);
            removed++;
        }
    }
    if (removed && cs_live_hooks_update() != 0)
        PyErr_Clear();
    return removed;
}

/* The watch in `slot` could not be instrumented: it goes, the hooks are
 * put back as they were, and err says why ("what: the hooks' error"). */
static void undo_failed_watch(int slot, const char *what, char *err, size_t errlen)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *s = value ? PyObject_Str(value) : NULL;
    const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(err, errlen, "%s: %s", what, msg ? msg : "unknown error");
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyErr_Clear();
    free_watch(slot);
    if (cs_live_hooks_update() != 0)
        PyErr_Clear();
}

static int unused_slot(void)
{
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++)
        if (!cs_live_watches[i])
            return i;
    return -1;
}

static void add_watch(struct cs_live_client *c, const struct cs_live_request *req)
{
    char err[600], name[256], status[400];
    struct cs_live_condition cond = {0};
    if (req->condition[0] && cs_live_condition_compile(&cond, req->condition, err, sizeof err) != 0) {
        send_text(c, CS_MSG_ERROR, err);
        return;
    }
    int slot = unused_slot();
    PyObject *codes = slot >= 0 ? cs_live_resolve(req->pattern, req->nested, name, sizeof name, err, sizeof err) : NULL;
    /* a condition naming parameters must name those of every function observed */
    for (Py_ssize_t i = 0; codes && PyTuple_Check(codes) && i < PyTuple_GET_SIZE(codes); i++) {
        PyCodeObject *code = (PyCodeObject *)PyTuple_GET_ITEM(codes, i);
        if (cs_live_condition_check_names(&cond, code, cs_live_code_nargs(code), name, err, sizeof err) != 0)
            Py_CLEAR(codes);
    }
    struct cs_live_watch *w = codes ? PyMem_RawCalloc(1, sizeof *w) : NULL;
    if (!w) {
        PyErr_Clear();
        Py_XDECREF(codes);
        cs_live_condition_free(&cond);
        send_text(c, CS_MSG_ERROR, slot < 0 ? "too many watches in this process; reset some first"
                                   : codes ? "out of memory in the target" : err);
        return;
    }
    w->cond = cond;
    w->cycle_end = cs_monotonic_ns() + req->cycle_ns;
    w->id = next_watch_id++;
    w->req = *req;
    w->owner = c;
    w->codes = codes;
    snprintf(w->target_name, sizeof w->target_name, "%s", name);
    cs_live_watches[slot] = w;
    if (cs_live_hooks_update() != 0) {
        char what[300];
        snprintf(what, sizeof what, "cannot instrument %s", name);
        undo_failed_watch(slot, what, err, sizeof err);
        send_text(c, CS_MSG_ERROR, err);
        return;
    }
    static const char *what[] = {"", "tracing", "watching", "stack of", "monitoring"};
    snprintf(status, sizeof status, "%s %s (watch %d)", what[req->command], name, w->id);
    send_text(c, CS_MSG_STATUS, status);
    unsigned char started[CS_VARINT_MAX * 2 + sizeof name];
    unsigned char *p = cs_put_varint(started, (uint64_t)w->id);
    p = cs_put_str(p, name, strlen(name));
    cs_live_send(c, CS_MSG_STARTED, started, (size_t)(p - started));
}

int cs_live_watch_add_counting(struct cs_live_client *c, struct cs_call_counts *counts, char *err, size_t errlen)
{
    if (!c) { /* a watch's end is told to its client */
        snprintf(err, errlen, "only a client of the agent can count calls");
        return -1;
    }
    int slot = unused_slot();
    PyObject *codes = slot >= 0 ? PyTuple_New(0) : NULL; /* it observes no function */
    struct cs_live_watch *w = codes ? PyMem_RawCalloc(1, sizeof *w) : NULL;
    if (!w) {
        PyErr_Clear();
        Py_XDECREF(codes);
        snprintf(err, errlen, "%s", slot < 0 ? "too many watches in this process; reset some first"
                                             : "out of memory in the target");
        return -1;
    }
    w->id = next_watch_id++;
    w->req.command = CS_LIVE_COUNT;
    w->req.times = -1;
    w->owner = c;
    w->codes = codes;
    w->counts = counts;
    snprintf(w->target_name, sizeof w->target_name, "top --calls");
    cs_live_watches[slot] = w;
    if (cs_live_hooks_update() != 0) {
        undo_failed_watch(slot, "cannot count calls", err, errlen);
        return -1;
    }
    return w->id;
}

void cs_live_watch_remove(int id)
{
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++)
        if (cs_live_watches[i] && cs_live_watches[i]->id == id) {
            free_watch(i);
            if (cs_live_hooks_update() != 0)
                PyErr_Clear();
            return;
        }
}

/* ---- monitor cycles ---- */

/* Milliseconds until the next monitor cycle ends (at most `cap`). Reads
 * watch fields without the GIL: a stale value only wakes the loop early. */
static int next_cycle_ms(int cap)
{
    int64_t now = cs_monotonic_ns(), soonest = -1;
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        if (w && w->req.command == CS_LIVE_MONITOR && (soonest < 0 || w->cycle_end < soonest))
            soonest = w->cycle_end;
    }
    if (soonest < 0)
        return cap;
    int64_t ms = (soonest - now) / 1000000 + 1;
    return ms < 0 ? 0 : ms > cap ? cap : (int)ms;
}

static void report_due_cycles(void)
{
    int64_t now = cs_monotonic_ns();
    int due = 0;
    for (int i = 0; i < CS_LIVE_MAX_WATCHES && !due; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        due = w && w->req.command == CS_LIVE_MONITOR && w->cycle_end <= now;
    }
    if (!due)
        return;
    PyGILState_STATE g = PyGILState_Ensure();
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        if (w && w->req.command == CS_LIVE_MONITOR && !w->done && w->cycle_end <= now)
            cs_live_monitor_report(w);
    }
    PyGILState_Release(g);
}

/* ---- the socket side ---- */

/* The socket's directory: ours, mode 0700, not a symlink. */
static int prepare_directory(void)
{
    char dir[sizeof socket_path];
    snprintf(dir, sizeof dir, "%s", socket_path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return -1;
    *slash = 0;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    char why[512];
    return cs_socket_dir_check(dir, geteuid(), why, sizeof why) == 1 ? 0 : -1;
}

static int listen_socket(void)
{
    if (prepare_directory() != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Bound and listening under another name first, then renamed: a
     * client that sees the socket's path can connect at once. */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s.new", socket_path);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path) {
        close(fd);
        return -1;
    }
    unlink(addr.sun_path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || chmod(addr.sun_path, 0600) != 0 ||
        listen(fd, 8) != 0 || rename(addr.sun_path, socket_path) != 0) {
        close(fd);
        unlink(addr.sun_path);
        return -1;
    }
    return fd;
}

static int peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return 0;
    return cred.uid == 0 || cred.uid == geteuid();
}

static void hello(struct cs_live_client *c)
{
    unsigned char buf[128];
    const char *v = Py_GetVersion();
    size_t n = strcspn(v, " ");
    unsigned char *p = cs_put_str(buf, v, n < 64 ? n : 64);
    p = cs_put_varint(p, (uint64_t)getpid());
    cs_live_send(c, CS_MSG_HELLO, buf, (size_t)(p - buf));
}

static void accept_client(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    int slot = -1;
    for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
        if (!clients[i])
            slot = i;
    struct cs_live_client *c = slot >= 0 && peer_allowed(fd) ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    pthread_mutex_init(&c->lock, NULL);
    clients[slot] = c;
    hello(c);
}

static void drop_client(int slot)
{
    struct cs_live_client *c = clients[slot];
    PyGILState_STATE g = PyGILState_Ensure();
    remove_watches(c, NULL, NULL);
    if (c->later) /* the question it was waiting for is abandoned */
        c->later->end(c->later);
    c->later = NULL;
    PyGILState_Release(g);
    clients[slot] = NULL;
    close(c->fd);
    pthread_mutex_destroy(&c->lock);
    cs_textbuf_free(&c->out);
    cs_textbuf_free(&c->in);
    free(c);
}

/* Writes what is queued for a client without blocking. -1: drop it. */
static int flush_client(struct cs_live_client *c)
{
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    while (c->sent_upto < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->sent_upto, c->out.len - c->sent_upto, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
            break;
        }
        c->sent_upto += (size_t)n;
    }
    if (c->sent_upto == c->out.len) {
        cs_textbuf_reset(&c->out);
        c->sent_upto = 0;
    }
    /* Once the client has caught up, it learns how many it missed (sent at
     * the next flush). */
    if (c->out.len == 0)
        queue_drop_notice(c);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int has_pending(struct cs_live_client *c)
{
    pthread_mutex_lock(&c->lock);
    int pending = c->sent_upto < c->out.len;
    pthread_mutex_unlock(&c->lock);
    return pending;
}

/* Sends an answer as a MSG_RESULT or MSG_ROUND frame. */
static void send_answer(struct cs_live_client *c, int kind, struct cs_live_answer *answer)
{
    if (answer->json.oom || answer->text.oom) {
        send_text(c, CS_MSG_ERROR, "out of memory in the target");
        return;
    }
    struct cs_textbuf frame = {0};
    unsigned char head[CS_VARINT_MAX];
    cs_textbuf_put(&frame, head, (size_t)(cs_put_varint(head, answer->json.len) - head));
    cs_textbuf_put(&frame, answer->json.data, answer->json.len);
    cs_textbuf_put(&frame, head, (size_t)(cs_put_varint(head, answer->text.len) - head));
    cs_textbuf_put(&frame, answer->text.data, answer->text.len);
    if (frame.oom || frame.len > CS_FRAME_MAX - 16)
        send_text(c, CS_MSG_ERROR, "the answer is too large to send");
    else
        cs_live_send(c, kind, frame.data, frame.len);
    cs_textbuf_free(&frame);
}

/* A REQ_QUERY (protocol.h): its question and arguments are copied out of
 * the client's bytes, bounded, then answered with one MSG_RESULT. */
static void answer_query(struct cs_live_client *c, const unsigned char *payload, size_t len)
{
    struct cs_reader rd = {payload, payload + len, 0};
    size_t n;
    const char *s = cs_get_str(&rd, &n);
    char question[32];
    snprintf(question, sizeof question, "%.*s", (int)(n < sizeof question ? n : sizeof question - 1), s ? s : "");
    uint64_t argc = cs_get_varint(&rd);
    if (rd.error || n >= sizeof question || argc > CS_QUERY_MAX_ARGS) {
        send_text(c, CS_MSG_ERROR, "malformed query");
        return;
    }
    static char args[CS_QUERY_MAX_ARGS][CS_QUERY_MAX_ARG + 1]; /* the agent answers one request at a time */
    char *argv[CS_QUERY_MAX_ARGS + 1];
    for (uint64_t i = 0; i < argc; i++) {
        const char *a = cs_get_str(&rd, &n);
        if (rd.error || n > CS_QUERY_MAX_ARG || memchr(a, 0, n)) {
            send_text(c, CS_MSG_ERROR, "malformed query");
            return;
        }
        memcpy(args[i], a, n);
        args[i][n] = 0;
        argv[i] = args[i];
    }
    argv[argc] = NULL;
    if (c->later) {
        send_text(c, CS_MSG_ERROR, "this connection is still waiting for the answer to its last question");
        return;
    }
    struct cs_live_answer answer = {.client = c};
    if (cs_live_query_answer(question, (int)argc, argv, &answer) != 0) {
        send_text(c, CS_MSG_ERROR, answer.error);
    } else if (answer.later) {
        c->later = answer.later;
        if (answer.json.len)
            send_answer(c, CS_MSG_ROUND, &answer);
    } else {
        send_answer(c, CS_MSG_RESULT, &answer);
    }
    cs_textbuf_free(&answer.json);
    cs_textbuf_free(&answer.text);
}

/* Milliseconds until a question answered later is due (at most `cap`). */
static int next_later_ms(int cap)
{
    int64_t now = cs_monotonic_ns();
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i] && clients[i]->later) {
            int64_t ms = (clients[i]->later->due_ns - now + 999999) / 1000000;
            if (ms < cap)
                cap = ms < 0 ? 0 : (int)ms;
        }
    return cap;
}

/* Runs the steps of questions answered later that are due. */
static void run_due_laters(void)
{
    int64_t now = cs_monotonic_ns();
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct cs_live_client *c = clients[i];
        if (!c || !c->later || c->later->due_ns > now)
            continue;
        PyGILState_STATE g = PyGILState_Ensure();
        struct cs_live_answer answer = {.client = c};
        int rc = c->later->step(c->later, &answer);
        if (rc == CS_LATER_ROUND || rc == CS_LATER_LAST)
            send_answer(c, rc == CS_LATER_ROUND ? CS_MSG_ROUND : CS_MSG_RESULT, &answer);
        else if (rc != CS_LATER_WAIT)
            send_text(c, CS_MSG_ERROR, answer.error[0] ? answer.error : "the question could not be answered");
        if (rc != CS_LATER_WAIT && rc != CS_LATER_ROUND) {
            c->later->end(c->later);
            c->later = NULL;
        }
        cs_textbuf_free(&answer.json);
        cs_textbuf_free(&answer.text);
        PyGILState_Release(g);
    }
}

/* Handles one request. Returns 1 when the agent must end (detach). */
static int handle_request(struct cs_live_client *c, int kind, const unsigned char *payload, size_t len)
{
    int end = 0;
    PyGILState_STATE g = PyGILState_Ensure();
    if (kind == CS_REQ_OBSERVE) {
        struct cs_live_request req;
        char err[200];
        if (cs_live_request_parse((const char *)payload, len, &req, err, sizeof err) != 0)
            send_text(c, CS_MSG_ERROR, err);
        else
            add_watch(c, &req);
    } else if (kind == CS_REQ_RESET) {
        char status[100], pattern[sizeof ((struct cs_live_request *)0)->pattern];
        snprintf(pattern, sizeof pattern, "%.*s", (int)(len < sizeof pattern ? len : sizeof pattern - 1),
                 (const char *)payload);
        int n = remove_watches(NULL, pattern, "reset");
        int levels = cs_live_logger_levels_restore(pattern);
        snprintf(status, sizeof status, "removed %d watch%s", n, n == 1 ? "" : "es");
        if (levels)
            snprintf(status + strlen(status), sizeof status - strlen(status), ", put back %d logger level%s",
                     levels, levels == 1 ? "" : "s");
        /* the text, then the counts for a client that reports them as data */
        unsigned char buf[sizeof status + 3 * CS_VARINT_MAX];
        unsigned char *p = cs_put_str(buf, status, strlen(status));
        p = cs_put_varint(p, (uint64_t)n);
        p = cs_put_varint(p, (uint64_t)levels);
        cs_live_send(c, CS_MSG_STATUS, buf, (size_t)(p - buf));
    } else if (kind == CS_REQ_QUERY) {
        answer_query(c, payload, len);
    } else if (kind == CS_REQ_DETACH) {
        remove_watches(NULL, NULL, "detach");
        cs_live_logger_levels_restore(NULL);
        cs_live_hooks_remove();
        send_text(c, CS_MSG_STATUS, "detached");
        end = 1;
    } else {
        send_text(c, CS_MSG_ERROR, "unknown request");
    }
    PyGILState_Release(g);
    return end;
}

/* Reads what a client sent, without blocking, and handles each request
 * that is complete. Returns 1 when the agent must end (detach). */
static int serve(int slot)
{
    struct cs_live_client *c = clients[slot];
    for (;;) {
        unsigned char buf[4096];
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) { /* gone */
            drop_client(slot);
            return 0;
        }
        cs_textbuf_put(&c->in, buf, (size_t)n);
        if (c->in.oom || c->in.len > REQUEST_FRAME_MAX + CS_FRAME_HEADER) {
            drop_client(slot);
            return 0;
        }
    }
    size_t at = 0;
    int end = 0;
    while (!end && c->in.len - at >= CS_FRAME_HEADER) {
        uint32_t size;
        memcpy(&size, c->in.data + at, 4);
        if (size < 1 || size > REQUEST_FRAME_MAX) {
            drop_client(slot); /* not callscope's protocol */
            return 0;
        }
        if (c->in.len - at < 4 + (size_t)size)
            break;
        end = handle_request(c, (unsigned char)c->in.data[at + 4],
                             (const unsigned char *)c->in.data + at + CS_FRAME_HEADER, size - 1);
        at += 4 + (size_t)size;
    }
    if (at) {
        memmove(c->in.data, c->in.data + at, c->in.len - at);
        c->in.len -= at;
    }
    c->partial_since = c->in.len ? (c->partial_since ? c->partial_since : cs_monotonic_ns()) : 0;
    return end;
}

/* Drops clients that left a request unfinished for too long. */
static void drop_stalled_clients(void)
{
    int64_t now = cs_monotonic_ns();
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i] && clients[i]->partial_since && now - clients[i]->partial_since > PARTIAL_REQUEST_NS)
            drop_client(i);
}

static void close_wake_pipe(void)
{
    close(wake_pipe[0]);
    close(wake_pipe[1]);
    wake_pipe[0] = wake_pipe[1] = -1;
}

static void *agent_main(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    PyGILState_STATE g = PyGILState_Ensure();
    int ok = cs_code_info_init() == 0;
    if (!ok)
        PyErr_Clear();
    PyGILState_Release(g);
    int end = !ok;
    while (!end) {
        struct pollfd fds[2 + MAX_CLIENTS];
        int map[2 + MAX_CLIENTS];
        int n = 0;
        fds[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = wake_pipe[0], .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i]) {
                map[n] = i;
                fds[n++] = (struct pollfd){.fd = clients[i]->fd,
                                           .events = POLLIN | (has_pending(clients[i]) ? POLLOUT : 0)};
            }
        if (poll(fds, (nfds_t)n, next_later_ms(next_cycle_ms(1000))) < 0 && errno != EINTR)
            break;
        report_due_cycles();
        run_due_laters();
        if (fds[1].revents & POLLIN) {
            char buf[256];
            while (read(wake_pipe[0], buf, sizeof buf) > 0) {
            }
        }
        for (int k = 2; k < n && !end; k++) {
            int slot = map[k];
            if (!clients[slot])
                continue;
            if (fds[k].revents & (POLLIN | POLLHUP | POLLERR))
                end = serve(slot);
        }
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i] && flush_client(clients[i]) != 0)
                drop_client(i);
        drop_stalled_clients();
        if (fds[0].revents & POLLIN)
            accept_client(lfd);
    }
    /* detach: say goodbye, then close everything */
    atomic_store(&stopping, 1);
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i]) {
            flush_client(clients[i]);
            drop_client(i);
        }
    close(lfd);
    unlink(socket_path);
    close_wake_pipe();
    atomic_store(&running, 0);
    return NULL;
}

__attribute__((visibility("default"))) int callscope_agent_attach(const char *path)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&running, &expected, 1))
        return atomic_load(&stopping) ? CS_AGENT_STOPPING : CS_AGENT_ALREADY_RUNNING;
    atomic_store(&stopping, 0);
    if (!Py_IsInitialized()) {
        atomic_store(&running, 0);
        return CS_AGENT_NO_PYTHON;
    }
    if (!path || strlen(path) >= sizeof socket_path) {
        atomic_store(&running, 0);
        return CS_AGENT_FAILED;
    }
    memcpy(socket_path, path, strlen(path) + 1);
    if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        atomic_store(&running, 0);
        return CS_AGENT_FAILED;
    }
    /* Listening before attach returns: the client that attached connects
     * to this agent, never to a socket some earlier process of the same
     * pid left behind. */
    int lfd = listen_socket();
    if (lfd < 0) {
        close_wake_pipe();
        atomic_store(&running, 0);
        return CS_AGENT_FAILED;
    }
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* No signal may be delivered to the agent thread: the program's
     * handlers expect its own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&thread, &attr, agent_main, (void *)(intptr_t)lfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        close(lfd);
        unlink(socket_path);
        close_wake_pipe();
        atomic_store(&running, 0);
        return CS_AGENT_FAILED;
    }
    return CS_AGENT_STARTED;
}
