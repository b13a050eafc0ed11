/*
 * protocol.h — what the agent in a target process and the callscope client
 * say to each other over the agent's Unix socket.
 *
 * Both ways the stream is a sequence of frames: a 4-byte little-endian
 * length (of what follows), one byte of frame kind, then the payload. Payload
 * fields use the event encoding of core/event.h (varint, str, values), so
 * the client renders captured arguments with the same code that renders a
 * recording.
 *
 * Client to agent
 *   REQ_OBSERVE  text: one "key=value" per line (see struct cs_live_request),
 *                values with backslash and newline escaped
 *   REQ_RESET    text: a pattern, or empty for all of this client's watches
 *   REQ_DETACH   empty: remove everything and end the agent thread
 *   REQ_QUERY    str question ("thread", "sc"...), varint n (at most
 *                CS_QUERY_MAX_ARGS), n x str argument: a read-only question
 *                answered once (live/query.h)
 * Agent to client
 *   MSG_HELLO    str python version, varint pid
 *   MSG_STATUS   str text (e.g. "watching app.f (watch 3)"); after a reset,
 *                also varint watches removed, varint logger levels put back
 *                (query_logger.c)
 *   MSG_ERROR    str text: the request failed; nothing was installed
 *   MSG_OBSERVATION  see below (for monitor, one per cycle)
 *   MSG_DONE     varint observations sent: the -n limit was reached
 *   MSG_NOTICE   str text: something to tell once (a condition that raised)
 *   MSG_STARTED  varint watch id, str function: the observation is installed
 *                (sent after its MSG_STATUS)
 *   MSG_STOPPED  varint watch id, varint observations sent, str reason
 *                ("reset", "detach"): another client removed the watch
 *   MSG_RESULT   str JSON object, str text: the answer to a REQ_QUERY, for
 *                programs and for people; a question that answers later
 *                (memory --tracemalloc S) sends it when it has the answer
 *   MSG_ROUND    str JSON object, str text: one round of a question that
 *                answers repeatedly (top), as MSG_RESULT; its last round is
 *                a MSG_RESULT (none when it runs until the client leaves)
 *
 * MSG_OBSERVATION
 *   the header (struct cs_observation_header: both ends use its put and
 *   get): u8 command (CS_LIVE_*), varint watch id, varint wall-clock ns,
 *   varint tid, str thread name, u8 daemon, varint duration ns (0 when
 *   observed at entry); then per command:
 *   TRACE  varint n, n x node: varint depth, varint duration ns,
 *          u8 CS_NODE_* flags, str function, str filename, varint lineno,
 *          and with CS_NODE_ARGS: varint nargs, nargs x (str name, value)
 *   WATCH  str function, str filename, varint lineno, u8 CS_AT_* (when),
 *          u8 CS_ARGS_* shape, varint positional (how many of the
 *          arguments are positional parameters, the receiver included),
 *          varint nargs, nargs x (str name, value) in the code's order:
 *          positional, keyword-only, then *args and **kwargs if present,
 *          then for CS_AT_RETURN a value, for CS_AT_EXCEPTION str type + value
 *   STACK  str function, str filename, varint lineno,
 *          varint n, n x frame (innermost first): str function, str filename,
 *          varint lineno
 *   MONITOR (one per cycle; the header's thread is empty, its duration the
 *          cycle) str function, str filename, varint lineno, varint calls,
 *          varint failed, varint total ns, varint min ns, varint max ns
 */
#ifndef CALLSCOPE_LIVE_PROTOCOL_H
#define CALLSCOPE_LIVE_PROTOCOL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

#define CS_FRAME_HEADER 5
#define CS_FRAME_MAX (16u << 20) /* longer frames are a protocol error */

enum cs_frame_kind {
    CS_REQ_OBSERVE = 1,
    CS_REQ_RESET = 2,
    CS_REQ_DETACH = 3,
    CS_REQ_QUERY = 4,
    CS_MSG_HELLO = 0x41,
    CS_MSG_STATUS = 0x42,
    CS_MSG_ERROR = 0x43,
    CS_MSG_OBSERVATION = 0x44,
    CS_MSG_DONE = 0x45,
    CS_MSG_NOTICE = 0x46,
    CS_MSG_STARTED = 0x47,
    CS_MSG_STOPPED = 0x48,
    CS_MSG_RESULT = 0x49,
    CS_MSG_ROUND = 0x4A,
};

/* A query's arguments: how many, and how long each may be. */
#define CS_QUERY_MAX_ARGS 32
#define CS_QUERY_MAX_ARG 1024

enum cs_live_command { CS_LIVE_TRACE = 1, CS_LIVE_WATCH = 2, CS_LIVE_STACK = 3, CS_LIVE_MONITOR = 4 };

enum cs_node_flags {
    CS_NODE_BUILTIN = 1,    /* a C function */
    CS_NODE_AWAIT = 2,      /* a coroutine suspended by await */
    CS_NODE_UNFINISHED = 4, /* still running when the observation ended */
    CS_NODE_RAISED = 8,     /* ended by an exception */
    CS_NODE_YIELD = 16,     /* a generator suspended by yield */
    CS_NODE_ARGS = 32,      /* the node ends with its arguments (--args) */
};

/* What a watch observation's arguments are (bits of its shape byte). */
enum cs_args_shape {
    CS_ARGS_RECEIVER = 1,    /* the first is a method's self or cls */
    CS_ARGS_VARARGS = 2,     /* one is *args (after the keyword-only ones) */
    CS_ARGS_VARKEYWORDS = 4, /* the last is **kwargs */
};

/* When watch observes (bits of the request's `when`). */
enum cs_watch_at {
    CS_AT_ENTRY = 1,     /* -b */
    CS_AT_RETURN = 2,    /* -s */
    CS_AT_EXCEPTION = 4, /* -e */
    CS_AT_FINISH = CS_AT_RETURN | CS_AT_EXCEPTION, /* -f: whichever happens */
};

/* An observe request, as both ends see it. */
struct cs_live_request {
    int command;            /* enum cs_live_command */
    char pattern[512];
    char nested[256];       /* -nm: a function defined inside the target */
    char condition[1024];
    int depth;              /* trace: levels below the target; stack: frames */
    long long times;        /* -n: observations before done; -1 unlimited */
    int64_t min_duration_ns;  /* trace: hide sub-calls shorter than this */
    int64_t entrance_ns;      /* skip invocations shorter than this */
    int skip_builtin;
    int expand;             /* watch: nesting depth of values */
    int when;               /* watch: CS_AT_* bits */
    int64_t cycle_ns;       /* monitor: how often a line of statistics is sent */
    int node_args;          /* trace: each node carries its call's arguments */
};

void cs_live_request_defaults(struct cs_live_request *req, int command);
/* The longest request: every text field at its longest with every
 * character escaped, and the numbers. */
#define CS_LIVE_REQUEST_MAX                                                                                           \
    (2 * (sizeof(((struct cs_live_request *)0)->pattern) + sizeof(((struct cs_live_request *)0)->nested) +          \
          sizeof(((struct cs_live_request *)0)->condition)) +                                                        \
     512)
/* key=value lines, text values with backslash and newline escaped (\\, \n);
 * returns the length written (NUL-terminated). */
size_t cs_live_request_format(const struct cs_live_request *req, char out[CS_LIVE_REQUEST_MAX]);
/* 0, or -1 with a message in err. */
int cs_live_request_parse(const char *text, size_t len, struct cs_live_request *req, char *err,
                          size_t errlen);

/* A REQ_QUERY's payload: writes it into out (size bytes) and returns its
 * length, or 0 when it does not fit. */
size_t cs_live_query_format(unsigned char *out, size_t size, const char *question, int argc,
                            const char *const *argv);

/* The header every MSG_OBSERVATION begins with, as both ends see it: the
 * agent fills it and puts it, the client gets it back, from one
 * definition of the bytes. */
struct cs_observation_header {
    int command;           /* enum cs_live_command */
    uint64_t watch_id;
    uint64_t wall_ns;      /* when, since the epoch */
    uint64_t tid;          /* the thread's native id */
    const char *thread;    /* its name, UTF-8 (not NUL-terminated) */
    size_t thread_len;
    int daemon;
    uint64_t duration_ns;  /* 0 when observed at entry */
};

struct cs_textbuf;
void cs_observation_header_put(struct cs_textbuf *b, const struct cs_observation_header *h);
/* Reads a header; its thread name points into the frame. 0, or -1 when the
 * frame is too short (rd->error set). */
int cs_observation_header_get(struct cs_reader *rd, struct cs_observation_header *h);

/* Writes a frame header for a payload of `len` bytes. */
static inline void cs_frame_header(unsigned char out[CS_FRAME_HEADER], int kind, size_t len)
{
    uint32_t n = (uint32_t)len + 1;
    memcpy(out, &n, 4);
    out[4] = (unsigned char)kind;
}

/* Whole-buffer I/O on a blocking socket, retrying on EINTR unless
 * *cs_protocol_stop is set (the client's Ctrl-C): 0 or -1. A socket with a
 * receive timeout (SO_RCVTIMEO) fails a read that waits longer, with
 * errno EAGAIN. */
extern volatile sig_atomic_t *cs_protocol_stop;
int cs_write_all(int fd, const void *buf, size_t len);
int cs_read_all(int fd, void *buf, size_t len);

/* Sends one frame. 0 or -1. */
int cs_send_frame(int fd, int kind, const void *payload, size_t len);
/* Reads one frame into a malloc'd buffer (*payload, free it). Returns the
 * kind, 0 at a clean end of stream, -1 on error or a malformed frame. */
int cs_recv_frame(int fd, unsigned char **payload, size_t *len);

#endif
