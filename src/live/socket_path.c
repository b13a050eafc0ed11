/*
 * socket_path.c — the agent socket's path, computed the same way by the
 * injector and by the agent.
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

int cs_agent_socket_path(uid_t uid, pid_t pid, char *out, size_t size)
{
    return fits(snprintf(out, size, CS_AGENT_SOCKET_DIR_FMT "/agent-%d.sock", (unsigned)uid, (int)pid), out, size);
}

int cs_agent_socket_dir_check(uid_t uid, char *why, size_t size)
{
    char dir[64];
    if (cs_agent_socket_dir(uid, dir, sizeof dir) != 0) {
        snprintf(why, size, "the agent's socket directory name is too long");
        return -1;
    }
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

int cs_agent_sweep_dead_sockets(uid_t uid)
{
    char dir[64];
    if (cs_agent_socket_dir(uid, dir, sizeof dir) != 0)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t pid = pid_of_socket_name(e->d_name);
        struct stat st;
        if (!pid || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        if (kill(pid, 0) != 0 && errno == ESRCH && unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
