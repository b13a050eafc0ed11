/*
 * query.h — the read-only questions a client can ask a live agent (`thread`,
 * `sc`, `inspect`...), answered once, as a JSON object for programs and as
 * text for people.
 *
 * A question is answered with the GIL held, on the agent's thread, from what
 * the interpreter keeps in its own C structures and in plain dicts: no
 * program code runs (no __repr__, property, __getattr__ or import), and the
 * program's state is left as it was.
 */
#ifndef CALLSCOPE_LIVE_QUERY_H
#define CALLSCOPE_LIVE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "util/textbuf.h"

struct cs_live_later;
struct cs_live_client;

struct cs_live_answer {
    struct cs_textbuf json; /* one JSON object: the `data` of a `result` line */
    struct cs_textbuf text; /* the same for a person, lines ending in '\n' */
    char error[600];        /* why there is no answer */
    /* Set by a question that answers later or in rounds (top, memory
     * --tracemalloc); then the JSON, if any, is sent now as a first round. */
    struct cs_live_later *later;
    /* Who asks (set by the agent): a watch the question puts in force
     * (top --calls) is this client's, and goes when it leaves. */
    struct cs_live_client *client;
};

/* A question still being answered: the agent's loop calls `step` when it is
 * due, between serving its clients (so no client waits for it), until the
 * last answer; the client leaving, or a detach, ends it early. */
enum cs_later_step {
    CS_LATER_WAIT = 0,  /* nothing to send yet; due_ns moved on */
    CS_LATER_ROUND = 1, /* the answer is one round (MSG_ROUND); more follow */
    CS_LATER_LAST = 2,  /* the answer is the last (MSG_RESULT) */
    CS_LATER_ERROR = -1 /* answer->error (MSG_ERROR), the end */
};
struct cs_live_later {
    int64_t due_ns; /* when step runs next (cs_monotonic_ns's clock) */
    int (*step)(struct cs_live_later *self, struct cs_live_answer *answer); /* GIL held */
    /* Undoes what the question started and frees self (GIL held); called
     * once, after the last step or when the question is abandoned. */
    void (*end)(struct cs_live_later *self);
};

/* Answers `question` with its arguments (options and operands as the user
 * typed them after the PID). 0, or -1 with answer->error set. GIL held. */
int cs_live_query_answer(const char *question, int argc, char **argv, struct cs_live_answer *answer);

/* The questions, one file each (query_*.c): the same signature. */
int cs_query_thread(int argc, char **argv, struct cs_live_answer *answer);
/* query_search.c: the classes (sc), the functions and methods (sm) */
int cs_query_sc(int argc, char **argv, struct cs_live_answer *answer);
int cs_query_sm(int argc, char **argv, struct cs_live_answer *answer);
/* query_inspect.c: the value of a global or an attribute path */
int cs_query_inspect(int argc, char **argv, struct cs_live_answer *answer);
int cs_query_logger(int argc, char **argv, struct cs_live_answer *answer);
int cs_query_memory(int argc, char **argv, struct cs_live_answer *answer);
int cs_query_top(int argc, char **argv, struct cs_live_answer *answer);

/* logger --level changes a level: `reset` (name: that logger's, "" or NULL:
 * all) and `detach` put back what the agent changed, unless the program
 * set another level since. How many were put back. GIL held. */
int cs_live_logger_levels_restore(const char *name);

#endif
