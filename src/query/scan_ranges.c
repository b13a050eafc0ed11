/*
 * scan_ranges.c — the blocks of calls a filter has to read (see
 * scan_ranges.h).
 */
#include "query/scan_ranges.h"

#include <stdlib.h>

#include "core/grow.h"
#include "query/common.h"
#include "store/call_blocks.h"

/* More vals rows with one text than this: the clause is left out. */
#define MAX_TEXT_IDS 4096

/* A clause as the blocks are tested against it: its items, or for a text
 * the items it stands for now. */
struct tested {
    const uint64_t *items;
    size_t n;
    uint64_t *owned;
};

/* The items of `value == text` or `return == text`: the text stored inline,
 * or any vals row with it. 1, 0 when not worth testing, -1 when out of
 * memory. */
static int text_items(sqlite3 *db, const struct cs_filter_clause *cl, struct tested *t)
{
    size_t cap = 16;
    t->owned = malloc(cap * sizeof *t->owned);
    sqlite3_stmt *st = NULL;
    if (!t->owned)
        return -1;
    if (sqlite3_prepare_v2(db, "SELECT id FROM vals WHERE text = ?1 LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
        return 0;
    int id_kind = cl->text_kind == CS_ITEM_RESULT ? CS_ITEM_RESULT_ID : CS_ITEM_ARG_ID;
    t->owned[t->n++] = cs_block_hash(cl->text_kind, cl->text, cl->text_len);
    sqlite3_bind_text(st, 1, cl->text, (int)cl->text_len, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, MAX_TEXT_IDS + 1);
    int rc, found = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && ++found <= MAX_TEXT_IDS) {
        if (t->n == cap) {
            uint64_t *grown = cs_grow(t->owned, &cap, sizeof *grown, 16);
            if (!grown) {
                sqlite3_finalize(st);
                return -1;
            }
            t->owned = grown;
        }
        t->owned[t->n++] = cs_block_hash_id(id_kind, sqlite3_column_int64(st, 0));
    }
    sqlite3_finalize(st);
    t->items = t->owned;
    return rc == SQLITE_DONE && found <= MAX_TEXT_IDS;
}

static int block_may_match(const struct tested *tests, size_t ntests, const unsigned char *bloom)
{
    for (size_t i = 0; i < ntests; i++) {
        size_t k = 0;
        while (k < tests[i].n && !cs_block_may_hold(bloom, tests[i].items[k]))
            k++;
        if (k == tests[i].n)
            return 0; /* holds none of them: no call of the block is kept */
    }
    return 1;
}

static int has_block(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM call_blocks WHERE first_id = ?", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, id - id % CS_BLOCK_CALLS);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* Whether the blocks can be trusted for [lo, hi]: the store keeps them
 * in this reader's format (from the first call to the last: rows written
 * by other means have none), and the functions are those the filter
 * knows. */
static int blocks_usable(sqlite3 *db, const struct cs_filter *f, int64_t lo, int64_t hi)
{
    return cs_query_int(db, "SELECT value FROM meta WHERE key = 'call_blocks_format'", 0) == CS_BLOCK_FORMAT &&
           cs_query_int(db, "SELECT max(id) FROM functions", 0) == f->max_function_id && has_block(db, lo) &&
           has_block(db, hi);
}

/* The clauses to test, texts looked up: -1 when out of memory. */
static int prepare_tests(sqlite3 *db, const struct cs_filter *f, struct tested *tests, size_t *ntests)
{
    *ntests = 0;
    for (size_t i = 0; i < f->nclauses; i++) {
        struct tested t = {f->clauses[i].items, f->clauses[i].n, NULL};
        int use = f->clauses[i].text ? text_items(db, &f->clauses[i], &t) : 1;
        if (use > 0)
            tests[(*ntests)++] = t;
        else
            free(t.owned);
        if (use < 0)
            return -1;
    }
    return 0;
}

static void free_tests(struct tested *tests, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(tests[i].owned);
    free(tests);
}

static int add_range(struct cs_scan_range **r, size_t *n, size_t *cap, int64_t lo, int64_t hi)
{
    if (*n && (*r)[*n - 1].hi + 1 == lo) { /* continues the last one */
        (*r)[*n - 1].hi = hi;
        return 0;
    }
    if (*n == *cap) {
        struct cs_scan_range *grown = cs_grow(*r, cap, sizeof *grown, 64);
        if (!grown)
            return -1;
        *r = grown;
    }
    (*r)[(*n)++] = (struct cs_scan_range){lo, hi};
    return 0;
}

static int whole(int64_t lo, int64_t hi, struct cs_scan_range **out, size_t *n)
{
    *n = 0;
    if (!(*out = malloc(sizeof **out)))
        return -1;
    (*out)[0] = (struct cs_scan_range){lo, hi};
    *n = 1;
    return 0;
}

int cs_scan_ranges(sqlite3 *db, const struct cs_filter *filter, int64_t lo, int64_t hi, struct cs_scan_range **out,
                   size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!filter || !filter->nclauses)
        return whole(lo, hi, out, n);
    /* One snapshot for the check and the blocks: a recording still being
     * written commits rows and their blocks together. */
    int own_txn = sqlite3_get_autocommit(db) && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_stmt *st = NULL;
    struct tested *tests = calloc(filter->nclauses, sizeof *tests);
    size_t ntests = 0;
    int rc = tests ? prepare_tests(db, filter, tests, &ntests) : -1;
    int usable = rc == 0 && ntests && lo <= hi && blocks_usable(db, filter, lo, hi) &&
                 sqlite3_prepare_v2(db, "SELECT first_id, bloom FROM call_blocks WHERE first_id BETWEEN ?1 AND ?2"
                                        " ORDER BY first_id", -1, &st, NULL) == SQLITE_OK;
    size_t cap = 0;
    if (usable) {
        sqlite3_bind_int64(st, 1, lo - CS_BLOCK_CALLS + 1);
        sqlite3_bind_int64(st, 2, hi);
        int step = SQLITE_DONE;
        while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t first = sqlite3_column_int64(st, 0), last = first + CS_BLOCK_CALLS - 1;
            const unsigned char *bloom = sqlite3_column_blob(st, 1);
            if (sqlite3_column_bytes(st, 1) != CS_BLOCK_BYTES || first % CS_BLOCK_CALLS) {
                usable = 0; /* not what this callscope writes: read it all */
                break;
            }
            if (block_may_match(tests, ntests, bloom))
                rc = add_range(out, n, &cap, first > lo ? first : lo, last < hi ? last : hi);
        }
        usable = usable && rc == 0 && step == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    free_tests(tests, ntests);
    if (own_txn)
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc == 0 && usable)
        return 0;
    free(*out);
    return rc != 0 ? -1 : whole(lo, hi, out, n);
}
