/*
 * event_log.c — gathering, sealing and reading the blocks of a deferred
 * recording (event_log.h).
 */
#include "collector/event_log.h"

#include <stdio.h>
#include <string.h>

enum { RECORD_DELIVERY = 'D', RECORD_CALIBRATION = 'C' };

/* The records are gathered where the block's body will be compressed
 * from, after room for its one column's length: a varint written at full
 * width once the length is known (a reader takes it as any varint), so
 * that sealing copies nothing. Five bytes hold lengths up to 32 GB. */
#define LENGTH_ROOM 5

/* Makes room for the column's length before the first record. */
static void start_records(struct cs_event_log *l)
{
    if (!l->records.len)
        cs_textbuf_put(&l->records, "\0\0\0\0\0", LENGTH_ROOM);
}

void cs_event_log_init(struct cs_event_log *l)
{
    memset(l, 0, sizeof *l);
    /* zstd's first fast level: on json_decode's log, 9% fewer instructions
     * in the thread that keeps it than level 1, for a file 4% larger
     * (callgrind; 13.5 B/call in all). While the program runs, keeping
     * the log is all a deferred recording costs outside it. */
    l->zstd.level = -1;
    l->zstd.level_tables = 1;
}

void cs_event_log_free(struct cs_event_log *l)
{
    cs_textbuf_free(&l->records);
    cs_textbuf_free(&l->blob);
    cs_chunk_compressor_free(&l->zstd);
}

void cs_event_log_delivery(struct cs_event_log *l, uint64_t stream_id, uint32_t pid, const unsigned char *bytes,
                           size_t n)
{
    start_records(l);
    cs_textbuf_putc(&l->records, RECORD_DELIVERY);
    cs_chunk_put_varint(&l->records, stream_id);
    cs_chunk_put_varint(&l->records, pid);
    cs_chunk_put_varint(&l->records, n);
    cs_textbuf_put(&l->records, bytes, n);
    l->bytes_in += n;
}

void cs_event_log_calibration(struct cs_event_log *l, const struct cs_clock_calibration *cal)
{
    start_records(l);
    cs_textbuf_putc(&l->records, RECORD_CALIBRATION);
    cs_chunk_put_varint(&l->records, cal->ticks0);
    cs_chunk_put_varint(&l->records, (uint64_t)cal->ns0);
    cs_chunk_put_varint(&l->records, cal->ticks1);
    cs_chunk_put_varint(&l->records, (uint64_t)cal->ns1);
}

int cs_event_log_seal(struct cs_event_log *l, char *err, size_t errlen)
{
    if (l->records.oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!l->records.len)
        return 0;
    uint64_t length = l->records.len - LENGTH_ROOM;
    unsigned char *p = (unsigned char *)l->records.data;
    for (int i = 0; i < LENGTH_ROOM; i++, length >>= 7)
        p[i] = (unsigned char)((length & 0x7f) | (i < LENGTH_ROOM - 1 ? 0x80 : 0));
    int rc = cs_chunk_compress(&l->zstd, 1, &l->records, 1, &l->blob, err, errlen) == 0 ? 1 : -1;
    cs_textbuf_reset(&l->records);
    return rc;
}

int cs_event_log_read(const void *blob, size_t len, struct cs_chunk_buffer *buf, const struct cs_event_log_sink *sink,
                      char *err, size_t errlen)
{
    static const int columns[] = {1};
    int layout;
    struct cs_reader r;
    if (cs_chunk_open(blob, len, 1, &layout, 1, columns, 1, buf, &r, err, errlen) != 0)
        return -1;
    while (r.p < r.end) {
        int kind = cs_get_byte(&r);
        if (kind == RECORD_DELIVERY) {
            uint64_t stream_id = cs_get_varint(&r);
            uint64_t pid = cs_get_varint(&r);
            uint64_t n = cs_get_varint(&r);
            const char *bytes = r.error || pid > UINT32_MAX ? NULL : cs_get_bytes(&r, n);
            if (!bytes)
                break;
            sink->delivery(sink->ctx, stream_id, (uint32_t)pid, (const unsigned char *)bytes, (size_t)n);
        } else if (kind == RECORD_CALIBRATION) {
            struct cs_clock_calibration cal;
            cal.ticks0 = cs_get_varint(&r);
            cal.ns0 = (int64_t)cs_get_varint(&r);
            cal.ticks1 = cs_get_varint(&r);
            cal.ns1 = (int64_t)cs_get_varint(&r);
            if (r.error)
                break;
            sink->calibration(sink->ctx, &cal);
        } else {
            r.error = 1;
        }
        if (r.error)
            break;
    }
    if (r.error) {
        snprintf(err, errlen, "a record of its event log does not read");
        return -1;
    }
    return 0;
}
