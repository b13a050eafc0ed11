/*
 * store_tables.c — the few rows of the store's small tables (functions,
 * processes, threads, logs, lost events, meta), written by the caller
 * directly while holding the connection's lock.
 */
#include "store/store_internal.h"

#include <string.h>

void cs_store_add_function(struct cs_store *s, int64_t id, const char *kind, const char *module,
                           size_t module_len, const char *qualname, size_t qualname_len,
                           const char *filename, size_t filename_len, int64_t lineno,
                           const char *arg_names_json, size_t arg_names_len)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_stmt *st = s->insert_function;
    /* name is module.qualname, the form users type and filters match. */
    struct cs_textbuf name = {0};
    cs_textbuf_put(&name, module, module_len);
    if (module_len)
        cs_textbuf_putc(&name, '.');
    cs_textbuf_put(&name, qualname, qualname_len);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, module, (int)module_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, qualname, (int)qualname_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, name.data ? name.data : "", (int)name.len, SQLITE_STATIC);
    bind_text_or_null(st, 6, filename, filename_len);
    if (filename)
        sqlite3_bind_int64(st, 7, lineno);
    else
        sqlite3_bind_null(st, 7);
    bind_text_or_null(st, 8, arg_names_json, arg_names_len);
    run(s, st);
    unlock_db(s);
    cs_textbuf_free(&name);
}

void cs_store_add_process(struct cs_store *s, int64_t pid, int64_t parent_pid)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_int64(s->insert_process, 1, pid);
    if (parent_pid)
        sqlite3_bind_int64(s->insert_process, 2, parent_pid);
    else
        sqlite3_bind_null(s->insert_process, 2);
    run(s, s->insert_process);
    unlock_db(s);
}

void cs_store_add_thread(struct cs_store *s, int64_t id, int64_t pid, int64_t tid)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_int64(s->insert_thread, 1, id);
    sqlite3_bind_int64(s->insert_thread, 2, pid);
    sqlite3_bind_int64(s->insert_thread, 3, tid);
    run(s, s->insert_thread);
    unlock_db(s);
}

void cs_store_set_thread_name(struct cs_store *s, int64_t id, const char *name, size_t len)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_text(s->update_thread_name, 1, name, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s->update_thread_name, 2, id);
    run(s, s->update_thread_name);
    unlock_db(s);
}

void cs_store_add_log(struct cs_store *s, int64_t call_id, int64_t thread_id, int64_t time_ns,
                      const char *message, size_t message_len, const char *fields,
                      size_t fields_len)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_stmt *st = s->insert_log;
    if (call_id)
        sqlite3_bind_int64(st, 1, call_id);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_int64(st, 2, thread_id);
    sqlite3_bind_int64(st, 3, time_ns);
    sqlite3_bind_text(st, 4, message, (int)message_len, SQLITE_STATIC);
    bind_text_or_null(st, 5, fields, fields_len);
    run(s, st);
    unlock_db(s);
}

void cs_store_add_lost(struct cs_store *s, int64_t thread_id, int64_t time_ns, int64_t count)
{
    if (failed(s))
        return;
    lock_db(s);
    if (thread_id >= 0)
        sqlite3_bind_int64(s->insert_lost, 1, thread_id);
    else
        sqlite3_bind_null(s->insert_lost, 1);
    sqlite3_bind_int64(s->insert_lost, 2, time_ns);
    sqlite3_bind_int64(s->insert_lost, 3, count);
    run(s, s->insert_lost);
    unlock_db(s);
}

void cs_store_set_meta_text(struct cs_store *s, const char *key, const char *value)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
    bind_text_or_null(s->set_meta, 2, value, value ? strlen(value) : 0);
    run(s, s->set_meta);
    unlock_db(s);
}

void cs_store_set_meta_int(struct cs_store *s, const char *key, int64_t value)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->set_meta, 2, value);
    run(s, s->set_meta);
    unlock_db(s);
}
