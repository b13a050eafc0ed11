/*
 * collector.h — turns the ring's event streams into rows of the store.
 *
 * The collector reads every traced thread's stream (ring.h), decodes the
 * events (event.h), pairs each call with its return, yield or exception per
 * thread, renders argument and result values as text, and writes one row per
 * call into the SQLite store in large transactions. It runs in the callscope
 * process, never in the traced one, so it outlives the program it records.
 */
#ifndef CALLSCOPE_COLLECTOR_H
#define CALLSCOPE_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/ring.h"

struct cs_collector_options {
    const char *db_path;      /* replaced if it exists */
    const char *command_line; /* kept in the store's meta table */
    int64_t min_duration_ns;  /* calls shorter than this are not kept (0: all) */
    int64_t max_calls;        /* keep only the newest N calls (0: all) */
    int max_depth;            /* calls deeper than this are not kept (-1: all) */
    int defer_rows;           /* CS_DEFER_*: keep the event log; the rows are built later (event_log.h) */
};

enum {
    CS_DEFER_BACKGROUND = 1, /* by a process of their own once the program is done */
    CS_DEFER_LATER = 2,      /* by `callscope index` */
};

/* What the collector takes from the ring's header; a deferred recording
 * keeps it in its meta table to build its rows later. */
struct cs_collector_facts {
    uint64_t ticks0; /* the clock when the ring was made */
    int64_t monotonic0_ns, wall0_ns;
    uint32_t capture_flags;
    uint64_t lost_events; /* dropped by the producers in all (known at the end) */
};

struct cs_collector;

/* Creates the store and prepares to read the ring. NULL with a one-line
 * message in err (unwritable path, not enough memory, ...). */
struct cs_collector *cs_collector_open(struct cs_ring *ring, const struct cs_collector_options *options,
                                       char *err, size_t errlen);

/* Builds the rows of the deferred recording at path (its event log), as
 * the collector would have built them while the program ran, into a new
 * file that then replaces it (build_rows.c). The build holds an exclusive
 * flock(2) on the recording, which readers wait on; a build already under
 * way is waited for. 0, with *built 0 when the file had its calls already
 * (none to build), or -1 with a one-line message in err. */
int cs_collector_build_rows(const char *path, int *built, char *err, size_t errlen);
/* Holds the flock of cs_collector_build_rows on path now, without
 * waiting: the fd to pass to cs_collector_build_rows_locked, or -1 (with
 * err) when it is held already or path does not open. */
int cs_collector_lock_for_build(const char *path, char *err, size_t errlen);
int cs_collector_build_rows_locked(const char *path, int lock_fd, int *built, char *err, size_t errlen);
/* The collector that build_rows.c feeds: with no ring, it takes the
 * facts and the options the log was recorded with, then the log's records
 * in order, then cs_collector_finish. */
struct cs_collector *cs_collector_open_building(const struct cs_collector_facts *facts,
                                                const struct cs_collector_options *options, char *err,
                                                size_t errlen);
void cs_collector_deliver(struct cs_collector *c, uint64_t stream_id, uint32_t pid, const unsigned char *bytes,
                          size_t n);
void cs_collector_use_calibration(struct cs_collector *c, const struct cs_clock_calibration *cal);
/* A building collector fed the log of a recording still under way: gives
 * the calls running now a row with no end yet, as a live recording's
 * collector does, and commits what it built, for readers. */
void cs_collector_show_so_far(struct cs_collector *c);
/* A building collector: the events the producers dropped in all, which a
 * log tells only once its recording ended. */
void cs_collector_set_ring_lost(struct cs_collector *c, uint64_t lost_events);
/* An error met so far (as cs_collector_step reports it): -1 with err. */
int cs_collector_error(struct cs_collector *c, char *err, size_t errlen);
/* Consumes whatever the ring holds now and writes it; commits at least every
 * 100 ms so readers see the record grow. Returns the number of calls written
 * (0 when idle), or -1 with a message in err (disk full, ...). */
long cs_collector_step(struct cs_collector *c, char *err, size_t errlen);

/* Lets the chunks of processes that died be read and freed (calls they
 * left open stay unfinished); returns how many producer processes are
 * still alive. `callscope run` calls it every ~100 ms and finishes once the
 * program has exited and this returns 0. */
int cs_collector_producers_alive(struct cs_collector *c);

/* Once no producer is left: reads the rest, keeps calls that never ended
 * with no end time, writes the summary metadata, builds the indexes and
 * commits. Returns 0, or -1 with a message in err. */
int cs_collector_finish(struct cs_collector *c, char *err, size_t errlen);

/* Totals, for the one-line summary `callscope run` prints. */
struct cs_collector_totals {
    uint64_t calls;
    uint64_t lost_events;
    uint64_t processes;
    uint64_t threads;
    /* A full disk (store.h): times it was found full, the calls it kept
     * out of the file, and whether it still was at the end. */
    int64_t disk_full_gaps, calls_lost_to_full_disk;
    int disk_still_full;
    uint64_t deferred_bytes; /* --defer-rows: bytes of events kept in the log */
};
void cs_collector_totals(const struct cs_collector *c, struct cs_collector_totals *out);

/* Chunks (or chunk tails) skipped because their bytes did not decode. */
uint64_t cs_collector_decode_errors(const struct cs_collector *c);

void cs_collector_free(struct cs_collector *c);

#endif
