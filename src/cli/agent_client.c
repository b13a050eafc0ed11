/*
 * agent_client.c — what every command that talks to a live agent shares:
 * finding the process (a PID, or the only one of the user's with an agent),
 * connecting to its agent (attaching first when asked) and checking that
 * the agent is the process's own, reading frames, and the output form
 * (JSON lines unless a person reads it).
 */
#include "cli/agent_client.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/attach.h"
#include "collector/decode.h"
#include "live/protocol.h"
#include "live/socket_path.h"
#include "util/error.h"
#include "util/parse_number.h"

volatile sig_atomic_t cs_agent_interrupted;

/* How long the client waits for the agent's hello, or for the rest of a
 * message once it has begun (CALLSCOPE_LIVE_TIMEOUT seconds, default 10):
 * an agent that stalls there is not callscope's, or is stuck. */
int cs_agent_reply_timeout_s(void)
{
    const char *v = getenv("CALLSCOPE_LIVE_TIMEOUT");
    long s = v && *v ? strtol(v, NULL, 10) : 0;
    return s > 0 && s < 3600 ? (int)s : 10;
}

static void on_interrupt(int sig)
{
    (void)sig;
    cs_agent_interrupted = 1;
}

void cs_agent_client_catch_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    cs_protocol_stop = &cs_agent_interrupted;
}


int cs_parse_pid(const char *s, pid_t *pid)
{
    long long v;
    if (cs_parse_long(s, 1, 0x7fffffff, &v) != 0) {
        cs_error("'%s' is not a process id", s);
        return -1;
    }
    *pid = (pid_t)v;
    return 0;
}


int cs_is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* --format: `tree` (or `text`) for people, `jsonl` for programs. */
int cs_parse_live_format(const char *v, int *jsonl)
{
    if (!strcmp(v, "tree") || !strcmp(v, "text") || !strcmp(v, "jsonl")) {
        *jsonl = v[0] == 'j';
        return 0;
    }
    cs_error("--format is tree (or text) or jsonl, not '%s'", v);
    return -1;
}

/* Output that goes to a terminal is for a person; to a pipe or a file, for
 * a program: JSON lines unless --format says otherwise. */
int cs_default_jsonl(int jsonl)
{
    return jsonl >= 0 ? jsonl : !isatty(STDOUT_FILENO);
}


/* The process to talk to when no PID was given: the only one of the user's
 * with an agent. 0, or -1 after saying why none could be chosen. */
int cs_choose_agent_pid(pid_t *pid)
{
    pid_t pids[8];
    int n = cs_agent_list(geteuid(), pids, 8);
    if (n == 1) {
        *pid = pids[0];
        return 0;
    }
    if (n == 0) {
        cs_error("which process? No process of yours has a callscope agent; give its PID (the first live command "
                 "for a process attaches to it)");
        return -1;
    }
    char list[128] = "";
    size_t at = 0;
    for (int i = 0; i < n && i < 8; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%d", i ? ", " : "", (int)pids[i]);
    cs_error("which process? %d of yours have a callscope agent (%s%s); give the PID", n, list, n > 8 ? ", ..." : "");
    return -1;
}


/* ---- connecting ---- */

/* The effective uid of a process: its agent's directory belongs to it. */
static int process_uid(pid_t pid, uid_t *uid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Uid:", 4)) {
            unsigned real, effective;
            if (sscanf(line + 4, "%u %u", &real, &effective) == 2) {
                *uid = effective;
                found = 1;
            }
            break;
        }
    fclose(f);
    return found ? 0 : -1;
}

static int try_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Connects, retrying for a while: an agent just started needs a moment
 * before it listens. */
static int connect_retrying(const char *path, int attempts)
{
    int fd = -1;
    for (int i = 0; i < attempts && fd < 0; i++) {
        fd = try_connect(path);
        if (fd < 0 && i + 1 < attempts && (errno == ENOENT || errno == ECONNREFUSED))
            usleep(10000);
        else if (fd < 0)
            break;
    }
    return fd;
}

/* Whether the end of fd is process pid's agent: the socket was bound by
 * that process (its pid and uid, SO_PEERCRED), not by someone listening
 * at its path. -1 after printing the error. */
static int peer_is_agent(int fd, const char *path, pid_t pid, uid_t uid)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        cs_error("cannot tell who serves %s: %s", path, strerror(errno));
        return -1;
    }
    if (cred.pid == pid && cred.uid == uid)
        return 0;
    cs_error("%s is served by process %d (uid %u), not by process %d's agent (uid %u); not talking to it",
             path, (int)cred.pid, (unsigned)cred.uid, (int)pid, (unsigned)uid);
    return -1;
}

/* A connection to the agent of pid, after its hello; the agent is started
 * first when the process has none. -1 after printing the error. */
int cs_connect_agent(pid_t pid, int may_attach)
{
    uid_t uid;
    if (process_uid(pid, &uid) != 0) {
        cs_error("no process %d", (int)pid);
        return -1;
    }
    /* Nothing is sent to, or read from, a socket in a place another user
     * could have made: only uid's trusted directories are looked in. */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd = -1;
    errno = ENOENT;
    if (cs_agent_socket_find(uid, pid, path, sizeof path))
        fd = try_connect(path);
    if (fd < 0 && may_attach && (errno == ENOENT || errno == ECONNREFUSED)) {
        char err[1024];
        struct cs_attach_info info;
        if (cs_attach_pid(pid, CS_VIA_AUTO, &info, err, sizeof err) != 0) {
            cs_error("%s", err);
            return -1;
        }
        snprintf(path, sizeof path, "%s", info.socket_path);
        fd = connect_retrying(path, 500);
    }
    if (fd < 0) {
        if (errno == EACCES || errno == EPERM)
            cs_error("not permitted to talk to the agent in process %d (it belongs to uid %u)", (int)pid,
                     (unsigned)uid);
        else if (may_attach)
            cs_error("the agent in process %d does not answer", (int)pid);
        else
            cs_error("no callscope agent in process %d", (int)pid);
        return -1;
    }
    if (peer_is_agent(fd, path, pid, uid) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = cs_agent_reply_timeout_s()};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    unsigned char *payload = NULL;
    size_t len = 0;
    errno = 0;
    int kind = cs_recv_frame(fd, &payload, &len);
    int read_errno = errno;
    free(payload);
    if (kind != CS_MSG_HELLO) {
        close(fd);
        if (cs_agent_interrupted)
            cs_error("interrupted while waiting for the agent in process %d", (int)pid);
        else if (read_errno == EAGAIN || read_errno == EWOULDBLOCK)
            cs_error("the agent in process %d did not answer within %d s", (int)pid, (int)tv.tv_sec);
        else
            cs_error("the agent in process %d did not answer", (int)pid);
        return -1;
    }
    return fd;
}

void cs_frame_text(const unsigned char *payload, size_t len, char *out, size_t size)
{
    struct cs_reader rd = {payload, payload + len, 0};
    size_t n;
    const char *s = cs_get_str(&rd, &n);
    snprintf(out, size, "%.*s", (int)n, s);
}

