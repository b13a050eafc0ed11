/*
 * store_tables.c — the few rows of the store's small tables (functions,
 * processes, threads, logs, lost events, meta), written by the caller
 * directly while holding the connection's lock.
 *
 * Calls refer to the rows of functions and threads, so these rows must
 * not be lost to a full disk (store_disk_full.c) the way calls are: each
 * one written inside a transaction, or while the disk is full, is kept in
 * a journal until a commit lands, and written again when the recording
 * resumes. Logs belong to the calls around them and go with them.
 */
#include "store/store_internal.h"

#include <string.h>

/* A value bound to a statement's next parameter. */
struct param {
    enum { P_NULL, P_INT, P_TEXT } type;
    int64_t i;
    const char *text;
    size_t len;
};

#define INT_PARAM(v) ((struct param){P_INT, (v), NULL, 0})
#define TEXT_PARAM(s, n) ((struct param){(s) ? P_TEXT : P_NULL, 0, (s), (n)})
#define NULL_PARAM ((struct param){P_NULL, 0, NULL, 0})

static void bind_params(sqlite3_stmt *st, const struct param *p, int n)
{
    for (int k = 0; k < n; k++) {
        if (p[k].type == P_INT)
            sqlite3_bind_int64(st, k + 1, p[k].i);
        else if (p[k].type == P_TEXT)
            sqlite3_bind_text(st, k + 1, p[k].text, (int)p[k].len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, k + 1);
    }
}

/* A journal entry: the statement, the number of values, then each value's
 * type and its number or its length and bytes. */
static void journal_add(struct cs_store *s, sqlite3_stmt *st, const struct param *p, int n)
{
    struct cs_textbuf *j = &s->journal;
    cs_textbuf_put(j, &st, sizeof st);
    cs_textbuf_putc(j, (char)n);
    for (int k = 0; k < n; k++) {
        cs_textbuf_putc(j, (char)p[k].type);
        if (p[k].type == P_INT) {
            cs_textbuf_put(j, &p[k].i, sizeof p[k].i);
        } else if (p[k].type == P_TEXT) {
            cs_textbuf_put(j, &p[k].len, sizeof p[k].len);
            cs_textbuf_put(j, p[k].text, p[k].len);
        }
    }
    if (j->oom)
        cs_store_fail(s, "out of memory");
}

int cs_store_replay_journal(struct cs_store *s)
{
    const char *at = s->journal.data, *end = at + s->journal.len;
    while (at < end) {
        sqlite3_stmt *st;
        struct param p[8];
        memcpy(&st, at, sizeof st);
        at += sizeof st;
        int n = *at++;
        for (int k = 0; k < n; k++) {
            p[k] = NULL_PARAM;
            p[k].type = *at++;
            if (p[k].type == P_INT) {
                memcpy(&p[k].i, at, sizeof p[k].i);
                at += sizeof p[k].i;
            } else if (p[k].type == P_TEXT) {
                memcpy(&p[k].len, at, sizeof p[k].len);
                p[k].text = at + sizeof p[k].len;
                at += sizeof p[k].len + p[k].len;
            }
        }
        bind_params(st, p, n);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

/* Writes a row of st with the n values of p. Unless it is a log, a row a
 * full disk could still take away (inside a transaction), or did (the
 * disk is full), goes into the journal too. */
static void put_row(struct cs_store *s, sqlite3_stmt *st, const struct param *p, int n, int journaled)
{
    if (failed(s) == STORE_ERROR)
        return;
    lock_db(s);
    int in_txn = s->in_txn;
    if (!failed(s)) {
        bind_params(st, p, n);
        run(s, st);
    }
    if (journaled && (in_txn || failed(s) == STORE_DISK_FULL))
        journal_add(s, st, p, n);
    unlock_db(s);
}

void cs_store_add_function(struct cs_store *s, int64_t id, const char *kind, const char *module,
                           size_t module_len, const char *qualname, size_t qualname_len,
                           const char *filename, size_t filename_len, int64_t lineno,
                           const char *arg_names_json, size_t arg_names_len)
{
    /* name is module.qualname, the form users type and filters match. */
    struct cs_textbuf name = {0};
    cs_textbuf_put(&name, module, module_len);
    if (module_len)
        cs_textbuf_putc(&name, '.');
    cs_textbuf_put(&name, qualname, qualname_len);
    struct param p[] = {
        INT_PARAM(id),
        TEXT_PARAM(kind, strlen(kind)),
        TEXT_PARAM(module, module_len),
        TEXT_PARAM(qualname, qualname_len),
        TEXT_PARAM(name.data ? name.data : "", name.len),
        TEXT_PARAM(filename, filename_len),
        filename ? INT_PARAM(lineno) : NULL_PARAM,
        TEXT_PARAM(arg_names_json, arg_names_len),
    };
    put_row(s, s->insert_function, p, 8, 1);
    cs_textbuf_free(&name);
}

void cs_store_add_process(struct cs_store *s, int64_t pid, int64_t parent_pid)
{
    struct param p[] = {INT_PARAM(pid), parent_pid ? INT_PARAM(parent_pid) : NULL_PARAM};
    put_row(s, s->insert_process, p, 2, 1);
}

void cs_store_add_thread(struct cs_store *s, int64_t id, int64_t pid, int64_t tid)
{
    struct param p[] = {INT_PARAM(id), INT_PARAM(pid), INT_PARAM(tid)};
    put_row(s, s->insert_thread, p, 3, 1);
}

void cs_store_set_thread_name(struct cs_store *s, int64_t id, const char *name, size_t len)
{
    struct param p[] = {TEXT_PARAM(name, len), INT_PARAM(id)};
    put_row(s, s->update_thread_name, p, 2, 1);
}

void cs_store_add_log(struct cs_store *s, int64_t call_id, int64_t thread_id, int64_t time_ns,
                      const char *message, size_t message_len, const char *fields,
                      size_t fields_len)
{
    struct param p[] = {
        call_id ? INT_PARAM(call_id) : NULL_PARAM, INT_PARAM(thread_id), INT_PARAM(time_ns),
        TEXT_PARAM(message, message_len), TEXT_PARAM(fields, fields_len),
    };
    put_row(s, s->insert_log, p, 5, 0);
}

void cs_store_add_lost(struct cs_store *s, int64_t thread_id, int64_t time_ns, int64_t count)
{
    struct param p[] = {thread_id >= 0 ? INT_PARAM(thread_id) : NULL_PARAM, INT_PARAM(time_ns), INT_PARAM(count)};
    put_row(s, s->insert_lost, p, 3, 1);
}

void cs_store_set_meta_text(struct cs_store *s, const char *key, const char *value)
{
    struct param p[] = {TEXT_PARAM(key, strlen(key)), TEXT_PARAM(value, value ? strlen(value) : 0)};
    put_row(s, s->set_meta, p, 2, 1);
}

void cs_store_set_meta_int(struct cs_store *s, const char *key, int64_t value)
{
    struct param p[] = {TEXT_PARAM(key, strlen(key)), INT_PARAM(value)};
    put_row(s, s->set_meta, p, 2, 1);
}
