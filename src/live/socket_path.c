/*
 * socket_path.c — the agent socket's place, chosen by the attaching side,
 * checked by the agent, found by every later client (see socket_path.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "live/socket_path.h"

#define PRIVATE_PARENT "/tmp"
#define DIR_SIZE 64

static int fits(int n, char *out, size_t size)
{
    if (n < 0 || (size_t)n >= size) {
        if (size)
            out[0] = 0;
        return -1;
    }
    return 0;
}

int cs_agent_socket_dir(uid_t uid, char *out, size_t size)
{
    return fits(snprintf(out, size, CS_AGENT_SOCKET_DIR_FMT, (unsigned)uid), out, size);
}

static int socket_in(const char *dir, pid_t pid, char *out, size_t size)
{
    return fits(snprintf(out, size, "%s/agent-%d.sock", dir, (int)pid), out, size);
}

int cs_socket_dir_check(const char *dir, uid_t uid, char *why, size_t size)
{
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(why, size, "cannot look at %s: %s", dir, strerror(errno));
        return -1;
    }
    const char *fix = "remove it: another user may have made it to listen in the agent's place";
    if (S_ISLNK(st.st_mode))
        snprintf(why, size, "%s is a symbolic link, not a directory of uid %u; %s", dir, (unsigned)uid, fix);
    else if (!S_ISDIR(st.st_mode))
        snprintf(why, size, "%s is not a directory; %s", dir, fix);
    else if (st.st_uid != uid)
        snprintf(why, size, "%s belongs to uid %u, not to uid %u whose agent it is for; %s", dir,
                 (unsigned)st.st_uid, (unsigned)uid, fix);
    else if (st.st_mode & 077)
        snprintf(why, size, "%s is open to other users (mode %04o, not 0700); %s", dir,
                 (unsigned)(st.st_mode & 07777), fix);
    else
        return 1;
    return -1;
}

/* Calls visit(dir) for each of uid's directories that can be trusted, the
 * first-choice one first, until visit returns nonzero; returns that value. */
static int each_trusted_dir(uid_t uid, int (*visit)(const char *dir, void *arg), void *arg)
{
    char dir[DIR_SIZE], why[512];
    if (cs_agent_socket_dir(uid, dir, sizeof dir) == 0 && cs_socket_dir_check(dir, uid, why, sizeof why) == 1) {
        int r = visit(dir, arg);
        if (r)
            return r;
    }
    char prefix[DIR_SIZE];
    snprintf(prefix, sizeof prefix, "callscope-%u.", (unsigned)uid);
    DIR *d = opendir(PRIVATE_PARENT);
    if (!d)
        return 0;
    int r = 0;
    struct dirent *e;
    while (!r && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || strlen(e->d_name) != strlen(prefix) + 6 ||
            fits(snprintf(dir, sizeof dir, PRIVATE_PARENT "/%s", e->d_name), dir, sizeof dir) != 0)
            continue;
        if (cs_socket_dir_check(dir, uid, why, sizeof why) == 1)
            r = visit(dir, arg);
    }
    closedir(d);
    return r;
}

struct finding {
    pid_t pid;
    char *out;
    size_t size;
};

static int holds_socket(const char *dir, void *arg)
{
    struct finding *f = arg;
    struct stat st;
    return socket_in(dir, f->pid, f->out, f->size) == 0 && lstat(f->out, &st) == 0 && S_ISSOCK(st.st_mode);
}

int cs_agent_socket_find(uid_t uid, pid_t pid, char *out, size_t size)
{
    struct finding f = {pid, out, size};
    if (each_trusted_dir(uid, holds_socket, &f))
        return 1;
    if (size)
        out[0] = 0;
    return 0;
}

/* Gives a directory this process just made to uid, when they differ (root
 * attaching to another user's process), and checks the result. */
static int made_for(const char *dir, uid_t uid, char *why, size_t size)
{
    if (geteuid() != uid && chown(dir, uid, (gid_t)-1) != 0) {
        snprintf(why, size, "cannot give %s to uid %u: %s", dir, (unsigned)uid, strerror(errno));
        rmdir(dir);
        return -1;
    }
    return cs_socket_dir_check(dir, uid, why, size) == 1 ? 0 : -1;
}

static int first_dir(const char *dir, void *arg)
{
    snprintf(arg, DIR_SIZE, "%s", dir);
    return 1;
}

int cs_agent_socket_choose(uid_t uid, pid_t pid, char *out, size_t size, char *note, size_t notesize, char *why,
                           size_t whysize)
{
    if (notesize)
        note[0] = 0;
    char dir[DIR_SIZE], unsafe[512] = "";
    if (cs_agent_socket_dir(uid, dir, sizeof dir) != 0) {
        snprintf(why, whysize, "the agent's socket directory name is too long");
        return -1;
    }
    int state = cs_socket_dir_check(dir, uid, unsafe, sizeof unsafe);
    if (state == 0) {
        /* Made by us now; if someone else made it in between, it is not
         * ours and the check below sends us to a private one. */
        if (mkdir(dir, 0700) == 0)
            state = made_for(dir, uid, unsafe, sizeof unsafe) == 0 ? 1 : -1;
        else
            state = errno == EEXIST ? cs_socket_dir_check(dir, uid, unsafe, sizeof unsafe) : -1;
    }
    if (state != 1) {
        char *cut = strstr(unsafe, "; remove it");
        if (cut)
            *cut = 0;
        /* The first-choice directory is not trusted, so any found is private. */
        if (!each_trusted_dir(uid, first_dir, dir)) {
            if (fits(snprintf(dir, sizeof dir, PRIVATE_PARENT "/callscope-%u.XXXXXX", (unsigned)uid), dir,
                     sizeof dir) != 0 ||
                !mkdtemp(dir)) {
                snprintf(why, whysize, "cannot make a private socket directory in " PRIVATE_PARENT ": %s",
                         strerror(errno));
                return -1;
            }
            if (made_for(dir, uid, why, whysize) != 0)
                return -1;
        }
        snprintf(note, notesize, "%s; the agent listens in %s instead", unsafe, dir);
    }
    if (socket_in(dir, pid, out, size) != 0) {
        snprintf(why, whysize, "the agent's socket path is too long");
        return -1;
    }
    return 0;
}

/* The pid in "agent-<pid>.sock" or "agent-<pid>.sock.new", or 0. */
static pid_t pid_of_socket_name(const char *name)
{
    if (strncmp(name, "agent-", 6) != 0 || name[6] < '1' || name[6] > '9')
        return 0;
    char *end;
    long pid = strtol(name + 6, &end, 10);
    if (pid <= 0 || pid > 0x7fffffff || (strcmp(end, ".sock") != 0 && strcmp(end, ".sock.new") != 0))
        return 0;
    return (pid_t)pid;
}

/* Calls fn for each agent socket in dir (agent-<pid>.sock, or the .new name
 * a starting agent binds first), with the process's pid. */
static void each_socket(const char *dir, void (*fn)(int dirfd, const char *name, pid_t pid, void *arg), void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t pid = pid_of_socket_name(e->d_name);
        struct stat st;
        if (pid && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode))
            fn(dirfd(d), e->d_name, pid, arg);
    }
    closedir(d);
}

static int process_ended(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static void remove_if_ended(int dirfd, const char *name, pid_t pid, void *arg)
{
    if (process_ended(pid) && unlinkat(dirfd, name, 0) == 0)
        (*(int *)arg)++;
}

static int sweep(const char *dir, void *arg)
{
    each_socket(dir, remove_if_ended, arg);
    return 0;
}

int cs_agent_sweep_dead_sockets(uid_t uid)
{
    int removed = 0;
    each_trusted_dir(uid, sweep, &removed);
    return removed;
}

struct listing {
    pid_t *pids;
    int max, n;
};

static void list_if_listening(int dirfd, const char *name, pid_t pid, void *arg)
{
    (void)dirfd;
    struct listing *l = arg;
    if (strstr(name, ".new") || process_ended(pid))
        return;
    for (int i = 0; i < l->n && i < l->max; i++)
        if (l->pids[i] == pid)
            return;
    if (l->n < l->max)
        l->pids[l->n] = pid;
    l->n++;
}

static int list_agents(const char *dir, void *arg)
{
    each_socket(dir, list_if_listening, arg);
    return 0;
}

int cs_agent_list(uid_t uid, pid_t *pids, int max)
{
    struct listing l = {pids, max, 0};
    each_trusted_dir(uid, list_agents, &l);
    return l.n;
}
