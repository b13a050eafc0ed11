/*
 * view.h — the state of `callscope view` shared by its parts: the command
 * and its key loop (view.c), drawing (draw.c), the window over the
 * calls (model.c) and the line editor (input.c).
 */
#ifndef CALLSCOPE_VIEW_VIEW_H
#define CALLSCOPE_VIEW_VIEW_H

#include <regex.h>
#include <sqlite3.h>
#include <stdint.h>

#include "query/filter.h"
#include "util/textbuf.h"
#include "view/input.h"
#include "view/model.h"

/* Smallest usable terminal. */
#define VIEW_MIN_COLS 40
#define VIEW_MIN_LINES 10

enum view_prompt { PROMPT_NONE, PROMPT_SEARCH, PROMPT_FILTER };

struct view {
    const char *path;
    sqlite3 *db;
    struct view_model m;
    int64_t wall0;
    /* the window: the lines of the call pane, from `top` */
    struct vm_row *rows;
    int nrows, cap;
    struct vm_pos top;
    int sel;     /* index of the selected line in rows */
    int hscroll; /* columns scrolled to the right */
    int details; /* the details pane is open */
    int follow;  /* F: keep showing the newest calls */
    int color;
    int finished;
    int64_t max_id;
    regex_t re;
    int have_re;
    char *literal; /* the pattern, when it has no special character: strstr is faster */
    int search_back; /* the last search went backwards (?) */
    char message[512];
    int message_is_error;
    enum view_prompt prompt;
    struct view_input input;
    struct cs_expr_error filter_error; /* of the filter being typed */
    int filter_error_set;
    struct cs_completion completion; /* candidates at the cursor */
    int completion_sel;              /* the one Down/Up chose, or -1 */
    /* a long operation: shown in the status line while it runs */
    const char *busy;
    double busy_fraction; /* <0: unknown */
    int64_t busy_since_ns, busy_polled_ns;
    int cancel;      /* Esc was pressed during the operation */
    int busy_shown; /* its progress is on the screen */
    /* keys typed while an operation ran, handled after it */
    struct {
        int is_key;
        wint_t ch;
    } pending[32];
    int npending;
};

/* The height of the call pane for the current terminal. */
int view_tree_height(const struct view *v);

/* Where the search pattern first matches text (NUL-terminated), from
 * byte `from`: 0 and *so, *eo set, or -1. */
int view_match(const struct view *v, const char *text, size_t from, size_t *so, size_t *eo);

/* The text of a line as shown (without its indentation) into b, for search. */
void view_line_plain(const struct view *v, const struct vm_row *r, struct cs_textbuf *b);

void view_draw(struct view *v);
/* Just the status line, for progress while an operation runs. */
void view_draw_status(struct view *v);
/* Everything but the details pane (which queries): while an operation runs. */
void view_draw_busy(struct view *v);
void view_init_colors(struct view *v);

#endif
