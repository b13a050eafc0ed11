/*
 * filter_suggest.c — the errors of a record filter that name something the
 * recording lacks, with what it has instead: an unknown field (the nearest
 * field names) and a value compared with '==' that no call holds (values
 * with the same start, the nearest ones, or all of them when there are few).
 */
#include "query/filter_suggest.h"

#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "query/common.h"
#include "query/filter.h"
#include "util/textbuf.h"

/* ---- checking string values against the recording ---- */

/* Up to `max` values of the field that start with the literal's prefix,
 * or else the nearest ones; when none is near, all of them if there are
 * at most MAX_LISTED (then *listed is set). `out` has room for both. */
#define MAX_LISTED 12
static size_t suggest_values(sqlite3 *db, const struct cs_filter_field *f, const char *literal, char **out, size_t max,
                             int *listed)
{
    *listed = 0;
    struct cs_textbuf sql = {0};
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    /* the literal part before the first wildcard */
    size_t plen = strcspn(literal, "%_\\");
    if (plen > 0) {
        cs_textbuf_printf(&sql, "SELECT DISTINCT v FROM (%s) WHERE substr(v, 1, ?1) = ?2 ORDER BY length(v), v LIMIT %zu",
                          f->values_sql, max);
        if (sqlite3_prepare_v2(db, cs_textbuf_cstr(&sql), -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (int64_t)plen);
            sqlite3_bind_text(st, 2, literal, (int)plen, SQLITE_TRANSIENT);
            while (n < max && sqlite3_step(st) == SQLITE_ROW)
                if (cs_col_text(st, 0) && (out[n] = strdup(cs_col_text(st, 0))) != NULL)
                    n++;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (n == 0) {
        /* nearest by edit distance, or names whose last part is the literal */
        cs_textbuf_reset(&sql);
        cs_textbuf_printf(&sql, "SELECT DISTINCT v FROM (%s) LIMIT 20000", f->values_sql);
        char **all = NULL;
        size_t nall = 0, cap = 0;
        if (sqlite3_prepare_v2(db, cs_textbuf_cstr(&sql), -1, &st, NULL) == SQLITE_OK) {
            while (sqlite3_step(st) == SQLITE_ROW) {
                const char *v = cs_col_text(st, 0);
                if (!v)
                    continue;
                if (nall == cap) {
                    char **grown = cs_grow(all, &cap, sizeof *grown, 64);
                    if (!grown)
                        break;
                    all = grown;
                }
                if ((all[nall] = strdup(v)) != NULL)
                    nall++;
            }
        }
        sqlite3_finalize(st);
        size_t llen = strlen(literal);
        for (size_t i = 0; i < nall && n < max; i++) {
            size_t vlen = strlen(all[i]);
            if (vlen > llen && strcmp(all[i] + vlen - llen, literal) == 0 &&
                (all[i][vlen - llen - 1] == '.' || all[i][vlen - llen - 1] == '/'))
                out[n++] = strdup(all[i]);
        }
        if (n == 0) {
            const char *near[8];
            size_t k = cs_nearest(literal, (const char *const *)all, nall, near, max < 8 ? max : 8);
            for (size_t i = 0; i < k; i++)
                out[n++] = strdup(near[i]);
        }
        /* nothing close, but only a few values: they are worth listing */
        for (size_t i = 0; n == 0 && nall <= MAX_LISTED && i < nall; i++)
            *listed = 1, out[i] = strdup(all[i]);
        if (*listed)
            n = nall;
        for (size_t i = 0; i < nall; i++)
            free(all[i]);
        free(all);
    }
    cs_textbuf_free(&sql);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i])
            out[kept++] = out[i];
    return kept;
}

/* '==' on a value no row has: an error that lists what exists. */
int cs_filter_check_value_exists(sqlite3 *db, const struct cs_filter_field *f, const struct cs_expr *value, int glob,
                                 const char *pattern, struct cs_expr_error *err)
{
    if (!db || !f->check_values || !f->values_sql)
        return 0;
    struct cs_textbuf sql = {0};
    cs_textbuf_printf(&sql, "SELECT 1 FROM (%s) WHERE v %s ?1 LIMIT 1", f->values_sql, glob ? "GLOB" : "=");
    sqlite3_stmt *st;
    int found = 1;
    if (sqlite3_prepare_v2(db, cs_textbuf_cstr(&sql), -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, pattern, -1, SQLITE_TRANSIENT);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    cs_textbuf_free(&sql);
    if (found)
        return 0;
    char *near[MAX_LISTED];
    int listed;
    size_t n = suggest_values(db, f, value->str, near, 5, &listed);
    struct cs_textbuf msg = {0};
    cs_textbuf_printf(&msg, "no %s is '%s'", f->name, value->str);
    if (n && listed) {
        cs_textbuf_printf(&msg, "; the recording has ");
        cs_quote_list(&msg, (const char *const *)near, n, " and ");
    } else if (n) {
        cs_textbuf_puts(&msg, "; did you mean ");
        cs_quote_list(&msg, (const char *const *)near, n, ", ");
        cs_textbuf_putc(&msg, '?');
    } else {
        cs_textbuf_puts(&msg, " in this recording");
    }
    cs_expr_errorf(err, value->column, "%s", cs_textbuf_cstr(&msg));
    for (size_t i = 0; i < n; i++)
        free(near[i]);
    cs_textbuf_free(&msg);
    return -1;
}

int cs_filter_unknown_field(const struct cs_expr *name, struct cs_expr_error *err)
{
    const char *near[4];
    size_t n = cs_nearest(name->str, cs_filter_field_names, cs_filter_field_count(), near, 4);
    struct cs_textbuf msg = {0};
    cs_textbuf_printf(&msg, "unknown field '%s'", name->str);
    if (n) {
        cs_textbuf_puts(&msg, "; did you mean ");
        for (size_t i = 0; i < n; i++)
            cs_textbuf_printf(&msg, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", near[i]);
        cs_textbuf_putc(&msg, '?');
    } else {
        cs_textbuf_puts(&msg, "; the fields are ");
        for (size_t i = 0; i < cs_filter_field_count(); i++)
            cs_textbuf_printf(&msg, "%s%s", i ? ", " : "", cs_filter_field_names[i]);
    }
    cs_expr_errorf(err, name->column, "%s", cs_textbuf_cstr(&msg));
    cs_textbuf_free(&msg);
    return -1;
}

