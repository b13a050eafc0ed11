/*
 * export.h — what `callscope export` (export.c) and its formats share.
 *
 * export.c opens the store and the output, then walks every thread's calls
 * in id order with a stack of the calls still open, and tells the format
 * about each call twice: when it opens (in start order) and when it closes
 * (innermost first, with its end and self time settled). A format never
 * sees more than the stack, so memory stays constant however many calls
 * the store holds.
 *
 * A call that never ended (NULL duration) is closed at the next thing its
 * thread did: the start of the next call that is not inside it, or, after
 * the thread's last call, the latest end seen in the thread; never later
 * than a finished caller's end. Its self time is that span less the time of
 * its callees.
 */
#ifndef CALLSCOPE_EXPORT_EXPORT_H
#define CALLSCOPE_EXPORT_EXPORT_H

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "query/call_rows.h"
#include "util/textbuf.h"

/* A function as the formats name it. */
struct cs_export_fn {
    char *name;     /* module.qualname, or "?" when unknown */
    char *filename; /* NULL for builtins */
    int64_t lineno; /* -1: none */
    uint32_t index; /* position in cs_export.fns (speedscope's frame index) */
    uint32_t name_id; /* equal for functions of equal name (folded stacks merge them) */
};

/* A call on the walk's stack. */
struct cs_export_frame {
    int64_t id, start_ns, end_ns, self_ns; /* end and self: when finished, or once closed */
    int64_t children_ns;                   /* time of the closed callees, for self time */
    int64_t latest_ns;                     /* the latest end inside it so far */
    const struct cs_export_fn *fn;
    int depth; /* calls.depth */
    int finished;
    uint32_t node;             /* the stack tree's node (folded, svg) */
    struct cs_textbuf pending; /* trace event waiting for its end (chrome-json) */
};

struct cs_export;

struct cs_export_format {
    const char *name;
    int (*begin)(struct cs_export *x);
    int (*thread_begin)(struct cs_export *x, const struct cs_thread_info *t);
    /* row: the CS_CALL_ROW_SQL row of the call, valid during the call only.
     * parent: the enclosing frame, or NULL. */
    int (*open)(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent,
                sqlite3_stmt *row);
    int (*close)(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent);
    int (*thread_end)(struct cs_export *x, const struct cs_thread_info *t);
    int (*end)(struct cs_export *x);
    void (*free)(struct cs_export *x);
};

struct cs_export {
    sqlite3 *db;
    FILE *out;
    int64_t wall0;
    const struct cs_thread_info *thread; /* the thread being walked */
    struct cs_export_fn *fns;  /* every function by id, plus "?" last */
    int64_t *fn_ids;           /* their ids, ascending */
    uint32_t nfns;
    struct cs_textbuf buf;     /* scratch for one output item */
    void *state;               /* the format's own (NULL before begin) */
    int write_errno;           /* the first output error, or 0 */
};

/* The function of a call (never NULL). */
const struct cs_export_fn *cs_export_function(const struct cs_export *x, int64_t function_id);

/* Writes the scratch buffer to the output and resets it. A failed write is
 * kept in write_errno (the first one) and stops the walk after the row. */
static inline void cs_export_flush_buf(struct cs_export *x)
{
    if (x->buf.len && fwrite(x->buf.data, 1, x->buf.len, x->out) != x->buf.len && !x->write_errno)
        x->write_errno = errno ? errno : EIO;
    cs_textbuf_reset(&x->buf);
}

/* Writes the scratch buffer once it holds enough to be worth a write. */
static inline void cs_export_emit(struct cs_export *x)
{
    if (x->buf.len >= 65536)
        cs_export_flush_buf(x);
}

/* Appends ns as microseconds with three decimals, exactly. */
static inline void cs_export_put_us(struct cs_textbuf *b, int64_t ns)
{
    cs_textbuf_decimal(b, ns, 3);
}
/* Appends s as XML text or attribute content (escaped, control characters
 * replaced). */
void cs_export_put_xml(struct cs_textbuf *b, const char *s, size_t n);

/* The callscope.log() rows of the thread being walked, read alongside its
 * calls (the walk visits them in the order of their ids, as the rows are
 * sorted). */
struct cs_export_logs {
    sqlite3_stmt *st; /* NULL: the recording has no logs table */
    int row;          /* the last sqlite3_step */
    int taken;        /* the current row was handed out */
};
void cs_export_logs_open(struct cs_export *x, struct cs_export_logs *l);
void cs_export_logs_thread(struct cs_export_logs *l, const struct cs_thread_info *t);
/* The next log row of `call`, or NULL: the statement on that row, with the
 * columns call_id, time_ns, message and fields (valid JSON, or NULL). */
sqlite3_stmt *cs_export_log_of(struct cs_export_logs *l, int64_t call);
void cs_export_logs_close(struct cs_export_logs *l);

extern const struct cs_export_format cs_export_perfetto, cs_export_chrome_json, cs_export_firefox, cs_export_speedscope,
    cs_export_folded, cs_export_svg, cs_export_jsonl;

/* The stack tree of folded and svg: one node per distinct stack. */
struct cs_stack_node {
    uint32_t parent, name_id, first_child, next_sibling;
    int64_t self_ns, total_ns;
};
struct cs_stack_tree {
    struct cs_stack_node *nodes; /* nodes[0] is the root, above every thread's first call */
    uint32_t n, cap;
    uint32_t *slots; /* open addressing: (parent, name_id) -> node */
    uint32_t nslots;
};
int cs_stack_tree_init(struct cs_stack_tree *t);
/* The child of parent named name_id, created if new; UINT32_MAX when out of memory. */
uint32_t cs_stack_tree_child(struct cs_stack_tree *t, uint32_t parent, uint32_t name_id);
void cs_stack_tree_free(struct cs_stack_tree *t);
/* open/close of folded and svg, which share the tree (state is a cs_stack_tree first). */
int cs_stack_tree_open(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent,
                       sqlite3_stmt *row);
int cs_stack_tree_close(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent);

#endif
