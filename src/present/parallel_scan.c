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
#include "present/parallel_scan.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "present/common.h"
#include "store/store.h"
#include "store/textbuf.h"

/* Calls below this per part are not worth a thread. */
#define MIN_CALLS_PER_PART 250000

struct part {
    sqlite3 *db; /* part 0: the caller's; others: opened by the part */
    const char *path, *sql;
    const struct cs_filter *filter;
    int64_t lo, hi;
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
    *lo = cs_query_int(db, "SELECT min(id) FROM call_rows", 0);
    *hi = cs_query_int(db, "SELECT max(id) FROM call_rows", -1);
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
    sqlite3_bind_int64(st, 1, p->lo);
    sqlite3_bind_int64(st, 2, p->hi);
    if (p->filter && cs_filter_bind(p->filter, st) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -1;
    }
    int rc = sqlite3_step(st);
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
            snprintf(p->error, sizeof p->error, "cannot read %s: %s", p->path, sqlite3_errmsg(p->db));
    }
    if (own) {
        cs_store_close_readonly(p->db);
        p->db = NULL;
    }
    return NULL;
}

int cs_scan_parallel(sqlite3 *db, const char *path, const char *columns, const struct cs_filter *filter,
                     void *const *states, int nparts, cs_scan_row_fn row, char *err, size_t errlen)
{
    if (nparts < 1 || nparts > CS_SCAN_MAX_PARTS)
        nparts = 1;
    struct cs_textbuf sql = {0};
    cs_textbuf_printf(&sql, "SELECT count(*) FROM call_rows c WHERE c.id BETWEEN ?1 AND ?2 AND"
                            " CASE WHEN %s THEN cs_scan_row(%s) ELSE 0 END",
                      filter ? filter->sql : "1", columns);
    if (sql.oom) {
        cs_textbuf_free(&sql);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int64_t lo, hi;
    id_range(db, &lo, &hi);
    int64_t step = (hi - lo + 1) / nparts;
    struct part parts[CS_SCAN_MAX_PARTS];
    for (int i = 0; i < nparts; i++) {
        parts[i] = (struct part){.db = i == 0 ? db : NULL, .path = path, .sql = cs_textbuf_cstr(&sql), .filter = filter,
                                 .lo = lo + i * step, .hi = i == nparts - 1 ? hi : lo + (i + 1) * step - 1,
                                 .state = states[i], .row = row};
    }
    /* Part 0 runs on the caller's connection and thread; a part whose
     * thread cannot be started runs there too, after it. */
    for (int i = 1; i < nparts; i++)
        parts[i].threaded = pthread_create(&parts[i].thread, NULL, part_main, &parts[i]) == 0;
    part_main(&parts[0]);
    for (int i = 1; i < nparts; i++) {
        if (parts[i].threaded)
            pthread_join(parts[i].thread, NULL);
        else
            part_main(&parts[i]);
    }
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
