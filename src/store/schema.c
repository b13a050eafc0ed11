/*
 * schema.c — creates the version 4 schema and validates stores for readers
 * (of versions 2 and 3 as well: version 2's call_rows is a plain table with
 * the same columns, and version 3 differs in the layout of its chunks of
 * calls only, which call_chunks.c reads; every reader reads them
 * unchanged).
 */
#include "store/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/call_blocks.h"
#include "store/calls_vtab.h"
#include "store/modules.h"
#include "store/narrowing.h"
#include "store/vals_vtab.h"
#include "store/read_sets.h"
#include "store/read_values.h"
#include "store/store.h"

/* Keep in step with docs/schema.md. The calls are in call_chunks
 * (call_chunks.h) and call_late, which the virtual table call_rows shows as
 * one table (calls_vtab.h). Column order in call_late puts the always
 * present integers first; SQLite stores NULL and small ints in the record
 * header alone, so unset columns cost one byte.
 *
 * A value the program passes again and again (the document a parser
 * walks, self, a config dict) is a row of vals, written once. A call row
 * holds its arguments as a JSON array in the order of its function's
 * arg_names: a vals id (a number) or, for a value met once and for ints,
 * the text itself (a string). result is likewise an INTEGER id or TEXT.
 * The calls view puts names and text back, for queries by hand;
 * callscope's own readers use cs_args()/cs_val() (store/read_values.h). */
static const char SCHEMA_SQL[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE processes(pid INTEGER PRIMARY KEY, parent_pid INTEGER);"
    "CREATE TABLE threads(id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, tid INTEGER NOT NULL,"
    " name TEXT);"
    "CREATE TABLE functions(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, module TEXT,"
    " qualname TEXT, name TEXT, filename TEXT, lineno INTEGER, arg_names TEXT);"
    "CREATE TABLE val_chunks(first_id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL,"
    " rows INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE VIRTUAL TABLE vals USING " CS_VALS_MODULE ";"
    "CREATE TABLE call_chunks(first_id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL,"
    " rows INTEGER NOT NULL, data BLOB NOT NULL);"
    "CREATE TABLE call_late(id INTEGER PRIMARY KEY, parent_id INTEGER,"
    " thread_id INTEGER NOT NULL, function_id INTEGER NOT NULL, depth INTEGER NOT NULL,"
    " start_ns INTEGER NOT NULL, duration_ns INTEGER, self_ns INTEGER, args TEXT,"
    " result, exception TEXT, flags INTEGER NOT NULL DEFAULT 0);"
    "CREATE VIRTUAL TABLE call_rows USING " CS_CALLS_MODULE ";"
    "CREATE VIEW calls AS SELECT r.id AS id, r.parent_id AS parent_id, r.thread_id AS thread_id,"
    " r.function_id AS function_id, r.depth AS depth, r.start_ns AS start_ns,"
    " r.duration_ns AS duration_ns, r.self_ns AS self_ns,"
    " CASE WHEN r.args IS NULL THEN NULL ELSE"
    " (SELECT json_group_object(k, t) FROM (SELECT n.value AS k, CASE WHEN a.type = 'integer'"
    " THEN (SELECT text FROM vals WHERE id = a.value) ELSE a.value END AS t"
    " FROM json_each(r.args) a"
    " JOIN json_each((SELECT arg_names FROM functions WHERE id = r.function_id)) n ON n.key = a.key"
    " ORDER BY a.key)) END AS args,"
    " CASE WHEN typeof(r.result) = 'integer' THEN (SELECT text FROM vals WHERE id = r.result)"
    " ELSE r.result END AS result,"
    " r.exception AS exception, r.flags AS flags,"
    " CASE WHEN r.args IS NULL THEN NULL ELSE"
    " (SELECT json_group_object(k, t) FROM (SELECT n.value AS k, CASE WHEN a.type = 'integer'"
    " THEN (SELECT type FROM vals WHERE id = a.value) WHEN a.value = 'None' THEN 'NoneType'"
    " WHEN a.value IN ('True', 'False') THEN 'bool' ELSE 'int' END AS t"
    " FROM json_each(r.args) a"
    " JOIN json_each((SELECT arg_names FROM functions WHERE id = r.function_id)) n ON n.key = a.key"
    " ORDER BY a.key)) END AS arg_types FROM call_rows r;"
    "CREATE TABLE call_blocks(first_id INTEGER PRIMARY KEY, bloom BLOB NOT NULL);"
    "CREATE TABLE logs(id INTEGER PRIMARY KEY, call_id INTEGER, thread_id INTEGER,"
    " time_ns INTEGER, message TEXT, fields TEXT);"
    "CREATE TABLE lost(id INTEGER PRIMARY KEY, thread_id INTEGER, time_ns INTEGER,"
    " count INTEGER);"
    "CREATE VIEW call_view AS SELECT c.id AS id, c.parent_id AS parent_id, t.pid AS pid,"
    " t.tid AS tid, t.name AS thread, f.name AS function, f.module AS module,"
    " f.qualname AS qualname, f.filename AS filename, f.lineno AS lineno, c.depth AS depth,"
    " c.start_ns AS start_ns,"
    " ((SELECT value FROM meta WHERE key = 'started_wall_ns') + c.start_ns) / 1e9 AS start,"
    " c.duration_ns AS duration_ns, c.duration_ns / 1e6 AS duration_ms, c.self_ns AS self_ns,"
    " c.args AS args, c.result AS result, c.exception AS exception, c.flags AS flags,"
    " c.arg_types AS arg_types"
    " FROM calls c JOIN threads t ON t.id = c.thread_id"
    " JOIN functions f ON f.id = c.function_id;";

int cs_schema_create(sqlite3 *db)
{
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d;",
             CS_STORE_APPLICATION_ID, CS_STORE_SCHEMA_VERSION);
    /* call_rows and vals are made by their modules */
    int rc = cs_store_register_modules(db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    /* One transaction: a reader that opens the file meanwhile sees all of
     * the schema or none of it, and holds up the writer once at most. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, SCHEMA_SQL, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof sql, "INSERT INTO meta VALUES ('call_blocks_format', %d)", CS_BLOCK_FORMAT);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    else
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum cs_file_kind cs_schema_file_kind(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? CS_FILE_MISSING : CS_FILE_UNREADABLE;
    if (!S_ISREG(st.st_mode))
        return CS_FILE_OTHER;
    if (st.st_size == 0)
        return CS_FILE_EMPTY;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CS_FILE_UNREADABLE;
    unsigned char header[100];
    ssize_t n = read(fd, header, sizeof header);
    close(fd);
    if (n != (ssize_t)sizeof header || memcmp(header, "SQLite format 3", 16) != 0)
        return CS_FILE_OTHER;
    /* The application id lives at offset 68 of the database header. */
    return be32(header + 68) == CS_STORE_APPLICATION_ID ? CS_FILE_CALLSCOPE : CS_FILE_SQLITE;
}

static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Whether a writer may still be at work: its write-ahead log is there. */
static int recording_under_way(const char *path)
{
    char wal[PATH_MAX + 8];
    if (snprintf(wal, sizeof wal, "%s-wal", path) >= (int)sizeof wal)
        return 1;
    return access(wal, F_OK) == 0 || errno != ENOENT;
}

/* "file:PATH?immutable=1", PATH %-escaped where a URI needs it; 0 if it does
 * not fit. An absolute PATH follows an empty authority ("file://" PATH), so
 * that one that starts with "//" is not read as "file://HOST/...". */
static int immutable_uri(const char *path, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, path[0] == '/' ? "file://" : "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (n + 4 >= size)
            return 0;
        if (*p == '%' || *p == '?' || *p == '#' || *p < 0x20)
            n += (size_t)snprintf(out + n, size - n, "%%%02X", *p);
        else
            out[n++] = (char)*p;
    }
    return snprintf(out + n, size - n, "?immutable=1") < (int)(size - n);
}

int cs_store_reader_name(const char *path, char *out, size_t size)
{
    /* A finished recording has no write-ahead log beside it: it is read as
     * immutable, which creates no -wal and -shm files and needs no write
     * access to the file or its directory. */
    if (!recording_under_way(path) && immutable_uri(path, out, size))
        return 1;
    return snprintf(out, size, "%s", path) < (int)size ? 0 : -1;
}

sqlite3 *cs_store_open_readonly(const char *path, char *err, size_t errlen)
{
    switch (cs_schema_file_kind(path)) {
    case CS_FILE_MISSING:
        snprintf(err, errlen, "%s: no such file", path);
        return NULL;
    case CS_FILE_UNREADABLE:
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    case CS_FILE_EMPTY:
    case CS_FILE_OTHER:
        snprintf(err, errlen, "%s is not a callscope database (not an SQLite file)", path);
        return NULL;
    case CS_FILE_SQLITE:
    case CS_FILE_CALLSCOPE:
        break;
    }
    sqlite3 *db = NULL;
    /* A reader's connection is used by one thread only (a parallel scan
     * opens one per thread), so SQLite need not lock it on every call. */
    char uri[PATH_MAX * 3 + 32];
    int finished = cs_store_reader_name(path, uri, sizeof uri) == 1;
    int rc = sqlite3_open_v2(finished ? uri : path, &db,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (finished ? SQLITE_OPEN_URI : 0), NULL);
    int64_t app_id = 0, version = 0;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        rc = query_int(db, "PRAGMA application_id", &app_id);
    }
    if (rc == SQLITE_OK)
        rc = query_int(db, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_NOTADB)
            snprintf(err, errlen, "%s is not a callscope database (not an SQLite file)", path);
        else
            snprintf(err, errlen, "cannot read %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    if (app_id != CS_STORE_APPLICATION_ID || version < 1) {
        snprintf(err, errlen, "%s is not a callscope database", path);
        sqlite3_close(db);
        return NULL;
    }
    if (version < CS_STORE_OLDEST_READ_VERSION || version > CS_STORE_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s was written by %s callscope (schema %lld; this one reads %d to %d)%s", path,
                 version > CS_STORE_SCHEMA_VERSION ? "a newer" : "an older", (long long)version,
                 CS_STORE_OLDEST_READ_VERSION, CS_STORE_SCHEMA_VERSION,
                 version > CS_STORE_SCHEMA_VERSION ? "" : "; record it again");
        sqlite3_close(db);
        return NULL;
    }
    /* The meta table says the same, or the file was changed after it was
     * recorded (by hand, or by another program). */
    int64_t meta_version = version;
    char format[32] = "callscope";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key IN ('format', 'schema_version')", -1, &st,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *key = (const char *)sqlite3_column_text(st, 0);
            if (key && !strcmp(key, "schema_version"))
                meta_version = sqlite3_column_type(st, 1) == SQLITE_INTEGER ? sqlite3_column_int64(st, 1) : -1;
            else if (key)
                snprintf(format, sizeof format, "%s", sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
        }
        sqlite3_finalize(st);
    }
    if (strcmp(format, "callscope") != 0 || meta_version != version) {
        snprintf(err, errlen, "%s is not a callscope recording as written: its meta table says format '%s', schema "
                              "%lld, where its header says schema %lld",
                 path, format, (long long)meta_version, (long long)version);
        sqlite3_close(db);
        return NULL;
    }
    if (cs_read_values_register(db) != SQLITE_OK || cs_read_sets_register(db) != SQLITE_OK ||
        cs_narrowing_register(db) != SQLITE_OK ||
        cs_store_register_modules(db) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read %s: out of memory", path);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

void cs_store_close_readonly(sqlite3 *db)
{
    /* The virtual tables' own statements are theirs to finalize, when
     * sqlite3_close disconnects them. */
    sqlite3_stmt *next;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = next) {
        next = sqlite3_next_stmt(db, st);
        if (!cs_store_module_statement(st))
            sqlite3_finalize(st);
    }
    sqlite3_close(db);
}
