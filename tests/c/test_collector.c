/*
 * test_collector.c — the collector against real rings written the way a
 * producer writes them: call/return pairing, self time, exceptions,
 * generators, C calls, unfinished calls of a dead process, lost events,
 * filters, several threads over many chunks, and corrupt bytes.
 */
#include <signal.h>
#include <sys/wait.h>

#include "check.h"
#include "collector/value_cache.h"
#include "collector_util.h"
#include "store/store.h"

static const char *const ARGS_N[] = {"n", NULL};
static const char *const ARGS_AB[] = {"a", "b", NULL};

/* main() calls f(5) which calls g(1) and g(2); f returns 10. */
static void test_pairing_and_self_time(void)
{
    struct tu_recording r;
    tu_recording_open_thread(&r, 1 << 20, 101);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "__main__", "f", "/x/prog.py", 10, ARGS_N);
    tp_code(&r.p, 2, "__main__", "Klass.g", "/x/prog.py", 20, ARGS_AB);
    tp_call_int(&r.p, 1, t + 1000, 5);
    tp_begin(&r.p, EV_CALL), tp_varint(&r.p, 2), tp_at(&r.p, t + 2000), tp_dt(&r.p);
    tp_byte(&r.p, V_INT), tp_svarint(&r.p, 1), tp_byte(&r.p, V_STR), tp_varint(&r.p, 2), tp_str(&r.p, "hi");
    tp_end(&r.p);
    tp_return_int(&r.p, t + 5000, 1);
    tp_begin(&r.p, EV_CALL), tp_varint(&r.p, 2), tp_at(&r.p, t + 6000), tp_dt(&r.p);
    tp_byte(&r.p, V_INT), tp_svarint(&r.p, 2), tp_byte(&r.p, V_UNBOUND);
    tp_end(&r.p);
    tp_return_int(&r.p, t + 8000, 2);
    tp_return_int(&r.p, t + 11000, 10);
    tp_return_int(&r.p, t + 12000, 0); /* a frame entered before tracing: ignored */
    tp_seal(&r.p);

    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 3);
    CHECK_INT(tu_int(db, "SELECT value FROM meta WHERE key = 'calls'"), 3);
    CHECK_INT(tu_int(db, "SELECT value FROM meta WHERE key = 'finished'"), 1);
    CHECK_STR(tu_text(db, "SELECT value FROM meta WHERE key = 'format'"), "callscope");
    CHECK_STR(tu_text(db, "SELECT args FROM calls WHERE id = 1"), "{\"n\":\"5\"}");
    CHECK_STR(tu_text(db, "SELECT result FROM calls WHERE id = 1"), "10");
    CHECK_STR(tu_text(db, "SELECT args FROM calls WHERE id = 2"), "{\"a\":\"1\",\"b\":\"'hi'\"}");
    CHECK_STR(tu_text(db, "SELECT args FROM calls WHERE id = 3"), "{\"a\":\"2\",\"b\":\"<unbound>\"}");
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE parent_id = 1 AND depth = 1"), 2);
    CHECK_INT(tu_int(db, "SELECT parent_id IS NULL AND depth = 0 FROM calls WHERE id = 1"), 1);
    /* Self time is the duration less the callees' durations. */
    CHECK_INT(tu_int(db, "SELECT abs(p.self_ns - (p.duration_ns - (SELECT sum(duration_ns) FROM calls"
                         " WHERE parent_id = 1))) <= 2 FROM calls p WHERE id = 1"), 1);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE parent_id = 1 AND self_ns = duration_ns"), 2);
    /* 10000 ticks against 3000 + 2000 in callees, whatever the tick rate. */
    CHECK_INT(tu_int(db, "SELECT abs(duration_ns * 1000 / self_ns - 2000) <= 2 FROM calls WHERE id = 1"), 1);
    CHECK_INT(tu_int(db, "SELECT start_ns < (SELECT start_ns FROM calls WHERE id = 2) FROM calls WHERE id = 1"), 1);
    CHECK_STR(tu_text(db, "SELECT name FROM functions WHERE id = 2"), "__main__.Klass.g");
    CHECK_STR(tu_text(db, "SELECT arg_names FROM functions WHERE id = 2"), "[\"a\",\"b\"]");
    CHECK_STR(tu_text(db, "SELECT kind || ' ' || filename || ':' || lineno FROM functions WHERE id = 1"),
              "python /x/prog.py:10");
    CHECK_INT(tu_int(db, "SELECT tid FROM threads"), 101);
    CHECK_STR(tu_text(db, "SELECT function || ' ' || thread_id FROM (SELECT function, tid AS thread_id FROM call_view WHERE id = 3)"),
              "__main__.Klass.g 101");
    CHECK_INT(tu_int(db, "SELECT abs(start - (SELECT value FROM meta WHERE key = 'started_wall_ns') / 1e9) < 1"
                         " FROM call_view WHERE id = 1"), 1);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* Exceptions, generators, C functions, thread names, logs, EV_STOP. */
static void test_kinds_of_ends(void)
{
    struct tu_recording r;
    tu_recording_open_thread(&r, 1 << 20, 7);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "app", "fail", "/app.py", 1, NULL);
    tp_code(&r.p, 2, "app", "gen", "/app.py", 5, ARGS_N);
    tp_begin(&r.p, EV_CFUNC), tp_varint(&r.p, 3), tp_str(&r.p, "builtins"), tp_str(&r.p, "len"), tp_end(&r.p);
    tp_begin(&r.p, EV_THREAD_NAME), tp_varint(&r.p, 7), tp_str(&r.p, "MainThread"), tp_end(&r.p);

    tp_enter(&r.p, EV_CALL_BARE, 1, t + 10);
    tp_enter(&r.p, EV_CCALL, 3, t + 20);
    tp_timed(&r.p, EV_CRETURN, t + 30);
    tp_enter(&r.p, EV_CCALL, 3, t + 40);
    tp_timed(&r.p, EV_CRAISE, t + 50);
    tp_begin(&r.p, EV_LOG), tp_at(&r.p, t + 55), tp_dt(&r.p), tp_str(&r.p, "hello");
    size_t fields = tp_open_container(&r.p, V_DICT);
    tp_varint(&r.p, 1), tp_varint(&r.p, 1), tp_byte(&r.p, V_STR), tp_varint(&r.p, 1), tp_str(&r.p, "k");
    tp_byte(&r.p, V_INT), tp_svarint(&r.p, 3), tp_close_container(&r.p, fields), tp_end(&r.p);
    tp_begin(&r.p, EV_UNWIND), tp_at(&r.p, t + 60), tp_dt(&r.p), tp_str(&r.p, "ValueError");
    tp_byte(&r.p, V_STR), tp_varint(&r.p, 9), tp_str(&r.p, "bad 'n' 5"), tp_end(&r.p);

    tp_call_int(&r.p, 2, t + 100, 3); /* first run of a generator, until its first yield */
    tp_begin(&r.p, EV_YIELD), tp_at(&r.p, t + 110), tp_dt(&r.p), tp_byte(&r.p, V_INT), tp_svarint(&r.p, 0), tp_end(&r.p);
    tp_enter(&r.p, EV_RESUME, 2, t + 120);
    tp_begin(&r.p, EV_YIELD), tp_at(&r.p, t + 130), tp_dt(&r.p), tp_byte(&r.p, V_INT), tp_svarint(&r.p, 1), tp_end(&r.p);
    tp_enter(&r.p, EV_RESUME, 2, t + 140);
    tp_begin(&r.p, EV_UNWIND), tp_at(&r.p, t + 150), tp_dt(&r.p), tp_str(&r.p, "StopIteration");
    size_t no_args = tp_open_container(&r.p, V_TUPLE);
    tp_varint(&r.p, 0), tp_varint(&r.p, 0), tp_close_container(&r.p, no_args), tp_end(&r.p);

    tp_enter(&r.p, EV_CALL_BARE, 1, t + 200);
    tp_enter(&r.p, EV_CALL_BARE, 1, t + 210);
    tp_timed(&r.p, EV_STOP, t + 220);
    tp_seal(&r.p);

    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 8);
    CHECK_STR(tu_text(db, "SELECT exception FROM calls WHERE id = 1"), "ValueError: bad 'n' 5");
    CHECK_STR(tu_text(db, "SELECT coalesce(args, 'NULL') FROM calls WHERE id = 1"), "NULL");
    CHECK_INT(tu_int(db, "SELECT flags FROM calls WHERE id = 2"), 4);
    CHECK_STR(tu_text(db, "SELECT exception FROM calls WHERE id = 3"), "<unknown exception>");
    CHECK_STR(tu_text(db, "SELECT kind || ' ' || name FROM functions WHERE id = 3"), "builtin builtins.len");
    CHECK_INT(tu_int(db, "SELECT flags FROM calls WHERE id = 4"), 2);
    CHECK_STR(tu_text(db, "SELECT args FROM calls WHERE id = 4"), "{\"n\":\"3\"}");
    CHECK_INT(tu_int(db, "SELECT flags FROM calls WHERE id = 5"), 3);
    CHECK_STR(tu_text(db, "SELECT result FROM calls WHERE id = 5"), "1");
    CHECK_INT(tu_int(db, "SELECT flags FROM calls WHERE id = 6"), 1);
    CHECK_STR(tu_text(db, "SELECT exception FROM calls WHERE id = 6"), "StopIteration");
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE id IN (7, 8) AND duration_ns IS NULL"
                         " AND self_ns IS NULL"), 2);
    CHECK_STR(tu_text(db, "SELECT name FROM threads"), "MainThread");
    CHECK_STR(tu_text(db, "SELECT message || ' ' || fields || ' ' || call_id FROM logs"),
              "hello {\"k\":\"3\"} 1");
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* A child process writes two calls and dies without sealing its chunk. */
static void test_dead_producer(void)
{
    struct tu_recording r;
    tu_recording_open(&r, 1 << 20);
    pid_t child = fork();
    if (child == 0) {
        uint64_t t = r.t0;
        tp_open(&r.p, &r.ring, (uint32_t)getpid(), (uint64_t)getpid(), t);
        tp_code(&r.p, 1, "m", "outer", "/m.py", 1, ARGS_N);
        tp_call_int(&r.p, 1, t + 10, 1);
        tp_call_int(&r.p, 1, t + 20, 2);
        tp_call_int(&r.p, 1, t + 30, 3);
        tp_return_int(&r.p, t + 40, 3);
        _exit(0); /* chunk left OWNED */
    }
    int status;
    waitpid(child, &status, 0);
    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 3);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE duration_ns IS NULL"), 2);
    CHECK_STR(tu_text(db, "SELECT result FROM calls WHERE duration_ns IS NOT NULL"), "3");
    CHECK_INT(tu_int(db, "SELECT pid FROM threads"), child);
    CHECK_INT(tu_int(db, "SELECT parent_pid FROM processes"), 1);
    sqlite3_close(db);
    tu_recording_close(&r);
}

static void lost(struct test_producer *p, uint64_t count, uint64_t depth, uint64_t low)
{
    tp_begin(p, EV_LOST);
    tp_varint(p, count);
    tp_varint(p, depth);
    tp_varint(p, low);
    tp_end(p);
}

static void test_lost_events(void)
{
    struct tu_recording r;
    tu_recording_open_thread(&r, 1 << 20, 1);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "m", "f", "/m.py", 1, ARGS_N);
    tp_call_int(&r.p, 1, t + 10, 0);  /* id 1, stays */
    tp_call_int(&r.p, 1, t + 20, 1);  /* id 2, dropped by the loss */
    tp_call_int(&r.p, 1, t + 30, 2);  /* id 3, dropped */
    lost(&r.p, 5, 1, 1);
    tp_call_int(&r.p, 1, t + 40, 3);  /* id 4: child of 1 */
    tp_return_int(&r.p, t + 50, 3);
    lost(&r.p, 7, 3, 1);              /* two frames we never saw */
    tp_call_int(&r.p, 1, t + 60, 4);  /* depth 3, parent unknown */
    tp_return_int(&r.p, t + 70, 4);
    tp_return_int(&r.p, t + 80, 0);   /* placeholder: no row */
    tp_return_int(&r.p, t + 90, 0);   /* placeholder: no row */
    tp_return_int(&r.p, t + 100, 0);  /* id 1 */
    tp_seal(&r.p);
    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 5);
    CHECK_INT(tu_int(db, "SELECT sum(count) FROM lost"), 12);
    CHECK_INT(tu_int(db, "SELECT value FROM meta WHERE key = 'lost_events'"), 12);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE duration_ns IS NULL AND flags & 8"), 2);
    CHECK_INT(tu_int(db, "SELECT parent_id FROM calls WHERE args = '{\"n\":\"3\"}'"), 1);
    CHECK_INT(tu_int(db, "SELECT (parent_id IS NULL) + 10 * depth + 100 * (flags & 8 != 0)"
                         " FROM calls WHERE args = '{\"n\":\"4\"}'"), 131);
    CHECK_INT(tu_int(db, "SELECT duration_ns IS NOT NULL AND flags & 8 FROM calls WHERE id = 1"), 1);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* A call's return and the next call at its depth are both lost: the depth
 * is back where it was, but the call seen before the gap has ended, and
 * the one seen after it hangs from a frame nobody saw, not from it. */
static void test_lost_return_and_call_at_one_depth(void)
{
    struct tu_recording r;
    tu_recording_open_thread(&r, 1 << 20, 1);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "m", "f", "/m.py", 1, ARGS_N);
    tp_call_int(&r.p, 1, t + 10, 0);  /* the root */
    tp_call_int(&r.p, 1, t + 20, 1);  /* its return is lost */
    lost(&r.p, 2, 2, 1);              /* that return, and a call at depth 2 */
    tp_call_int(&r.p, 1, t + 40, 2);  /* depth 3, under the call lost */
    tp_return_int(&r.p, t + 50, 2);
    tp_return_int(&r.p, t + 60, 7);   /* the call lost: a placeholder */
    tp_return_int(&r.p, t + 70, 0);   /* the root */
    tp_seal(&r.p);
    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 3);
    CHECK_INT(tu_int(db, "SELECT (duration_ns IS NULL) + 10 * (flags & 8 != 0) + 100 * parent_id"
                         " FROM calls WHERE args = '{\"n\":\"1\"}'"), 111);
    CHECK_INT(tu_int(db, "SELECT (parent_id IS NULL) + 10 * depth"
                         " FROM calls WHERE args = '{\"n\":\"2\"}'"), 21);
    CHECK_STR(tu_text(db, "SELECT result FROM calls WHERE args = '{\"n\":\"0\"}'"), "0");
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE result = '7'"), 0);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* fib(n) written as events: returns the next free tick. */
static uint64_t fib_events(struct test_producer *p, uint64_t id, int n, uint64_t at, int64_t *result)
{
    tp_call_int(p, id, at, n);
    at += 10;
    int64_t r = n;
    if (n >= 2) {
        int64_t a, b;
        at = fib_events(p, id, n - 1, at, &a);
        at = fib_events(p, id, n - 2, at, &b);
        r = a + b;
    }
    at += 10;
    tp_return_int(p, at, r);
    *result = r;
    return at + 1;
}

static void test_filters(void)
{
    struct tu_recording r;
    tu_recording_open_thread(&r, 1 << 20, 1);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "m", "fib", "/m.py", 1, ARGS_N);
    int64_t fib10;
    fib_events(&r.p, 1, 10, t + 10, &fib10); /* 177 calls */
    tp_seal(&r.p);
    CHECK_INT(fib10, 55);

    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 177);
    CHECK_STR(tu_text(db, "SELECT result FROM calls WHERE depth = 0"), "55");
    CHECK_INT(tu_int(db, "SELECT max(depth) FROM calls"), 9);
    long long min_fib3 = tu_int(db, "SELECT min(duration_ns) FROM calls WHERE args = '{\"n\":\"3\"}'");
    long long n_long = tu_int(db, "SELECT count(*) FROM calls WHERE duration_ns >= (SELECT min(duration_ns)"
                                  " FROM calls WHERE args = '{\"n\":\"3\"}')");
    sqlite3_close(db);

    /* Refill the same events for each option. */
    struct { int max_depth; int64_t min_ns, max_calls; long long expect; } cases[] = {
        {2, 0, 0, 7}, {0, 0, 0, 1}, {-1, min_fib3, 0, n_long}, {-1, 0, 50, 50},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tp_open(&r.p, &r.ring, (uint32_t)getpid(), 1, t);
        tp_code(&r.p, 1, "m", "fib", "/m.py", 1, ARGS_N);
        fib_events(&r.p, 1, 10, t + 10, &fib10);
        tp_seal(&r.p);
        struct cs_collector_options o = tu_options(r.path);
        o.max_depth = cases[i].max_depth;
        o.min_duration_ns = cases[i].min_ns;
        o.max_calls = cases[i].max_calls;
        db = tu_collect(&r.ring, &o);
        CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), cases[i].expect);
        CHECK_INT(tu_int(db, "SELECT value FROM meta WHERE key = 'calls'"), cases[i].expect);
        if (cases[i].max_calls) /* the newest are kept */
            CHECK_INT(tu_int(db, "SELECT max(id) - min(id) + 1 FROM calls"), 50);
        sqlite3_close(db);
    }
    tu_recording_close(&r);
}

/* Two threads interleaved over many chunks: each thread's events arrive in
 * order and pair up, whatever the order the chunks sit in the ring. */
static void test_many_chunks_two_threads(void)
{
    struct tu_recording r;
    tu_recording_open(&r, 8 << 20);
    struct test_producer a, b;
    uint64_t t = r.t0;
    tp_open(&a, &r.ring, (uint32_t)getpid(), 1, t);
    tp_open(&b, &r.ring, (uint32_t)getpid(), 2, t);
    tp_code(&a, 1, "m", "fib", "/m.py", 1, ARGS_N);
    tp_code(&b, 1, "m", "fib", "/m.py", 1, ARGS_N);
    int64_t ra, rb;
    uint64_t ta = t + 10, tb = t + 10;
    long long total = 0;
    for (int round = 0; round < 20; round++) {
        ta = fib_events(&a, 1, 12, ta, &ra); /* 465 calls, ~5 KB each */
        tb = fib_events(&b, 1, 11, tb, &rb); /* 287 calls */
        total += 465 + 287;
    }
    tp_seal(&a);
    tp_seal(&b);
    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), total);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE duration_ns IS NULL"), 0);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE depth = 0 AND result = '144'"), 20);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE depth = 0 AND result = '89'"), 20);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls c JOIN calls p ON p.id = c.parent_id"
                         " WHERE p.thread_id != c.thread_id OR p.depth != c.depth - 1"), 0);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM threads"), 2);
    CHECK_INT(tu_int(db, "SELECT value FROM meta WHERE key = 'decode_errors'"), 0);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* Garbage in the middle of a chunk: the rest of that chunk is dropped and
 * counted; the next chunk of the stream is read again. */
static void test_corrupt_bytes(void)
{
    struct tu_recording r;
    tu_recording_open_thread(&r, 1 << 20, 1);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "m", "f", "/m.py", 1, ARGS_N);
    tp_call_int(&r.p, 1, t + 10, 1);
    tp_return_int(&r.p, t + 20, 1);
    tp_begin(&r.p, 0x7f), tp_u64(&r.p, 0xdeadbeefdeadbeefull), tp_end(&r.p); /* unknown tag */
    tp_call_int(&r.p, 1, t + 30, 2); /* lost with the rest of the chunk */
    tp_return_int(&r.p, t + 40, 2);
    tp_next_chunk(&r.p);
    tp_call_int(&r.p, 1, t + 50, 3);
    tp_begin(&r.p, EV_RETURN), tp_at(&r.p, t + 60), tp_dt(&r.p);
    size_t list = tp_open_container(&r.p, V_LIST);
    tp_varint(&r.p, 1), tp_varint(&r.p, 1000000); /* claims a million items that are not there */
    tp_close_container(&r.p, list), tp_end(&r.p);
    tp_next_chunk(&r.p);
    tp_begin(&r.p, EV_CALL), tp_varint(&r.p, 99), tp_at(&r.p, t + 70), tp_dt(&r.p), tp_end(&r.p); /* undefined id */
    tp_next_chunk(&r.p);
    tp_call_int(&r.p, 1, t + 80, 4);
    tp_return_int(&r.p, t + 90, 4);
    tp_seal(&r.p);
    /* Random bytes in a stream of their own. */
    struct test_producer q;
    tp_open(&q, &r.ring, (uint32_t)getpid(), 2, t);
    srand(7);
    for (int i = 0; i < 200; i++) {
        tp_begin(&q, rand() % 0x24);
        for (int k = rand() % 30; k > 0; k--)
            tp_byte(&q, rand() % 256);
        tp_end(&q);
        if (i % 50 == 0)
            tp_next_chunk(&q);
    }
    tp_seal(&q);
    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE thread_id = 1 AND duration_ns IS NOT NULL"), 2);
    CHECK_STR(tu_text(db, "SELECT group_concat(result) FROM calls WHERE thread_id = 1 AND duration_ns IS NOT NULL"),
              "1,4");
    CHECK(tu_int(db, "SELECT value FROM meta WHERE key = 'decode_errors'") >= 3);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* The ring fills up: the collector steps while the producer waits, as in a
 * real run, and nothing is lost or reordered. */
static void test_ring_wraps(void)
{
    struct tu_recording r;
    tu_recording_open(&r, 4 * CS_RING_DEFAULT_CHUNK);
    struct cs_collector_options o = tu_options(r.path);
    char err[256];
    struct cs_collector *c = cs_collector_open(&r.ring, &o, err, sizeof err);
    CHECK(c != NULL);
    uint64_t t = r.t0;
    tp_open(&r.p, &r.ring, (uint32_t)getpid(), 1, t);
    tp_code(&r.p, 1, "m", "f", "/m.py", 1, ARGS_N);
    long written = 0;
    for (int i = 0; i < 100000; i++) {
        tp_call_int(&r.p, 1, t + 10, i);
        while (r.p.full) {
            written += cs_collector_step(c, err, sizeof err);
            tp_end(&r.p);
        }
        tp_return_int(&r.p, t + 20, i);
        while (r.p.full) {
            written += cs_collector_step(c, err, sizeof err);
            tp_end(&r.p);
        }
        t += 20;
    }
    tp_seal(&r.p);
    written += cs_collector_step(c, err, sizeof err);
    CHECK_INT(cs_collector_finish(c, err, sizeof err), 0);
    struct cs_collector_totals totals;
    cs_collector_totals(c, &totals);
    CHECK_INT(totals.calls, 100000);
    CHECK_INT(totals.threads, 1);
    CHECK_INT(written, 100000);
    cs_collector_free(c);
    sqlite3 *db;
    sqlite3_open_v2(r.path, &db, SQLITE_OPEN_READONLY, NULL);
    cs_store_register_modules(db);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE args = json_object('n', result)"), 100000);
    CHECK_INT(tu_int(db, "SELECT count(DISTINCT result) FROM calls"), 100000);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* f(doc, k) is called four times with the same long document and returns
 * the same long string twice: each value is stored once, in vals, except a
 * result met for the first time, which stays inline; and both the calls
 * view and the readers' cs_args()/cs_val() put the text back. */
static void test_shared_values(void)
{
    static const char *const ARGS_DOC[] = {"doc", "k", NULL};
    static const char DOC[] = "a document long enough to be worth sharing: [1, 2, 3]";
    static const char RES[] = "a result long enough to be worth sharing";
    struct tu_recording r;
    tu_recording_open_thread(&r, 1 << 20, 101);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "__main__", "f", "/x/prog.py", 10, ARGS_DOC);
    for (int i = 0; i < 4; i++) {
        tp_begin(&r.p, EV_CALL), tp_varint(&r.p, 1), tp_at(&r.p, t + 1000 + 100 * (uint64_t)i), tp_dt(&r.p);
        tp_byte(&r.p, V_STR), tp_varint(&r.p, strlen(DOC)), tp_str(&r.p, DOC);
        tp_byte(&r.p, V_INT), tp_svarint(&r.p, i);
        tp_end(&r.p);
        tp_begin(&r.p, EV_RETURN), tp_at(&r.p, t + 1050 + 100 * (uint64_t)i), tp_dt(&r.p);
        if (i % 2)
            tp_byte(&r.p, V_STR), tp_varint(&r.p, strlen(RES)), tp_str(&r.p, RES);
        else
            tp_byte(&r.p, V_INT), tp_svarint(&r.p, i);
        tp_end(&r.p);
    }
    tp_seal(&r.p);

    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 4);
    for (int i = 1; i <= 4; i++) {
        char sql[128], want[256];
        snprintf(sql, sizeof sql, "SELECT args FROM calls WHERE id = %d", i);
        snprintf(want, sizeof want, "{\"doc\":\"'%s'\",\"k\":\"%d\"}", DOC, i - 1);
        CHECK_STR(tu_text(db, sql), want);
    }
    CHECK_STR(tu_text(db, "SELECT group_concat(result, '|') FROM calls"),
              "0|'a result long enough to be worth sharing'|2|'a result long enough to be worth sharing'");
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE json_extract(args, '$.doc') LIKE '''a document%'"), 4);
    /* Each value other than an int is stored once, ints inline; a result
     * met once would be inline too, but this one came back while the first
     * call's row still waited, so both refer to its row. */
    CHECK_INT(tu_int(db, "SELECT count(*) FROM vals"), 2);
    CHECK_STR(tu_text(db, "SELECT group_concat(args, ' ') FROM call_rows"), "[1,\"0\"] [1,\"1\"] [1,\"2\"] [1,\"3\"]");
    CHECK_STR(tu_text(db, "SELECT group_concat(typeof(result), ' ') FROM call_rows"), "text integer text integer");
    /* the skip index holds the args as stored, ids and inline texts alike */
    CHECK_INT(tu_args_missing_from_blocks(db), 0);
    sqlite3_close(db);
    /* A reader's connection expands ids in C, to the same text as the view. */
    char err[256];
    db = cs_store_open_readonly(r.path, err, sizeof err);
    CHECK(db != NULL);
    if (db) {
        CHECK_STR(tu_text(db, "SELECT group_concat(cs_args(args, function_id) = (SELECT args FROM calls v"
                              " WHERE v.id = r.id), ' ') FROM call_rows r"), "1 1 1 1");
        CHECK_STR(tu_text(db, "SELECT group_concat(cs_val(result), '|') FROM call_rows"),
                  "0|'a result long enough to be worth sharing'|2|'a result long enough to be worth sharing'");
        CHECK_STR(tu_text(db, "SELECT cs_args(NULL, 1)"), "<null>");
        /* a result's type: its vals row's, or read from the text kept inline */
        CHECK_STR(tu_text(db, "SELECT group_concat(cs_val_type(result), '|') FROM call_rows"), "int|str|int|str");
        CHECK_STR(tu_text(db, "SELECT cs_val_type('None') || cs_val_type('False') || cs_val_type('-12') ||"
                              " cs_val_type('2.5e-3') || cs_val_type('-inf') || cs_val_type('b''x''') ||"
                              " cs_val_type('[1, 2]') || cs_val_type('(1,)') || cs_val_type('''s''')"),
                  "NoneTypeboolintfloatfloatbyteslisttuplestr");
        CHECK_STR(tu_text(db, "SELECT cs_val_type('<app.models.User object at 0x7f00>')"), "app.models.User");
        CHECK_STR(tu_text(db, "SELECT coalesce(cs_val_type('<User 3>'), 'unknown') ||"
                              " coalesce(cs_val_type('{1: 2}'), ' unknown')"), "unknown unknown");
        cs_store_close_readonly(db);
    }
    tu_recording_close(&r);
}

/* g() returns a string met for the first time: it stays inline in g's
 * row, with no vals row. The same string returned again after 100,000
 * other calls (the first row long written) gets a vals row, and the first
 * row keeps its text; one returned by g() and again by its caller right
 * away (a wrapper) is one vals row that both rows refer to. */
static void test_results_met_once_stay_inline(void)
{
    static const char *const NO_ARGS[] = {NULL};
    static const char ONCE[] = "a string returned once";
    static const char LATER[] = "a string returned again much later";
    static const char UP[] = "a string passed up by the caller";
    struct tu_recording r;
    tu_recording_open_thread(&r, 64 << 20, 101);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "__main__", "g", "/x/prog.py", 10, NO_ARGS);
    tp_code(&r.p, 2, "__main__", "wrapper", "/x/prog.py", 20, NO_ARGS);
    const char *returned[] = {ONCE, LATER, NULL, LATER};
    for (int i = 0; i < 4; i++) {
        if (!returned[i]) { /* 100,000 calls returning ints in between */
            for (int k = 0; k < 100000; k++) {
                tp_begin(&r.p, EV_CALL), tp_varint(&r.p, 1), tp_at(&r.p, t += 10), tp_dt(&r.p), tp_end(&r.p);
                tp_begin(&r.p, EV_RETURN), tp_at(&r.p, t += 10), tp_dt(&r.p), tp_byte(&r.p, V_INT), tp_svarint(&r.p, k), tp_end(&r.p);
            }
            continue;
        }
        tp_call(&r.p, 1, t += 10);
        tp_return_str(&r.p, t += 10, returned[i]);
    }
    tp_call(&r.p, 2, t += 10);
    tp_call(&r.p, 1, t += 10);
    for (int i = 0; i < 2; i++)
        tp_return_str(&r.p, t += 10, UP);
    tp_seal(&r.p);

    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 100005);
    CHECK_STR(tu_text(db, "SELECT group_concat(text, '|') FROM vals"),
              "'a string returned again much later'|'a string passed up by the caller'");
    CHECK_STR(tu_text(db, "SELECT group_concat(typeof(r.result) || ' ' || c.result, '|') FROM call_rows r"
                          " JOIN calls c ON c.id = r.id WHERE c.result NOT GLOB '[0-9]*'"),
              "text 'a string returned once'|text 'a string returned again much later'|"
              "integer 'a string returned again much later'|integer 'a string passed up by the caller'|"
              "integer 'a string passed up by the caller'");
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* A getter that returns one of two strings, and a value passed up through
 * three callers: each value is one vals row, and every row shows its own
 * result (whether it was found by its function's last result, the thread's,
 * or the value cache). */
static void test_results_returned_again_and_passed_up(void)
{
    static const char *const NO_ARGS[] = {NULL};
    static const char *const VALUES[] = {"the first setting", "the second setting"};
    static const char UP[] = "passed up through three callers";
    struct tu_recording r;
    tu_recording_open_thread(&r, 1 << 20, 101);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "__main__", "get", "/x/prog.py", 10, NO_ARGS);
    tp_code(&r.p, 2, "__main__", "wrap", "/x/prog.py", 20, NO_ARGS);
    for (int i = 0; i < 100; i++) {
        tp_call(&r.p, 1, t += 10);
        tp_return_str(&r.p, t += 10, VALUES[(i / 10) % 2]); /* ten times one, ten times the other */
    }
    for (int i = 0; i < 3; i++)
        tp_call(&r.p, 2, t += 10);
    tp_call(&r.p, 1, t += 10);
    for (int i = 0; i < 4; i++)
        tp_return_str(&r.p, t += 10, UP);
    tp_seal(&r.p);

    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM vals"), 3);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE result = '''the first setting'''"), 50);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE result = '''the second setting'''"), 50);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE result = '''passed up through three callers'''"), 4);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM call_rows WHERE typeof(result) = 'integer'"), 104);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* make() returns 1,000 new strings, then cycles through three: the
 * first ones are kept inline without asking the value cache, every row
 * still shows its own result, and once make() returns known values again
 * it is noticed: each of the three is one vals row that most of the later
 * rows refer to. */
static void test_new_results_then_known_ones(void)
{
    static const char *const NO_ARGS[] = {NULL};
    static const char *const CYCLE[] = {"the red one", "the green one", "the blue one"};
    struct tu_recording r;
    tu_recording_open_thread(&r, 4 << 20, 101);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "__main__", "make", "/x/prog.py", 10, NO_ARGS);
    char text[64];
    for (int i = 0; i < 2000; i++) {
        if (i < 1000)
            snprintf(text, sizeof text, "new value %d", i);
        tp_call(&r.p, 1, t += 10);
        tp_return_str(&r.p, t += 10, i < 1000 ? text : CYCLE[i % 3]);
    }
    tp_seal(&r.p);

    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 2000);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE result = '''new value ' || (id - 1) || ''''"), 1000);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls WHERE id > 1000 AND result = CASE (id - 1) % 3"
                         " WHEN 0 THEN '''the red one''' WHEN 1 THEN '''the green one''' ELSE '''the blue one''' END"),
              1000);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM vals"), 3);
    CHECK(tu_int(db, "SELECT count(*) FROM call_rows WHERE id > 1000 AND typeof(result) = 'integer'") >= 800);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* make() returns a new string at each call, and wrap(), its caller,
 * returns it, or at every third call a string that begins as make()'s
 * does but is longer: rendered straight from the events (make() and
 * wrap() both skip the value cache), every row still shows its own
 * result, whether it was rendered again or copied from the one before. */
static void test_results_passed_up(void)
{
    static const char *const NO_ARGS[] = {NULL};
    struct tu_recording r;
    tu_recording_open_thread(&r, 4 << 20, 101);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "__main__", "wrap", "/x/prog.py", 10, NO_ARGS);
    tp_code(&r.p, 2, "__main__", "make", "/x/prog.py", 20, NO_ARGS);
    char text[64], longer[80];
    for (int i = 0; i < 3000; i++) {
        snprintf(text, sizeof text, "value %d", i);
        snprintf(longer, sizeof longer, "value %d and more", i);
        tp_call(&r.p, 1, t += 10);
        tp_call(&r.p, 2, t += 10);
        tp_return_str(&r.p, t += 10, text);
        tp_return_str(&r.p, t += 10, i % 3 == 2 ? longer : text);
    }
    tp_seal(&r.p);

    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 6000);
    /* call 2i+1 is wrap's i-th, call 2i+2 make's */
    CHECK_INT(tu_int(db, "SELECT count(*) FROM call_view WHERE function = '__main__.make'"
                         " AND result = '''value ' || (id / 2 - 1) || ''''"),
              3000);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM call_view WHERE function = '__main__.wrap' AND result = '''value '"
                         " || ((id - 1) / 2) || CASE ((id - 1) / 2) % 3 WHEN 2 THEN ' and more' ELSE '' END"
                         " || ''''"),
              3000);
    /* kept inline, as text, not as vals rows */
    CHECK(tu_int(db, "SELECT count(*) FROM call_rows WHERE typeof(result) = 'text'") >= 5000);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* f(doc, key) gets the same document each time and a new key: the
 * document is found by comparing it with f's previous one, never by the
 * value cache, yet the cache keeps it known across its turns, so h(doc)
 * after 300,000 new values (two turns) still refers to its one vals row. */
static void test_repeated_arguments(void)
{
    static const char *const ARGS_F[] = {"doc", "key", NULL};
    static const char *const ARGS_H[] = {"doc", NULL};
    static const char DOC[] = "the document every call of f gets";
    struct tu_recording r;
    tu_recording_open_thread(&r, 64 << 20, 101);
    uint64_t t = r.t0;
    tp_code(&r.p, 1, "__main__", "f", "/x/prog.py", 10, ARGS_F);
    tp_code(&r.p, 2, "__main__", "h", "/x/prog.py", 20, ARGS_H);
    char key[32];
    for (int i = 0; i < 300000; i++) {
        int n = snprintf(key, sizeof key, "key %d", i);
        tp_begin(&r.p, EV_CALL), tp_varint(&r.p, 1), tp_at(&r.p, t += 10), tp_dt(&r.p);
        tp_byte(&r.p, V_STR), tp_varint(&r.p, strlen(DOC)), tp_str(&r.p, DOC);
        tp_byte(&r.p, V_STR), tp_varint(&r.p, (uint64_t)n), tp_str(&r.p, key);
        tp_end(&r.p);
        tp_begin(&r.p, EV_RETURN), tp_at(&r.p, t += 10), tp_dt(&r.p), tp_byte(&r.p, V_NONE), tp_end(&r.p);
    }
    tp_begin(&r.p, EV_CALL), tp_varint(&r.p, 2), tp_at(&r.p, t += 10), tp_dt(&r.p);
    tp_byte(&r.p, V_STR), tp_varint(&r.p, strlen(DOC)), tp_str(&r.p, DOC), tp_end(&r.p);
    tp_begin(&r.p, EV_RETURN), tp_at(&r.p, t += 10), tp_dt(&r.p), tp_byte(&r.p, V_NONE), tp_end(&r.p);
    tp_seal(&r.p);

    sqlite3 *db = tu_recording_collect(&r);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM calls"), 300001);
    CHECK_INT(tu_int(db, "SELECT count(*) FROM vals WHERE text = '''the document every call of f gets'''"), 1);
    CHECK_INT(tu_int(db, "SELECT count(DISTINCT json_extract(args, '$[0]')) FROM call_rows"), 1);
    CHECK_STR(tu_text(db, "SELECT args FROM calls WHERE id = 300000"),
              "{\"doc\":\"'the document every call of f gets'\",\"key\":\"'key 299999'\"}");
    CHECK_STR(tu_text(db, "SELECT args FROM calls WHERE id = 300001"), "{\"doc\":\"'the document every call of f gets'\"}");
    CHECK_INT(tu_args_missing_from_blocks(db), 0);
    sqlite3_close(db);
    tu_recording_close(&r);
}

/* The value cache's answers: new, met once (kept inline), or an id; and a
 * value met once is still known as such after the tables turned over. */
static void test_value_cache(void)
{
    struct cs_value_cache *vc = cs_value_cache_new();
    CHECK(vc != NULL);
    if (!vc)
        return;
    int64_t held_by = -1;
    CHECK_INT(cs_value_cache_find(vc, "a", 1, &held_by), 0);
    CHECK_INT(held_by, 0);
    CHECK_INT(cs_value_cache_add(vc, "a", 1), 1);
    CHECK_INT(cs_value_cache_find(vc, "a", 1, &held_by), 1);
    CHECK_INT(cs_value_cache_find(vc, "b", 1, &held_by), 0);
    cs_value_cache_add_inline(vc, "b", 1, 70);
    CHECK_INT(cs_value_cache_find(vc, "b", 1, &held_by), 0);
    CHECK_INT(held_by, 70);
    CHECK_INT(cs_value_cache_add(vc, "b", 1), 2);
    CHECK_INT(cs_value_cache_find(vc, "b", 1, &held_by), 2);
    CHECK_INT(cs_value_cache_find(vc, "c", 1, &held_by), 0);
    cs_value_cache_add_inline(vc, "c", 1, 71);
    char key[32];
    for (int i = 0; i < 140000; i++) { /* more than one table holds */
        int n = snprintf(key, sizeof key, "value %d", i);
        if (cs_value_cache_find(vc, key, (size_t)n, &held_by) == 0 && !held_by)
            cs_value_cache_add_inline(vc, key, (size_t)n, 100 + i);
    }
    CHECK_INT(cs_value_cache_find(vc, "c", 1, &held_by), 0);
    CHECK_INT(held_by, 71);
    CHECK_INT(cs_value_cache_add(vc, "c", 1), 3);
    CHECK_INT(cs_value_cache_find(vc, "c", 1, &held_by), 3);
    CHECK_INT(cs_value_cache_find(vc, "a", 1, &held_by), 1);
    cs_value_cache_free(vc);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    CHECK_RUN(test_pairing_and_self_time());
    CHECK_RUN(test_kinds_of_ends());
    CHECK_RUN(test_dead_producer());
    CHECK_RUN(test_lost_events());
    CHECK_RUN(test_lost_return_and_call_at_one_depth());
    CHECK_RUN(test_filters());
    CHECK_RUN(test_many_chunks_two_threads());
    CHECK_RUN(test_corrupt_bytes());
    CHECK_RUN(test_ring_wraps());
    CHECK_RUN(test_shared_values());
    CHECK_RUN(test_value_cache());
    CHECK_RUN(test_results_met_once_stay_inline());
    CHECK_RUN(test_results_returned_again_and_passed_up());
    CHECK_RUN(test_new_results_then_known_ones());
    CHECK_RUN(test_results_passed_up());
    CHECK_RUN(test_repeated_arguments());
    return CHECK_REPORT("test_collector");
}
