/*
 * fuzz_filter.c — libFuzzer harness: a --filter (any text) compiled against
 * a real recording and run to the end, the ways `show`, `stats`, `export`
 * and the viewer run it.
 *
 * The recording is made once, when the harness starts: `callscope run
 * --no-stdlib` of tests/fuzz/filter_recording.py (some 3,500 calls in
 * four blocks of the skip index, arguments of many types, results,
 * exceptions, generators, named threads, a call that never ends), by the
 * callscope binary of this build. It lives in a directory of its own under
 * $TMPDIR that a small watcher process removes when the harness ends, however
 * it ends (a crash, a timeout, a kill). CALLSCOPE_FUZZ_RECORDING=PATH runs
 * the filters on an existing recording instead (left as it is);
 * CALLSCOPE_BIN and CALLSCOPE_FUZZ_PYTHON override the binary and the
 * interpreter that record; CALLSCOPE_FUZZ_VERBOSE=1 prints each filter and
 * what became of it.
 *
 * Each input is also completed as the viewer's filter line completes it.
 * A finding (abort) is:
 *   - a crash, a leak or undefined behaviour (ASan, UBSan, LeakSanitizer);
 *   - a filter refused without a message, or with a column outside it;
 *   - any SQLite error, from compiling or from running (SQLite's log sees
 *     every one, also those the code only checks loosely): a filter that
 *     compiles must run, and generated SQL that fails to prepare means the
 *     filter can change the SQL instead of only its bound values;
 *   - the ways of running it disagreeing on the calls kept: the selection
 *     of show and export (which skips blocks by the skip index), the scan
 *     of stats, the statements of export, show and the viewer that read
 *     each thread with the filter in them, the filter compiled without the
 *     recording (no skip index, no sets of functions; its times are then
 *     from the epoch, so not for a filter that names `time`), and the
 *     filter twice, "(F) or (F)" (nothing for the skip index; arguments
 *     compared another way) and "(F) and (F)", for a filter without `not`
 *     (whose meaning on arguments, "no argument ...", holds where it stands
 *     alone).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expr/lexer.h"
#include "query/call_rows.h"
#include "query/common.h"
#include "query/filter.h"
#include "query/parallel_scan.h"
#include "query/selection.h"
#include "store/store.h"
#include "util/textbuf.h"

#ifndef CS_FUZZ_CALLSCOPE
#define CS_FUZZ_CALLSCOPE "build/callscope"
#endif
#ifndef CS_FUZZ_PYTHON
#define CS_FUZZ_PYTHON "python3"
#endif
#ifndef CS_FUZZ_PROGRAM
#define CS_FUZZ_PROGRAM "tests/fuzz/filter_recording.py"
#endif

extern char **environ;

static char recording[PATH_MAX];
static sqlite3 *db;
static struct cs_thread_info *threads;
static size_t nthreads;
static int64_t wall0;
static sqlite3_stmt *by_range; /* a thread's calls with ids in [?2, ?3), as show and export read a selection */
static int verbose;             /* CALLSCOPE_FUZZ_VERBOSE: each filter, and what became of it */

/* ---- the recording ---- */

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "fuzz_filter: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

/* The files a run may leave in the directory, for the watcher. */
static const char *const LEFT[] = {"rec.db", "rec.db-wal", "rec.db-shm", "rec.db-journal", "run.log"};
#define NLEFT (sizeof LEFT / sizeof *LEFT)

/* A child that waits for this process to end (the pipe's other end closes
 * with it, whatever the reason) and then removes the directory. Only
 * system calls after the fork: paths are made before it. */
static void start_watcher(const char *dir)
{
    char paths[NLEFT][PATH_MAX];
    for (size_t i = 0; i < NLEFT; i++)
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, LEFT[i]);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        die("cannot make a pipe: %s", strerror(errno), "");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("cannot fork: %s", strerror(errno), "");
    if (pid == 0) {
        close(fds[1]);
        signal(SIGINT, SIG_IGN); /* a ^C to the group ends the harness, then this cleans up */
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        char c;
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        for (size_t i = 0; i < NLEFT; i++)
            unlink(paths[i]);
        rmdir(dir);
        _exit(0);
    }
    close(fds[0]); /* fds[1] stays open, unseen by children (close-on-exec), until this process ends */
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* Records the program into `recording` with the callscope binary. */
static void make_recording(const char *dir)
{
    const char *bin = env_or("CALLSCOPE_BIN", CS_FUZZ_CALLSCOPE);
    const char *python = env_or("CALLSCOPE_FUZZ_PYTHON", CS_FUZZ_PYTHON);
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/run.log", dir);
    if (access(bin, X_OK) != 0)
        die("no callscope binary at %s (make builds it; or set CALLSCOPE_BIN)%s", bin, "");
    if (access(CS_FUZZ_PROGRAM, R_OK) != 0)
        die("cannot read %s: %s", CS_FUZZ_PROGRAM, strerror(errno));
    char *argv[] = {(char *)bin, "run", "--python", (char *)python, "--no-stdlib", "-o", recording,
                    CS_FUZZ_PROGRAM, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int err = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0)
        die("cannot run %s: %s", bin, strerror(err));
    /* A minute at most: a recording of a small program takes well under a second. */
    int status = 0, waited = 0;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) != pid && waited++ < 600) {
        if (r < 0 && errno != EINTR)
            die("cannot wait for %s: %s", bin, strerror(errno));
        usleep(100 * 1000);
    }
    if (r != pid) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    if (r != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char text[4096] = ""; /* what it said: the directory goes with this process */
        FILE *f = fopen(log, "r");
        if (f) {
            text[fread(text, 1, sizeof text - 1, f)] = 0;
            fclose(f);
        }
        die(r != pid ? "recording the program took over a minute:\n%s%s" : "recording the program failed:\n%s%s",
            text, "");
    }
}

/* ---- SQLite's log: every error, wherever it is checked ---- */

static volatile int sql_errors;
static char sql_error[1024];

static void sqlite_log(void *arg, int code, const char *msg)
{
    (void)arg;
    switch (code & 0xff) {
    case SQLITE_NOTICE:  /* e.g. a recovered WAL */
    case SQLITE_WARNING: /* e.g. an automatic index */
    case SQLITE_SCHEMA:  /* a statement prepared again */
        return;
    }
    if (sql_errors++ == 0)
        snprintf(sql_error, sizeof sql_error, "SQLite error %d: %s", code, msg);
}

/* ---- mutations that keep a filter a filter ----
 *
 * Most texts libFuzzer's own mutations make are refused before anything
 * runs. Half of the mutations are these instead: a token swapped for one
 * of its kind (a field, an operator, a value the recording holds, quoted
 * as a filter quotes it), a comparison added with `and`, `or` or `not`,
 * or a new filter of a few comparisons. */

#define POOL_MAX 48

struct pool {
    const char *field; /* the field whose values these are, NULL: numbers and times */
    char *items[POOL_MAX];
    int n;
};

/* Quoted values of each text field, from the recording; numbers; times. */
static struct pool pools[12];
static int npools;

static void pool_add(struct pool *p, const char *text)
{
    if (p->n < POOL_MAX && text)
        p->items[p->n++] = strdup(text);
}

/* `text` as a filter's string literal, in single quotes. */
static void quote(struct cs_textbuf *b, const char *text, size_t n)
{
    cs_textbuf_putc(b, '\'');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\\' || c == '\'')
            cs_textbuf_putc(b, '\\'), cs_textbuf_putc(b, (char)c);
        else if (c < 0x20 || c == 0x7f)
            cs_textbuf_printf(b, "\\x%02x", c);
        else
            cs_textbuf_putc(b, (char)c);
    }
    cs_textbuf_putc(b, '\'');
}

static void pool_from(const char *field, const char *sql)
{
    struct pool *p = &pools[npools++];
    p->field = field;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die("cannot read %s: %s", recording, sqlite3_errmsg(db));
    struct cs_textbuf b = {0};
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (!t)
            continue;
        cs_textbuf_reset(&b);
        quote(&b, t, (size_t)sqlite3_column_bytes(st, 0));
        pool_add(p, cs_textbuf_cstr(&b));
    }
    sqlite3_finalize(st);
    cs_textbuf_free(&b);
}

static void make_pools(void)
{
    pool_from("thread", "SELECT DISTINCT name FROM threads LIMIT 48");
    pool_from("module", "SELECT DISTINCT module FROM functions LIMIT 48");
    pool_from("func", "SELECT DISTINCT qualname FROM functions LIMIT 48");
    pool_from("function", "SELECT DISTINCT name FROM functions LIMIT 48");
    pool_from("file", "SELECT DISTINCT filename FROM functions LIMIT 48");
    pool_from("arg", "SELECT DISTINCT j.value FROM functions, json_each(functions.arg_names) j LIMIT 48");
    pool_from("type", "SELECT DISTINCT type FROM vals WHERE type IS NOT NULL LIMIT 48");
    pool_from("value", "SELECT text FROM vals ORDER BY length(text) % 7, id LIMIT 48");
    pool_from("return", "SELECT DISTINCT cs_val(result) FROM call_rows WHERE result IS NOT NULL LIMIT 48");
    pool_from("exception", "SELECT DISTINCT exception FROM call_rows WHERE exception IS NOT NULL LIMIT 48");
    struct pool *numbers = &pools[npools++];
    const char *const nums[] = {"0", "1", "2", "3", "5", "7", "-1", "0.5", "1e-3", "0.001", "100", "0x10", "0o17",
                                "0b101", "9223372036854775807", "1e300", "None", "True", "False", "2.5"};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
        pool_add(numbers, nums[i]);
    struct pool *times = &pools[npools++];
    times->field = "time";
    int64_t first = cs_query_int(db, "SELECT min(start_ns) FROM call_rows", 0);
    for (int i = -1; i <= 2; i++) {
        time_t t = (time_t)((wall0 + first) / 1000000000) + i * 60;
        struct tm tm;
        char text[64];
        localtime_r(&t, &tm);
        strftime(text, sizeof text, "'%Y/%m/%d %H:%M'", &tm);
        pool_add(times, text);
        strftime(text, sizeof text, "'%Y-%m-%dT%H:%M:%S.250'", &tm);
        pool_add(times, text);
        strftime(text, sizeof text, "'%Y/%m/%d'", &tm);
        pool_add(times, text);
    }
}

static uint64_t rnd_state;

static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return n ? (unsigned)(rnd_state % n) : 0;
}

static const struct pool *pool_of(const char *field)
{
    for (int i = 0; i < npools; i++)
        if (pools[i].field && strcmp(pools[i].field, field) == 0)
            return &pools[i];
    return &pools[npools - 2]; /* numbers */
}

static void put_value(struct cs_textbuf *b, const char *field)
{
    const struct pool *p = rnd(8) ? pool_of(field) : &pools[rnd((unsigned)npools)];
    if (!p->n)
        p = &pools[npools - 2];
    const char *v = p->items[rnd((unsigned)p->n)];
    if (v[0] == '\'' && rnd(4) == 0) { /* a pattern of it */
        size_t len = strlen(v), cut = 1 + rnd((unsigned)(len - 1));
        cs_textbuf_put(b, v, cut < len - 1 ? cut : len - 1);
        cs_textbuf_puts(b, rnd(2) ? "%'" : "_%'");
        return;
    }
    cs_textbuf_puts(b, v);
}

static const char *const OPS[] = {"==", "!=", "<", "<=", ">", ">=", "is", "is not", "==", "=="};
#define NOPS (sizeof OPS / sizeof *OPS)

static void put_comparison(struct cs_textbuf *b)
{
    const char *field = cs_filter_field_names[rnd(16)];
    if (rnd(8) == 0)
        cs_textbuf_puts(b, "not ");
    const char *const *ops = cs_filter_field_ops(field); /* mostly one the field takes */
    size_t nops = 0;
    while (ops && ops[nops])
        nops++;
    const char *op = nops && rnd(4) ? ops[rnd((unsigned)nops)] : OPS[rnd(NOPS)];
    if (rnd(10) == 0) { /* the value first */
        put_value(b, field);
        cs_textbuf_printf(b, " %s %s", op, field);
        return;
    }
    cs_textbuf_printf(b, "%s %s ", field, op);
    put_value(b, field);
}

static void put_filter(struct cs_textbuf *b, int parts)
{
    for (int i = 0; i < parts; i++) {
        if (i)
            cs_textbuf_puts(b, rnd(3) ? " and " : " or ");
        int group = parts > 2 && rnd(4) == 0;
        if (group)
            cs_textbuf_putc(b, '(');
        put_comparison(b);
        if (group) {
            cs_textbuf_puts(b, rnd(2) ? " or " : " and ");
            put_comparison(b);
            cs_textbuf_putc(b, ')');
        }
    }
}

/* The field a value token is compared with: the name two tokens before
 * or after it ("value" if neither is a field). */
static const char *field_near(const char *text, const struct cs_tokens *toks, size_t at)
{
    for (int side = -2; side <= 2; side += 4) {
        if ((side < 0 && at < 2) || at + (size_t)side >= toks->n)
            continue;
        const struct cs_token *t = &toks->items[at + (size_t)side];
        for (size_t i = 0; t->kind == CS_TOK_NAME && cs_filter_field_names[i]; i++)
            if (cs_tok_is(t, text, cs_filter_field_names[i]))
                return cs_filter_field_names[i];
    }
    return "value";
}

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    rnd_state = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;
    if (rnd(2) || !npools)
        return LLVMFuzzerMutate(data, size, max_size);
    char *text = malloc(size + 1);
    if (!text)
        return LLVMFuzzerMutate(data, size, max_size);
    memcpy(text, data, size);
    text[size] = 0;
    struct cs_tokens toks = {0};
    struct cs_expr_error err;
    struct cs_textbuf b = {0};
    int ntoks = cs_lex(text, 1, &toks, &err) == 0 ? (int)toks.n - 1 : 0; /* without the END */
    unsigned what = ntoks > 0 ? rnd(6) : 5;
    if (what <= 2) { /* a token swapped for another of its kind */
        const struct cs_token *t = &toks.items[rnd((unsigned)ntoks)];
        cs_textbuf_put(&b, text, t->offset);
        if (t->kind == CS_TOK_NAME)
            cs_textbuf_puts(&b, rnd(10) ? cs_filter_field_names[rnd(16)] : rnd(2) ? "and" : "or");
        else if (t->kind == CS_TOK_OP)
            cs_textbuf_puts(&b, OPS[rnd(NOPS - 2)]);
        else
            put_value(&b, field_near(text, &toks, (size_t)(t - toks.items)));
        cs_textbuf_puts(&b, text + t->offset + t->len);
    } else if (what <= 4) { /* a comparison added, after or before */
        static const char *const joins[] = {" and ", " or ", " and not ", " or not "};
        if (what == 3) {
            cs_textbuf_puts(&b, text);
            cs_textbuf_puts(&b, joins[rnd(4)]);
            put_comparison(&b);
        } else {
            put_comparison(&b);
            cs_textbuf_puts(&b, joins[rnd(2)]);
            cs_textbuf_puts(&b, text);
        }
    } else {
        put_filter(&b, 1 + (int)rnd(4));
    }
    cs_tokens_free(&toks);
    free(text);
    size_t n = b.len;
    if (b.oom || n > max_size || n == 0) {
        cs_textbuf_free(&b);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    memcpy(data, b.data, n);
    cs_textbuf_free(&b);
    return n;
}

/* How many filters compiled and ran, and how many calls they kept. */
static long long inputs, ran, kept;

static void report(void)
{
    fprintf(stderr, "fuzz_filter: %lld of %lld filters compiled and ran, keeping %lld calls in all\n", ran, inputs,
            kept);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sqlite3_config(SQLITE_CONFIG_LOG, sqlite_log, NULL);
    const char *given = getenv("CALLSCOPE_FUZZ_RECORDING");
    if (given && *given) {
        snprintf(recording, sizeof recording, "%s", given);
    } else {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/callscope-fuzz-filter-XXXXXX", env_or("TMPDIR", "/tmp"));
        if (!mkdtemp(dir))
            die("cannot make a directory %s: %s", dir, strerror(errno));
        start_watcher(dir);
        snprintf(recording, sizeof recording, "%s/rec.db", dir);
        make_recording(dir);
    }
    char err[600];
    if (!(db = cs_store_open_readonly(recording, err, sizeof err)))
        die("%s%s", err, "");
    wall0 = cs_store_wall_start(db);
    if (cs_load_threads(db, -1, -1, &threads, &nthreads) != 0 || nthreads == 0)
        die("no threads in %s: %s", recording, sqlite3_errmsg(db));
    if (sqlite3_prepare_v2(db, CS_CALL_ROW_SQL CS_CALL_ROW_RANGE, -1, &by_range, NULL) != SQLITE_OK)
        die("cannot read %s: %s", recording, sqlite3_errmsg(db));
    if (sql_errors)
        die("%s%s", sql_error, "");
    make_pools();
    verbose = getenv("CALLSCOPE_FUZZ_VERBOSE") != NULL;
    atexit(report);
    fprintf(stderr, "fuzz_filter: %lld calls in %zu threads, %lld blocks: %s\n",
            (long long)cs_query_int(db, "SELECT count(*) FROM call_rows", -1), nthreads,
            (long long)cs_query_int(db, "SELECT count(*) FROM call_blocks", -1), recording);
    return 0;
}

/* ---- one filter ---- */

static const char *text_now;
static const char *sql_now;

static void finding(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_filter: %s%s%s\n  filter: %s\n  sql: %s\n", what, detail ? ": " : "", detail ? detail : "",
            text_now, sql_now ? sql_now : "(none)");
    if (sql_errors)
        fprintf(stderr, "  first %s\n", sql_error);
    abort();
}

static void check_sql(const char *when)
{
    if (sql_errors)
        finding(when, sql_error);
}

/* What a reading saw: how many calls, and the sum of their ids. */
struct seen {
    int64_t n, ids;
};

static int same(struct seen a, struct seen b)
{
    return a.n == b.n && a.ids == b.ids;
}

/* JSON lines made of each reading's first calls (all of them would cost
 * more than everything else together). */
#define JSON_LINES 100

/* show and export: the selection, then each thread's selected calls read by
 * id, the first ones as JSON lines. */
static struct seen by_selection(const struct cs_filter *f, struct cs_textbuf *out)
{
    struct cs_selection sel;
    char err[400] = "";
    int rc = cs_select_calls(db, recording, f, NULL, 0, 0, &sel, err, sizeof err);
    if (rc != 0)
        finding("the selection failed", err);
    struct seen s = {0, 0}, read = {0, 0};
    for (size_t i = 0; i < sel.n; i++) {
        s.n++;
        s.ids += sel.calls[i].id;
    }
    for (size_t t = 0; t < nthreads; t++) {
        size_t at, end;
        cs_selection_of_thread(&sel, threads[t].row, &at, &end);
        while (at < end) {
            size_t run = at + 1; /* consecutive ids: one range */
            while (run < end && sel.calls[run].id == sel.calls[run - 1].id + 1)
                run++;
            sqlite3_reset(by_range);
            sqlite3_bind_int64(by_range, 1, threads[t].row);
            sqlite3_bind_int64(by_range, 2, sel.calls[at].id);
            sqlite3_bind_int64(by_range, 3, sel.calls[run - 1].id + 1);
            int step;
            while ((step = sqlite3_step(by_range)) == SQLITE_ROW) {
                if (read.n < JSON_LINES) {
                    cs_textbuf_reset(out);
                    cs_call_json_line(out, by_range, &threads[t], wall0);
                }
                read.n++;
                read.ids += sqlite3_column_int64(by_range, C_ID);
            }
            if (step != SQLITE_DONE)
                finding("reading the selected calls failed", sqlite3_errmsg(db));
            at = run;
        }
    }
    sqlite3_reset(by_range);
    cs_selection_free(&sel);
    if (!same(s, read))
        finding("the selected calls are not all in their threads", NULL);
    return s;
}

/* stats: each call's function, duration and self time, totalled. */
struct totals {
    int64_t n, by_function, total_ns;
};

static int add_to_totals(sqlite3_value **col, void *state)
{
    struct totals *t = state;
    t->n++;
    t->by_function += sqlite3_value_int64(col[0]);
    if (sqlite3_value_type(col[1]) != SQLITE_NULL)
        t->total_ns += sqlite3_value_int64(col[1]);
    return 0;
}

static int64_t by_stats(const struct cs_filter *f)
{
    int nparts = cs_scan_parts(db);
    struct totals parts[CS_SCAN_MAX_PARTS];
    void *states[CS_SCAN_MAX_PARTS];
    for (int i = 0; i < nparts; i++) {
        parts[i] = (struct totals){0, 0, 0};
        states[i] = &parts[i];
    }
    char err[400] = "";
    if (cs_scan_parallel(db, recording, "c.function_id, c.duration_ns, c.self_ns", f, states, nparts, add_to_totals,
                         err, sizeof err) != 0)
        finding("the scan of stats failed", err);
    int64_t n = 0;
    for (int i = 0; i < nparts; i++)
        n += parts[i].n;
    return n;
}

/* Each thread's calls read in order with the filter in the statement
 * (?1 the thread): export, and show past what a selection holds or with
 * --limit. The viewer's statement also has ?2 and ?4 (the ids between)
 * and ?3 (the most rows), its filter's parameters numbered from ?5. */
#define SHOW_STREAM "SELECT c.id, c.function_id FROM call_rows c WHERE c.thread_id = ?1 AND coalesce((", "), 0) ORDER BY c.id"
#define EXPORT_STREAM CS_CALL_ROW_SQL " AND (", ")" CS_CALL_ROW_ORDER
#define VIEW_STREAM "SELECT " CS_CALL_ROW_COLUMNS CS_CALL_ROW_FROM " AND c.id > ?2 AND c.id <= ?4 AND coalesce((", \
                    "), 0) ORDER BY c.id LIMIT ?3"
#define VIEW_FIRST_PARAM 5

static struct seen by_stream(const struct cs_filter *f, const char *head, const char *tail, struct cs_textbuf *out)
{
    struct cs_textbuf sql = {0};
    cs_textbuf_printf(&sql, "%s%s%s", head, f->sql, tail);
    sqlite3_stmt *st = NULL;
    sql_now = cs_textbuf_cstr(&sql);
    if (sql.oom || sqlite3_prepare_v2(db, cs_textbuf_cstr(&sql), -1, &st, NULL) != SQLITE_OK)
        finding("the filter's SQL does not prepare", sqlite3_errmsg(db));
    int json = sqlite3_column_count(st) > C_SELF; /* the columns of a call's line */
    struct seen s = {0, 0};
    for (size_t t = 0; t < nthreads; t++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, threads[t].row);
        if (f->first_param == VIEW_FIRST_PARAM) {
            sqlite3_bind_int64(st, 2, INT64_MIN);
            sqlite3_bind_int64(st, 3, -1);
            sqlite3_bind_int64(st, 4, INT64_MAX);
        }
        if (cs_filter_bind(f, st) != SQLITE_OK)
            finding("the filter's values do not bind", sqlite3_errmsg(db));
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            s.n++;
            s.ids += sqlite3_column_int64(st, 0);
            if (json && s.n <= JSON_LINES) {
                cs_textbuf_reset(out);
                cs_call_json_line(out, st, &threads[t], wall0);
            }
        }
        if (step != SQLITE_DONE)
            finding("reading with the filter failed", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sql_now = NULL;
    cs_textbuf_free(&sql);
    return s;
}

/* Does the filter hold `word` as a word of its own (a field, `not`)? */
static int has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; (p = strstr(p, word)) != NULL; p += n) {
        int before = p > text && (p[-1] == '_' || (unsigned)((p[-1] | 32) - 'a') < 26u ||
                                  (unsigned)(p[-1] - '0') < 10u || (p[-1] & 0x80));
        int after = p[n] == '_' || (unsigned)((p[n] | 32) - 'a') < 26u || (unsigned)(p[n] - '0') < 10u ||
                    (p[n] & 0x80);
        if (!before && !after)
            return 1;
    }
    return 0;
}

/* The filter twice, "(F) or (F)" or "(F) and (F)": the same calls as F
 * (see the top), unless the longer text is refused (length, depth). */
static void check_twice(const char *text, size_t size, const char *join, struct seen expect, struct cs_textbuf *out)
{
    if (has_word(text, "not") || 2 * size + 16 > CS_EXPR_MAX_LENGTH)
        return;
    char *twice = malloc(2 * size + 16);
    if (!twice)
        return;
    snprintf(twice, 2 * size + 16, "(%s) %s (%s)", text, join, text);
    struct cs_filter f;
    struct cs_expr_error err;
    const char *once = text_now;
    text_now = twice;
    int rc = cs_filter_compile(db, twice, CS_SCAN_FILTER_FIRST_PARAM, &f, &err);
    check_sql("compiling the filter twice");
    if (rc == 0) {
        sql_now = f.sql;
        struct seen s = by_selection(&f, out);
        check_sql("selecting with the filter twice");
        if (!same(s, expect)) {
            fprintf(stderr, "fuzz_filter: %lld calls (ids adding up to %lld) against %lld (%lld) once: %s\n",
                    (long long)s.n, (long long)s.ids, (long long)expect.n, (long long)expect.ids, once);
            finding("the filter twice keeps other calls than once", NULL);
        }
        cs_filter_free(&f);
    }
    text_now = once;
    free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A filter is one argument on a command line: no NUL. */
    if (memchr(data, 0, size))
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    text_now = text;
    sql_errors = 0;
    inputs++;

    /* The viewer's completion, for the text typed so far. */
    struct cs_completion completion;
    if (cs_filter_complete(db, text, size, &completion) == 0)
        cs_completion_free(&completion);
    check_sql("completing the filter");

    struct cs_filter f;
    struct cs_expr_error err;
    memset(&err, 0, sizeof err);
    if (cs_filter_compile(db, text, CS_SCAN_FILTER_FIRST_PARAM, &f, &err) != 0) {
        /* What a user sees: the caret line and the message. */
        check_sql("compiling the filter");
        if (!err.message[0])
            finding("refused without a message", NULL);
        if (err.column < 0 || err.column > cs_expr_column_of(text, size) + 1)
            finding("refused with a column outside the filter", err.message);
        char caret[CS_EXPR_MAX_LENGTH * 2 + 64];
        cs_expr_caret(text, err.column, "  ", caret, sizeof caret);
        if (verbose)
            fprintf(stderr, "%s--filter: %s\n", caret, err.message);
        free(text);
        return 0;
    }
    sql_now = f.sql;
    check_sql("compiling the filter");

    /* The same filter without the recording: fewer checks, so it compiles. */
    struct cs_filter plain;
    struct cs_expr_error plain_err;
    if (cs_filter_compile(NULL, text, CS_SCAN_FILTER_FIRST_PARAM, &plain, &plain_err) != 0)
        finding("compiles against the recording but not without it", plain_err.message);

    /* As the viewer's filter line has it. */
    struct cs_filter viewed;
    if (cs_filter_compile(db, text, VIEW_FIRST_PARAM, &viewed, &plain_err) != 0)
        finding("compiles for show but not for the viewer", plain_err.message);
    check_sql("compiling the filter");

    struct cs_textbuf out = {0};
    struct seen selected = by_selection(&f, &out);
    check_sql("selecting");
    sql_now = f.sql;
    int64_t totals = by_stats(&f);
    check_sql("totalling");
    struct seen exported = by_stream(&f, EXPORT_STREAM, &out);
    check_sql("exporting");
    struct seen shown = by_stream(&f, SHOW_STREAM, &out);
    check_sql("showing");
    struct seen in_view = by_stream(&viewed, VIEW_STREAM, &out);
    check_sql("viewing");
    struct seen unchecked = by_stream(&plain, SHOW_STREAM, &out);
    check_sql("showing without the recording");
    sql_now = f.sql;
    if (!same(selected, exported) || !same(selected, shown))
        finding("the selection and the streamed read keep different calls", NULL);
    if (selected.n != totals)
        finding("stats counts other calls than the selection", NULL);
    if (!same(selected, in_view))
        finding("the viewer keeps other calls than show", NULL);
    if (!has_word(text, "time") && !same(selected, unchecked))
        finding("the filter keeps other calls than when compiled without the recording", NULL);

    if (verbose)
        fprintf(stderr, "  %s\n%lld calls: %s\n", text, (long long)selected.n, f.sql);
    check_twice(text, size, "or", selected, &out);
    check_twice(text, size, "and", selected, &out);
    ran++;
    kept += selected.n;
    cs_textbuf_free(&out);
    cs_filter_free(&viewed);
    cs_filter_free(&plain);
    cs_filter_free(&f);
    free(text);
    text_now = sql_now = NULL;
    return 0;
}
