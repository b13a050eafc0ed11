/*
 * parallel_scan.c — a read of call_rows split between the cores (see
 * parallel_scan.h).
 *
 * The selected calls are not returned as result rows: handing each row
 * back through sqlite3_step() costs more than reading it. The statement
 * instead calls cs_scan_row(columns...) from inside SQLite for each call
 * the filter selects (a CASE, so the filter is decided first) and returns
 * one count.
 */
#include "query/parallel_scan.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "query/common.h"
#include "query/scan_ranges.h"
#include "store/store.h"
#include "util/textbuf.h"

/* Calls below this per part are not worth a thread. */
#define MIN_CALLS_PER_PART 250000

struct part {
    sqlite3 *db; /* part 0: the caller's; others: opened by the part */
    const char *path, *sql;
    const struct cs_filter *filter;
    const struct cs_scan_range *ranges; /* what this part reads, in id order */
    size_t nranges;
    void *state;
    cs_scan_row_fn row;
    int row_said;   /* what row() returned when it stopped the part */
    int failed;
    char error[300];
    pthread_t thread;
    int threaded;
};

static void id_range(sqlite3 *db, int64_t *lo, int64_t *hi)
{
    *lo = cs_query_int(db, "SELECT id FROM call_rows ORDER BY id LIMIT 1", 0);
    *hi = cs_query_int(db, "SELECT id FROM call_rows ORDER BY id DESC LIMIT 1", -1);
}

int cs_scan_parts(sqlite3 *db)
{
    int64_t lo, hi;
    id_range(db, &lo, &hi);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t parts = (hi - lo + 1) / MIN_CALLS_PER_PART;
    if (parts > cores)
        parts = cores;
    if (parts > CS_SCAN_MAX_PARTS)
        parts = CS_SCAN_MAX_PARTS;
    return parts < 1 ? 1 : (int)parts;
}

static void scan_row(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct part *p = sqlite3_user_data(ctx);
    int said = p->row(argv, p->state);
    if (said != 0) {
        p->row_said = said; /* ends the statement */
        sqlite3_result_error_code(ctx, said < 0 ? SQLITE_NOMEM : SQLITE_ABORT);
        return;
    }
    sqlite3_result_int(ctx, 0);
}

static int run_part(struct part *p)
{
    /* Not deterministic: it must run once for every call. */
    if (sqlite3_create_function(p->db, "cs_scan_row", -1, SQLITE_UTF8 | SQLITE_DIRECTONLY, p, scan_row, NULL,
                                NULL) != SQLITE_OK)
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(p->db, p->sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (p->filter && cs_filter_bind(p->filter, st) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -1;
    }
    int rc = SQLITE_ROW;
    for (size_t i = 0; i < p->nranges && rc == SQLITE_ROW && !p->row_said; i++) {
        sqlite3_bind_int64(st, 1, p->ranges[i].lo);
        sqlite3_bind_int64(st, 2, p->ranges[i].hi);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    /* The function points at this part: no one may call it afterwards. */
    sqlite3_create_function(p->db, "cs_scan_row", -1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
    if (p->row_said > 0)
        return 0; /* stopped on purpose */
    if (p->row_said < 0)
        snprintf(p->error, sizeof p->error, "out of memory");
    return rc == SQLITE_ROW ? 0 : -1;
}

static void *part_main(void *arg)
{
    struct part *p = arg;
    int own = p->db == NULL;
    if (own && !(p->db = cs_store_open_readonly(p->path, p->error, sizeof p->error))) {
        p->failed = 1;
        return NULL;
    }
    if (run_part(p) != 0) {
        p->failed = 1;
        if (!p->error[0])
            snprintf(p->error, sizeof p->error, "cannot read %s: %s", p->path, cs_db_error(p->db));
    }
    if (own) {
        cs_store_close_readonly(p->db);
        p->db = NULL;
    }
    return NULL;
}

/* Deals the ranges out to the parts, in id order, about as many ids to
 * each, cutting a range where a part's share ends; `cut` has room for
 * nranges + nparts ranges. */
static void split_ranges(const struct cs_scan_range *ranges, size_t nranges, struct cs_scan_range *cut,
                         struct part *parts, int nparts)
{
    int64_t total = 0;
    for (size_t i = 0; i < nranges; i++)
        total += ranges[i].hi - ranges[i].lo + 1;
    /* too few calls left to be worth a thread: all to part 0 */
    int64_t share = total / nparts < MIN_CALLS_PER_PART ? total : (total + nparts - 1) / nparts;
    size_t at = 0, used = 0;
    int64_t from = nranges ? ranges[0].lo : 0;
    for (int i = 0; i < nparts; i++) {
        parts[i] = (struct part){.ranges = cut + used};
        int64_t left = share;
        while (at < nranges && (left > 0 || i == nparts - 1)) {
            int64_t hi = ranges[at].hi;
            if (hi - from + 1 > left && i < nparts - 1)
                hi = from + left - 1;
            cut[used++] = (struct cs_scan_range){from, hi};
            parts[i].nranges++;
            left -= hi - from + 1;
            if (hi == ranges[at].hi && ++at < nranges)
                from = ranges[at].lo;
            else
                from = hi + 1;
        }
    }
}

int cs_scan_parallel(sqlite3 *db, const char *path, const char *columns, const struct cs_filter *filter,
                     void *const *states, int nparts, cs_scan_row_fn row, char *err, size_t errlen)
{
    if (nparts < 1 || nparts > CS_SCAN_MAX_PARTS)
        nparts = 1;
    struct cs_textbuf sql = {0};
    cs_textbuf_printf(&sql, "SELECT count(*) FROM call_rows c WHERE c.id BETWEEN ?1 AND ?2 AND %s AND"
                            " CASE WHEN %s THEN cs_scan_row(%s) ELSE 0 END",
                      filter && filter->narrowing ? filter->narrowing : "1", filter ? filter->sql : "1", columns);
    if (sql.oom) {
        cs_textbuf_free(&sql);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int64_t lo, hi;
    id_range(db, &lo, &hi);
    struct cs_scan_range *ranges = NULL, *cut = NULL;
    size_t nranges = 0;
    if (cs_scan_ranges(db, filter, lo, hi, &ranges, &nranges) != 0 ||
        !(cut = malloc((nranges + (size_t)nparts) * sizeof *cut))) {
        free(ranges);
        cs_textbuf_free(&sql);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct part parts[CS_SCAN_MAX_PARTS];
    split_ranges(ranges, nranges, cut, parts, nparts);
    for (int i = 0; i < nparts; i++) {
        parts[i].db = i == 0 ? db : NULL;
        parts[i].path = path;
        parts[i].sql = cs_textbuf_cstr(&sql);
        parts[i].filter = filter;
        parts[i].state = states[i];
        parts[i].row = row;
    }
    /* Part 0 runs on the caller's connection and thread; a part whose
     * thread cannot be started runs there too, after it. A part with
     * nothing to read starts nothing. */
    for (int i = 1; i < nparts; i++)
        parts[i].threaded = parts[i].nranges && pthread_create(&parts[i].thread, NULL, part_main, &parts[i]) == 0;
    part_main(&parts[0]);
    for (int i = 1; i < nparts; i++) {
        if (parts[i].threaded)
            pthread_join(parts[i].thread, NULL);
        else if (parts[i].nranges)
            part_main(&parts[i]);
    }
    free(ranges);
    free(cut);
    cs_textbuf_free(&sql);
    int stopped = 0;
    for (int i = 0; i < nparts; i++) {
        if (parts[i].failed) {
            snprintf(err, errlen, "%s", parts[i].error);
            return -1;
        }
        stopped |= parts[i].row_said > 0;
    }
    return stopped;
}
