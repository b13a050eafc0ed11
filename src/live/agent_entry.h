/*
 * agent_entry.h — the one C function an attaching callscope calls inside the
 * target, after loading the extension there with dlopen().
 *
 * The injector runs it on a thread it interrupted at an arbitrary point, with
 * or without the GIL, so it does almost nothing: it copies its argument and
 * starts the agent thread, which then waits for the GIL like any other thread
 * and does the real work at a safe point (between bytecodes).
 */
#ifndef CALLSCOPE_LIVE_AGENT_ENTRY_H
#define CALLSCOPE_LIVE_AGENT_ENTRY_H

#define CS_AGENT_ENTRY "callscope_agent_attach"

/* Results of the entry function (the injector reads them from the call's
 * return register). */
enum cs_agent_entry_result {
    CS_AGENT_STARTED = 0,         /* the agent thread was started */
    CS_AGENT_ALREADY_RUNNING = 1, /* an agent is already listening: use it */
    CS_AGENT_NO_PYTHON = 2,       /* the interpreter is not initialized (or finalizing) */
    CS_AGENT_FAILED = 3,          /* no memory, or no thread could be started */
    CS_AGENT_STOPPING = 4,        /* the agent is ending after a detach: attach again in a moment */
};

/* socket_path: where the agent listens (see live/socket_path.h); copied. */
int callscope_agent_attach(const char *socket_path);

#endif
