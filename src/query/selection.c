/*
 * selection.c — the calls a filter selects, by thread and in id order (see
 * selection.h).
 */
#include "query/selection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "query/parallel_scan.h"

/* What one part of the scan collects. */
struct part {
    struct cs_selection sel;
    size_t cap, limit;
    const unsigned char *fn_match;
    int64_t nfn;
};

/* columns: id, thread_id, function_id */
static int add_call(sqlite3_value **col, void *state)
{
    struct part *p = state;
    int64_t fn = sqlite3_value_int64(col[2]);
    if (p->fn_match && (fn < 0 || fn >= p->nfn || !p->fn_match[fn]))
        return 0;
    if (p->limit && p->sel.n >= p->limit)
        return 1; /* more than the caller wants to hold */
    if (p->sel.n == p->cap) {
        struct cs_selected_call *grown = cs_grow(p->sel.calls, &p->cap, sizeof *grown, 1024);
        if (!grown)
            return -1;
        p->sel.calls = grown;
    }
    p->sel.calls[p->sel.n++] = (struct cs_selected_call){sqlite3_value_int64(col[0]), sqlite3_value_int64(col[1])};
    return 0;
}

static int by_thread_then_id(const void *pa, const void *pb)
{
    const struct cs_selected_call *a = pa, *b = pb;
    if (a->thread != b->thread)
        return a->thread < b->thread ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

int cs_select_calls(sqlite3 *db, const char *path, const struct cs_filter *filter, const unsigned char *fn_match,
                    int64_t nfn, size_t limit, struct cs_selection *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int nparts = cs_scan_parts(db);
    struct part parts[CS_SCAN_MAX_PARTS];
    void *states[CS_SCAN_MAX_PARTS];
    for (int i = 0; i < nparts; i++) {
        parts[i] = (struct part){.limit = limit, .fn_match = fn_match, .nfn = nfn};
        states[i] = &parts[i];
    }
    int rc = cs_scan_parallel(db, path, "c.id, c.thread_id, c.function_id", filter, states, nparts, add_call, err,
                              errlen);
    size_t total = 0;
    for (int i = 0; i < nparts; i++)
        total += parts[i].sel.n;
    if (rc == 0 && limit && total > limit)
        rc = 1;
    /* The parts hold consecutive id ranges: one after the other, in order. */
    if (rc == 0 && total && !(out->calls = malloc(total * sizeof *out->calls))) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    for (int i = 0; i < nparts; i++) {
        if (rc == 0 && parts[i].sel.n) {
            memcpy(out->calls + out->n, parts[i].sel.calls, parts[i].sel.n * sizeof *out->calls);
            out->n += parts[i].sel.n;
        }
        free(parts[i].sel.calls);
    }
    if (rc != 0)
        cs_selection_free(out);
    else if (out->n > 1) /* readers walk one thread at a time */
        qsort(out->calls, out->n, sizeof *out->calls, by_thread_then_id);
    return rc;
}

/* The first position whose thread is `thread` or later. */
static size_t first_of(const struct cs_selection *s, int64_t thread)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->calls[mid].thread < thread)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void cs_selection_of_thread(const struct cs_selection *s, int64_t thread, size_t *begin, size_t *end)
{
    *begin = first_of(s, thread);
    *end = thread == INT64_MAX ? s->n : first_of(s, thread + 1);
}

void cs_selection_free(struct cs_selection *s)
{
    free(s->calls);
    s->calls = NULL;
    s->n = 0;
}
