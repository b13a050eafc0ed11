/*
 * live_render.h — prints what a live agent sends: observations of trace,
 * watch and stack as a human tree or as JSON lines, plus status and errors.
 */
#ifndef CALLSCOPE_LIVE_RENDER_H
#define CALLSCOPE_LIVE_RENDER_H

#include <stddef.h>
#include <stdio.h>

struct cs_live_render {
    FILE *out;
    int jsonl;
    int color;
};

/* One observation payload (protocol.h). 0, or -1 if it is malformed. */
int cs_live_render_observation(struct cs_live_render *r, const unsigned char *payload, size_t len);
/* A status, event or error line (JSON type "status", "event" or "error"). */
void cs_live_render_message(struct cs_live_render *r, const char *type, const char *text);

#endif
