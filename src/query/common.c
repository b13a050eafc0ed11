/*
 * common.c — what the commands that read a recording share (see common.h).
 */
#include "query/common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "collector/follow_rows.h"
#include "store/store.h"
#include "util/json.h"

void cs_format_duration(int64_t ns, char *buf, size_t len)
{
    static const char *const units[] = {"ns", "\xc2\xb5s", "ms", "s"};
    if (ns < 1000) {
        snprintf(buf, len, "%lldns", (long long)ns);
        return;
    }
    double v = (double)ns;
    int u = 0;
    /* Move up a unit while the value would print as 1000 or more. */
    while (u < 3 && v >= 999.5) {
        v /= 1000.0;
        u++;
    }
    if (u == 3 && v >= 999.5) {
        snprintf(buf, len, "%.0fs", v);
        return;
    }
    const char *fmt = v < 9.995 ? "%.2f%s" : v < 99.95 ? "%.1f%s" : "%.0f%s";
    snprintf(buf, len, fmt, v, units[u]);
}

int cs_want_color(int no_color_option)
{
    const char *no_color = getenv("NO_COLOR");
    return !no_color_option && !(no_color && *no_color) && isatty(STDOUT_FILENO);
}

void cs_wait_for_build(const char *path, int quietly)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        if (!quietly)
            cs_note("the calls of %s are being built: waiting for them", path);
        flock(fd, LOCK_SH);
    }
    close(fd);
}

/* The copy this process reads of a deferred recording under way
 * (collector/follow_rows.h): a reader opens one recording. */
static struct cs_follow_rows *volatile reading_copy;
static sqlite3 *reading_copy_db;

void cs_remove_reading_copy(void)
{
    cs_follow_rows_remove_files(reading_copy);
}

static void remove_copy_and_die(int sig)
{
    cs_remove_reading_copy();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Opens the calls so far of the deferred recording at path, which is
 * under way. */
static sqlite3 *open_reading_copy(const char *path)
{
    char err[600];
    if (reading_copy) {
        cs_error("%s is being recorded with --defer-rows, and this reader reads another such recording already",
                 path);
        return NULL;
    }
    cs_note("%s is being recorded with --defer-rows: reading the calls so far", path);
    struct cs_follow_rows *f = cs_follow_rows_open(path, err, sizeof err);
    if (!f) {
        cs_error("%s", err);
        return NULL;
    }
    sqlite3 *db = cs_store_open_readonly(cs_follow_rows_path(f), err, sizeof err);
    if (!db) {
        cs_error("%s", err);
        cs_follow_rows_close(f);
        return NULL;
    }
    reading_copy = f;
    reading_copy_db = db;
    static const int deadly[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof deadly / sizeof deadly[0]; i++)
        if (signal(deadly[i], remove_copy_and_die) == SIG_IGN)
            signal(deadly[i], SIG_IGN); /* (left ignored if it was) */
    return db;
}

const char *cs_reading_copy_path(sqlite3 *db)
{
    return reading_copy && db == reading_copy_db ? cs_follow_rows_path(reading_copy) : NULL;
}

int cs_catch_up_store(sqlite3 *db, char *err, size_t errlen)
{
    if (!reading_copy || db != reading_copy_db)
        return 0;
    return cs_follow_rows_catch_up(reading_copy, err, errlen) < 0 ? -1 : 0;
}

sqlite3 *cs_open_store(const char *path)
{
    char err[600];
    for (int tries = 0;; tries++) {
        sqlite3 *db = cs_store_open_readonly(path, err, sizeof err);
        if (!db) {
            cs_error("%s", err);
            return NULL;
        }
        if (!cs_store_rows_deferred(db))
            return db;
        int recording = cs_store_deferred_recorder_alive(db);
        cs_store_close_readonly(db);
        if (recording)
            return open_reading_copy(path);
        if (tries > 0) {
            cs_error("%s holds the events of a recording made with --defer-rows: `callscope index %s` builds its"
                     " calls", path, path);
            return NULL;
        }
        /* Once more after the build, if one is under way, or has just
         * put the calls in place since the file was opened above. */
        cs_wait_for_build(path, 0);
    }
}

const char *cs_db_error(sqlite3 *db)
{
    if (db && sqlite3_errcode(db) != SQLITE_OK && sqlite3_errcode(db) != SQLITE_ROW &&
        sqlite3_errcode(db) != SQLITE_DONE)
        return sqlite3_errmsg(db);
    return "the file is damaged (its data does not read back as a callscope recording)";
}

void cs_close_store(sqlite3 *db)
{
    if (db)
        cs_store_close_readonly(db);
    if (db && db == reading_copy_db) {
        struct cs_follow_rows *f = reading_copy;
        reading_copy = NULL; /* (before a signal handler could see it closed) */
        reading_copy_db = NULL;
        cs_follow_rows_close(f); /* (which removes the copy) */
    }
}

int64_t cs_query_int(sqlite3 *db, const char *sql, int64_t fallback)
{
    sqlite3_stmt *st;
    int64_t v = fallback;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return fallback;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int64_t cs_store_wall_start(sqlite3 *db)
{
    return cs_query_int(db, "SELECT value FROM meta WHERE key = 'started_wall_ns'", 0);
}

void cs_json_text_or_null(struct cs_textbuf *b, const char *s)
{
    if (s)
        cs_json_string(b, s, strlen(s));
    else
        cs_textbuf_puts(b, "null");
}

int cs_parse_format(const char *value, const char *text_format, int *jsonl)
{
    if (strcmp(value, text_format) == 0 || strcmp(value, "jsonl") == 0) {
        *jsonl = value[0] == 'j';
        return 0;
    }
    cs_error("--format is %s or jsonl, not '%s'", text_format, value);
    return -1;
}

int cs_take_path(const char *command, int argc, char **args, const char **path)
{
    if (optind < argc + 1)
        *path = args[optind++];
    if (optind < argc + 1) {
        cs_error("%s: unexpected argument '%s'", command, args[optind]);
        return -1;
    }
    return 0;
}

char **cs_getopt_argv(int argc, char **argv, const char *name)
{
    char **args = malloc(((size_t)argc + 2) * sizeof *args);
    if (!args)
        return NULL;
    args[0] = (char *)name;
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    args[argc + 1] = NULL;
    return args;
}

void cs_quote_list(struct cs_textbuf *b, const char *const *items, size_t n, const char *last)
{
    for (size_t i = 0; i < n; i++)
        cs_textbuf_printf(b, "%s'%s'", i == 0 ? "" : i + 1 == n ? last : ", ", items[i]);
}

int cs_no_such_thread(sqlite3 *db, const char *path, long long pid, long long tid)
{
    const char *column = pid >= 0 ? "pid" : "tid";
    long long wanted = pid >= 0 ? pid : tid;
    if (pid < 0 && tid < 0)
        return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM threads WHERE (?1 < 0 OR pid = ?1) AND (?2 < 0 OR tid = ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, pid);
    sqlite3_bind_int64(st, 2, tid);
    int none = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 0;
    sqlite3_finalize(st);
    if (!none)
        return 0;
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT DISTINCT %s FROM threads ORDER BY 1 LIMIT 11", column);
    struct cs_textbuf have = {0};
    int n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            cs_textbuf_printf(&have, n++ == 0 ? "%lld" : n <= 10 ? ", %lld" : ", ...",
                              (long long)sqlite3_column_int64(st, 0));
        sqlite3_finalize(st);
    }
    if (pid >= 0 && tid >= 0)
        cs_error("no thread %lld of process %lld in %s", tid, pid, path);
    else
        cs_error("no %s %lld in %s; its %s are %s", pid >= 0 ? "process" : "thread", wanted, path,
                 pid >= 0 ? "processes" : "threads", n ? cs_textbuf_cstr(&have) : "none");
    cs_textbuf_free(&have);
    return 1;
}
