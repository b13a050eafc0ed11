/*
 * agent_client.h — the client side of a live agent, shared by the commands
 * that talk to one (live.c: trace, watch...; query.c: thread, sc...).
 */
#ifndef CALLSCOPE_CLI_AGENT_CLIENT_H
#define CALLSCOPE_CLI_AGENT_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* Set by Ctrl-C or SIGTERM once cs_agent_client_catch_signals ran. */
extern volatile sig_atomic_t cs_agent_interrupted;
/* Ctrl-C and SIGTERM end a conversation cleanly; a closed pipe is an error,
 * not a signal. */
void cs_agent_client_catch_signals(void);

/* How long to wait for an agent's answer (CALLSCOPE_LIVE_TIMEOUT, 10 s). */
int cs_agent_reply_timeout_s(void);

/* A PID argument: 0, or -1 after saying it is not one. */
int cs_parse_pid(const char *s, pid_t *pid);
int cs_is_number(const char *s);
/* --format tree|text|jsonl; 0, or -1 after saying what it takes. */
int cs_parse_live_format(const char *v, int *jsonl);
/* The form when --format was not given (jsonl < 0): JSON lines unless
 * stdout is a terminal. */
int cs_default_jsonl(int jsonl);
/* The only process of the user with an agent: 0, or -1 after saying why
 * none (or which several). */
int cs_choose_agent_pid(pid_t *pid);

/* A connection to the agent of pid, after its hello, checked to be pid's
 * own (SO_PEERCRED); the agent is started first when may_attach and the
 * process has none. -1 after printing the error. */
int cs_connect_agent(pid_t pid, int may_attach);

/* The str that begins a frame's payload, as a C string. */
void cs_frame_text(const unsigned char *payload, size_t len, char *out, size_t size);

#endif
