/*
 * inject.h — load a shared object into a running process and call one
 * function of it there: `int entry(const char *arg)`.
 *
 * Two ways: our own ptrace injector (no dependency), and gdb. Both leave
 * the target as it was (registers, memory, pending signals, an interrupted
 * system call) apart from the loaded library and what the entry did.
 * On Python 3.14 and later a third asks the interpreter itself to do it
 * (sys.remote_exec, PEP 768), with no ptrace of the target's threads.
 */
#ifndef CALLSCOPE_ATTACH_INJECT_H
#define CALLSCOPE_ATTACH_INJECT_H

#include <stddef.h>
#include <sys/types.h>

struct cs_inject_request {
    pid_t pid;
    const char *library; /* absolute path, dlopen(library, RTLD_NOW) in the target */
    const char *entry;   /* exported from library: int entry(const char *arg) */
    const char *arg;
    int timeout_ms;      /* for the whole injection; 0: a default of 20 s */
};

/* What went wrong, so that a caller can decide whether another way could
 * do better. */
enum cs_inject_status {
    CS_INJECT_OK = 0,
    CS_INJECT_GONE = -1,       /* the process does not exist or exited meanwhile */
    CS_INJECT_DENIED = -2,     /* the kernel refused to let us trace it */
    CS_INJECT_LOAD_FAILED = -3,/* dlopen failed in the target (err has dlerror's message) or no entry */
    CS_INJECT_TOOL = -4,       /* this way cannot do it here (no dlopen found, no gdb, ...): try another */
    CS_INJECT_TIMEOUT = -5,    /* a step did not complete in time; the target was released */
    CS_INJECT_CRASHED = -6,    /* the injected call faulted; the target was restored but may be unwell */
    CS_INJECT_REFUSED = -7,    /* the target turned this way off (remote debugging disabled) */
};

/* Both return a cs_inject_status; on CS_INJECT_OK *result is the entry's
 * return value, otherwise err holds one line saying why. */
int cs_inject_ptrace(const struct cs_inject_request *req, int *result, char *err, size_t errlen);
int cs_inject_gdb(const struct cs_inject_request *req, int *result, char *err, size_t errlen);

/* Through sys.remote_exec: `python`, an interpreter of the target's minor
 * version, hands the target a script that its main thread runs the next
 * time it runs Python code; the script loads `library` as the extension
 * module and calls its agent_attach(arg). The library must be callscope's
 * extension. Waits wait_ms for the main thread (calling waiting(pid) once
 * after a second of it), then gives up with CS_INJECT_TIMEOUT, and the
 * script, if it runs later, starts nothing. */
struct cs_remote_exec_request {
    struct cs_inject_request base;
    uid_t uid;          /* the target's: its files are the target's to remove */
    const char *python;
    int wait_ms;
    void (*waiting)(pid_t pid);
};
int cs_inject_remote_exec(const struct cs_remote_exec_request *req, int *result, char *err, size_t errlen);

#endif
