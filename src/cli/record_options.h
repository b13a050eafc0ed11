/*
 * record_options.h — the options `callscope run` and `callscope collect`
 * share: what to capture (into the ring's header) and what to keep (the
 * collector's options).
 */
#ifndef CALLSCOPE_RECORD_OPTIONS_H
#define CALLSCOPE_RECORD_OPTIONS_H

#include <stdio.h>

#include "collector/collector.h"
#include "core/ring.h"

struct cs_record_options {
    struct cs_capture_options capture;
    struct cs_collector_options collect;
    size_t buffer_bytes;
    const char *python; /* run only */
    int owner_pid;      /* collect only: stop when this process is gone */
};

void cs_record_options_init(struct cs_record_options *o);
/* Parses options until the first argument that is not one. Returns the
 * index of that argument, or -1 after printing a one-line error. */
int cs_record_options_parse(struct cs_record_options *o, int argc, char **argv, int for_run);
void cs_record_options_usage(FILE *out);
/* Adds colon-separated folders to trace (TRACE_MODULES). -1 after printing
 * the error. */
int cs_record_options_add_folders(struct cs_record_options *o, const char *what, const char *folders);

#endif
