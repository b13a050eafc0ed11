/*
 * tui.c — `callscope tui [PID]`: the screen and its keys (see tui.h).
 *
 *   ┌ header: the process ─────────────────────────────────────────────┐
 *   │ observations      │ the selected observation's reports, newest    │
 *   │ (trace, watch...) │ last, each foldable to its first line         │
 *   ├ keys ─────────────────────────────────────────────────────────────┤
 *   └ status, or the pattern being typed ───────────────────────────────┘
 *
 * The viewer's keys where they mean the same (arrows, PgUp/PgDn, Home/End,
 * Enter to fold, q to quit); Peeka's TUI's where it has them (c clears the
 * records, Delete removes the selected observation). Everything reaches the
 * process through the agent, as the live commands do; leaving the TUI (q)
 * ends its observations, and d detaches.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui/tui.h"

#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/agent_client.h"
#include "live/protocol.h"
#include "util/error.h"
#include "view/input.h"

#define MAX_OBSERVATIONS 16
#define LIST_WIDTH 32
#define MAX_PROCESSES 512

enum pane { PANE_LIST, PANE_REPORTS, PANE_ANSWER };

struct tui {
    int pid;
    char cmdline[512];
    struct tui_observation obs[MAX_OBSERVATIONS];
    int nobs, selected;
    enum pane pane;
    int cursor, line; /* the report and its line under the cursor, in the selected observation */
    int following;    /* the cursor moves to each new report */
    char *answer;       /* the last question's answer (threads, top), for PANE_ANSWER */
    char answer_of;     /* the key that asked it: T or P */
    int answer_top;
    char status[700];
    int prompting; /* the command whose pattern is being typed, or 0 */
    struct view_input input;
    char **candidates; /* Tab: the loaded functions the pattern could be (sm) */
    int ncandidates, candidate;
    FILE *errors; /* stderr while the screen is up: the last line is the reason of a failure */
    long errors_seen;
};

static const char *command_word(int command)
{
    switch (command) {
    case CS_LIVE_TRACE: return "trace";
    case CS_LIVE_WATCH: return "watch";
    case CS_LIVE_STACK: return "stack";
    case CS_LIVE_MONITOR: return "monitor";
    default: return "?";
    }
}

/* The last line written to stderr since the last call, into status. */
static void take_error(struct tui *t, const char *otherwise)
{
    char line[700] = "";
    fflush(stderr);
    if (t->errors) {
        fseek(t->errors, t->errors_seen, SEEK_SET);
        char buf[700];
        while (fgets(buf, sizeof buf, t->errors)) {
            buf[strcspn(buf, "\n")] = 0;
            if (buf[0])
                snprintf(line, sizeof line, "%s", buf);
        }
        t->errors_seen = ftell(t->errors);
    }
    snprintf(t->status, sizeof t->status, "%s", line[0] ? line : otherwise);
}

/* ---- drawing ---- */

/* Writes at most `width` columns of text (UTF-8) at y, x. */
static void put_clipped(int y, int x, int width, const char *text)
{
    if (width <= 0)
        return;
    size_t n = strlen(text), at = 0;
    int used = 0;
    mbstate_t st = {0};
    while (at < n) {
        wchar_t wc;
        size_t len = vi_next_char(text + at, n - at, &st, &wc);
        int w = vi_columns(text + at, len);
        if (used + w > width)
            break;
        at += len;
        used += w;
    }
    mvaddnstr(y, x, text, (int)at);
}

/* The row the cursor is on (clamped into the rows). */
static int cursor_row(struct tui *t, const struct tui_row *rows, int n)
{
    int r = n - 1;
    for (int i = 0; i < n; i++)
        if (rows[i].entry == t->cursor && rows[i].line <= t->line)
            r = i;
        else if (rows[i].entry > t->cursor)
            break;
    if (n && rows[r].entry != t->cursor) /* the report went (cleared, or the oldest dropped) */
        r = n - 1;
    if (n) {
        t->cursor = rows[r].entry;
        t->line = rows[r].line;
    }
    return r;
}

static void draw_reports(struct tui *t, int top, int height, int x, int width)
{
    if (t->nobs == 0) {
        put_clipped(top + 1, x + 1, width - 2, "No observation yet: t traces a function, w watches one,");
        put_clipped(top + 2, x + 1, width - 2, "s shows who calls it, m counts its calls; T shows the threads, P top.");
        return;
    }
    struct tui_observation *o = &t->obs[t->selected];
    attron(A_BOLD);
    char head[800];
    snprintf(head, sizeof head, "%s %s · %lld received · %s", command_word(o->command), o->pattern, o->received,
             o->status);
    put_clipped(top, x, width, head);
    attroff(A_BOLD);
    struct tui_row *rows;
    int n = tui_visible_rows(o, &rows);
    if (n == 0) {
        free(rows);
        return;
    }
    /* the cursor on screen, and the rest of its report below it if it fits */
    int r = cursor_row(t, rows, n), end = r, space = height - 1;
    while (end + 1 < n && rows[end + 1].entry == rows[r].entry)
        end++;
    int first = end - space + 1 > 0 ? end - space + 1 : 0;
    if (first > r)
        first = r;
    for (int i = first, y = top + 1; i < n && y < top + height; i++, y++) {
        const struct tui_entry *e = &o->entries[rows[i].entry];
        const char *text = e->lines[rows[i].line];
        char line[4200];
        if (rows[i].hidden) /* the mark first: long lines are cut at the right */
            snprintf(line, sizeof line, "(+%d) %s", rows[i].hidden, text);
        else
            snprintf(line, sizeof line, "%s", text);
        if (i == r && t->pane == PANE_REPORTS)
            attron(A_REVERSE);
        put_clipped(y, x, width, line);
        attroff(A_REVERSE);
    }
    free(rows);
}

static void draw_answer(struct tui *t, int top, int height, int x, int width)
{
    attron(A_BOLD);
    put_clipped(top, x, width, t->answer_of == 'P' ? "top: where the CPU time went in the last second (r samples again, Esc goes back)"
                                                   : "threads (r refreshes, Esc goes back)");
    attroff(A_BOLD);
    const char *p = t->answer ? t->answer : "";
    int line = 0, y = top + 1;
    while (*p && y < top + height) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (line++ >= t->answer_top) {
            char buf[4200];
            snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf - 1 ? n : sizeof buf - 1), p);
            put_clipped(y++, x, width, buf);
        }
        p += n + (nl != NULL);
    }
}

static void draw(struct tui *t)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    erase();
    char header[700];
    snprintf(header, sizeof header, " callscope tui · pid %d · %s", t->pid, t->cmdline);
    attron(A_REVERSE);
    mvhline(0, 0, ' ', cols);
    put_clipped(0, 0, cols, header);
    attroff(A_REVERSE);
    int top = 1, height = rows - 3;
    int list_w = cols > 3 * LIST_WIDTH ? LIST_WIDTH : cols / 3;
    for (int i = 0; i < t->nobs && i < height; i++) {
        const struct tui_observation *o = &t->obs[i];
        char item[600];
        snprintf(item, sizeof item, "%c%-7s %s (%lld)%s", i == t->selected ? '>' : ' ', command_word(o->command),
                 o->pattern, o->received, o->fd < 0 ? " ended" : "");
        if (i == t->selected && t->pane == PANE_LIST)
            attron(A_REVERSE);
        put_clipped(top + i, 0, list_w - 1, item);
        attroff(A_REVERSE);
    }
    mvvline(top, list_w - 1, ACS_VLINE, height);
    if (t->pane == PANE_ANSWER)
        draw_answer(t, top, height, list_w + 1, cols - list_w - 1);
    else
        draw_reports(t, top, height, list_w + 1, cols - list_w - 1);
    attron(A_DIM);
    if (t->prompting) /* what completion found shows where the keys were */
        put_clipped(rows - 2, 0, cols, t->status[0] ? t->status : "Tab completes from the loaded functions");
    else
        put_clipped(rows - 2, 0, cols,
                    "t trace  w watch  s stack  m monitor  Tab pane  Enter fold  c clear  Del/x delete  T threads  P top  "
                    "d detach  q quit");
    attroff(A_DIM);
    if (t->prompting) {
        char prompt[64];
        snprintf(prompt, sizeof prompt, "%s pattern: ", command_word(t->prompting));
        mvaddstr(rows - 1, 0, prompt);
        put_clipped(rows - 1, (int)strlen(prompt), cols - (int)strlen(prompt) - 1, t->input.text);
        curs_set(1);
        move(rows - 1, (int)strlen(prompt) + vi_columns(t->input.text, t->input.cursor));
    } else {
        put_clipped(rows - 1, 0, cols, t->status);
        curs_set(0);
    }
    refresh();
}

/* ---- actions ---- */

static void draw(struct tui *t);

static void start_observation(struct tui *t, int command, const char *pattern)
{
    if (t->nobs == MAX_OBSERVATIONS) {
        snprintf(t->status, sizeof t->status, "at most %d observations at once: delete one first (Del)",
                 MAX_OBSERVATIONS);
        return;
    }
    struct tui_observation *o = &t->obs[t->nobs];
    if (tui_observation_start(o, t->pid, command, pattern) != 0) {
        tui_observation_free(o);
        take_error(t, "could not start the observation");
        return;
    }
    t->selected = t->nobs++;
    t->cursor = t->line = 0;
    t->following = 1;
    t->pane = PANE_REPORTS;
    snprintf(t->status, sizeof t->status, "%s %s: waiting for calls", command_word(command), pattern);
}

static void delete_observation(struct tui *t)
{
    if (t->nobs == 0)
        return;
    tui_observation_free(&t->obs[t->selected]);
    memmove(&t->obs[t->selected], &t->obs[t->selected + 1],
            (size_t)(t->nobs - t->selected - 1) * sizeof t->obs[0]);
    t->nobs--;
    if (t->selected >= t->nobs && t->selected > 0)
        t->selected--;
    t->cursor = t->line = 0;
    t->following = 1;
    snprintf(t->status, sizeof t->status, "observation removed");
}

/* T: the threads and their stacks; P: a second of `top`. The answer
 * replaces the reports until Esc. */
static void ask(struct tui *t, char key)
{
    static const char *const top_args[] = {"-n", "1", "-i", "1"};
    char err[600];
    if (key == 'P') {
        snprintf(t->status, sizeof t->status, "sampling process %d for a second...", t->pid);
        draw(t);
    }
    char *answer = key == 'P' ? tui_ask(t->pid, "top", 4, top_args, err, sizeof err)
                              : tui_ask(t->pid, "thread", 0, NULL, err, sizeof err);
    if (!answer) {
        take_error(t, err);
        return;
    }
    free(t->answer);
    t->answer = answer;
    t->answer_of = key;
    t->answer_top = 0;
    t->pane = PANE_ANSWER;
    snprintf(t->status, sizeof t->status, "%s of process %d", key == 'P' ? "top" : "threads", t->pid);
}

/* ---- keys ---- */

static void forget_candidates(struct tui *t)
{
    for (int i = 0; i < t->ncandidates; i++)
        free(t->candidates[i]);
    free(t->candidates);
    t->candidates = NULL;
    t->ncandidates = t->candidate = 0;
}

/* Tab: asks the agent which loaded functions begin with what was typed
 * (`sm TEXT*`); one is taken at once, several leave their common start in
 * the line and Down/Up go through them. */
static void complete(struct tui *t)
{
    forget_candidates(t);
    char pattern[VI_MAX + 2], err[600];
    snprintf(pattern, sizeof pattern, "%s*", t->input.text);
    const char *argv[] = {pattern, "-n", "200"};
    char *answer = tui_ask(t->pid, "sm", 3, argv, err, sizeof err);
    if (!answer) {
        take_error(t, err);
        return;
    }
    /* one match per line, its name first; indented and summary lines aside */
    for (char *line = strtok(answer, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == ' ' || (line[0] >= '0' && line[0] <= '9'))
            continue;
        size_t n = strcspn(line, " ");
        char **more = realloc(t->candidates, (size_t)(t->ncandidates + 1) * sizeof *more);
        if (!more)
            break;
        t->candidates = more;
        if (!(t->candidates[t->ncandidates] = strndup(line, n)))
            break;
        t->ncandidates++;
    }
    free(answer);
    if (t->ncandidates == 0) {
        snprintf(t->status, sizeof t->status, "no loaded function begins with '%.500s'", t->input.text);
        return;
    }
    size_t common = vi_common_prefix(t->candidates, (size_t)t->ncandidates);
    char start[VI_MAX + 1];
    snprintf(start, sizeof start, "%.*s", (int)common, t->candidates[0]);
    vi_set(&t->input, start);
    if (t->ncandidates == 1) {
        snprintf(t->status, sizeof t->status, "%s", t->candidates[0]);
        forget_candidates(t);
        return;
    }
    t->candidate = -1;
    snprintf(t->status, sizeof t->status, "%d functions: Down and Up choose (%s, %s%s)", t->ncandidates,
             t->candidates[0], t->candidates[1], t->ncandidates > 2 ? ", ..." : "");
}

static void choose_candidate(struct tui *t, int delta)
{
    if (!t->ncandidates)
        return;
    t->candidate = (t->candidate + delta + t->ncandidates) % t->ncandidates;
    vi_set(&t->input, t->candidates[t->candidate]);
    snprintf(t->status, sizeof t->status, "%d of %d", t->candidate + 1, t->ncandidates);
}

/* The pattern line. */
static void prompt_key(struct tui *t, int is_key, wint_t ch)
{
    switch (vi_key(&t->input, is_key, ch)) {
    case VI_TAB:
        complete(t);
        return;
    case VI_NEXT:
        choose_candidate(t, 1);
        return;
    case VI_PREV:
        choose_candidate(t, -1);
        return;
    case VI_EDITED:
        forget_candidates(t);
        break;
    case VI_ENTER:
        if (t->input.len)
            start_observation(t, t->prompting, t->input.text);
        t->prompting = 0;
        break;
    case VI_CANCEL:
        t->prompting = 0;
        snprintf(t->status, sizeof t->status, "cancelled");
        break;
    default:
        break;
    }
}

static void move_cursor(struct tui *t, int delta)
{
    if (t->pane == PANE_LIST) {
        t->selected += delta;
        if (t->selected >= t->nobs)
            t->selected = t->nobs - 1;
        if (t->selected < 0)
            t->selected = 0;
        t->cursor = t->nobs ? t->obs[t->selected].nentries - 1 : 0;
        t->line = 0;
        t->following = 1;
    } else if (t->pane == PANE_ANSWER) {
        t->answer_top += delta;
        if (t->answer_top < 0)
            t->answer_top = 0;
    } else if (t->nobs) {
        struct tui_row *rows;
        int n = tui_visible_rows(&t->obs[t->selected], &rows);
        if (n) {
            int r = cursor_row(t, rows, n) + delta;
            r = r < 0 ? 0 : r >= n ? n - 1 : r;
            t->cursor = rows[r].entry;
            t->line = rows[r].line;
            t->following = r == n - 1; /* on the newest line: new reports are followed */
        }
        free(rows);
    }
}

/* One key; returns 0 when the TUI should end. */
static int main_key(struct tui *t, int is_key, wint_t ch)
{
    if (t->prompting) {
        prompt_key(t, is_key, ch);
        return 1;
    }
    if (is_key) {
        switch (ch) {
        case KEY_UP: move_cursor(t, -1); break;
        case KEY_DOWN: move_cursor(t, 1); break;
        case KEY_PPAGE: move_cursor(t, -10); break;
        case KEY_NPAGE: move_cursor(t, 10); break;
        case KEY_HOME: move_cursor(t, -1000000); break;
        case KEY_END: move_cursor(t, 1000000); break;
        case KEY_DC: delete_observation(t); break;
        case KEY_ENTER: goto fold;
        }
        return 1;
    }
    switch (ch) {
    case 'q':
        return 0;
    case 't':
    case 'w':
    case 's':
    case 'm':
        t->prompting = ch == 't' ? CS_LIVE_TRACE : ch == 'w' ? CS_LIVE_WATCH : ch == 's' ? CS_LIVE_STACK
                                                                                          : CS_LIVE_MONITOR;
        vi_set(&t->input, "");
        t->status[0] = 0;
        forget_candidates(t);
        break;
    case '\t':
        t->pane = t->pane == PANE_LIST ? PANE_REPORTS : PANE_LIST;
        break;
    case 27: /* Esc */
        if (t->pane == PANE_ANSWER)
            t->pane = PANE_REPORTS;
        break;
    case 'k': move_cursor(t, -1); break;
    case 'j': move_cursor(t, 1); break;
    case 'x': delete_observation(t); break;
    case 'c':
        if (t->nobs) {
            tui_observation_clear(&t->obs[t->selected]);
            t->cursor = t->line = 0;
            t->following = 1;
            snprintf(t->status, sizeof t->status, "records cleared");
        }
        break;
    case 'T':
    case 'P':
        ask(t, (char)ch);
        break;
    case 'r':
        if (t->pane == PANE_ANSWER)
            ask(t, t->answer_of);
        break;
    case 'd': {
        char err[600];
        for (int i = 0; i < t->nobs; i++)
            tui_observation_free(&t->obs[i]);
        t->nobs = t->selected = t->cursor = t->line = 0;
        if (tui_detach(t->pid, err, sizeof err) == 0)
            snprintf(t->status, sizeof t->status, "detached from process %d: nothing of callscope runs there now",
                     t->pid);
        else
            take_error(t, err);
        break;
    }
    case '\n':
    case '\r':
    fold:
        if (t->pane == PANE_REPORTS && t->nobs && t->cursor < t->obs[t->selected].nentries &&
            tui_toggle_fold(&t->obs[t->selected].entries[t->cursor], t->line))
            t->following = 0; /* the report stays under the cursor while new ones arrive (End follows again) */
        break;
    }
    return 1;
}

/* ---- the process picker ---- */

static int pick_process(struct tui *t)
{
    static struct tui_process procs[MAX_PROCESSES];
    int n = tui_list_processes(procs, MAX_PROCESSES), at = n ? n - 1 : 0;
    for (;;) {
        int rows, cols;
        getmaxyx(stdscr, rows, cols);
        erase();
        attron(A_REVERSE);
        mvhline(0, 0, ' ', cols);
        put_clipped(0, 0, cols, " callscope tui · choose a Python process (Enter), r refreshes, q quits");
        attroff(A_REVERSE);
        if (n == 0)
            put_clipped(2, 1, cols - 2, "No Python process of yours is running.");
        int first = at >= rows - 3 ? at - (rows - 3) + 1 : 0;
        for (int i = first, y = 1; i < n && y < rows - 1; i++, y++) {
            char line[700];
            snprintf(line, sizeof line, "%8d  %s", procs[i].pid, procs[i].cmdline);
            if (i == at)
                attron(A_REVERSE);
            put_clipped(y, 0, cols, line);
            attroff(A_REVERSE);
        }
        refresh();
        wint_t ch;
        int r = get_wch(&ch);
        if (r == ERR)
            continue;
        if (r == KEY_CODE_YES && ch == KEY_UP && at > 0)
            at--;
        else if (r == KEY_CODE_YES && ch == KEY_DOWN && at + 1 < n)
            at++;
        else if (r == OK && ch == 'q')
            return -1;
        else if (r == OK && ch == 'r')
            n = tui_list_processes(procs, MAX_PROCESSES), at = n ? n - 1 : 0;
        else if (((r == OK && (ch == '\n' || ch == '\r')) || (r == KEY_CODE_YES && ch == KEY_ENTER)) && n) {
            t->pid = procs[at].pid;
            snprintf(t->cmdline, sizeof t->cmdline, "%s", procs[at].cmdline);
            return 0;
        }
    }
}

/* ---- the loop ---- */

static void run(struct tui *t)
{
    snprintf(t->status, sizeof t->status, "process %d: press t to trace a function (the keys are listed above)", t->pid);
    for (;;) {
        draw(t);
        struct pollfd fds[MAX_OBSERVATIONS + 1];
        int owner[MAX_OBSERVATIONS + 1];
        int n = 0;
        fds[n] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        owner[n++] = -1;
        for (int i = 0; i < t->nobs; i++)
            if (t->obs[i].fd >= 0) {
                fds[n] = (struct pollfd){.fd = t->obs[i].fd, .events = POLLIN};
                owner[n++] = i;
            }
        if (poll(fds, (nfds_t)n, 250) < 0 && errno != EINTR)
            return;
        if (cs_agent_interrupted)
            return;
        for (int k = 1; k < n; k++) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct tui_observation *o = &t->obs[owner[k]];
            int before = o->nentries;
            tui_observation_read(o);
            if (owner[k] == t->selected && t->following && o->nentries != before) {
                t->cursor = o->nentries - 1;
                t->line = 0;
            }
        }
        wint_t ch;
        int r;
        while ((r = get_wch(&ch)) != ERR) {
            if (r == KEY_CODE_YES && ch == KEY_RESIZE)
                continue;
            if (!main_key(t, r == KEY_CODE_YES, ch))
                return;
        }
    }
}

static void usage(FILE *out)
{
    fputs("usage: callscope tui [PID]\n"
          "The live commands in one screen: choose a Python process (or give its PID), start\n"
          "trace, watch, stack and monitor observations and see their reports arrive, fold them,\n"
          "look at the threads, detach. Keys are listed at the bottom of the screen.\n",
          out);
}

int cs_cmd_tui(int argc, char **argv)
{
    struct tui *t = calloc(1, sizeof *t);
    if (!t) {
        cs_error("out of memory");
        return CS_EXIT_FAILURE;
    }
    int status = CS_EXIT_USAGE;
    if (argc > 1 || (argc == 1 && argv[0][0] == '-')) {
        int help = argc == 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"));
        usage(help ? stdout : stderr);
        status = help ? 0 : CS_EXIT_USAGE;
        goto out;
    }
    if (argc == 1) {
        pid_t pid;
        if (cs_parse_pid(argv[0], &pid) != 0)
            goto out;
        t->pid = (int)pid;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d", t->pid);
        if (access(path, F_OK) != 0) {
            cs_error("no process %d", t->pid);
            status = CS_EXIT_FAILURE;
            goto out;
        }
        FILE *f;
        snprintf(path, sizeof path, "/proc/%d/cmdline", t->pid);
        if ((f = fopen(path, "re")) != NULL) {
            size_t n = fread(t->cmdline, 1, sizeof t->cmdline - 1, f);
            fclose(f);
            for (size_t i = 0; i < n; i++)
                t->cmdline[i] = t->cmdline[i] == 0 ? ' ' : (unsigned char)t->cmdline[i] < 0x20 ? '?' : t->cmdline[i];
        }
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        cs_error("tui needs a terminal (for scripts: trace, watch... print JSON lines)");
        status = CS_EXIT_USAGE;
        goto out;
    }
    cs_agent_client_catch_signals();
    /* while the screen is up, what callscope would say on stderr is kept
     * and shown on the status line instead */
    int saved_stderr = dup(STDERR_FILENO);
    t->errors = tmpfile();
    if (t->errors)
        dup2(fileno(t->errors), STDERR_FILENO);
    setlocale(LC_ALL, "");
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    status = 0;
    if (t->pid || pick_process(t) == 0) {
        nodelay(stdscr, TRUE);
        run(t);
    }
    endwin();
    if (saved_stderr >= 0) {
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
    }
    for (int i = 0; i < t->nobs; i++)
        tui_observation_free(&t->obs[i]);
    forget_candidates(t);
    if (t->errors)
        fclose(t->errors);
    free(t->answer);
out:
    free(t);
    return status;
}
