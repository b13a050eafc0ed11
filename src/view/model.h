/*
 * model.h — what `callscope view` shows, read a window at a time.
 *
 * The viewer never loads all calls. Its lines are the threads (one heading
 * each, in threads.id order) and, under each, the thread's calls in id order
 * (start order, so the depth of each call rebuilds the tree). A position is
 * (thread index, call id), the heading being id 0; a window of lines is one
 * keyset query from a position, forwards (`c.id > ? ORDER BY c.id LIMIT n`)
 * or backwards (`c.id < ? ORDER BY c.id DESC LIMIT n`), so paging and jumping
 * to the end cost the same on ten calls or ten million.
 *
 * Folding a call hides its subtree: the calls of the same thread after it
 * up to the next one that is not deeper (docs/schema.md). The end of that
 * range is looked up once when the call is folded; a walk that meets a
 * folded call continues from the end of its range instead of reading what
 * is inside. Folding a heading hides the whole thread.
 *
 * An optional filter (the record filter language, docs/filter.md) keeps
 * only the matching calls, each at its own depth.
 *
 * Every query can be interrupted: the model calls `poll` from SQLite's
 * progress handler and abandons the query (VM_CANCELLED) when it says so.
 */
#ifndef CALLSCOPE_VIEW_MODEL_H
#define CALLSCOPE_VIEW_MODEL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "query/call_rows.h"
#include "query/filter.h"
#include "query/scan_ranges.h"
#include "util/textbuf.h"

#define VM_CANCELLED (-2)

struct vm_pos {
    int thread;  /* index in view_model.threads */
    int64_t id;  /* calls.id; 0 for the thread's heading */
};

/* One line of the view. Strings belong to the line (vm_row_clear). */
struct vm_row {
    struct vm_pos pos;
    int depth;
    int64_t duration_ns; /* -1: unfinished */
    int flags;
    int folded;
    char *qualname, *args, *result, *exception;
};

struct vm_fold {
    int thread;
    int64_t start, end; /* the folded call, and the first id after its subtree */
};

struct view_model {
    sqlite3 *db;
    struct cs_thread_info *threads;
    size_t nthreads;
    unsigned char *thread_folded; /* per thread */
    struct vm_fold *folds;
    size_t nfolds, fold_cap;
    struct cs_filter filter;
    char *filter_text; /* NULL: every call */
    /* With a filter the skip index narrows: the ids up to ranges_to that
     * may hold its calls (ids after ranges_to, recorded since, are all
     * read); ranged 0: every id is read. */
    int ranged;
    struct cs_scan_range *ranges;
    size_t nranges;
    int64_t ranges_to;
    sqlite3_stmt *forward, *backward;
    /* Asked now and then while a query runs; nonzero cancels it. */
    int (*poll)(void *ctx);
    void *poll_ctx;
    int cancelled;
    struct cs_textbuf key, value; /* scratch for reading args */
};

/* Opens the model over an open store: threads loaded, no filter. 0 or -1. */
int vm_open(struct view_model *m, sqlite3 *db);
void vm_close(struct view_model *m);

/* Reads the thread list again (new threads appear while recording), and
 * what the filter must read. */
int vm_reload_threads(struct view_model *m);

/* Replaces the filter (NULL or "" for none); folds are dropped. 0, or -1
 * with err set (the filter does not compile; the old one stays). */
int vm_set_filter(struct view_model *m, const char *text, struct cs_expr_error *err);

/* The lines from `from` on (itself included if `inclusive`), at most n, in
 * display order. The count, -1 on an SQL error, VM_CANCELLED. */
int vm_forward(struct view_model *m, struct vm_pos from, int inclusive, struct vm_row *out, int n);

/* The n lines before `before` (excluded), in display order, the last one
 * nearest to it. vm_end() stands after the last line. */
int vm_backward(struct view_model *m, struct vm_pos before, struct vm_row *out, int n);
struct vm_pos vm_end(const struct view_model *m);

/* Folds or unfolds the call (or thread heading) of the line. 1 done, 0 the
 * call has no calls under it, -1 error, VM_CANCELLED. */
int vm_toggle_fold(struct view_model *m, const struct vm_row *row);

int vm_pos_cmp(struct vm_pos a, struct vm_pos b);
void vm_row_clear(struct vm_row *r);
void vm_rows_clear(struct vm_row *r, int n);

/* The store: its largest call id and whether the recording is finished. */
int64_t vm_max_id(struct view_model *m);
int vm_finished(struct view_model *m);

#endif
