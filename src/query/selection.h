/*
 * selection.h — the calls a --filter (and show's --function) selects, found
 * in one scan of the store on every core (parallel_scan.h), as a list of
 * ids kept by thread, in id order. Readers then fetch just those calls (and
 * show their subtrees) by id instead of reading every call of every thread.
 */
#ifndef CALLSCOPE_QUERY_SELECTION_H
#define CALLSCOPE_QUERY_SELECTION_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "query/filter.h"

/* The most selected calls a reader holds (16 bytes each, 16 MB): past
 * this it reads each thread's calls with the filter instead. */
#define CS_SELECTION_MAX_HELD 1000000

struct cs_selected_call {
    int64_t id, thread; /* thread: threads.id */
};

struct cs_selection {
    struct cs_selected_call *calls; /* by thread, then in id order */
    size_t n;
};

/* Selects the calls that `filter` matches (NULL: every call) and whose
 * function id is set in fn_match (NULL: any function; nfn entries).
 * With limit > 0, more than `limit` calls is not an error: 1 is returned
 * and nothing kept, for the caller to read the store another way. 0 on
 * success; -1 with the reason in err. */
int cs_select_calls(sqlite3 *db, const char *path, const struct cs_filter *filter, const unsigned char *fn_match,
                    int64_t nfn, size_t limit, struct cs_selection *out, char *err, size_t errlen);

/* The selected calls of one thread: s->calls[*begin .. *end), in id order. */
void cs_selection_of_thread(const struct cs_selection *s, int64_t thread, size_t *begin, size_t *end);

void cs_selection_free(struct cs_selection *s);

#endif
