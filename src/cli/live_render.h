/*
 * live_render.h — prints what a live agent sends: observations of trace,
 * watch and stack as a human tree or as JSON lines, plus status and errors.
 */
#ifndef CALLSCOPE_LIVE_RENDER_H
#define CALLSCOPE_LIVE_RENDER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cs_live_render {
    FILE *out;
    int jsonl;
    int color;
    const char *command; /* "trace", "attach"...: named in JSON messages */
    long long count;     /* observations printed so far (a watch's `count`) */
    int events;          /* JSON lines: `event` lines too (watch, stack, monitor),
                          * or only observations and errors (trace: its recipes
                          * read every line as an observation) */
};

/* One observation payload (protocol.h). 0, or -1 if it is malformed. */
int cs_live_render_observation(struct cs_live_render *r, const unsigned char *payload, size_t len);
/* A status, event or error line: JSON {"type":"status","level":"info",
 * "message"}, {"type":"event","event":"notice","message"} or
 * {"type":"error","error"}, each with "command"; in the human form, one
 * line on stderr (an error: in JSON lines too). Type "info" is said on
 * stderr only: what an observation command installed, which its
 * watch_started event says in JSON. */
void cs_live_render_message(struct cs_live_render *r, const char *type, const char *text);
/* The JSON lines of an observation that began and one that ended ("count":
 * -n was reached, "reset" or "detach": another client removed it); the
 * human form says only what it did not say before (a removal). */
void cs_live_render_started(struct cs_live_render *r, int command, uint64_t watch_id, const char *function,
                            size_t function_len);
void cs_live_render_stopped(struct cs_live_render *r, int command, uint64_t watch_id, const char *reason,
                            uint64_t observations);
/* {"type":"success","command":...,"data":DATA} where data_json is an object
 * already in JSON, or `text` on stdout in the human form. */
void cs_live_render_success(struct cs_live_render *r, const char *data_json, const char *text);

#endif
