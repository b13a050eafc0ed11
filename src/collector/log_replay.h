/*
 * log_replay.h — a deferred recording's event log (event_log.h) fed to the
 * collector that builds its rows, block by block in order: the whole log
 * at once once the program is done (build_rows.c), or the blocks as the
 * recording commits them, for readers while it runs (follow_rows.c).
 */
#ifndef CALLSCOPE_LOG_REPLAY_H
#define CALLSCOPE_LOG_REPLAY_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/collector.h"
#include "store/chunk_codec.h"

struct cs_log_replay {
    struct cs_collector *c; /* writing the rows */
    struct cs_chunk_buffer buf;
    char *command;       /* the recording's command line, which c refers to */
    const char *path;    /* the recording, for messages */
    int64_t last_seq;    /* the last block fed (0: none yet) */
    char *err;           /* (while feeding) */
    size_t errlen;
};

/* Opens the collector for the log of the recording open in log_db (the
 * facts and options it was recorded with, from its meta), writing its
 * rows into a new store at out_path. 0, or -1 with a one-line message. */
int cs_log_replay_open(struct cs_log_replay *r, sqlite3 *log_db, const char *path, const char *out_path, char *err,
                       size_t errlen);
/* Feeds the blocks committed after the last one fed: 0, or -1 with a
 * one-line message (a block that does not decode: the file is corrupt). */
int cs_log_replay_more(struct cs_log_replay *r, sqlite3 *log_db, char *err, size_t errlen);
/* Once the recording has ended and every block was fed: the collector's
 * end (cs_collector_finish). 0, or -1 with a one-line message. */
int cs_log_replay_finish(struct cs_log_replay *r, sqlite3 *log_db, char *err, size_t errlen);
/* Closes the collector (finished or not) and frees the rest. */
void cs_log_replay_free(struct cs_log_replay *r);

#endif
