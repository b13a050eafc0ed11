/*
 * attach.h — start callscope's agent inside a running Python process.
 *
 * `callscope attach PID` uses it, and so do the live commands (trace, watch,
 * ...) before they connect to the agent's socket.
 */
#ifndef CALLSCOPE_CLI_ATTACH_H
#define CALLSCOPE_CLI_ATTACH_H

#include <stddef.h>
#include <sys/types.h>

enum cs_attach_via {
    CS_VIA_AUTO = 0, /* our ptrace injector, then gdb if ptrace cannot do it here */
    CS_VIA_PTRACE,
    CS_VIA_GDB,
    CS_VIA_REMOTE_EXEC, /* sys.remote_exec (PEP 768), 3.14+; auto tries it first there */
};

struct cs_attach_info {
    int py_major, py_minor;   /* the target's Python */
    uid_t uid;                /* the target's effective uid */
    enum cs_attach_via via;   /* the way that worked (not CS_VIA_AUTO) */
    int agent_result;         /* enum cs_agent_entry_result: STARTED or ALREADY_RUNNING */
    char socket_path[108];    /* where the agent listens (live/socket_path.h) */
};

/* Loads the extension matching the target's Python into process `pid` and
 * calls callscope_agent_attach(socket_path) there. Returns 0 when an agent
 * is running (started now, or already), with `info` filled; -1 with one
 * line of error in err otherwise (no such process, not permitted, not
 * Python, unsupported version, extension not built, injection failed, the
 * agent could not start). `info` may be NULL.
 *
 * CALLSCOPE_ATTACH_LIBRARY, when set, names the shared object to load
 * instead of the extension (for tests). */
int cs_attach_pid(pid_t pid, enum cs_attach_via via, struct cs_attach_info *info, char *err, size_t errlen);

/* "ptrace", "gdb", "remote_exec" or "auto". */
const char *cs_attach_via_name(enum cs_attach_via via);

#endif
