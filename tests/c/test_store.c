/*
 * test_store.c — the store's schema and its promises: the example queries of
 * docs/schema.md (read from the document itself, so it cannot go stale),
 * the checks readers make on foreign, newer and missing files, refusing to
 * overwrite other files, and a clear error when the disk fills up.
 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "collector_util.h"
#include "store/call_blocks.h"
#include "store/store.h"

static const char *const ARGS_N[] = {"n", NULL};

static uint64_t emit_fib(struct test_producer *p, int n, uint64_t at, int64_t *result)
{
    tp_call_int(p, 1, at, n);
    at += 100;
    int64_t r = n;
    if (n >= 2) {
        int64_t a, b;
        at = emit_fib(p, n - 1, at, &a);
        at = emit_fib(p, n - 2, at, &b);
        r = a + b;
    }
    at += 100;
    tp_return_int(p, at, r);
    *result = r;
    return at + 1;
}

static void raise_in(struct test_producer *p, uint64_t id, uint64_t at, const char *type, const char *msg)
{
    tp_call_int(p, id, at, 0);
    tp_begin(p, EV_UNWIND), tp_at(p, at + 50), tp_dt(p), tp_str(p, type);
    tp_byte(p, V_STR), tp_varint(p, strlen(msg)), tp_str(p, msg), tp_end(p);
}

/* demo.fib(6) (25 calls, ids 1-25), then demo.check and other.check raising. */
static const char *make_store(void)
{
    struct cs_ring ring;
    tu_ring(&ring, 1 << 20);
    struct test_producer p;
    uint64_t t = ring.header->ticks0 + 1000;
    tp_open(&p, &ring, 99, 99, t);
    tp_code(&p, 1, "demo", "fib", "/demo.py", 1, ARGS_N);
    tp_code(&p, 2, "demo", "check", "/demo.py", 9, ARGS_N);
    tp_code(&p, 3, "other", "check", "/other.py", 9, ARGS_N);
    int64_t r;
    uint64_t at = emit_fib(&p, 6, t + 10, &r);
    raise_in(&p, 2, at + 10, "ValueError", "n must be positive");
    raise_in(&p, 3, at + 100, "KeyError", "");
    raise_in(&p, 2, at + 200, "TypeError", "no");
    tp_seal(&p);
    static char path[128];
    snprintf(path, sizeof path, "%s", tu_db_path());
    struct cs_collector_options o = tu_options(path);
    sqlite3_close(tu_collect(&ring, &o));
    cs_ring_close(&ring);
    return path;
}

/* ---- the documented examples ---- */

struct example {
    char name[64];
    char sql[2048];
};

static int load_examples(struct example *ex, int max)
{
    FILE *f = fopen("docs/schema.md", "r");
    if (!f)
        return -1;
    char line[1024];
    int n = -1, in_sql = 0;
    while (fgets(line, sizeof line, f)) {
        if (!in_sql && strncmp(line, "```sql", 6) == 0) {
            in_sql = 1;
            if (n + 1 < max)
                memset(&ex[++n], 0, sizeof ex[n]);
        } else if (in_sql && strncmp(line, "```", 3) == 0) {
            in_sql = 0;
        } else if (in_sql && n >= 0) {
            if (sscanf(line, "-- example: %63s", ex[n].name) == 1)
                continue;
            strncat(ex[n].sql, line, sizeof ex[n].sql - strlen(ex[n].sql) - 1);
        }
    }
    fclose(f);
    return n + 1;
}

/* Rows of a query as "a|b|c\n" lines. */
static const char *rows_of(sqlite3 *db, const char *sql, int *nrows)
{
    static char buf[16384];
    buf[0] = 0;
    *nrows = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(buf, sizeof buf, "SQL error: %s", sqlite3_errmsg(db));
        *nrows = -1;
        return buf;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            strncat(buf, i ? "|" : "", sizeof buf - strlen(buf) - 1);
            strncat(buf, t ? (const char *)t : "NULL", sizeof buf - strlen(buf) - 1);
        }
        strncat(buf, "\n", sizeof buf - strlen(buf) - 1);
        (*nrows)++;
    }
    sqlite3_finalize(st);
    return buf;
}

static void check_example(sqlite3 *db, const struct example *ex)
{
    int n;
    const char *rows = rows_of(db, ex->sql, &n);
    if (n < 0)
        fprintf(stderr, "example %s: %s\n", ex->name, rows);
    if (strcmp(ex->name, "slowest-calls") == 0) {
        CHECK_INT(n, 10);
        CHECK(strstr(rows, "|{\"n\":\"6\"}\n") != NULL && strncmp(rows, "1|", 2) == 0);
    } else if (strcmp(ex->name, "argument-equals") == 0) {
        CHECK_INT(n, 1);
        CHECK_STR(rows, "2|{\"n\":\"5\"}|5\n");
    } else if (strcmp(ex->name, "exceptions-in-module") == 0) {
        CHECK_INT(n, 2);
        CHECK(strstr(rows, "|check|ValueError: n must be positive|{\"n\":\"0\"}\n") != NULL);
        CHECK(strstr(rows, "|check|TypeError: no|") != NULL);
        CHECK(strstr(rows, "KeyError") == NULL);
    } else if (strcmp(ex->name, "call-tree") == 0 || strcmp(ex->name, "call-tree-by-range") == 0) {
        CHECK_INT(n, 25); /* all of fib(6), starting with the root */
        CHECK(strncmp(rows, ex->name[9] ? "1|0|{\"n\":\"6\"}|8\n" : "0|fib|{\"n\":\"6\"}|8|", 14) == 0);
    } else if (strcmp(ex->name, "per-function") == 0) {
        CHECK_INT(n, 3);
        CHECK(strncmp(rows, "demo.fib|25|", 12) == 0);
    } else {
        fprintf(stderr, "unknown example %s\n", ex->name);
        CHECK(0);
    }
}

static void test_examples(void)
{
    static struct example ex[16];
    int n = load_examples(ex, 16);
    CHECK_INT(n, 6);
    const char *path = make_store();
    char err[512];
    sqlite3 *db = cs_store_open_readonly(path, err, sizeof err);
    CHECK(db != NULL);
    for (int i = 0; db && i < n; i++)
        check_example(db, &ex[i]);
    /* No index on call_rows (docs/schema.md): a subtree is read as a range of ids. */
    CHECK_INT(tu_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'call_rows'"), 0);
    int rows;
    const char *plan = rows_of(db, "EXPLAIN QUERY PLAN SELECT id FROM calls WHERE id >= 3 AND id < 9", &rows);
    /* ... which the virtual table serves from the chunks' ids: both bounds
     * of the range reach it (plan bits 1 and 2: a lower and an upper
     * bound; the columns read are in the bits above 4). */
    const char *index = strstr(plan, "VIRTUAL TABLE INDEX ");
    CHECK(index != NULL);
    CHECK_INT(index ? atoi(index + strlen("VIRTUAL TABLE INDEX ")) & 15 : 0, 3);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM call_view"), 28);
    CHECK_STR(tu_text(db, "SELECT exception FROM call_view WHERE module = 'other'"), "KeyError");
    CHECK_INT(tu_int(db, "PRAGMA application_id"), CS_STORE_APPLICATION_ID);
    CHECK_INT(tu_int(db, "PRAGMA user_version"), CS_STORE_SCHEMA_VERSION);
    sqlite3_close(db);
    /* The file is in WAL mode, which lets readers in while it is written
     * (bytes 18 and 19 of the header are 2; a reader of a finished file
     * opens it as immutable and would say "delete"). */
    unsigned char header[20] = {0};
    FILE *f = fopen(path, "rb");
    CHECK(f && fread(header, 1, sizeof header, f) == sizeof header);
    if (f)
        fclose(f);
    CHECK_INT(header[18], 2);
    CHECK_INT(header[19], 2);
    tu_remove_db(path);
}

/* ---- files that are not ours ---- */

static void test_open_checks(void)
{
    char err[512], expect[512];
    const char *path = tu_db_path();
    CHECK(cs_store_open_readonly(path, err, sizeof err) == NULL);
    snprintf(expect, sizeof expect, "%s: no such file", path);
    CHECK_STR(err, expect);

    FILE *f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    CHECK(cs_store_open_readonly(path, err, sizeof err) == NULL);
    snprintf(expect, sizeof expect, "%s is not a callscope database (not an SQLite file)", path);
    CHECK_STR(err, expect);
    /* ... and the collector will not overwrite it. */
    CHECK(cs_store_create(path, err, sizeof err) == NULL);
    snprintf(expect, sizeof expect, "%s exists and is not a callscope database; not replacing it", path);
    CHECK_STR(err, expect);
    unlink(path);

    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(cs_store_open_readonly(path, err, sizeof err) == NULL);
    snprintf(expect, sizeof expect, "%s is not a callscope database", path);
    CHECK_STR(err, expect);
    CHECK(cs_store_create(path, err, sizeof err) == NULL);

    tu_remove_db(path);
    struct cs_store *s = cs_store_create(path, err, sizeof err);
    CHECK(s != NULL);
    cs_store_close(s);
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(cs_store_open_readonly(path, err, sizeof err) == NULL);
    snprintf(expect, sizeof expect, "%s was written by a newer callscope (schema 99; this one reads %d to %d)", path,
             CS_STORE_OLDEST_READ_VERSION, CS_STORE_SCHEMA_VERSION);
    CHECK_STR(err, expect);
    /* An older callscope store is replaced without a fuss. */
    s = cs_store_create(path, err, sizeof err);
    CHECK(s != NULL);
    cs_store_close(s);
    db = cs_store_open_readonly(path, err, sizeof err);
    CHECK(db != NULL);
    sqlite3_close(db);
    tu_remove_db(path);

    CHECK(cs_store_create("/nonexistent-dir/x.db", err, sizeof err) == NULL);
    CHECK(strncmp(err, "cannot create /nonexistent-dir/x.db: ", 37) == 0);
}

/* The file may not grow past 256 KB: the collector reports it in one line
 * instead of crashing or going on silently. There are more calls than the
 * recording's page cache holds, so writing fails before the index does. */
static void test_disk_full(void)
{
    struct cs_ring ring;
    tu_ring(&ring, 64 << 20);
    const char *path = tu_db_path();
    pid_t child = fork();
    if (child == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {256 * 1024, 256 * 1024};
        setrlimit(RLIMIT_FSIZE, &lim);
        struct test_producer p;
        uint64_t t = ring.header->ticks0 + 1000;
        tp_open(&p, &ring, 5, 5, t);
        tp_code(&p, 1, "m", "f", "/m.py", 1, ARGS_N);
        for (int i = 0; i < 1000000; i++)
            if (tp_call_int(&p, 1, t + 10 * (uint64_t)i, i) != 0 || tp_return_int(&p, t + 10 * (uint64_t)i + 5, i) != 0)
                break;
        tp_seal(&p);
        char err[512];
        struct cs_collector_options o = tu_options(path);
        struct cs_collector *c = cs_collector_open(&ring, &o, err, sizeof err);
        if (!c)
            _exit(3);
        long rc = cs_collector_step(c, err, sizeof err);
        if (rc >= 0)
            rc = cs_collector_finish(c, err, sizeof err);
        cs_collector_free(c);
        if (rc >= 0)
            _exit(4);
        char expect[256];
        snprintf(expect, sizeof expect, "cannot write %s: ", path);
        if (strncmp(err, expect, strlen(expect)) != 0 || strchr(err, '\n')) {
            fprintf(stderr, "unexpected error: %s\n", err);
            _exit(5);
        }
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);
    tu_remove_db(path);
    cs_ring_close(&ring);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* While recording, the WAL is copied into the main file by the store's
 * checkpointer thread, not by the writer, and every row is kept. */
static void test_wal_is_copied_while_recording(void)
{
    const char *path = tu_db_path();
    char err[512], wal[600], args[1000];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct cs_store *s = cs_store_create(path, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    const int rows = 500000; /* about 250 MB of pages: several times the 64 MB that starts a copy */
    long long wal_peak = 0;
    CHECK_INT(cs_store_begin(s), 0);
    uint64_t noise = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < rows; i++) {
        /* Hex digits of noise: texts that compress only to half their
         * length, 480 bytes a row once compressed. */
        int n = snprintf(args, sizeof args, "[\"");
        while (n < 962) {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            n += snprintf(args + n, sizeof args - (size_t)n, "%016llx", (unsigned long long)noise);
        }
        n += snprintf(args + n, sizeof args - (size_t)n, "\"]");
        struct cs_call_row r = {.id = cs_store_next_call_id(s), .thread_id = 1, .function_id = 1, .start_ns = i,
                                .duration_ns = 10, .self_ns = 10, .finished = 1, .args = args,
                                .args_len = (size_t)n};
        cs_store_add_call(s, &r);
        if (i % 20000 == 19999) {
            CHECK_INT(cs_store_commit(s), 0);
            CHECK_INT(cs_store_begin(s), 0);
            if (file_size(wal) > wal_peak)
                wal_peak = file_size(wal);
        }
    }
    CHECK_INT(cs_store_commit(s), 0);
    /* The copy runs on its own thread: give it time (it needs well under
     * a second; a slow machine gets a minute). */
    for (int tries = 0; tries < 600 && cs_store_checkpointer_cpu_ns(s) == 0; tries++)
        usleep(100 * 1000);
    CHECK(cs_store_checkpointer_cpu_ns(s) > 0);
    CHECK(file_size(path) > 100 << 20);
    /* The WAL starts over after each copy: it stays near the 64 MB that
     * start one, whatever the size of the recording. */
    CHECK(wal_peak < 160 << 20);
    if (wal_peak >= 160 << 20)
        fprintf(stderr, "test_store: the WAL grew to %lld MB\n", wal_peak >> 20);
    cs_store_close(s);
    sqlite3 *db = cs_store_open_readonly(path, err, sizeof err);
    CHECK(db != NULL);
    sqlite3_stmt *st;
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*), sum(start_ns) FROM call_rows", -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int64(st, 0), rows);
    CHECK_INT(sqlite3_column_int64(st, 1), (long long)rows * (rows - 1) / 2);
    sqlite3_finalize(st);
    cs_store_close_readonly(db);
    tu_remove_db(path);
}

/* Rows of every kind mixed within the store's groups of 64 (plain ones,
 * ones with an exception or flags, and a row that ends after its
 * callees) and values, one now and then out of id order, all read back as
 * they were written. */
/* Commits and closes the store, and opens the file as a reader would. */
static sqlite3 *commit_and_reopen(struct cs_store *s, const char *path)
{
    char err[512];
    CHECK_INT(cs_store_commit(s), 0);
    cs_store_close(s);
    sqlite3 *db = cs_store_open_readonly(path, err, sizeof err);
    CHECK(db != NULL);
    return db;
}

static void test_mixed_rows_read_back(void)
{
    const char *path = tu_db_path();
    char err[512], text[64], want[256];
    struct cs_store *s = cs_store_create(path, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    const int rows = 5000;
    int with_exc = 0, with_flags = 0, sum5 = 0, sum3 = 0, odd_id = 0;
    CHECK_INT(cs_store_begin(s), 0);
    int64_t root_id = cs_store_next_call_id(s);
    for (int i = 1; i < rows; i++) {
        int64_t id = cs_store_next_call_id(s);
        int64_t val = i % 97 == 0 ? 1000000 + i : i;
        int n = snprintf(text, sizeof text, "'v%d'", i);
        cs_store_add_value(s, val, text, (size_t)n, "str", 3);
        const char *exc = i % 7 == 0 ? "ValueError: v" : NULL;
        struct cs_call_row r = {.id = id, .parent_id = root_id, .thread_id = 1, .function_id = 1, .depth = 1,
                                .start_ns = i, .duration_ns = i % 5, .self_ns = i % 3, .finished = 1,
                                .flags = i % 11 == 0 ? CS_CALL_RESUME : 0, .args = "[]", .args_len = 2,
                                .result = exc ? 0 : val, .exception = exc,
                                .exception_len = exc ? strlen(exc) : 0};
        cs_store_add_call(s, &r);
        with_exc += exc != NULL;
        with_flags += i % 11 == 0;
        sum5 += i % 5;
        sum3 += i % 3;
        if (val != i)
            odd_id = (int)val;
    }
    struct cs_call_row root = {.id = root_id, .thread_id = 1, .function_id = 1, .finished = 1,
                               .duration_ns = rows, .self_ns = 1, .args = "[]", .args_len = 2};
    cs_store_add_call(s, &root);
    sqlite3 *db = commit_and_reopen(s, path);
    if (!db)
        return;
    int n;
    const char *got = rows_of(db,
                              "SELECT count(*), sum(start_ns), sum(duration_ns), sum(self_ns),"
                              " sum(exception = 'ValueError: v'), sum(flags), sum(result IS NOT NULL),"
                              " sum(parent_id = 1) FROM call_rows WHERE id > 1",
                              &n);
    snprintf(want, sizeof want, "%d|%d|%d|%d|%d|%d|%d|%d\n", rows - 1, rows * (rows - 1) / 2, sum5, sum3,
             with_exc, with_flags * CS_CALL_RESUME, rows - 1 - with_exc, rows - 1);
    CHECK_STR(got, want);
    /* Each result is the value of its own id, as the calls view shows it. */
    got = rows_of(db, "SELECT count(*) FROM calls WHERE result = '''v' || start_ns || ''''", &n);
    snprintf(want, sizeof want, "%d\n", rows - 1 - with_exc);
    CHECK_STR(got, want);
    got = rows_of(db, "SELECT count(*), max(id) FROM vals", &n);
    snprintf(want, sizeof want, "%d|%d\n", rows - 1, odd_id);
    CHECK_STR(got, want);
    got = rows_of(db, "SELECT duration_ns, self_ns FROM call_rows WHERE id = 1", &n);
    snprintf(want, sizeof want, "%d|1\n", rows);
    CHECK_STR(got, want);
    cs_store_close_readonly(db);
    tu_remove_db(path);
}

/* The skip index: every row's function, arguments and result are in its
 * block's filter (a Bloom filter may say "maybe" wrongly, never "no"),
 * rows that end late reach their old block, and few of the items no row
 * holds pass. */
/* A text's hash in the skip index is part of the file: a file written
 * before must be read with the same hashes (texts of 0 to 40 bytes, every
 * way the last word is read). */
static void test_block_hashes_stay_the_same(void)
{
    static const char TEXT[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH";
    static const uint64_t HASHES[41] = {
        0xd92180e5c4d3fe70ULL, 0x74da2160cb75b7b3ULL, 0x6ab34e9e84133e91ULL,
        0x2e80d291e9172ac3ULL, 0x06076b9bc441ab07ULL, 0x2907bbf5cbadd5b1ULL,
        0x3da86356ce53c750ULL, 0x9ef9cb30f28efbbeULL, 0x2ef8474203a5c234ULL,
        0x941f21a5f7e042c9ULL, 0xe8cd2029c37647e6ULL, 0xf099d66211d3a753ULL,
        0xe8d1bce86ec71231ULL, 0x0e32ce57c0a86498ULL, 0x851d19b8ebd79f7aULL,
        0xeb192e853076a489ULL, 0xfb9b05eb62fe10e1ULL, 0x260bb860d2b5008aULL,
        0x397125ad536db52dULL, 0xd17f4542db2e4103ULL, 0x5c1d345536bbc358ULL,
        0x2dae31ec7f1ba4b9ULL, 0xd8d5674a58e5ab18ULL, 0x9d52e8a13551a9e1ULL,
        0x0226dacc00c66dcaULL, 0x3ee1e8f4ce0a6f4aULL, 0x9e5112bc21885540ULL,
        0x08137c735c027535ULL, 0x57a9524c00ccd622ULL, 0xe55a3692a60ffaccULL,
        0x941f677f7af5da48ULL, 0x2638100c78ef3fc4ULL, 0x6c25d51454edd67cULL,
        0x6c25d51454edd67cULL, 0x6c25d51454edd67cULL, 0x6c25d51454edd67cULL,
        0x6c25d51454edd67cULL, 0x6c25d51454edd67cULL, 0x6c25d51454edd67cULL,
        0x6c25d51454edd67cULL, 0x6c25d51454edd67cULL,
    };
    for (size_t n = 0; n <= 40; n++)
        CHECK(cs_block_hash(CS_ITEM_ARG, TEXT, n) == HASHES[n]);
}

static void test_call_blocks(void)
{
    const char *path = tu_db_path();
    char err[512], args[64];
    struct cs_store *s = cs_store_create(path, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    const int rows = 5000; /* five blocks */
    CHECK_INT(cs_store_begin(s), 0);
    int64_t root_id = cs_store_next_call_id(s); /* ends last: its row goes to the first block, late */
    cs_store_add_value(s, 1, "'doc'", 5, "str", 3);
    for (int i = 1; i < rows; i++) {
        int64_t id = cs_store_next_call_id(s);
        int n = snprintf(args, sizeof args, "[\"%d\",1]", i * 7);
        struct cs_call_row r = {.id = id, .parent_id = root_id, .thread_id = 1, .function_id = 2 + i % 3,
                                .depth = 1, .start_ns = i, .duration_ns = 1, .finished = 1, .args = args,
                                .args_len = (size_t)n, .result_text = "None", .result_len = 4};
        cs_store_add_call(s, &r);
        if (i == rows / 2) { /* blocks go out with their rows, at every commit */
            CHECK_INT(cs_store_commit(s), 0);
            CHECK_INT(cs_store_begin(s), 0);
        }
    }
    struct cs_call_row root = {.id = root_id, .thread_id = 1, .function_id = 9, .finished = 1, .duration_ns = rows,
                               .args = "[]", .args_len = 2, .result = 1};
    cs_store_add_call(s, &root);
    sqlite3 *db = commit_and_reopen(s, path);
    if (!db)
        return;
    int n;
    CHECK_STR(rows_of(db, "SELECT count(*), min(first_id), max(first_id) FROM call_blocks", &n), "5|0|4096\n");
    int missing = 0, strays = 0;
    for (int i = 1; i < rows; i++) {
        int64_t id = i + 1;
        int k = snprintf(args, sizeof args, "%d", i * 7);
        missing += tu_block_holds(db, id, cs_block_hash_id(CS_ITEM_FUNCTION, 2 + i % 3)) != 1;
        missing += tu_block_holds(db, id, cs_block_hash(CS_ITEM_ARG, args, (size_t)k)) != 1;
        missing += tu_block_holds(db, id, cs_block_hash_id(CS_ITEM_ARG_ID, 1)) != 1;
        missing += tu_block_holds(db, id, cs_block_hash(CS_ITEM_RESULT, "None", 4)) != 1;
        k = snprintf(args, sizeof args, "%d", i * 7 + 3); /* no row has it */
        strays += tu_block_holds(db, id, cs_block_hash(CS_ITEM_ARG, args, (size_t)k)) == 1;
    }
    CHECK_INT(missing, 0);
    CHECK_INT(tu_args_missing_from_blocks(db), 0);
    CHECK(strays < rows / 20);
    CHECK_INT(tu_block_holds(db, root_id, cs_block_hash_id(CS_ITEM_FUNCTION, 9)), 1);
    CHECK_INT(tu_block_holds(db, root_id, cs_block_hash_id(CS_ITEM_RESULT_ID, 1)), 1);
    CHECK_INT(tu_block_holds(db, 4500, cs_block_hash_id(CS_ITEM_FUNCTION, 9)), 0);
    cs_store_close_readonly(db);
    tu_remove_db(path);
}

/* A result equal to the row before's is kept once in a chunk (layout 2,
 * call_chunks.h); every row still reads its own, and its block of the skip
 * index holds it. The rows mix what may stand between two equal texts: a
 * vals id, no result, an exception, a text of the same length, and the
 * ends of chunks and of blocks. */
static void test_results_passed_up_read_back(void)
{
    const char *path = tu_db_path();
    char err[512], text[64];
    struct cs_store *s = cs_store_create(path, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    const int rows = 5000;
    CHECK_INT(cs_store_begin(s), 0);
    cs_store_add_value(s, 1, "'doc'", 5, "str", 3);
    for (int i = 0; i < rows; i++) {
        int64_t id = cs_store_next_call_id(s);
        /* rows i and i + 1 share a text when i is even; every fifth row
         * holds something else in its place */
        int n = snprintf(text, sizeof text, "('v', %d)", i / 2);
        int kind = i % 5 == 3 ? i % 3 : -1; /* 0: vals id, 1: none, 2: exception */
        struct cs_call_row r = {.id = id, .thread_id = 1, .function_id = 1, .start_ns = i, .duration_ns = 1,
                                .finished = 1, .args = "[]", .args_len = 2,
                                .result = kind == 0 ? 1 : 0,
                                .result_text = kind >= 0 ? NULL : text, .result_len = kind >= 0 ? 0 : (size_t)n,
                                .exception = kind == 2 ? "E" : NULL, .exception_len = kind == 2 ? 1 : 0};
        cs_store_add_call(s, &r);
    }
    sqlite3 *db = commit_and_reopen(s, path);
    if (!db)
        return;
    int n, wrong = 0, missing = 0;
    sqlite3_stmt *st;
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT id, result FROM call_rows ORDER BY id", -1, &st, NULL), SQLITE_OK);
    for (int i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
        int kind = i % 5 == 3 ? i % 3 : -1;
        int k = snprintf(text, sizeof text, "('v', %d)", i / 2);
        const char *got = (const char *)sqlite3_column_text(st, 1);
        if (kind == 0)
            wrong += sqlite3_column_int64(st, 1) != 1;
        else if (kind > 0)
            wrong += got != NULL;
        else
            wrong += !got || strcmp(got, text) != 0;
        uint64_t item = cs_block_hash(CS_ITEM_RESULT, text, (size_t)k);
        if (kind < 0)
            missing += tu_block_holds(db, sqlite3_column_int64(st, 0), item) != 1;
    }
    sqlite3_finalize(st);
    CHECK_INT(wrong, 0);
    CHECK_INT(missing, 0);
    /* and SQL finds every row of such a result, the repeated ones too */
    CHECK_STR(rows_of(db, "SELECT count(*) FROM call_rows WHERE result LIKE '(''v'', %'", &n), "4000\n");
    cs_store_close_readonly(db);
    tu_remove_db(path);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    CHECK_RUN(test_examples());
    CHECK_RUN(test_open_checks());
    CHECK_RUN(test_disk_full());
    CHECK_RUN(test_wal_is_copied_while_recording());
    CHECK_RUN(test_mixed_rows_read_back());
    CHECK_RUN(test_call_blocks());
    CHECK_RUN(test_block_hashes_stay_the_same());
    CHECK_RUN(test_results_passed_up_read_back());
    return CHECK_REPORT("test_store");
}
