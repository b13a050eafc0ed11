/*
 * perfetto_proto.c — `export --format perfetto` (also accepted as
 * perfetto-proto): Perfetto's own protobuf trace (a .pftrace), which
 * ui.perfetto.dev and trace_processor read natively, far past the sizes
 * where the JSON of `--format chrome-json` becomes too slow or too large
 * to load.
 *
 * The file is a Trace message: a sequence of TracePacket messages, each
 * written as field 1 (length-delimited), all on one packet sequence:
 *
 *   packet { sequence_flags: INCREMENTAL_STATE_CLEARED, interned_data {
 *            event_categories (python, builtin, unfinished, log),
 *            debug_annotation_names (call_id, args, return, ...) } }
 *   packet { track_descriptor { uuid, process { pid, process_name } } }   one per process
 *   packet { track_descriptor { uuid, parent_uuid, thread { pid, tid, thread_name } } }
 *                                                                        one per thread
 *   packet { timestamp: start, sequence_flags: NEEDS_INCREMENTAL_STATE,
 *            interned_data { event_names, source_locations } (first use only),
 *            track_event { type: SLICE_BEGIN, track_uuid, name_iid, category_iids,
 *                          source_location_iid, debug_annotations } }   each call
 *   packet { timestamp: end, track_event { type: SLICE_END, track_uuid } }
 *   packet { timestamp, track_event { type: INSTANT, name, ... } }        each log row
 *
 * Field numbers are those of google/perfetto's protos/perfetto/trace/
 * (trace_packet.proto, the track_event/ and interned_data/ protos).
 * Everything repeated per call is interned (names, categories, file and
 * line, annotation names) so a call costs a few dozen bytes.
 *
 * Times are nanoseconds since the recording started, as in the chrome-json export. A call
 * that never ended gets its SLICE_BEGIN when it opens and its SLICE_END when
 * the walk settles its end (export.h), with the category "unfinished".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "export/export.h"
#include "export/names.h"
#include "query/common.h"
#include "util/json.h"
#include "util/sorted.h"

/* Protobuf wire types. */
enum { WIRE_VARINT = 0, WIRE_BYTES = 2 };

/* Trace, TracePacket. */
enum { TRACE_PACKET = 1 };
enum {
    PACKET_TIMESTAMP = 8,
    PACKET_SEQUENCE_ID = 10, /* trusted_packet_sequence_id */
    PACKET_TRACK_EVENT = 11,
    PACKET_INTERNED_DATA = 12,
    PACKET_SEQUENCE_FLAGS = 13,
    PACKET_TRACK_DESCRIPTOR = 60,
};
enum { SEQ_INCREMENTAL_STATE_CLEARED = 1, SEQ_NEEDS_INCREMENTAL_STATE = 2 };

/* TrackDescriptor, ProcessDescriptor, ThreadDescriptor. */
enum { TRACK_UUID = 1, TRACK_PROCESS = 3, TRACK_THREAD = 4, TRACK_PARENT_UUID = 5 };
enum { PROCESS_PID = 1, PROCESS_NAME = 6 };
enum { THREAD_PID = 1, THREAD_TID = 2, THREAD_NAME = 5 };

/* TrackEvent and its types. */
enum {
    EVENT_CATEGORY_IIDS = 3,
    EVENT_DEBUG_ANNOTATIONS = 4,
    EVENT_TYPE = 9,
    EVENT_NAME_IID = 10,
    EVENT_TRACK_UUID = 11,
    EVENT_NAME = 23,
    EVENT_SOURCE_LOCATION_IID = 34,
};
enum { TYPE_SLICE_BEGIN = 1, TYPE_SLICE_END = 2, TYPE_INSTANT = 3 };

/* InternedData and the entries it holds (each is {iid = 1, name = 2}, and
 * SourceLocation adds function_name = 3, line_number = 4). */
enum { INTERNED_CATEGORIES = 1, INTERNED_EVENT_NAMES = 2, INTERNED_ANNOTATION_NAMES = 3, INTERNED_SOURCE_LOCATIONS = 4 };
enum { ENTRY_IID = 1, ENTRY_NAME = 2, LOCATION_FILE = 2, LOCATION_FUNCTION = 3, LOCATION_LINE = 4 };

/* DebugAnnotation. */
enum { ANNOTATION_NAME_IID = 1, ANNOTATION_BOOL = 2, ANNOTATION_INT = 4, ANNOTATION_STRING = 6 };

/* Any nonzero id does: the file holds one sequence. */
#define SEQUENCE_ID 1

/* Interned once in the first packet; the iid is the position (from 1). */
enum { CAT_PYTHON = 1, CAT_BUILTIN, CAT_UNFINISHED, CAT_LOG };
static const char *const CATEGORIES[] = {"python", "builtin", "unfinished", "log"};
enum { ANN_CALL_ID = 1, ANN_ARGS, ANN_RETURN, ANN_YIELD, ANN_EXCEPTION, ANN_UNFINISHED, ANN_RESUMED,
       ANN_EVENTS_LOST, ANN_FIELDS };
static const char *const ANNOTATION_NAMES[] = {"call_id",    "args",    "return",      "yield", "exception",
                                               "unfinished", "resumed", "events_lost", "fields"};

struct perfetto_proto {
    /* Scratch for the nested messages of one packet: a message's length
     * comes before it, so each is built apart and then copied in. */
    struct cs_textbuf packet, event, interned, entry, annotation, args_text, key, value;
    unsigned char *name_interned;     /* by cs_export_fn.name_id: its EventName was written */
    unsigned char *location_interned; /* by cs_export_fn.index: its SourceLocation was written */
    int64_t *process_pids;            /* ascending; the track uuid of process i is i + 1 */
    size_t nprocesses, processes_cap;
    uint64_t next_uuid;    /* the next thread track's */
    uint64_t thread_track; /* the uuid of the thread being walked */
    struct cs_export_logs logs;
    int oom; /* a packet was cut short: the export fails */
};

/* ---- wire format ---- */

static void put_varint(struct cs_textbuf *b, uint64_t v)
{
    char bytes[10];
    size_t n = 0;
    while (v >= 0x80) {
        bytes[n++] = (char)(v | 0x80);
        v >>= 7;
    }
    bytes[n++] = (char)v;
    cs_textbuf_put(b, bytes, n);
}

static void put_uint(struct cs_textbuf *b, uint32_t field, uint64_t v)
{
    put_varint(b, (uint64_t)field << 3 | WIRE_VARINT);
    put_varint(b, v);
}

/* int32 and int64 fields: negative values are their 64-bit two's complement. */
static void put_int(struct cs_textbuf *b, uint32_t field, int64_t v)
{
    put_uint(b, field, (uint64_t)v);
}

static void put_bytes(struct cs_textbuf *b, uint32_t field, const void *data, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | WIRE_BYTES);
    put_varint(b, n);
    cs_textbuf_put(b, data, n);
}

static void put_string(struct cs_textbuf *b, uint32_t field, const char *s)
{
    put_bytes(b, field, s, strlen(s));
}

/* Appends message m as field `field` of b, and empties m for the next one.
 * An allocation that failed in m fails b too, so that the check of a whole
 * packet sees it. */
static void put_message(struct cs_textbuf *b, uint32_t field, struct cs_textbuf *m)
{
    int oom = m->oom;
    put_bytes(b, field, m->data, m->len);
    cs_textbuf_reset(m);
    if (oom)
        b->oom = 1;
}

/* A text column with its length from SQLite, not strlen: a recording may
 * hold NULs inside a value. NULL for SQL NULL. */
static const char *column_text(sqlite3_stmt *st, int column, size_t *n)
{
    const char *s = (const char *)sqlite3_column_text(st, column);
    *n = s ? (size_t)sqlite3_column_bytes(st, column) : 0;
    return s;
}

/* Ends the packet being built: writes it as one TracePacket of the Trace. */
static void finish_packet(struct cs_export *x)
{
    struct perfetto_proto *p = x->state;
    put_message(&x->buf, TRACE_PACKET, &p->packet);
    if (x->buf.oom)
        p->oom = 1; /* (before the write below resets the buffer) */
    cs_export_emit(x);
}

static void start_packet(struct perfetto_proto *p, int64_t timestamp, uint32_t sequence_flags)
{
    if (timestamp >= 0)
        put_uint(&p->packet, PACKET_TIMESTAMP, (uint64_t)timestamp);
    put_uint(&p->packet, PACKET_SEQUENCE_ID, SEQUENCE_ID);
    if (sequence_flags)
        put_uint(&p->packet, PACKET_SEQUENCE_FLAGS, sequence_flags);
}

/* ---- annotations ---- */

static void annotate_string(struct perfetto_proto *p, uint64_t name_iid, const char *s, size_t n)
{
    put_uint(&p->annotation, ANNOTATION_NAME_IID, name_iid);
    put_bytes(&p->annotation, ANNOTATION_STRING, s, n);
    put_message(&p->event, EVENT_DEBUG_ANNOTATIONS, &p->annotation);
}

static void annotate_int(struct perfetto_proto *p, uint64_t name_iid, int64_t v)
{
    put_uint(&p->annotation, ANNOTATION_NAME_IID, name_iid);
    put_int(&p->annotation, ANNOTATION_INT, v);
    put_message(&p->event, EVENT_DEBUG_ANNOTATIONS, &p->annotation);
}

static void annotate_true(struct perfetto_proto *p, uint64_t name_iid)
{
    put_uint(&p->annotation, ANNOTATION_NAME_IID, name_iid);
    put_uint(&p->annotation, ANNOTATION_BOOL, 1);
    put_message(&p->event, EVENT_DEBUG_ANNOTATIONS, &p->annotation);
}

/* The arguments as `name=value, name=value` (as `show` prints them), which
 * is a third the size of the JSON object the row holds; the JSON itself if
 * it is not the flat object of strings expected. */
static void annotate_args(struct perfetto_proto *p, const char *json, size_t n)
{
    struct cs_json_iter it;
    cs_json_iter_init(&it, json, n);
    cs_textbuf_reset(&p->args_text);
    int rc;
    while ((rc = cs_json_iter_next(&it, &p->key, &p->value)) == 1) {
        if (p->args_text.len)
            cs_textbuf_put(&p->args_text, ", ", 2);
        cs_textbuf_put(&p->args_text, p->key.data, p->key.len);
        cs_textbuf_putc(&p->args_text, '=');
        cs_textbuf_put(&p->args_text, p->value.data, p->value.len);
    }
    if (rc < 0)
        annotate_string(p, ANN_ARGS, json, n);
    else if (p->args_text.len) /* (no annotation for a call without arguments) */
        annotate_string(p, ANN_ARGS, p->args_text.data, p->args_text.len);
}

/* ---- the file ---- */

/* The first packet: clears the sequence's incremental state and interns
 * the categories and annotation names every event uses. */
static void put_first_packet(struct cs_export *x)
{
    struct perfetto_proto *p = x->state;
    for (size_t i = 0; i < sizeof CATEGORIES / sizeof CATEGORIES[0]; i++) {
        put_uint(&p->entry, ENTRY_IID, i + 1);
        put_string(&p->entry, ENTRY_NAME, CATEGORIES[i]);
        put_message(&p->interned, INTERNED_CATEGORIES, &p->entry);
    }
    for (size_t i = 0; i < sizeof ANNOTATION_NAMES / sizeof ANNOTATION_NAMES[0]; i++) {
        put_uint(&p->entry, ENTRY_IID, i + 1);
        put_string(&p->entry, ENTRY_NAME, ANNOTATION_NAMES[i]);
        put_message(&p->interned, INTERNED_ANNOTATION_NAMES, &p->entry);
    }
    start_packet(p, -1, SEQ_INCREMENTAL_STATE_CLEARED);
    put_message(&p->packet, PACKET_INTERNED_DATA, &p->interned);
    finish_packet(x);
}

/* One process track per process, named as every format names them
 * (names.h); the track uuid of process i is i + 1. */
static int put_process(void *ctx, int64_t pid, const char *name)
{
    struct cs_export *x = ctx;
    struct perfetto_proto *p = x->state;
    if (p->nprocesses && p->process_pids[p->nprocesses - 1] == pid)
        return 0; /* (pid is the key; a damaged file could repeat it) */
    if (p->nprocesses == p->processes_cap) {
        int64_t *grown = cs_grow(p->process_pids, &p->processes_cap, sizeof *grown, 8);
        if (!grown)
            return -1;
        p->process_pids = grown;
    }
    p->process_pids[p->nprocesses++] = pid;
    put_int(&p->entry, PROCESS_PID, (int32_t)pid);
    put_string(&p->entry, PROCESS_NAME, name);
    put_uint(&p->event, TRACK_UUID, p->nprocesses);
    put_message(&p->event, TRACK_PROCESS, &p->entry);
    start_packet(p, -1, 0);
    put_message(&p->packet, PACKET_TRACK_DESCRIPTOR, &p->event);
    finish_packet(x);
    return 0;
}

static int put_processes(struct cs_export *x)
{
    struct perfetto_proto *p = x->state;
    int rc = cs_export_each_process(x->db, put_process, x);
    p->next_uuid = p->nprocesses + 1;
    return rc;
}

static int proto_begin(struct cs_export *x)
{
    struct perfetto_proto *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    x->state = p;
    uint32_t max_name_id = 0;
    for (uint32_t i = 0; i < x->nfns; i++)
        if (x->fns[i].name_id > max_name_id)
            max_name_id = x->fns[i].name_id;
    p->name_interned = calloc((size_t)max_name_id + 1, 1);
    p->location_interned = calloc(x->nfns, 1);
    if (!p->name_interned || !p->location_interned)
        return -1;
    cs_export_logs_open(x, &p->logs);
    put_first_packet(x);
    return put_processes(x) == 0 && !p->oom ? 0 : -1;
}

/* The track uuid of a process, or 0 when the recording does not list it. */
static uint64_t process_track(const struct perfetto_proto *p, int64_t pid)
{
    size_t lo = cs_lower_bound_i64(p->process_pids, p->nprocesses, pid);
    return lo < p->nprocesses && p->process_pids[lo] == pid ? lo + 1 : 0;
}

static int proto_thread_begin(struct cs_export *x, const struct cs_thread_info *t)
{
    struct perfetto_proto *p = x->state;
    p->thread_track = p->next_uuid++;
    put_int(&p->entry, THREAD_PID, (int32_t)t->pid);
    put_int(&p->entry, THREAD_TID, (int32_t)t->tid);
    put_string(&p->entry, THREAD_NAME, t->name ? t->name : "?");
    put_uint(&p->event, TRACK_UUID, p->thread_track);
    uint64_t parent = process_track(p, t->pid);
    if (parent)
        put_uint(&p->event, TRACK_PARENT_UUID, parent);
    put_message(&p->event, TRACK_THREAD, &p->entry);
    start_packet(p, -1, 0);
    put_message(&p->packet, PACKET_TRACK_DESCRIPTOR, &p->event);
    finish_packet(x);
    cs_export_logs_thread(&p->logs, t);
    return p->oom ? -1 : 0;
}

/* The instant events of the logs the call made. */
static void put_logs(struct cs_export *x, int64_t call)
{
    struct perfetto_proto *p = x->state;
    sqlite3_stmt *log;
    while ((log = cs_export_log_of(&p->logs, call)) != NULL) {
        size_t message_len, fields_len;
        const char *message = column_text(log, 2, &message_len);
        const char *fields = column_text(log, 3, &fields_len);
        int64_t time_ns = sqlite3_column_int64(log, 1);
        put_uint(&p->event, EVENT_TYPE, TYPE_INSTANT);
        put_uint(&p->event, EVENT_TRACK_UUID, p->thread_track);
        put_bytes(&p->event, EVENT_NAME, message ? message : "", message_len);
        put_uint(&p->event, EVENT_CATEGORY_IIDS, CAT_LOG);
        annotate_int(p, ANN_CALL_ID, call);
        if (fields)
            annotate_string(p, ANN_FIELDS, fields, fields_len);
        start_packet(p, time_ns > 0 ? time_ns : 0, SEQ_NEEDS_INCREMENTAL_STATE);
        put_message(&p->packet, PACKET_TRACK_EVENT, &p->event);
        finish_packet(x);
    }
}

static int proto_open(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent,
                      sqlite3_stmt *row)
{
    (void)parent;
    struct perfetto_proto *p = x->state;
    put_logs(x, f->id);
    const struct cs_export_fn *fn = f->fn;
    /* Interned on first use: the entry rides in the packet that needs it. */
    if (!p->name_interned[fn->name_id]) {
        p->name_interned[fn->name_id] = 1;
        put_uint(&p->entry, ENTRY_IID, fn->name_id);
        put_string(&p->entry, ENTRY_NAME, fn->name);
        put_message(&p->interned, INTERNED_EVENT_NAMES, &p->entry);
    }
    if (fn->filename && !p->location_interned[fn->index]) {
        p->location_interned[fn->index] = 1;
        put_uint(&p->entry, ENTRY_IID, (uint64_t)fn->index + 1);
        put_string(&p->entry, LOCATION_FILE, fn->filename);
        put_string(&p->entry, LOCATION_FUNCTION, fn->name);
        if (fn->lineno >= 0 && fn->lineno <= UINT32_MAX)
            put_uint(&p->entry, LOCATION_LINE, (uint64_t)fn->lineno);
        put_message(&p->interned, INTERNED_SOURCE_LOCATIONS, &p->entry);
    }
    int flags = sqlite3_column_int(row, C_FLAGS);
    put_uint(&p->event, EVENT_TYPE, TYPE_SLICE_BEGIN);
    put_uint(&p->event, EVENT_TRACK_UUID, p->thread_track);
    put_uint(&p->event, EVENT_NAME_IID, fn->name_id);
    put_uint(&p->event, EVENT_CATEGORY_IIDS, !f->finished ? CAT_UNFINISHED : flags & 4 ? CAT_BUILTIN : CAT_PYTHON);
    if (fn->filename)
        put_uint(&p->event, EVENT_SOURCE_LOCATION_IID, (uint64_t)fn->index + 1);
    annotate_int(p, ANN_CALL_ID, f->id);
    size_t n;
    const char *text;
    if ((text = column_text(row, C_ARGS, &n)))
        annotate_args(p, text, n);
    if ((text = column_text(row, C_RESULT, &n)))
        annotate_string(p, flags & 2 ? ANN_YIELD : ANN_RETURN, text, n);
    if ((text = column_text(row, C_EXCEPTION, &n)))
        annotate_string(p, ANN_EXCEPTION, text, n);
    if (flags & 1)
        annotate_true(p, ANN_RESUMED);
    if (flags & 8)
        annotate_true(p, ANN_EVENTS_LOST);
    if (!f->finished)
        annotate_true(p, ANN_UNFINISHED);
    start_packet(p, f->start_ns, SEQ_NEEDS_INCREMENTAL_STATE);
    if (p->interned.len)
        put_message(&p->packet, PACKET_INTERNED_DATA, &p->interned);
    put_message(&p->packet, PACKET_TRACK_EVENT, &p->event);
    finish_packet(x);
    return p->oom || p->args_text.oom ? -1 : 0;
}

static int proto_close(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent)
{
    (void)parent;
    struct perfetto_proto *p = x->state;
    put_uint(&p->event, EVENT_TYPE, TYPE_SLICE_END);
    put_uint(&p->event, EVENT_TRACK_UUID, p->thread_track);
    start_packet(p, f->end_ns, 0);
    put_message(&p->packet, PACKET_TRACK_EVENT, &p->event);
    finish_packet(x);
    return p->oom ? -1 : 0;
}

static int proto_end(struct cs_export *x)
{
    struct perfetto_proto *p = x->state;
    cs_export_flush_buf(x);
    return p->oom ? -1 : 0;
}

static void proto_free(struct cs_export *x)
{
    struct perfetto_proto *p = x->state;
    if (p) {
        cs_export_logs_close(&p->logs);
        struct cs_textbuf *bufs[] = {&p->packet, &p->event,     &p->interned, &p->entry,
                                     &p->annotation, &p->args_text, &p->key,      &p->value};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            cs_textbuf_free(bufs[i]);
        free(p->name_interned);
        free(p->location_interned);
        free(p->process_pids);
    }
    free(p);
    x->state = NULL;
}

const struct cs_export_format cs_export_perfetto = {
    .name = "perfetto",
    .begin = proto_begin,
    .thread_begin = proto_thread_begin,
    .open = proto_open,
    .close = proto_close,
    .end = proto_end,
    .free = proto_free,
};
