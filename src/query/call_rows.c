/*
 * call_rows.c — threads in walking order and the JSON line of a call (see
 * call_rows.h).
 */
#include "query/call_rows.h"

#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "query/common.h"
#include "util/json.h"

int cs_load_threads(sqlite3 *db, long long pid, long long tid, struct cs_thread_info **out, size_t *n)
{
    sqlite3_stmt *st;
    /* Threads in the order their first call started. A thread's calls are
     * in start order by id, so its first row is its first call: the scan
     * for it stops there instead of reading every call (a thread without
     * calls still costs one whole scan). */
    const char *sql = "SELECT t.id, t.pid, t.tid, t.name FROM threads t"
                      " WHERE (?1 < 0 OR t.pid = ?1) AND (?2 < 0 OR t.tid = ?2)"
                      " ORDER BY (SELECT start_ns FROM call_rows WHERE thread_id = t.id ORDER BY id LIMIT 1), t.id";
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, pid);
    sqlite3_bind_int64(st, 2, tid);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            struct cs_thread_info *grown = cs_grow(*out, &cap, sizeof *grown, 16);
            if (!grown)
                break;
            *out = grown;
        }
        const char *name = cs_col_text(st, 3);
        (*out)[*n] = (struct cs_thread_info){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                             sqlite3_column_int64(st, 2), name ? strdup(name) : NULL};
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

void cs_free_threads(struct cs_thread_info *threads, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(threads[i].name);
    free(threads);
}

void cs_json_args_object(struct cs_textbuf *b, const char *args)
{
    cs_textbuf_puts(b, args ? args : "{}");
}

static void put_int_or_null(struct cs_textbuf *b, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cs_textbuf_puts(b, "null");
    else
        cs_textbuf_int(b, sqlite3_column_int64(st, col));
}

/* A key (with the comma before it) and a JSON string, or null. */
static void put_text_field(struct cs_textbuf *b, const char *key, const char *text)
{
    cs_textbuf_puts(b, key);
    cs_json_text_or_null(b, text);
}

void cs_call_json_line(struct cs_textbuf *b, sqlite3_stmt *st, const struct cs_thread_info *t, int64_t wall0)
{
    cs_textbuf_puts(b, "{\"id\":");
    cs_textbuf_int(b, sqlite3_column_int64(st, C_ID));
    cs_textbuf_puts(b, ",\"parent_id\":");
    put_int_or_null(b, st, C_PARENT);
    cs_textbuf_printf(b, ",\"pid\":%lld,\"tid\":%lld,\"thread\":", (long long)t->pid, (long long)t->tid);
    cs_json_text_or_null(b, t->name);
    cs_textbuf_puts(b, ",\"depth\":");
    cs_textbuf_int(b, sqlite3_column_int64(st, C_DEPTH));
    put_text_field(b, ",\"function\":", cs_col_text(st, C_NAME));
    put_text_field(b, ",\"module\":", cs_col_text(st, C_MODULE));
    put_text_field(b, ",\"filename\":", cs_col_text(st, C_FILENAME));
    cs_textbuf_puts(b, ",\"lineno\":");
    put_int_or_null(b, st, C_LINENO);
    /* epoch seconds to the microsecond, milliseconds to the nanosecond */
    cs_textbuf_puts(b, ",\"start\":");
    /* µs since the epoch, in wider arithmetic: a file's start_ns is read as
     * it is, however large. */
    cs_textbuf_decimal(b, (int64_t)(((__int128)wall0 + sqlite3_column_int64(st, C_START) + 500) / 1000), 6);
    cs_textbuf_puts(b, ",\"duration_ms\":");
    if (sqlite3_column_type(st, C_DURATION) == SQLITE_NULL)
        cs_textbuf_puts(b, "null");
    else
        cs_textbuf_decimal(b, sqlite3_column_int64(st, C_DURATION), 6);
    cs_textbuf_puts(b, ",\"args\":");
    cs_json_args_object(b, cs_col_text(st, C_ARGS));
    put_text_field(b, ",\"return\":", cs_col_text(st, C_RESULT));
    put_text_field(b, ",\"exception\":", cs_col_text(st, C_EXCEPTION));
    /* a generator's or coroutine's step: the return is then what it
     * yielded when "yielded" is true */
    int flags = sqlite3_column_int(st, C_FLAGS);
    cs_textbuf_puts(b, flags & 1 ? ",\"resumed\":true" : ",\"resumed\":false");
    cs_textbuf_puts(b, flags & 2 ? ",\"yielded\":true}\n" : ",\"yielded\":false}\n");
}

void cs_thread_title(const struct cs_thread_info *t, char *out, size_t size)
{
    snprintf(out, size, "pid %lld \xc2\xb7 thread %.200s (tid %lld)", (long long)t->pid, t->name ? t->name : "?",
             (long long)t->tid);
}
