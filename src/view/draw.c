/*
 * draw.c — drawing `callscope view`: the title bar, the calls indented
 * by depth, the details pane of the selected call, and the status line with
 * its prompt, progress and messages.
 *
 * A line is built once as UTF-8 text with a kind per byte (name, duration
 * colour, search match...), then cut to the screen: columns left of the
 * horizontal scroll are skipped, and a line wider than the screen ends in
 * `…`. Kinds become colours, or attributes alone without colour.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "view/view.h"

#include <curses.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "query/common.h"
#include "util/json.h"

enum kind { K_TEXT, K_NAME, K_DIM, K_GREEN, K_YELLOW, K_RED, K_HEADING, K_TITLE, K_MATCH = 0x80 };
enum { PAIR_GREEN = 1, PAIR_YELLOW, PAIR_RED, PAIR_HEADING, PAIR_MATCH, PAIR_TITLE };

struct line {
    struct cs_textbuf text;
    unsigned char *kind;
    size_t kcap;
    size_t content; /* where the text starts after the indentation */
};

static void lput(struct line *l, const char *s, size_t n, int kind)
{
    if (!s)
        return;
    size_t at = l->text.len;
    cs_textbuf_put(&l->text, s, n);
    if (l->kcap == SIZE_MAX)
        return; /* text only */
    if (l->text.len > l->kcap) {
        size_t cap = l->text.cap;
        unsigned char *k = realloc(l->kind, cap);
        if (!k) {
            l->text.len = at;
            return;
        }
        l->kind = k;
        l->kcap = cap;
    }
    memset(l->kind + at, kind, l->text.len - at);
}

static void lputs(struct line *l, const char *s, int kind)
{
    if (s)
        lput(l, s, strlen(s), kind);
}

static void line_free(struct line *l)
{
    cs_textbuf_free(&l->text);
    free(l->kind);
}

void view_init_colors(struct view *v)
{
    if (!v->color)
        return;
    start_color();
    use_default_colors();
    init_pair(PAIR_GREEN, COLOR_GREEN, -1);
    init_pair(PAIR_YELLOW, COLOR_YELLOW, -1);
    init_pair(PAIR_RED, COLOR_RED, -1);
    init_pair(PAIR_HEADING, COLOR_CYAN, -1);
    init_pair(PAIR_MATCH, COLOR_BLACK, COLOR_YELLOW);
    init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
}

static void kind_attr(const struct view *v, int kind, attr_t *attr, short *pair)
{
    *attr = A_NORMAL;
    *pair = 0;
    if (kind & K_MATCH) {
        if (v->color)
            *pair = PAIR_MATCH;
        else
            *attr = A_UNDERLINE | A_BOLD;
        return;
    }
    switch (kind) {
    case K_NAME: *attr = A_BOLD; break;
    case K_DIM: *attr = A_DIM; break;
    case K_GREEN: *pair = v->color ? PAIR_GREEN : 0; break;
    case K_YELLOW: *pair = v->color ? PAIR_YELLOW : 0; break;
    case K_RED:
        *pair = v->color ? PAIR_RED : 0;
        *attr = v->color ? A_NORMAL : A_BOLD;
        break;
    case K_HEADING:
        *attr = A_BOLD;
        *pair = v->color ? PAIR_HEADING : 0;
        break;
    case K_TITLE:
        *attr = v->color ? A_NORMAL : A_REVERSE;
        *pair = v->color ? PAIR_TITLE : 0;
        break;
    }
}

/* Draws text[from..] at (y, x) over `width` columns, skipping `skip`
 * columns first; a line cut on the right ends in `…`. extra is or-ed into
 * every attribute (the selection). */
static void draw_text(const struct view *v, int y, int x, int width, const char *text, const unsigned char *kinds,
                      size_t len, int skip, attr_t extra)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    int col = 0, used = 0, last_kind = K_TEXT;
    int total = vi_columns(text, len) - skip;
    int limit = total > width ? width - 1 : width;
    size_t i = 0;
    move(y, x);
    while (i < len) {
        wchar_t wc;
        size_t n = vi_next_char(text + i, len - i, &st, &wc);
        if (wc < 32 || wc == 127)
            wc = L' ';
        int w = wcwidth(wc);
        if (w < 0) {
            wc = L'?';
            w = 1;
        }
        int kind = kinds ? kinds[i] : K_TEXT;
        i += n;
        if (col < skip) {
            col += w;
            continue;
        }
        col += w;
        if (used + w > limit)
            break;
        last_kind = kind;
        attr_t a;
        short p;
        kind_attr(v, kind, &a, &p);
        cchar_t c;
        wchar_t s[2] = {wc, 0};
        setcchar(&c, s, a | extra, p, NULL);
        add_wch(&c);
        used += w;
    }
    if (total > width && used < width) {
        attr_t a;
        short p;
        kind_attr(v, last_kind, &a, &p);
        cchar_t c;
        wchar_t s[2] = {L'\x2026', 0};
        setcchar(&c, s, a | extra, p, NULL);
        add_wch(&c);
        used++;
    }
    if (used < width) {
        attr_set(extra, 0, NULL);
        for (; used < width; used++)
            addch(' ');
        attr_set(A_NORMAL, 0, NULL);
    }
}

static void draw_line(const struct view *v, int y, const struct line *l, int skip, attr_t extra)
{
    draw_text(v, y, 0, COLS, l->text.data ? l->text.data : "", l->kind, l->text.len, skip, extra);
}

/* ---- the lines of calls ---- */

static void put_duration(struct line *l, int64_t ns)
{
    if (ns < 0) {
        lputs(l, "  [unfinished]", K_DIM);
        return;
    }
    char d[40], buf[48];
    cs_format_duration(ns, d, sizeof d);
    snprintf(buf, sizeof buf, "[%s]", d);
    lputs(l, "  ", K_TEXT);
    lputs(l, buf, ns < 10000000 ? K_GREEN : ns < 100000000 ? K_YELLOW : K_RED);
}

static void build_line(const struct view *v, const struct vm_row *r, struct line *l, int indent)
{
    cs_textbuf_reset(&l->text);
    if (r->pos.id == 0) {
        const struct cs_thread_info *t = &v->m.threads[r->pos.thread];
        l->content = 0;
        char buf[160];
        snprintf(buf, sizeof buf, "%s pid %lld \xc2\xb7 thread ", r->folded ? "\xe2\x96\xb8" : "\xe2\x96\xbe",
                 (long long)t->pid);
        lputs(l, buf, K_HEADING);
        lputs(l, t->name ? t->name : "?", K_HEADING);
        snprintf(buf, sizeof buf, " (tid %lld)", (long long)t->tid);
        lputs(l, buf, K_HEADING);
        return;
    }
    if (indent)
        for (int d = 0; d <= r->depth && d < 4096; d++)
            lput(l, "  ", 2, K_TEXT);
    l->content = l->text.len;
    if (r->folded)
        lputs(l, "\xe2\x96\xb8 ", K_DIM);
    lputs(l, r->qualname ? r->qualname : "?", K_NAME);
    lputs(l, "(", K_TEXT);
    lputs(l, r->args, K_TEXT);
    lputs(l, ")", K_TEXT);
    if (r->flags & 1)
        lputs(l, " (resume)", K_DIM);
    if (r->exception) {
        lputs(l, " !! ", K_RED);
        lputs(l, r->exception, K_RED);
    } else if (r->result) {
        lputs(l, r->flags & 2 ? " \xe2\x86\x92 yield " : " \xe2\x86\x92 ", K_TEXT);
        lputs(l, r->result, K_TEXT);
    }
    put_duration(l, r->duration_ns);
    if (r->flags & 8)
        lputs(l, " (events lost around this call)", K_DIM);
}

void view_line_plain(const struct view *v, const struct vm_row *r, struct cs_textbuf *b)
{
    /* the kinds are not needed: a line without them */
    struct line l = {*b, NULL, SIZE_MAX, 0};
    build_line(v, r, &l, 0);
    *b = l.text;
    cs_textbuf_putc(b, '\0');
    b->len--;
}

int view_match(const struct view *v, const char *text, size_t from, size_t *so, size_t *eo)
{
    if (v->literal) {
        const char *hit = strstr(text + from, v->literal);
        if (!hit)
            return -1;
        *so = (size_t)(hit - text);
        *eo = *so + strlen(v->literal);
        return 0;
    }
    regmatch_t mt[1];
    mt[0].rm_so = (regoff_t)from;
    mt[0].rm_eo = (regoff_t)strlen(text);
    if (regexec(&v->re, text, 1, mt, REG_STARTEND | (from > 0 ? REG_NOTBOL : 0)) != 0)
        return -1;
    *so = (size_t)mt[0].rm_so;
    *eo = (size_t)mt[0].rm_eo;
    return 0;
}

/* Marks what the search pattern matches. */
static void mark_matches(const struct view *v, struct line *l)
{
    if (!v->have_re || l->text.len <= l->content)
        return;
    cs_textbuf_putc(&l->text, '\0');
    l->text.len--;
    const char *text = l->text.data + l->content;
    size_t at = 0, n = l->text.len - l->content, so, eo;
    for (int guard = 0; at < n && guard < 256; guard++) {
        if (view_match(v, text, at, &so, &eo) != 0)
            break;
        for (size_t i = so; i < eo; i++)
            l->kind[l->content + i] |= K_MATCH;
        at = eo > so ? eo : so + 1;
    }
}

/* ---- layout ---- */

static int pane_height(void)
{
    int h = LINES / 3;
    return h < 4 ? 4 : h;
}

int view_tree_height(const struct view *v)
{
    int h = LINES - 2;
    if (v->details)
        h -= pane_height() + 1;
    return h < 1 ? 1 : h;
}

static void draw_title(struct view *v)
{
    char buf[600];
    const char *base = strrchr(v->path, '/');
    snprintf(buf, sizeof buf, " callscope view \xc2\xb7 %s \xc2\xb7 %lld calls \xc2\xb7 %s%s", base ? base + 1 : v->path,
             (long long)v->max_id, v->finished ? "finished" : "recording",
             v->follow ? " \xc2\xb7 FOLLOW (any key stops)" : "");
    struct line l = {0};
    lputs(&l, buf, K_TITLE);
    draw_line(v, 0, &l, 0, 0);
    line_free(&l);
}

static void draw_tree(struct view *v)
{
    int h = view_tree_height(v);
    struct line l = {0};
    for (int i = 0; i < h; i++) {
        if (i >= v->nrows) {
            move(1 + i, 0);
            clrtoeol();
            if (i == v->nrows)
                mvaddstr(1 + i, 0, "~");
            continue;
        }
        build_line(v, &v->rows[i], &l, 1);
        mark_matches(v, &l);
        draw_line(v, 1 + i, &l, v->hscroll, i == v->sel ? A_REVERSE : 0);
    }
    line_free(&l);
}

/* ---- details ---- */

static void detail_line(struct view *v, int *y, int end, const char *label, const char *text, int kind)
{
    if (*y >= end)
        return;
    struct line l = {0};
    lputs(&l, label, K_NAME);
    lputs(&l, text ? text : "", kind);
    draw_line(v, (*y)++, &l, 0, 0);
    line_free(&l);
}

/* The callscope.log() rows the call made, one line each. */
static void draw_logs(struct view *v, int *y, int end, int64_t call)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(v->db,
                           "SELECT message, " CS_LOG_FIELDS_TEXT_SQL
                           " FROM logs WHERE call_id = ?1 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return; /* (a recording without the table) */
    sqlite3_bind_int64(st, 1, call);
    for (int n = 0; *y < end && sqlite3_step(st) == SQLITE_ROW; n++) {
        const char *message = cs_col_text(st, 0), *fields = cs_col_text(st, 1);
        struct line l = {0};
        lputs(&l, n == 0 ? "log        " : "           ", K_NAME);
        lputs(&l, message ? message : "", K_TEXT);
        if (fields) {
            lputs(&l, "  ", K_TEXT);
            lputs(&l, fields, K_DIM);
        }
        draw_line(v, (*y)++, &l, 0, 0);
        line_free(&l);
    }
    sqlite3_finalize(st);
}

static void draw_details(struct view *v)
{
    int h = pane_height();
    int y = LINES - 1 - h, end = LINES - 1;
    struct line sep = {0};
    lputs(&sep, "\xe2\x94\x80\xe2\x94\x80 details ", K_DIM);
    for (int i = 11; i < COLS; i++)
        lputs(&sep, "\xe2\x94\x80", K_DIM);
    draw_line(v, y - 1, &sep, 0, 0);
    line_free(&sep);
    for (int i = y; i < end; i++) {
        move(i, 0);
        clrtoeol();
    }
    if (v->sel >= v->nrows)
        return;
    const struct vm_row *r = &v->rows[v->sel];
    const struct cs_thread_info *t = &v->m.threads[r->pos.thread];
    char buf[400];
    snprintf(buf, sizeof buf, "%s (tid %lld) \xc2\xb7 pid %lld", t->name ? t->name : "?", (long long)t->tid,
             (long long)t->pid);
    if (r->pos.id == 0) {
        detail_line(v, &y, end, "thread     ", buf, K_TEXT);
        detail_line(v, &y, end, "", "Enter folds or unfolds the thread's calls", K_DIM);
        return;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(v->db,
                           "SELECT " CS_CALL_ROW_COLUMNS ", cs_arg_types(c.args, c.function_id)"
                           " FROM call_rows c LEFT JOIN functions f ON f.id = c.function_id WHERE c.id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, r->pos.id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = cs_col_text(st, C_NAME);
        char info[200];
        snprintf(info, sizeof info, "  (call %lld, depth %d)", (long long)r->pos.id, r->depth);
        struct line l = {0};
        lputs(&l, "function   ", K_NAME);
        lputs(&l, name ? name : "?", K_TEXT);
        lputs(&l, info, K_DIM);
        if (y < end)
            draw_line(v, y++, &l, 0, 0);
        line_free(&l);
        const char *file = cs_col_text(st, C_FILENAME);
        char where[1200];
        snprintf(where, sizeof where, "%s:%lld", file ? file : "?", (long long)sqlite3_column_int64(st, C_LINENO));
        detail_line(v, &y, end, "file       ", file ? where : "(built-in)", K_TEXT);
        detail_line(v, &y, end, "thread     ", buf, K_TEXT);
        char d[40], s[40];
        int64_t dur = sqlite3_column_type(st, C_DURATION) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, C_DURATION);
        if (dur >= 0)
            cs_format_duration(dur, d, sizeof d);
        else
            snprintf(d, sizeof d, "unfinished");
        if (sqlite3_column_type(st, C_SELF) != SQLITE_NULL)
            cs_format_duration(sqlite3_column_int64(st, C_SELF), s, sizeof s);
        else
            snprintf(s, sizeof s, "-");
        snprintf(buf, sizeof buf, "%s (self %s), started at +%.6fs", d, s,
                 (double)sqlite3_column_int64(st, C_START) / 1e9);
        detail_line(v, &y, end, "duration   ", buf, dur < 0 ? K_DIM : dur < 10000000 ? K_GREEN : dur < 100000000 ? K_YELLOW : K_RED);
        const char *exc = cs_col_text(st, C_EXCEPTION);
        const char *res = cs_col_text(st, C_RESULT);
        if (exc)
            detail_line(v, &y, end, "exception  ", exc, K_RED);
        else
            detail_line(v, &y, end, "return     ", res ? res : "(none)", K_TEXT);
        const char *json = cs_col_text(st, C_ARGS);
        const char *types_json = cs_col_text(st, C_SELF + 1); /* in the same order as the values */
        struct cs_textbuf key = {0}, value = {0}, type_key = {0}, type = {0};
        struct cs_json_iter it, types;
        cs_json_iter_init(&types, types_json ? types_json : "{}", types_json ? strlen(types_json) : 2);
        cs_json_iter_init(&it, json ? json : "{}", json ? strlen(json) : 2);
        int n = 0, total = 0;
        while (cs_json_iter_next(&it, &key, &value) == 1)
            total++;
        cs_json_iter_init(&it, json ? json : "{}", json ? strlen(json) : 2);
        if (total == 0)
            detail_line(v, &y, end, "arguments  ", "(none)", K_DIM);
        while (cs_json_iter_next(&it, &key, &value) == 1 && y < end) {
            if (y == end - 1 && n < total - 1) {
                snprintf(buf, sizeof buf, "\xe2\x80\xa6 %d more", total - n);
                detail_line(v, &y, end, "           ", buf, K_DIM);
                break;
            }
            struct line a = {0};
            lputs(&a, n == 0 ? "arguments  " : "           ", K_NAME);
            lput(&a, key.data, key.len, K_TEXT);
            if (cs_json_iter_next(&types, &type_key, &type) == 1 && type.len) {
                lputs(&a, ": ", K_DIM);
                lput(&a, type.data, type.len, K_DIM);
            }
            lputs(&a, " = ", K_DIM);
            lput(&a, value.data, value.len, K_TEXT);
            draw_line(v, y++, &a, 0, 0);
            line_free(&a);
            n++;
        }
        cs_textbuf_free(&key);
        cs_textbuf_free(&value);
        cs_textbuf_free(&type_key);
        cs_textbuf_free(&type);
        if (sqlite3_column_int(st, C_FLAGS) & 8)
            detail_line(v, &y, end, "note       ", "events were lost in or around this call", K_DIM);
        draw_logs(v, &y, end, r->pos.id);
    }
    sqlite3_finalize(st);
}

/* ---- the status line and the prompt ---- */

static void draw_prompt(struct view *v)
{
    const char *label = v->prompt == PROMPT_SEARCH ? "/" : "filter: ";
    int lw = (int)strlen(label);
    int width = COLS - lw - 1;
    int cur = vi_columns(v->input.text, v->input.cursor);
    int skip = cur > width ? cur - width : 0;
    move(LINES - 1, 0);
    clrtoeol();
    mvaddstr(LINES - 1, 0, label);
    draw_text(v, LINES - 1, lw, COLS - lw, v->input.text, NULL, v->input.len, skip, 0);
    if (v->prompt == PROMPT_FILTER) {
        /* the error of what is typed so far, its caret under the column */
        move(LINES - 2, 0);
        clrtoeol();
        if (v->filter_error_set) {
            int col = v->filter_error.column > 0 ? lw + v->filter_error.column - 1 - skip : 0;
            if (col < 0 || col >= COLS - 1)
                col = 0;
            struct line l = {0};
            lputs(&l, "^ ", K_RED);
            lputs(&l, v->filter_error.message, K_RED);
            draw_text(v, LINES - 2, col, COLS - col, l.text.data ? l.text.data : "", l.kind, l.text.len, 0, 0);
            line_free(&l);
        }
        move(LINES - 3, 0);
        clrtoeol();
        if (v->completion.n > 0) {
            struct line l = {0};
            lputs(&l, "Tab:", K_DIM);
            for (size_t i = 0; i < v->completion.n; i++) {
                int chosen = (int)i == v->completion_sel; /* (Down/Up; Enter or Tab takes it) */
                lputs(&l, chosen ? " [" : "  ", K_TEXT);
                lputs(&l, v->completion.items[i], chosen ? K_YELLOW : K_TEXT);
                if (chosen)
                    lputs(&l, "]", K_TEXT);
            }
            lputs(&l, "   \xe2\x86\x93\xe2\x86\x91 choose", K_DIM);
            draw_line(v, LINES - 3, &l, 0, 0);
            line_free(&l);
        }
    }
    move(LINES - 1, lw + cur - skip);
}

void view_draw_status(struct view *v)
{
    if (COLS < VIEW_MIN_COLS || LINES < VIEW_MIN_LINES)
        return;
    if (v->prompt != PROMPT_NONE && !v->busy) {
        draw_prompt(v);
        return;
    }
    struct line l = {0};
    if (v->busy) {
        static const char spin[] = "|/-\\";
        char buf[200];
        int64_t tick = v->busy_polled_ns / 150000000;
        if (v->busy_fraction >= 0)
            snprintf(buf, sizeof buf, "%c %s %.0f%%  (Esc cancels)", spin[tick % 4], v->busy,
                     v->busy_fraction * 100);
        else
            snprintf(buf, sizeof buf, "%c %s  (Esc cancels)", spin[tick % 4], v->busy);
        lputs(&l, buf, K_YELLOW);
    } else if (v->message[0]) {
        lputs(&l, v->message, v->message_is_error ? K_RED : K_TEXT);
    } else {
        if (v->m.filter_text) {
            lputs(&l, "filter: ", K_NAME);
            lputs(&l, v->m.filter_text, K_TEXT);
            lputs(&l, "  ", K_TEXT);
        }
        lputs(&l, "q quit \xc2\xb7 / search \xc2\xb7 f filter \xc2\xb7 Enter fold \xc2\xb7 d details \xc2\xb7 F follow", K_DIM);
    }
    draw_line(v, LINES - 1, &l, 0, 0);
    line_free(&l);
    /* where the selection is, on the right */
    if (!v->busy && v->sel < v->nrows && v->rows[v->sel].pos.id > 0) {
        char pos[64];
        snprintf(pos, sizeof pos, " call %lld/%lld ", (long long)v->rows[v->sel].pos.id, (long long)v->max_id);
        int w = (int)strlen(pos);
        if (COLS - w > (int)l.text.len / 2 + 20 || COLS - w > 60) {
            attr_set(A_DIM, 0, NULL);
            mvaddstr(LINES - 1, COLS - w, pos);
            attr_set(A_NORMAL, 0, NULL);
        }
    }
}

static void draw_too_small(void)
{
    erase();
    const char *lines[] = {"callscope view:", "terminal too small", NULL, "q quits"};
    char need[64];
    snprintf(need, sizeof need, "need %dx%d, have %dx%d", VIEW_MIN_COLS, VIEW_MIN_LINES, COLS, LINES);
    lines[2] = need;
    for (int i = 0; i < 4 && i < LINES; i++)
        mvaddnstr(i, 0, lines[i], COLS);
}

void view_draw_busy(struct view *v)
{
    /* no queries here: this runs inside SQLite's progress handler */
    if (COLS < VIEW_MIN_COLS || LINES < VIEW_MIN_LINES)
        return;
    draw_title(v);
    for (int y = 1; y < LINES - 1; y++) {
        move(y, 0);
        clrtoeol();
    }
    draw_tree(v);
    view_draw_status(v);
    curs_set(0);
    refresh();
}

void view_draw(struct view *v)
{
    if (COLS < VIEW_MIN_COLS || LINES < VIEW_MIN_LINES) {
        curs_set(0);
        draw_too_small();
        refresh();
        return;
    }
    draw_title(v);
    draw_tree(v);
    if (v->details)
        draw_details(v);
    view_draw_status(v);
    curs_set(v->prompt != PROMPT_NONE && !v->busy ? 1 : 0);
    refresh();
}
