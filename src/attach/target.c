/*
 * target.c — inspect a process before attaching: existence, permission,
 * state, CPython version, matching extension file, owner.
 *
 * Everything is read from /proc; nothing here stops or changes the target.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/elf_symbols.h"
#include "attach/target.h"

#define CAP_SYS_PTRACE_BIT 19

/* The value of a "Key:\tvalue" line of /proc/PID/status, or -1. */
static int status_field(pid_t pid, const char *key, char *out, size_t size)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t klen = strlen(key);
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            const char *v = line + klen + 1;
            v += strspn(v, " \t");
            snprintf(out, size, "%.*s", (int)strcspn(v, "\n"), v);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

int cs_process_gone(pid_t pid)
{
    char state[64];
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 1;
    if (status_field(pid, "State", state, sizeof state) != 0)
        return 1;
    return state[0] == 'Z' || state[0] == 'X';
}

int cs_have_cap_sys_ptrace(void)
{
    char caps[64];
    if (status_field(getpid(), "CapEff", caps, sizeof caps) != 0)
        return geteuid() == 0;
    unsigned long long v = strtoull(caps, NULL, 16);
    return (v >> CAP_SYS_PTRACE_BIT) & 1;
}

void cs_ptrace_restriction(int privileged, char *out, size_t size)
{
    out[0] = 0;
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    if (!f)
        return;
    int scope = -1;
    if (fscanf(f, "%d", &scope) != 1)
        scope = -1;
    fclose(f);
    if (scope == 1 && !privileged)
        snprintf(out, size, "kernel.yama.ptrace_scope is 1: a process may only trace its own children; "
                            "allow it with `sysctl kernel.yama.ptrace_scope=0`, or run callscope as root "
                            "(or with CAP_SYS_PTRACE)");
    else if (scope == 2 && !privileged)
        snprintf(out, size, "kernel.yama.ptrace_scope is 2: only root (or CAP_SYS_PTRACE) may trace processes; "
                            "run callscope as root, or allow it with `sysctl kernel.yama.ptrace_scope=0`");
    else if (scope == 3)
        snprintf(out, size, "kernel.yama.ptrace_scope is 3: tracing is disabled on this machine until reboot");
}

static const char *user_name(uid_t uid, char *buf, size_t size)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(buf, size, "%s (uid %u)", pw->pw_name, (unsigned)uid);
    else
        snprintf(buf, size, "uid %u", (unsigned)uid);
    return buf;
}

/* Existence, state, owner, permission. */
static int check_process(pid_t pid, struct cs_target *t, char *err, size_t errlen)
{
    if (pid <= 0) {
        snprintf(err, errlen, "%d is not a process id", (int)pid);
        return -1;
    }
    if (pid == getpid()) {
        snprintf(err, errlen, "cannot attach to callscope itself");
        return -1;
    }
    char buf[256];
    if (kill(pid, 0) != 0 && errno == ESRCH) {
        snprintf(err, errlen, "no process with pid %d", (int)pid);
        return -1;
    }
    if (status_field(pid, "Uid", buf, sizeof buf) != 0) {
        snprintf(err, errlen, "no process with pid %d", (int)pid);
        return -1;
    }
    unsigned ruid, euid, suid;
    if (sscanf(buf, "%u %u %u", &ruid, &euid, &suid) != 3) {
        snprintf(err, errlen, "cannot read the owner of process %d", (int)pid);
        return -1;
    }
    t->uid = euid;
    if (status_field(pid, "Tgid", buf, sizeof buf) == 0 && atoi(buf) != pid) {
        snprintf(err, errlen, "%d is a thread of process %s, not a process; attach to %s", (int)pid, buf, buf);
        return -1;
    }
    if (status_field(pid, "Name", t->name, sizeof t->name) != 0)
        snprintf(t->name, sizeof t->name, "?");

    int privileged = cs_have_cap_sys_ptrace();
    uid_t me = getuid();
    if (!privileged && (ruid != me || euid != me || suid != me)) {
        char who[128];
        snprintf(err, errlen, "not permitted: process %d (%s) belongs to %s; only root (or a process with "
                              "CAP_SYS_PTRACE) can attach to another user's process",
                 (int)pid, t->name, user_name(euid == me ? ruid : euid, who, sizeof who));
        return -1;
    }
    char restriction[400];
    cs_ptrace_restriction(privileged, restriction, sizeof restriction);
    if (restriction[0] && strstr(restriction, "is 1:") == NULL) {
        snprintf(err, errlen, "not permitted: %s", restriction);
        return -1;
    }

    if (status_field(pid, "State", buf, sizeof buf) == 0) {
        if (buf[0] == 'Z' || buf[0] == 'X') {
            snprintf(err, errlen, "process %d (%s) is exiting", (int)pid, t->name);
            return -1;
        }
        if (buf[0] == 'T') {
            snprintf(err, errlen, "process %d (%s) is stopped; resume it first (kill -CONT %d)", (int)pid, t->name,
                     (int)pid);
            return -1;
        }
    }
    if (status_field(pid, "TracerPid", buf, sizeof buf) == 0 && atoi(buf) != 0) {
        char comm[64] = "?";
        status_field((pid_t)atoi(buf), "Name", comm, sizeof comm);
        snprintf(err, errlen, "process %d (%s) is already traced by process %s (%s); detach that debugger first",
                 (int)pid, t->name, buf, comm);
        return -1;
    }
    char exe[64];
    snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(exe, t->exe, sizeof t->exe - 1);
    if (n < 0) {
        if (errno == EACCES || errno == EPERM)
            snprintf(err, errlen, "not permitted to inspect process %d (%s)", (int)pid, t->name);
        else if (errno == ENOENT && kill(pid, 0) == 0)
            snprintf(err, errlen, "process %d (%s) is a kernel thread, not a Python process", (int)pid, t->name);
        else
            snprintf(err, errlen, "no process with pid %d", (int)pid);
        return -1;
    }
    t->exe[n] = 0;
    return 0;
}

static int match_libpython(const char *path, const void *ctx)
{
    (void)ctx;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int major, minor;
    return sscanf(base, "libpython%d.%d", &major, &minor) == 2;
}

/* "python3.12" or "python3.12d" etc. as the executable's base name. */
static int version_from_name(const char *path, int *major, int *minor)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return sscanf(base, "python%d.%d", major, minor) == 2 ? 0 : -1;
}

/* Whether a libpython or python executable's name is a free-threaded
 * build's ("python3.14t", "libpython3.14t.so.1.0"). */
static int free_threaded_name(const char *path)
{
    const char *base = strrchr(path, '/');
    const char *p = strstr(base ? base + 1 : path, "python3.");
    if (!p)
        return 0;
    for (p += 8; *p >= '0' && *p <= '9'; p++)
        ;
    return *p == 't';
}

/* Py_Version (3.11+) holds PY_VERSION_HEX: read it from the target. */
static int version_from_memory(pid_t pid, const struct cs_mapped_object *obj, int *major, int *minor)
{
    char err[256];
    uintptr_t addr;
    if (cs_proc_symbol_in(pid, obj, "Py_Version", &addr, err, sizeof err) != 0)
        return -1;
    char mem[64];
    snprintf(mem, sizeof mem, "/proc/%d/mem", (int)pid);
    int fd = open(mem, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint32_t hex = 0;
    ssize_t n = pread(fd, &hex, sizeof hex, (off_t)addr);
    close(fd);
    if (n != (ssize_t)sizeof hex || (hex >> 24) != 3)
        return -1;
    *major = (int)(hex >> 24);
    *minor = (int)((hex >> 16) & 0xff);
    return 0;
}

static int check_python(pid_t pid, struct cs_target *t, char *err, size_t errlen)
{
    struct cs_mapped_object obj;
    errno = 0;
    int rc = cs_proc_find_object(pid, match_libpython, NULL, &obj, err, errlen);
    if (rc < 0) {
        int why = errno;
        if (cs_process_gone(pid))
            snprintf(err, errlen, "no process with pid %d", (int)pid);
        else if (why == EACCES || why == EPERM)
            snprintf(err, errlen, "not permitted to read the memory map of process %d (%s)", (int)pid, t->name);
        return -1;
    }
    int major = 0, minor = 0;
    if (rc == 0) {
        const char *base = strrchr(obj.path, '/') + 1;
        sscanf(base, "libpython%d.%d", &major, &minor);
    } else {
        /* No libpython: an interpreter linked into its executable, or no
         * Python at all. The executable then defines the C API itself. */
        rc = cs_proc_find_object(pid, cs_match_path, t->exe, &obj, err, errlen);
        uint64_t v;
        char e2[256];
        if (rc != 0 || cs_elf_symbol_value(obj.path, "Py_IsInitialized", &v, e2, sizeof e2) != 0) {
            snprintf(err, errlen, "process %d (%s) is not a Python process (no libpython and no Python "
                                  "interpreter in %s)", (int)pid, t->name, t->exe);
            return -1;
        }
        if (version_from_memory(pid, &obj, &major, &minor) != 0 && version_from_name(t->exe, &major, &minor) != 0) {
            snprintf(err, errlen, "cannot tell which Python version process %d (%s) runs", (int)pid, t->name);
            return -1;
        }
    }
    snprintf(t->python_object, sizeof t->python_object, "%s", obj.path);
    t->py_major = major;
    t->py_minor = minor;
    if (free_threaded_name(obj.path) || free_threaded_name(t->exe)) {
        snprintf(err, errlen, "process %d (%s) runs a free-threaded build of Python %d.%d, which callscope does "
                              "not support", (int)pid, t->name, major, minor);
        return -1;
    }
    if (major != 3 || minor < CS_TARGET_MIN_MINOR) {
        snprintf(err, errlen, "process %d (%s) runs Python %d.%d; callscope supports Python 3.%d and later",
                 (int)pid, t->name, major, minor, CS_TARGET_MIN_MINOR);
        return -1;
    }
    return 0;
}

int cs_target_inspect(pid_t pid, struct cs_target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->pid = pid;
    if (check_process(pid, t, err, errlen) != 0 || check_python(pid, t, err, errlen) != 0)
        return -1;
    return 0;
}

int cs_target_find_extension(struct cs_target *t, const char *package_root, char *err, size_t errlen)
{
    int n = snprintf(t->extension, sizeof t->extension, "%s/callscope/_callscope.cpython-%d%d-x86_64-linux-gnu.so",
                     package_root, t->py_major, t->py_minor);
    if (n < 0 || (size_t)n >= sizeof t->extension) {
        snprintf(err, errlen, "path too long: %s", package_root);
        return -1;
    }
    if (access(t->extension, R_OK) == 0)
        return 0;
    /* The interpreter to build with: the target's own when it is a python3.X. */
    char python[PATH_MAX + 16];
    int major, minor;
    if (version_from_name(t->exe, &major, &minor) == 0)
        snprintf(python, sizeof python, "%s", t->exe);
    else
        snprintf(python, sizeof python, "/path/to/python%d.%d", t->py_major, t->py_minor);
    snprintf(err, errlen, "callscope is not built for Python %d.%d (no %s); build it with `make PYTHON=%s`",
             t->py_major, t->py_minor, t->extension, python);
    return -1;
}

int cs_target_client_python(const struct cs_target *t, char *out, size_t size)
{
    int major, minor;
    if (version_from_name(t->exe, &major, &minor) == 0 && major == t->py_major && minor == t->py_minor &&
        access(t->exe, X_OK) == 0) {
        snprintf(out, size, "%s", t->exe);
        return 0;
    }
    const char *env = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", env && *env ? env : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, size, "%s/python%d.%d", d, t->py_major, t->py_minor);
        if (access(out, X_OK) == 0)
            return 0;
    }
    return -1;
}
