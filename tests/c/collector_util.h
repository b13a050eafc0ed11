/*
 * collector_util.h — shared scaffolding of the collector and store tests:
 * a fresh ring, a temporary database path, running the collector over
 * whatever the ring holds, and one-value SQL queries.
 */
#ifndef CALLSCOPE_TEST_COLLECTOR_UTIL_H
#define CALLSCOPE_TEST_COLLECTOR_UTIL_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collector/collector.h"
#include "core/ring.h"
#include "producer.h"
#include "store/call_blocks.h"
#include "store/modules.h"

/* The rings made here keep their names while the test runs (producers
 * reserve more of a ring by its name as they fill it) and lose them when it
 * ends; a test that crashes leaves them to the next run's sweep of stale
 * rings. */
#define TU_MAX_RINGS 64
static char tu_ring_names[TU_MAX_RINGS][64];
static int tu_nrings;

static void tu_unlink_rings(void)
{
    for (int i = 0; i < tu_nrings; i++)
        shm_unlink(tu_ring_names[i]);
}

static inline int tu_ring(struct cs_ring *ring, size_t bytes)
{
    struct cs_capture_options opts;
    memset(&opts, 0, sizeof opts);
    opts.max_string = 100;
    opts.max_items = 10;
    opts.max_nesting = 3;
    char err[256];
    if (cs_ring_create(ring, bytes, CS_RING_DEFAULT_CHUNK, &opts, err, sizeof err) != 0) {
        fprintf(stderr, "ring: %s\n", err);
        exit(2);
    }
    if (tu_nrings == 0)
        atexit(tu_unlink_rings);
    if (tu_nrings < TU_MAX_RINGS)
        snprintf(tu_ring_names[tu_nrings++], sizeof tu_ring_names[0], "%s", ring->name);
    else
        cs_ring_unlink(ring); /* past the list: left unreserved beyond its first part */
    return 0;
}

static inline const char *tu_db_path(void)
{
    static char path[128];
    static int n;
    snprintf(path, sizeof path, "/tmp/callscope-test-%d-%d.db", (int)getpid(), n++);
    return path;
}

static inline void tu_remove_db(const char *path)
{
    char side[160];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static inline struct cs_collector_options tu_options(const char *path)
{
    struct cs_collector_options o;
    memset(&o, 0, sizeof o);
    o.db_path = path;
    o.command_line = "test";
    o.max_depth = -1;
    return o;
}

/* Collects everything in the ring into o->db_path; returns the open db. */
static inline sqlite3 *tu_collect(struct cs_ring *ring, const struct cs_collector_options *o)
{
    char err[512];
    struct cs_collector *c = cs_collector_open(ring, o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "collector: %s\n", err);
        exit(2);
    }
    if (cs_collector_step(c, err, sizeof err) < 0 || cs_collector_finish(c, err, sizeof err) != 0) {
        fprintf(stderr, "collector: %s\n", err);
        exit(2);
    }
    cs_collector_free(c);
    sqlite3 *db;
    /* The connection reads the calls as a user's would, with the module of
     * callscope's SQLite extension. */
    if (sqlite3_open_v2(o->db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        cs_store_register_modules(db) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", o->db_path);
        exit(2);
    }
    return db;
}

/* The fixture of a test that records: a fresh ring, the producer's first
 * tick, and the temporary store the ring is collected into. */
struct tu_recording {
    struct cs_ring ring;
    struct test_producer p; /* opened by tu_recording_open_thread only */
    uint64_t t0;
    char path[128];
};

static inline void tu_recording_open(struct tu_recording *r, size_t ring_bytes)
{
    tu_ring(&r->ring, ring_bytes);
    r->t0 = r->ring.header->ticks0 + 1000;
    snprintf(r->path, sizeof r->path, "%s", tu_db_path());
}

/* The same, with r->p writing as thread `tid` of this process. */
static inline void tu_recording_open_thread(struct tu_recording *r, size_t ring_bytes, uint64_t tid)
{
    tu_recording_open(r, ring_bytes);
    tp_open(&r->p, &r->ring, (uint32_t)getpid(), tid, r->t0);
}

/* Collects the ring with the default options; the caller closes the db. */
static inline sqlite3 *tu_recording_collect(struct tu_recording *r)
{
    struct cs_collector_options o = tu_options(r->path);
    return tu_collect(&r->ring, &o);
}

static inline void tu_recording_close(struct tu_recording *r)
{
    tu_remove_db(r->path);
    cs_ring_close(&r->ring);
}

/* First column of the first row as an integer (-999 if none or NULL). */
static inline long long tu_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -999;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "SQL error in %s: %s\n", sql, sqlite3_errmsg(db));
        return -998;
    }
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* First column of the first row as text ("<null>" / "<none>"); the result
 * stays valid until the next call. */
static inline const char *tu_text(sqlite3 *db, const char *sql)
{
    static char buf[4096];
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(buf, sizeof buf, "<SQL error: %s>", sqlite3_errmsg(db));
        return buf;
    }
    snprintf(buf, sizeof buf, "<none>");
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(buf, sizeof buf, "%s", t ? (const char *)t : "<null>");
    }
    sqlite3_finalize(st);
    return buf;
}

/* Whether the skip-index block of call `id` may hold the item of hash h:
 * 1 or 0, -1 when the block is missing. */
static inline int tu_block_holds(sqlite3 *db, int64_t id, uint64_t h)
{
    sqlite3_stmt *st;
    int held = -1;
    if (sqlite3_prepare_v2(db, "SELECT bloom FROM call_blocks WHERE first_id = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, id - id % CS_BLOCK_CALLS);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CS_BLOCK_BYTES)
        held = cs_block_may_hold(sqlite3_column_blob(st, 0), h);
    sqlite3_finalize(st);
    return held;
}

/* How many arguments of the recorded rows, read back from each row's args
 * array, their block does not hold: 0 in every good recording. */
static inline int tu_args_missing_from_blocks(sqlite3 *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT r.id, j.type, j.atom FROM call_rows r, json_each(r.args) j", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    int missing = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        uint64_t item = strcmp(type, "integer") == 0
                            ? cs_block_hash_id(CS_ITEM_ARG_ID, sqlite3_column_int64(st, 2))
                            : cs_block_hash(CS_ITEM_ARG, sqlite3_column_text(st, 2),
                                            (size_t)sqlite3_column_bytes(st, 2));
        missing += tu_block_holds(db, id, item) != 1;
    }
    sqlite3_finalize(st);
    return missing;
}

#endif
