/*
 * target.h — what callscope needs to know about a process before touching
 * it: that it exists, that we may trace it, that it runs a supported
 * CPython, which of our extension files matches it, and whose it is.
 *
 * Every refusal comes back as one line of error meant for the user.
 */
#ifndef CALLSCOPE_ATTACH_TARGET_H
#define CALLSCOPE_ATTACH_TARGET_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* The oldest CPython the agent supports. */
#define CS_TARGET_MIN_MINOR 8

struct cs_target {
    pid_t pid;
    uid_t uid;                   /* effective uid: owns the agent's socket */
    char name[64];               /* /proc/PID/comm */
    char exe[PATH_MAX];          /* /proc/PID/exe */
    char python_object[PATH_MAX];/* libpython3.X.so, or the executable that holds the interpreter */
    int py_major, py_minor;
    char extension[PATH_MAX];    /* set by cs_target_find_extension */
    char socket_path[108];       /* where the agent is asked to listen (sun_path size); set by the caller */
};

/* Checks the process and fills everything but `extension`. Returns 0, or -1
 * with err set: no such process, not permitted, stopped or traced, not a
 * Python process, an unsupported Python. */
int cs_target_inspect(pid_t pid, struct cs_target *t, char *err, size_t errlen);

/* The extension file for the target's Python under package_root
 * (build/lib: package_root/callscope/_callscope.cpython-3XY-x86_64-linux-gnu.so).
 * Returns 0, or -1 with err saying how to build it. */
int cs_target_find_extension(struct cs_target *t, const char *package_root, char *err, size_t errlen);

/* An interpreter of the target's minor version, for sys.remote_exec: the
 * target's own executable when it is a python3.X, else python3.X on PATH.
 * 0, or -1 when there is none. */
int cs_target_client_python(const struct cs_target *t, char *out, size_t size);

/* Why ptrace may be refused on this machine beyond plain ownership (the Yama
 * LSM's kernel.yama.ptrace_scope), as one sentence; "" when nothing
 * restricts it. `privileged`: whether this process has CAP_SYS_PTRACE. */
void cs_ptrace_restriction(int privileged, char *out, size_t size);

/* Whether the process no longer runs: gone, or a zombie waiting to be reaped
 * (whose maps are empty and which nobody can trace any more). */
int cs_process_gone(pid_t pid);

/* Whether this process has CAP_SYS_PTRACE in its effective set. */
int cs_have_cap_sys_ptrace(void);

#endif
