/*
 * event_log.h — a recording kept as the ring delivered it (`callscope run
 * --defer-rows`): the collector's own input, compressed, from which the
 * same collector builds the rows later (`callscope index`).
 *
 * While the program runs, the collector only appends what each ring read
 * hands it and the clock calibrations it takes; replaying both in their
 * order gives it exactly the input it had, so the rows built later are the
 * rows it would have built then (docs/proposals/event-log.md).
 *
 * A block of the log is a chunk of chunk_codec.h's frame (layout 1, one
 * part of one column) whose column is a run of records:
 *
 *   'D' varint stream id, varint pid, varint length, that many bytes
 *       (one delivery of whole events of one thread's stream)
 *   'C' four varints: the calibration's ticks0, ns0, ticks1, ns1
 *
 * Blocks are rows of event_log(seq INTEGER PRIMARY KEY, data BLOB) in
 * order; a reader treats each as hostile.
 */
#ifndef CALLSCOPE_EVENT_LOG_H
#define CALLSCOPE_EVENT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "store/chunk_codec.h"
#include "util/textbuf.h"

/* The bytes a log gathers before it is sealed into a block (a block's
 * column is never longer than this and one delivery). */
#define CS_EVENT_LOG_BLOCK_BYTES (1u << 20)

struct cs_event_log {
    struct cs_textbuf records; /* the block being gathered: its body, once sealed */
    struct cs_textbuf blob;
    struct cs_chunk_compressor zstd;
    uint64_t bytes_in; /* gathered in all, for the summary */
};

void cs_event_log_init(struct cs_event_log *l);
void cs_event_log_free(struct cs_event_log *l);
void cs_event_log_delivery(struct cs_event_log *l, uint64_t stream_id, uint32_t pid, const unsigned char *bytes,
                           size_t n);
void cs_event_log_calibration(struct cs_event_log *l, const struct cs_clock_calibration *cal);
/* Compresses the records gathered into l->blob and empties them: 1 with a
 * block to store, 0 when nothing was gathered, -1 with a message. */
int cs_event_log_seal(struct cs_event_log *l, char *err, size_t errlen);

struct cs_event_log_sink {
    void (*delivery)(void *ctx, uint64_t stream_id, uint32_t pid, const unsigned char *bytes, size_t n);
    void (*calibration)(void *ctx, const struct cs_clock_calibration *cal);
    void *ctx;
};

/* Reads one block, handing each record to the sink in order: 0, or -1
 * with the reason in err (a short phrase, to follow "is corrupt"). The
 * records before a corrupt one have been handed over. */
int cs_event_log_read(const void *blob, size_t len, struct cs_chunk_buffer *buf, const struct cs_event_log_sink *sink,
                      char *err, size_t errlen);

#endif
