/*
 * tui_reports.c — what the reports pane shows of an observation's reports:
 * each report's lines, less what is folded. A whole report folds to its
 * first line; in a call tree, a call folds to its own line, hiding what it
 * called. The tree's shape is read back from the lines the commands'
 * renderer drew (its guides and branches), so the TUI keeps no second
 * rendering of the tree.
 */
#include "tui/tui.h"

#include <stdlib.h>
#include <string.h>

#define GUIDE "\xe2\x94\x82   " /* "│   " */
#define BRANCH "\xe2\x94\x9c\xe2\x94\x80 " /* "├─ " */
#define LAST_BRANCH "\xe2\x94\x94\xe2\x94\x80 " /* "└─ " */

/* A tree line's depth (0 for the traced call), or -1 for any other line. */
static int tree_depth(const char *line)
{
    const char *p = line;
    int units = 0;
    for (;;) {
        if (!strncmp(p, GUIDE, strlen(GUIDE)))
            p += strlen(GUIDE);
        else if (!strncmp(p, "    ", 4))
            p += 4;
        else
            break;
        units++;
    }
    int depth = units;
    if (!strncmp(p, BRANCH, strlen(BRANCH)) || !strncmp(p, LAST_BRANCH, strlen(LAST_BRANCH))) {
        p += strlen(BRANCH);
        depth = units + 1;
    } else if (units) {
        return -1; /* indented text: a stack's frames, a watch's values */
    }
    if (!strncmp(p, "(depth ", 7)) /* a node deeper than the guides drawn */
        return atoi(p + 7) < 100000 ? atoi(p + 7) : -1;
    return p[0] == '[' ? depth : -1;
}

int tui_entry_index(struct tui_entry *e)
{
    e->depth = malloc((size_t)e->nlines * sizeof *e->depth);
    e->fold = calloc((size_t)e->nlines, 1);
    if (!e->depth || !e->fold)
        return -1;
    for (int i = 0; i < e->nlines; i++)
        e->depth[i] = tree_depth(e->lines[i]);
    return 0;
}

/* How many lines follow line i deeper than it (what folding it hides). */
static int subtree_size(const struct tui_entry *e, int i)
{
    int n = 0;
    if (e->depth[i] < 0)
        return 0;
    while (i + 1 + n < e->nlines && e->depth[i + 1 + n] > e->depth[i])
        n++;
    return n;
}

int tui_visible_rows(const struct tui_observation *o, struct tui_row **out)
{
    int n = 0, cap = 0;
    struct tui_row *rows = NULL;
    for (int k = 0; k < o->nentries; k++) {
        const struct tui_entry *e = &o->entries[k];
        for (int i = 0; i < e->nlines; i++) {
            int hidden = i == 0 && e->folded ? e->nlines - 1 : e->fold[i] ? subtree_size(e, i) : 0;
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                struct tui_row *more = realloc(rows, (size_t)cap * sizeof *rows);
                if (!more) {
                    free(rows);
                    *out = NULL;
                    return 0;
                }
                rows = more;
            }
            rows[n++] = (struct tui_row){k, i, hidden};
            if (i == 0 && e->folded)
                break;
            i += e->fold[i] ? hidden : 0;
        }
    }
    *out = rows;
    return n;
}

int tui_toggle_fold(struct tui_entry *e, int line)
{
    if (line == 0) {
        e->folded = !e->folded;
        return 1;
    }
    if (line < e->nlines && subtree_size(e, line) > 0) {
        e->fold[line] = !e->fold[line];
        return 1;
    }
    return 0;
}
