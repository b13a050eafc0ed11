/*
 * store_event_log.c — the table of a deferred recording's event log
 * (collector/event_log.h): blocks appended while the program runs, read
 * back in order when its calls are built.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CREATE_EVENT_LOG "CREATE TABLE IF NOT EXISTS event_log(seq INTEGER PRIMARY KEY, data BLOB NOT NULL)"

int cs_store_add_event_block(struct cs_store *s, const void *blob, size_t len)
{
    if (failed(s))
        return -1;
    lock_db(s);
    if (!s->insert_event_block) {
        int rc = sqlite3_exec(s->db, CREATE_EVENT_LOG, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(s->db, "INSERT INTO event_log VALUES (NULL, ?)", -1, &s->insert_event_block,
                                    NULL);
        if (rc != SQLITE_OK)
            cs_store_fail_rc(s, rc, "create");
    }
    if (!failed(s)) {
        sqlite3_bind_blob(s->insert_event_block, 1, blob, (int)len, SQLITE_STATIC);
        run(s, s->insert_event_block);
        sqlite3_bind_null(s->insert_event_block, 1);
    }
    int stored = !failed(s);
    unlock_db(s);
    return stored ? 0 : -1;
}

int cs_store_each_event_block(sqlite3 *db, int64_t after_seq,
                              int (*fn)(void *ctx, int64_t seq, const void *blob, size_t len), void *ctx, char *err,
                              size_t errlen)
{
    sqlite3_stmt *st;
    /* (a program that wrote no event before it ended left no block) */
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'event_log'", -1, &st, NULL);
    int has_log = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (rc == SQLITE_OK && !has_log)
        return 0;
    rc = sqlite3_prepare_v2(db, "SELECT seq, data FROM event_log WHERE seq > ? ORDER BY seq", -1, &st, NULL);
    if (rc == SQLITE_OK)
        sqlite3_bind_int64(st, 1, after_seq);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "its event log does not read: %s", sqlite3_errmsg(db));
        return -1;
    }
    int stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 1);
        int len = sqlite3_column_bytes(st, 1);
        stop = fn(ctx, sqlite3_column_int64(st, 0), blob ? blob : "", (size_t)len);
    }
    if (!stop && rc != SQLITE_DONE) {
        snprintf(err, errlen, "its event log does not read: %s", sqlite3_errmsg(db));
        stop = -1;
    }
    sqlite3_finalize(st);
    return stop;
}

int64_t cs_store_meta_int(sqlite3 *db, const char *key, int64_t fallback)
{
    sqlite3_stmt *st;
    int64_t v = fallback;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
        return fallback;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

char *cs_store_meta_text(sqlite3 *db, const char *key)
{
    sqlite3_stmt *st;
    const char *text = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
        return strdup("");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        text = (const char *)sqlite3_column_text(st, 0);
    char *copy = strdup(text ? text : "");
    sqlite3_finalize(st);
    return copy;
}

int cs_store_deferred_recorder_alive(sqlite3 *db)
{
    if (cs_store_meta_int(db, "finished", 0))
        return 0;
    int64_t pid = cs_store_meta_int(db, "recorder_pid", 0);
    return pid > 0 && pid <= INT32_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}
