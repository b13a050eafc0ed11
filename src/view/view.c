/*
 * view.c — `callscope view`: an ncurses viewer for one recording. This file
 * is the command (options, checks before curses starts, restoring the
 * terminal on every exit) and the key loop: moving through the window of
 * calls, folding, search, the filter line and follow mode.
 *
 * Nothing here waits on a long query without looking at the keyboard: the
 * model polls (model.h) and searches go a batch of lines at a time,
 * showing their progress, so Esc cancels any of them and the screen never
 * freezes.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "view/view.h"

#include <curses.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "query/common.h"
#include "view/command.h"

#define SEARCH_BATCH 1000
#define POLL_EVERY_NS 40000000LL   /* look at the keyboard this often while busy */
#define BUSY_SHOW_NS 150000000LL   /* show the progress of what takes longer */
#define FOLLOW_EVERY_NS 400000000LL
#define REFRESH_EVERY_NS 1000000000LL

/* ---- the terminal, restored whatever happens ---- */

static volatile sig_atomic_t curses_on;

static void restore_terminal(void)
{
    if (curses_on) {
        curses_on = 0;
        endwin();
        fflush(stdout);
    }
}

static void on_signal(int sig)
{
    restore_terminal();
    cs_remove_reading_copy();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- messages and busy operations ---- */

static void set_message(struct view *v, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_message(struct view *v, int error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
    v->message_is_error = error;
}

static void begin_busy(struct view *v, const char *what)
{
    v->busy = what;
    v->busy_fraction = -1;
    v->busy_since_ns = v->busy_polled_ns = cs_monotonic_ns();
    v->cancel = 0;
    v->busy_shown = 0;
}

static void end_busy(struct view *v)
{
    v->busy = NULL;
}

/* Called between steps of a long operation and from SQLite's progress
 * handler: looks for Esc now and then, and shows the progress. Nonzero
 * when the operation should stop. */
static int poll_cancel(void *ctx)
{
    struct view *v = ctx;
    if (!v->busy)
        return 0;
    if (v->cancel)
        return 1;
    int64_t now = cs_monotonic_ns();
    if (now - v->busy_polled_ns < POLL_EVERY_NS)
        return 0;
    v->busy_polled_ns = now;
    timeout(0);
    wint_t ch;
    int rc;
    while ((rc = get_wch(&ch)) != ERR) {
        if (rc != KEY_CODE_YES && (ch == 27 || ch == 7)) {
            v->cancel = 1; /* Esc or ^G */
            v->npending = 0;
        } else if (v->npending < (int)(sizeof v->pending / sizeof v->pending[0])) {
            /* typed ahead: handled once the operation is over */
            v->pending[v->npending].is_key = rc == KEY_CODE_YES;
            v->pending[v->npending++].ch = ch;
        }
    }
    timeout(250);
    if (!v->cancel && now - v->busy_since_ns >= BUSY_SHOW_NS) {
        if (!v->busy_shown)
            view_draw_busy(v); /* the prompt, if any, is gone */
        else
            view_draw_status(v);
        v->busy_shown = 1;
        refresh();
    }
    return v->cancel;
}

/* ---- the window ---- */

static int ensure_cap(struct view *v, int n)
{
    if (n <= v->cap)
        return 0;
    struct vm_row *grown = realloc(v->rows, (size_t)n * sizeof *grown);
    if (!grown)
        return -1;
    v->rows = grown;
    v->cap = n;
    return 0;
}

static void replace_rows(struct view *v, struct vm_row *tmp, int n)
{
    vm_rows_clear(v->rows, v->nrows);
    memcpy(v->rows, tmp, (size_t)n * sizeof *tmp);
    v->nrows = n;
    if (n)
        v->top = tmp[0].pos;
    if (v->sel >= n)
        v->sel = n ? n - 1 : 0;
    if (v->sel < 0)
        v->sel = 0;
}

static void report(struct view *v, int rc, const char *what)
{
    if (rc == VM_CANCELLED)
        set_message(v, 0, "%s cancelled", what);
    else if (rc < 0)
        set_message(v, 1, "cannot read %s: %s", v->path, cs_db_error(v->db));
}

/* Reads a window's worth of rows into v: forward from v->top, or
 * (at_end) the last page, its last line selected. */
static int fill_window(struct view *v, int at_end, const char *what)
{
    int h = view_tree_height(v);
    if (ensure_cap(v, h) != 0)
        return -1;
    struct vm_row *tmp = calloc((size_t)h, sizeof *tmp);
    if (!tmp)
        return -1;
    begin_busy(v, what);
    int n = at_end ? vm_backward(&v->m, vm_end(&v->m), tmp, h) : vm_forward(&v->m, v->top, 1, tmp, h);
    end_busy(v);
    if (n >= 0) {
        replace_rows(v, tmp, n);
        if (at_end)
            v->sel = n ? n - 1 : 0;
    }
    free(tmp);
    report(v, n, what);
    return n < 0 ? n : 0;
}

/* Fetches the window from v->top. */
static int load_window(struct view *v)
{
    return fill_window(v, 0, "reading");
}

/* The last page, the last line selected. */
static int goto_end(struct view *v)
{
    return fill_window(v, 1, "going to the end");
}

/* Moves the top by up to d lines (negative: up). The number moved. */
static int scroll_by(struct view *v, int d)
{
    if (d == 0 || v->nrows == 0)
        return 0;
    int n = d < 0 ? -d : d;
    struct vm_row *tmp = calloc((size_t)n, sizeof *tmp);
    if (!tmp)
        return 0;
    begin_busy(v, "reading");
    int got = d > 0 ? vm_forward(&v->m, v->top, 0, tmp, n) : vm_backward(&v->m, v->top, tmp, n);
    end_busy(v);
    report(v, got, "reading");
    if (got <= 0) {
        free(tmp);
        return 0;
    }
    struct vm_pos old = v->top;
    v->top = d > 0 ? tmp[got - 1].pos : tmp[0].pos;
    vm_rows_clear(tmp, got);
    free(tmp);
    if (load_window(v) != 0) {
        v->top = old;
        load_window(v);
        return 0;
    }
    if (d > 0 && v->nrows < view_tree_height(v)) {
        /* past the last full page: show the last page instead */
        int sel = v->sel;
        goto_end(v);
        v->sel = sel < v->nrows ? sel : v->nrows - 1;
        return vm_pos_cmp(v->top, old) != 0 ? got : 0;
    }
    return got;
}

static int find_in_window(const struct view *v, struct vm_pos p)
{
    for (int i = 0; i < v->nrows; i++)
        if (vm_pos_cmp(v->rows[i].pos, p) == 0)
            return i;
    return -1;
}

/* Shows the line at p, selected, with some context above it. */
static void goto_pos(struct view *v, struct vm_pos p)
{
    int i = find_in_window(v, p);
    if (i >= 0) {
        v->sel = i;
        return;
    }
    int h = view_tree_height(v);
    int above = h / 3;
    struct vm_row *tmp = calloc((size_t)above + 1, sizeof *tmp);
    int got = tmp ? vm_backward(&v->m, p, tmp, above) : 0;
    v->top = got > 0 ? tmp[0].pos : p;
    if (got > 0)
        vm_rows_clear(tmp, got);
    free(tmp);
    load_window(v);
    if (v->nrows < h)
        goto_end(v);
    i = find_in_window(v, p);
    v->sel = i >= 0 ? i : 0;
}

static void move_down(struct view *v)
{
    /* at the bottom, scrolling makes the same index the next line */
    if (v->sel < v->nrows - 1 && v->sel < view_tree_height(v) - 1)
        v->sel++;
    else
        scroll_by(v, 1);
}

static void move_up(struct view *v)
{
    if (v->sel > 0)
        v->sel--;
    else
        scroll_by(v, -1);
}

static void refresh_store_facts(struct view *v)
{
    char err[600];
    if (cs_catch_up_store(v->db, err, sizeof err) != 0)
        set_message(v, 1, "%s", err);
    v->max_id = vm_max_id(&v->m);
    v->finished = vm_finished(&v->m);
}

/* ---- search ---- */

static double position_fraction(const struct view *v, struct vm_pos p)
{
    if (v->m.nthreads == 0)
        return 0;
    double in = v->max_id > 0 ? (double)p.id / (double)v->max_id : 0;
    if (in > 1)
        in = 1;
    return ((double)p.thread + in) / (double)v->m.nthreads;
}

static void search(struct view *v, int backwards)
{
    if (!v->have_re) {
        set_message(v, 1, "no search pattern (type / and a regular expression)");
        return;
    }
    if (v->nrows == 0)
        return;
    struct vm_row *batch = calloc(SEARCH_BATCH, sizeof *batch);
    struct cs_textbuf text = {0};
    if (!batch)
        return;
    struct vm_pos from = v->rows[v->sel].pos;
    int found = 0, rc = 0;
    struct vm_pos at = from;
    begin_busy(v, "searching");
    while (!found) {
        int n = backwards ? vm_backward(&v->m, from, batch, SEARCH_BATCH)
                          : vm_forward(&v->m, from, 0, batch, SEARCH_BATCH);
        if (n <= 0) {
            rc = n;
            break;
        }
        for (int k = 0; k < n && !found; k++) {
            int i = backwards ? n - 1 - k : k;
            size_t so, eo;
            view_line_plain(v, &batch[i], &text);
            if (view_match(v, cs_textbuf_cstr(&text), 0, &so, &eo) == 0) {
                found = 1;
                at = batch[i].pos;
            }
        }
        from = backwards ? batch[0].pos : batch[n - 1].pos;
        vm_rows_clear(batch, n);
        v->busy_fraction = position_fraction(v, from);
        if (backwards)
            v->busy_fraction = 1 - v->busy_fraction;
        if (!found && poll_cancel(v)) {
            rc = VM_CANCELLED;
            break;
        }
    }
    end_busy(v);
    cs_textbuf_free(&text);
    free(batch);
    if (found) {
        goto_pos(v, at);
        v->message[0] = '\0';
    } else if (rc == VM_CANCELLED) {
        set_message(v, 0, "search cancelled");
    } else if (rc < 0) {
        report(v, rc, "search");
    } else {
        set_message(v, 1, "pattern not found%s", backwards ? " (searching backwards)" : "");
    }
}

static void set_pattern(struct view *v, const char *pattern)
{
    if (!*pattern) {
        if (v->have_re)
            search(v, v->search_back);
        return;
    }
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED);
    if (rc != 0) {
        char err[200];
        regerror(rc, &re, err, sizeof err);
        set_message(v, 1, "bad pattern: %s", err);
        return;
    }
    if (v->have_re)
        regfree(&v->re);
    v->re = re;
    v->have_re = 1;
    free(v->literal);
    v->literal = strpbrk(pattern, ".[]()*+?{}|^$\\") ? NULL : strdup(pattern);
    search(v, v->search_back);
}

/* ---- the filter line ---- */

static void filter_feedback(struct view *v)
{
    cs_completion_free(&v->completion);
    v->completion_sel = -1;
    v->filter_error_set = 0;
    if (v->input.len > 0) {
        struct cs_filter f;
        memset(&f, 0, sizeof f);
        if (cs_filter_compile(v->db, v->input.text, 4, &f, &v->filter_error) != 0)
            v->filter_error_set = 1;
        else
            cs_filter_free(&f);
    }
    if (cs_filter_complete(v->db, v->input.text, v->input.cursor, &v->completion) != 0)
        cs_completion_free(&v->completion);
}

/* Tab (or Enter on a candidate Down/Up chose): the chosen or only
 * candidate, and a space; else what all candidates begin with. */
static void complete(struct view *v)
{
    struct cs_completion *c = &v->completion;
    if (c->n == 0)
        return;
    if (c->n == 1 || (v->completion_sel >= 0 && (size_t)v->completion_sel < c->n)) {
        const char *item = c->items[c->n == 1 ? 0 : v->completion_sel];
        size_t n = strlen(item);
        char *with = malloc(n + 2);
        if (!with)
            return;
        memcpy(with, item, n);
        memcpy(with + n, " ", 2);
        vi_replace(&v->input, c->from, with);
        free(with);
        return;
    }
    size_t common = vi_common_prefix(c->items, c->n);
    if (common > v->input.cursor - c->from) {
        char *with = strndup(c->items[0], common);
        if (with) {
            vi_replace(&v->input, c->from, with);
            free(with);
        }
    }
}

static void apply_filter(struct view *v)
{
    char *old = v->m.filter_text ? strdup(v->m.filter_text) : NULL;
    struct cs_expr_error err;
    if (vm_set_filter(&v->m, v->input.text, &err) != 0) {
        v->filter_error = err;
        v->filter_error_set = 1;
        free(old);
        return; /* the prompt stays, with the error */
    }
    v->prompt = PROMPT_NONE;
    cs_completion_free(&v->completion);
    struct vm_pos top = v->top;
    int sel = v->sel;
    v->top = (struct vm_pos){0, 0};
    v->sel = 0;
    v->hscroll = 0;
    int rc = load_window(v);
    if (rc == VM_CANCELLED) {
        /* the first page took too long and was cancelled: the old filter */
        vm_set_filter(&v->m, old, &err);
        v->top = top;
        v->sel = sel;
        load_window(v);
        set_message(v, 0, "filter cancelled");
    } else if (v->m.filter_text) {
        /* the first line under the heading, if any matched */
        if (v->nrows > 1 && v->rows[1].pos.id > 0)
            v->sel = 1;
    } else {
        set_message(v, 0, "filter removed");
    }
    free(old);
}

/* ---- keys ---- */

static void open_prompt(struct view *v, enum view_prompt p, const char *text)
{
    v->prompt = p;
    vi_set(&v->input, text ? text : "");
    v->message[0] = '\0';
    if (p == PROMPT_FILTER)
        filter_feedback(v);
}

static void prompt_key(struct view *v, int is_key, wint_t ch)
{
    enum vi_result r = vi_key(&v->input, is_key, ch);
    switch (r) {
    case VI_CANCEL:
        v->prompt = PROMPT_NONE;
        cs_completion_free(&v->completion);
        v->filter_error_set = 0;
        break;
    case VI_ENTER:
        if (v->prompt == PROMPT_FILTER && v->completion_sel >= 0) {
            complete(v);
            filter_feedback(v);
        } else if (v->prompt == PROMPT_FILTER) {
            apply_filter(v);
        } else {
            v->prompt = PROMPT_NONE;
            set_pattern(v, v->input.text);
        }
        break;
    case VI_TAB:
        if (v->prompt == PROMPT_FILTER) {
            complete(v);
            filter_feedback(v);
        }
        break;
    case VI_NEXT:
    case VI_PREV:
        if (v->prompt == PROMPT_FILTER && v->completion.n > 0) {
            int n = (int)v->completion.n, at = v->completion_sel;
            v->completion_sel = r == VI_NEXT ? (at + 1) % n : at <= 0 ? n - 1 : at - 1;
        }
        break;
    case VI_EDITED:
    case VI_MOVED:
        if (v->prompt == PROMPT_FILTER)
            filter_feedback(v);
        break;
    case VI_IGNORED: break;
    }
}

static void toggle_fold(struct view *v)
{
    if (v->sel >= v->nrows)
        return;
    begin_busy(v, "folding");
    int rc = vm_toggle_fold(&v->m, &v->rows[v->sel]);
    end_busy(v);
    if (rc == 0)
        set_message(v, 0, "no calls under this one");
    else if (rc < 0)
        report(v, rc, "folding");
    else
        load_window(v);
}

static void follow_tick(struct view *v)
{
    refresh_store_facts(v);
    vm_reload_threads(&v->m);
    goto_end(v);
}

static void resized(struct view *v)
{
    if (COLS < VIEW_MIN_COLS || LINES < VIEW_MIN_LINES)
        return;
    int h = view_tree_height(v);
    load_window(v);
    if (v->sel >= h) {
        /* keep the selection on screen */
        v->top = v->rows[v->sel - h + 1].pos;
        v->sel = h - 1;
        load_window(v);
    }
}

/* Handles a key in the calls; 1 to quit. */
static int normal_key(struct view *v, int is_key, wint_t ch)
{
    int h = view_tree_height(v);
    v->message[0] = '\0';
    if (is_key) {
        switch (ch) {
        case KEY_DOWN: move_down(v); return 0;
        case KEY_UP: move_up(v); return 0;
        case KEY_NPAGE:
            if (scroll_by(v, h) == 0)
                v->sel = v->nrows - 1;
            return 0;
        case KEY_PPAGE:
            if (scroll_by(v, -h) == 0)
                v->sel = 0;
            return 0;
        case KEY_HOME: v->top = (struct vm_pos){0, 0}; v->sel = 0; load_window(v); return 0;
        case KEY_END: goto_end(v); return 0;
        case KEY_LEFT: v->hscroll = v->hscroll > COLS / 4 ? v->hscroll - COLS / 4 : 0; return 0;
        case KEY_RIGHT: v->hscroll += COLS / 4; return 0;
        case KEY_ENTER: toggle_fold(v); return 0;
        case KEY_RESIZE: resized(v); return 0;
        case KEY_BTAB: v->details = !v->details; resized(v); return 0;
        }
        return 0;
    }
    switch (ch) {
    case 'q':
    case 'Q': return 1;
    case 'j':
    case 14: /* ^N */
        move_down(v);
        break;
    case 'k':
    case 16: /* ^P */
        move_up(v);
        break;
    case ' ':
    case 6: /* ^F */
        if (scroll_by(v, h) == 0)
            v->sel = v->nrows - 1;
        break;
    case 'b':
    case 2: /* ^B */
        if (scroll_by(v, -h) == 0)
            v->sel = 0;
        break;
    case 'g':
    case '<':
        v->top = (struct vm_pos){0, 0};
        v->sel = 0;
        load_window(v);
        break;
    case 'G':
    case '>': goto_end(v); break;
    case 'h': v->hscroll = v->hscroll > COLS / 4 ? v->hscroll - COLS / 4 : 0; break;
    case 'l': v->hscroll += COLS / 4; break;
    case '0': v->hscroll = 0; break;
    case '\n':
    case '\r':
    case 'o': toggle_fold(v); break;
    case 'd':
    case '\t':
        v->details = !v->details;
        resized(v);
        break;
    case '/':
        v->search_back = 0;
        open_prompt(v, PROMPT_SEARCH, NULL);
        break;
    case '?':
        v->search_back = 1;
        open_prompt(v, PROMPT_SEARCH, NULL);
        break;
    case 'n': search(v, v->search_back); break;
    case 'N': search(v, !v->search_back); break;
    case 'f': open_prompt(v, PROMPT_FILTER, v->m.filter_text); break;
    case 'F':
        v->follow = 1;
        follow_tick(v);
        break;
    case 12: clearok(curscr, TRUE); break; /* ^L */
    }
    return 0;
}

static void loop(struct view *v)
{
    int64_t last_tick = cs_monotonic_ns();
    for (;;) {
        wint_t ch;
        int rc;
        if (v->npending > 0) {
            rc = v->pending[0].is_key ? KEY_CODE_YES : OK;
            ch = v->pending[0].ch;
            memmove(v->pending, v->pending + 1, (size_t)--v->npending * sizeof v->pending[0]);
        } else {
            view_draw(v);
            rc = get_wch(&ch);
        }
        int64_t now = cs_monotonic_ns();
        if (rc == ERR) {
            if (v->follow && now - last_tick >= FOLLOW_EVERY_NS) {
                follow_tick(v);
                last_tick = now;
            } else if (!v->follow && now - last_tick >= REFRESH_EVERY_NS) {
                refresh_store_facts(v);
                last_tick = now;
            }
            continue;
        }
        int is_key = rc == KEY_CODE_YES;
        if (COLS < VIEW_MIN_COLS || LINES < VIEW_MIN_LINES) {
            if (!is_key && (ch == 'q' || ch == 'Q'))
                return;
            if (is_key && ch == KEY_RESIZE)
                resized(v);
            continue;
        }
        if (v->follow && !(is_key && ch == KEY_RESIZE)) {
            v->follow = 0; /* any key stops following, as in less */
            set_message(v, 0, "stopped following");
            continue;
        }
        if (v->prompt != PROMPT_NONE) {
            if (is_key && ch == KEY_RESIZE)
                resized(v);
            else
                prompt_key(v, is_key, ch);
            continue;
        }
        if (normal_key(v, is_key, ch))
            return;
    }
}

/* ---- the command ---- */

static void usage(FILE *f)
{
    fputs("usage: callscope view [FILE] [--filter EXPR] [--follow] [--no-color]\n"
          "Browses the calls recorded in FILE (default ./callscope.db) in the terminal:\n"
          "the call tree per thread, search, filters, details, and follow mode while the\n"
          "program still records. Keys are listed in docs/view.md; q quits.\n",
          f);
}

int cs_cmd_view(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"filter", required_argument, NULL, 'x'}, {"follow", no_argument, NULL, 'F'},
        {"no-color", no_argument, NULL, 'n'},     {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct view v;
    memset(&v, 0, sizeof v);
    v.completion_sel = -1;
    v.path = CS_DEFAULT_DB;
    const char *filter = NULL;
    int no_color = 0, follow = 0, opt;
    char **args = cs_getopt_argv(argc, argv, "callscope view");
    if (!args)
        return cs_error("out of memory"), CS_EXIT_FAILURE;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc + 1, args, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'x': filter = optarg; break;
        case 'F': follow = 1; break;
        case 'n': no_color = 1; break;
        case 'h': usage(stdout); free(args); return 0;
        case ':': cs_error("%s needs a value", args[optind - 1]); free(args); return CS_EXIT_USAGE;
        default:
            cs_error("view: unknown option '%s' (see callscope view --help)", args[optind - 1]);
            free(args);
            return CS_EXIT_USAGE;
        }
    }
    int bad = cs_take_path("view", argc, args, &v.path);
    free(args);
    if (bad)
        return CS_EXIT_USAGE;

    /* From here on every way out goes through the labels at the end, which
     * close what is open, in the reverse order. */
    int status = CS_EXIT_FAILURE;
    v.db = cs_open_store(v.path);
    if (!v.db)
        return CS_EXIT_FAILURE;
    if (vm_open(&v.m, v.db) != 0) {
        cs_error("cannot read %s: %s", v.path, cs_db_error(v.db));
        goto close_store;
    }
    if (filter) {
        struct cs_expr_error err;
        if (vm_set_filter(&v.m, filter, &err) != 0) {
            cs_filter_print_error(filter, &err);
            status = CS_EXIT_USAGE;
            goto close_model;
        }
    }
    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
        cs_error("view needs a terminal (standard %s is not one); use callscope show for text",
                 isatty(STDIN_FILENO) ? "output" : "input");
        goto close_model;
    }
    v.m.poll = poll_cancel;
    v.m.poll_ctx = &v;
    v.wall0 = cs_store_wall_start(v.db);
    refresh_store_facts(&v);

    setlocale(LC_ALL, "");
    if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
        setlocale(LC_CTYPE, "C.UTF-8"); /* the lines hold UTF-8 whatever the locale */
    const char *no_color_env = getenv("NO_COLOR");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    atexit(restore_terminal);
    SCREEN *screen = newterm(NULL, stdout, stdin);
    if (!screen) {
        const char *term = getenv("TERM");
        cs_error("view: cannot use the terminal '%s'", term ? term : "(TERM is not set)");
        goto close_model;
    }
    curses_on = 1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    timeout(250);
    curs_set(0);
    v.color = !no_color && !(no_color_env && *no_color_env) && has_colors();
    view_init_colors(&v);

    v.top = (struct vm_pos){0, 0};
    load_window(&v);
    if (v.m.filter_text && v.nrows > 1)
        v.sel = 1;
    if (follow) {
        v.follow = 1;
        follow_tick(&v);
    }
    loop(&v);

    restore_terminal();
    delscreen(screen);
    vm_rows_clear(v.rows, v.nrows);
    free(v.rows);
    if (v.have_re)
        regfree(&v.re);
    free(v.literal);
    cs_completion_free(&v.completion);
    status = CS_EXIT_OK;
close_model:
    vm_close(&v.m);
close_store:
    cs_close_store(v.db);
    return status;
}
