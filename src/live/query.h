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

#include "store/textbuf.h"

struct cs_live_answer {
    struct cs_textbuf json; /* one JSON object: the `data` of a `result` line */
    struct cs_textbuf text; /* the same for a person, lines ending in '\n' */
    char error[600];        /* why there is no answer */
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

/* logger --level changes a level: `reset` (name: that logger's, "" or NULL:
 * all) and `detach` put back what the agent changed, unless the program
 * set another level since. How many were put back. GIL held. */
int cs_live_logger_levels_restore(const char *name);

#endif
