/*
 * input.h — the one-line editor under the viewer's calls, used for the
 * search pattern (`/`) and the filter (`f`): UTF-8 text, a cursor, the usual
 * editing keys, and completion by replacing the word before the cursor.
 */
#ifndef CALLSCOPE_VIEW_INPUT_H
#define CALLSCOPE_VIEW_INPUT_H

#include <stddef.h>
#include <wchar.h>

#define VI_MAX 4096

struct view_input {
    char text[VI_MAX + 1]; /* UTF-8, NUL-terminated */
    size_t len, cursor;    /* bytes */
};

/* VI_NEXT, VI_PREV: Down and Up, which choose among candidates. */
enum vi_result { VI_EDITED, VI_MOVED, VI_ENTER, VI_CANCEL, VI_TAB, VI_NEXT, VI_PREV, VI_IGNORED };

void vi_set(struct view_input *in, const char *text);

/* Applies one key from wget_wch: `is_key` when it was a KEY_* code. */
enum vi_result vi_key(struct view_input *in, int is_key, wint_t ch);

/* Replaces text[from .. cursor) with `with`, leaving the cursor after it. */
void vi_replace(struct view_input *in, size_t from, const char *with);

/* The length in bytes of the longest prefix the n (n >= 1) completion
 * candidates share: what Tab can fill in when none is chosen yet. */
size_t vi_common_prefix(char *const *items, size_t n);

/* Decodes the character at text (at most `bytes`): its length in bytes,
 * at least 1; an invalid byte reads as '?'. */
size_t vi_next_char(const char *text, size_t bytes, mbstate_t *st, wchar_t *wc);
/* Screen columns of text[0 .. bytes). */
int vi_columns(const char *text, size_t bytes);

#endif
