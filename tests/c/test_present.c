/*
 * test_present.c — `callscope show` and `callscope stats` run in-process on
 * a store written by the collector: tree layout, filters, JSON lines, the
 * stats table, and one-line errors for bad files and options.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "check.h"
#include "cli/reader_commands.h"
#include "collector_util.h"
#include "query/filter.h"
#include "query/parallel_scan.h"
#include "query/selection.h"
#include "store/store.h"

static const char *const ARGS_N[] = {"n", NULL};
static const char *const ARGS_ST[] = {"s", "t", NULL};
static char out_path[128];

/* Runs a command with stdout and stderr captured; returns its status and
 * leaves the text in *out (static). */
static int run_cmd(int (*cmd)(int, char **), const char **args, int nargs, const char **out, const char **err)
{
    static char outbuf[65536], errbuf[4096];
    char err_path[140];
    snprintf(err_path, sizeof err_path, "%s.err", out_path);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fo, 1);
    dup2(fe, 2);
    int rc = cmd(nargs, (char **)args);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(fo);
    close(fe);
    FILE *f = fopen(out_path, "r");
    size_t n = fread(outbuf, 1, sizeof outbuf - 1, f);
    outbuf[n] = 0;
    fclose(f);
    f = fopen(err_path, "r");
    n = fread(errbuf, 1, sizeof errbuf - 1, f);
    errbuf[n] = 0;
    fclose(f);
    unlink(err_path);
    *out = outbuf;
    if (err)
        *err = errbuf;
    return rc;
}

static uint64_t emit_fib(struct test_producer *p, int n, uint64_t at)
{
    tp_call_int(p, 1, at, n);
    int64_t r = n;
    at += 1000;
    if (n >= 2) {
        at = emit_fib(p, n - 1, at);
        at = emit_fib(p, n - 2, at);
        r = 0; /* the value does not matter here */
    }
    tp_return_int(p, at, r);
    return at + 1000;
}

static const char *make_store(void)
{
    struct cs_ring ring;
    tu_ring(&ring, 1 << 20);
    struct test_producer p;
    uint64_t t = ring.header->ticks0 + 1000;
    tp_open(&p, &ring, 4242, 4242, t);
    tp_begin(&p, EV_THREAD_NAME), tp_varint(&p, 4242), tp_str(&p, "MainThread"), tp_end(&p);
    tp_code(&p, 1, "demo", "fib", "/demo.py", 3, ARGS_N);
    tp_code(&p, 2, "demo", "Parser.parse", "/demo.py", 10, ARGS_N);
    emit_fib(&p, 3, t + 1000);
    tp_call_int(&p, 2, t + 100000, 7);
    tp_begin(&p, EV_UNWIND), tp_at(&p, t + 200000), tp_dt(&p), tp_str(&p, "ValueError");
    tp_byte(&p, V_STR), tp_varint(&p, 3), tp_str(&p, "bad"), tp_end(&p);
    tp_seal(&p);
    const char *path = tu_db_path();
    static char saved[128];
    snprintf(saved, sizeof saved, "%s", path);
    struct cs_collector_options o = tu_options(saved);
    sqlite3_close(tu_collect(&ring, &o));
    cs_ring_close(&ring);
    return saved;
}

/* label(s='a0', t='b0') -> 'r0' ... label(s='a7', t='b7') -> 'r7': the
 * arguments are texts, stored in vals. */
static const char *make_text_store(void)
{
    struct cs_ring ring;
    tu_ring(&ring, 1 << 20);
    struct test_producer p;
    uint64_t t = ring.header->ticks0 + 1000;
    tp_open(&p, &ring, 4243, 4243, t);
    tp_code(&p, 1, "demo", "label", "/demo.py", 3, ARGS_ST);
    char text[16];
    for (int i = 0; i < 8; i++) {
        tp_begin(&p, EV_CALL), tp_varint(&p, 1), tp_at(&p, t += 1000), tp_dt(&p);
        for (char c = 'a'; c <= 'b'; c++) {
            snprintf(text, sizeof text, "%c%d", c, i);
            tp_byte(&p, V_STR), tp_varint(&p, strlen(text)), tp_str(&p, text);
        }
        tp_end(&p);
        snprintf(text, sizeof text, "r%d", i);
        tp_return_str(&p, t += 1000, text);
    }
    tp_seal(&p);
    static char saved[128];
    snprintf(saved, sizeof saved, "%s", tu_db_path());
    struct cs_collector_options o = tu_options(saved);
    sqlite3_close(tu_collect(&ring, &o));
    cs_ring_close(&ring);
    return saved;
}

static int running_statements(sqlite3 *db)
{
    int n = 0;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st))
        n += sqlite3_stmt_busy(st) != 0;
    return n;
}

/* A filter that reads stored values leaves no statement running on the
 * connection. One was (the read of vals, stopped after the last value
 * asked for: here 'a7', with 'b7' after it), which kept the connection's
 * read transaction open, and the next scan on it failed ("unable to
 * delete/modify user-function due to active statements"). */
static void test_filter_scans_leave_nothing_running(void)
{
    const char *path = make_text_store();
    char err[400] = "";
    sqlite3 *db = cs_store_open_readonly(path, err, sizeof err);
    CHECK(db != NULL);
    if (!db)
        return;
    const char *filters[] = {"arg == 's' and value == \"'a3'\"", "value == \"'a5'\"", "return == \"'r2'\""};
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof filters / sizeof *filters; i++) {
            struct cs_filter f;
            struct cs_expr_error e;
            CHECK_INT(cs_filter_compile(db, filters[i], CS_SCAN_FILTER_FIRST_PARAM, &f, &e), 0);
            struct cs_selection sel = {0};
            int rc = cs_select_calls(db, path, &f, NULL, 0, 0, &sel, err, sizeof err);
            CHECK_INT(rc, 0);
            if (rc != 0)
                fprintf(stderr, "  %s: %s\n", filters[i], err);
            CHECK_INT(sel.n, 1);
            CHECK_INT(running_statements(db), 0);
            cs_selection_free(&sel);
            cs_filter_free(&f);
        }
    }
    cs_store_close_readonly(db);
    tu_remove_db(path);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_show_tree(const char *db)
{
    const char *out;
    const char *args[] = {db, "--no-color"};
    CHECK_INT(run_cmd(cs_cmd_show, args, 2, &out, NULL), 0);
    const char *lines[] = {
        "pid 4242 \xc2\xb7 thread MainThread (tid 4242)\n",
        "fib(n=3) \xe2\x86\x92 0  [",
        "\n\xe2\x94\x9c\xe2\x94\x80 fib(n=2) \xe2\x86\x92 0  [",
        "\n\xe2\x94\x82  \xe2\x94\x9c\xe2\x94\x80 fib(n=1) \xe2\x86\x92 1  [",
        "\n\xe2\x94\x82  \xe2\x94\x94\xe2\x94\x80 fib(n=0) \xe2\x86\x92 0  [",
        "\n\xe2\x94\x94\xe2\x94\x80 fib(n=1) \xe2\x86\x92 1  [",
        "\nParser.parse(n=7) !! ValueError: bad  [",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        int found = strstr(out, lines[i]) != NULL;
        CHECK(found);
        if (!found)
            fprintf(stderr, "missing %s in:\n%s", lines[i], out);
    }
    CHECK_INT(count_lines(out), 7);
    CHECK(strstr(out, "\033[") == NULL);

    const char *fargs[] = {db, "--function", "parse", "--no-color"};
    CHECK_INT(run_cmd(cs_cmd_show, fargs, 4, &out, NULL), 0);
    CHECK_INT(count_lines(out), 2);
    CHECK(strstr(out, "\nParser.parse(n=7)") != NULL);
    const char *gargs[] = {db, "--function", "demo.fib", "--max-depth", "1"};
    CHECK_INT(run_cmd(cs_cmd_show, gargs, 5, &out, NULL), 0);
    CHECK_INT(count_lines(out), 4);
    const char *largs[] = {db, "--limit", "2"};
    CHECK_INT(run_cmd(cs_cmd_show, largs, 3, &out, NULL), 0);
    CHECK(strstr(out, "--limit") != NULL);
    CHECK_INT(count_lines(out), 4);
    /* a process the recording does not have is said to be missing */
    const char *pargs[] = {db, "--pid", "1"};
    CHECK_INT(run_cmd(cs_cmd_show, pargs, 3, &out, NULL), 2);
    CHECK_STR(out, "");
}

static void test_show_jsonl(const char *db)
{
    const char *out;
    const char *args[] = {"--format", "jsonl", db, "--function", "Parser.*"};
    CHECK_INT(run_cmd(cs_cmd_show, args, 5, &out, NULL), 0);
    CHECK_INT(count_lines(out), 1);
    const char *keys[] = {"{\"id\":6,\"parent_id\":null,\"pid\":4242,\"tid\":4242,\"thread\":\"MainThread\",\"depth\":0,"
                          "\"function\":\"demo.Parser.parse\",\"module\":\"demo\",\"filename\":\"/demo.py\",\"lineno\":10,"
                          "\"start\":",
                          ",\"duration_ms\":", ",\"args\":{\"n\":\"7\"},\"return\":null,\"exception\":\"ValueError: bad\",\"resumed\":false,"
                          "\"yielded\":false}\n"};
    for (size_t i = 0; i < 3; i++)
        CHECK(strstr(out, keys[i]) != NULL);
}

static void test_stats(const char *db)
{
    const char *out;
    const char *args[] = {db, "--sort", "count"};
    CHECK_INT(run_cmd(cs_cmd_stats, args, 3, &out, NULL), 0);
    const char *header = "     count      total       self       mean        max  function\n";
    CHECK(strncmp(out, header, strlen(header)) == 0);
    CHECK(strstr(out, "\n         5 ") != NULL);
    CHECK(strstr(out, "demo.fib  /demo.py:3\n") != NULL);
    CHECK_INT(count_lines(out), 3);
    const char *jargs[] = {db, "--format", "jsonl", "--limit", "1", "--sort", "count"};
    CHECK_INT(run_cmd(cs_cmd_stats, jargs, 7, &out, NULL), 0);
    CHECK_INT(count_lines(out), 1);
    const char *first = "{\"function\":\"demo.fib\",\"module\":\"demo\",\"filename\":\"/demo.py\",\"lineno\":3,"
                        "\"count\":5,\"total_ms\":";
    CHECK(strncmp(out, first, strlen(first)) == 0);
}

static void test_errors(const char *db)
{
    const char *out, *err;
    const char *missing[] = {"/nonexistent/x.db"};
    CHECK_INT(run_cmd(cs_cmd_show, missing, 1, &out, &err), 1);
    CHECK_STR(err, "callscope: /nonexistent/x.db: no such file\n");
    FILE *f = fopen(out_path, "w");
    fputs("not a database at all, just some text that is long enough to be read as a header........"
          "...............................", f);
    fclose(f);
    const char *text[] = {out_path};
    char expect[256];
    snprintf(expect, sizeof expect, "callscope: %s is not a callscope database (not an SQLite file)\n", out_path);
    static char copy[128];
    snprintf(copy, sizeof copy, "%s", out_path);
    text[0] = copy;
    CHECK_INT(run_cmd(cs_cmd_stats, text, 1, &out, &err), 1);
    CHECK_STR(err, expect);
    const char *bad_opt[] = {db, "--bogus"};
    CHECK_INT(run_cmd(cs_cmd_show, bad_opt, 2, &out, &err), 2);
    CHECK_STR(err, "callscope: show: unknown option '--bogus' (see callscope show --help)\n");
    const char *bad_num[] = {db, "--limit", "ten"};
    CHECK_INT(run_cmd(cs_cmd_stats, bad_num, 3, &out, &err), 2);
    CHECK_STR(err, "callscope: --limit needs a count, not 'ten'\n");
    const char *no_val[] = {db, "--min-duration"};
    CHECK_INT(run_cmd(cs_cmd_show, no_val, 2, &out, &err), 2);
    CHECK_STR(err, "callscope: --min-duration needs a value\n");
    const char *bad_sort[] = {"--sort", "speed"};
    CHECK_INT(run_cmd(cs_cmd_stats, bad_sort, 2, &out, &err), 2);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    snprintf(out_path, sizeof out_path, "/tmp/callscope-present-%d.out", (int)getpid());
    const char *db = make_store();
    CHECK_RUN(test_show_tree(db));
    CHECK_RUN(test_show_jsonl(db));
    CHECK_RUN(test_stats(db));
    CHECK_RUN(test_errors(db));
    CHECK_RUN(test_filter_scans_leave_nothing_running());
    if (!getenv("KEEP_DB"))
        tu_remove_db(db);
    else
        printf("kept %s\n", db);
    unlink(out_path);
    return CHECK_REPORT("test_present");
}
