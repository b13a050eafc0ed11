/*
 * input.c — the viewer's line editor (see input.h).
 */
#define _XOPEN_SOURCE_EXTENDED 1
#include "view/input.h"

#include <curses.h>
#include <limits.h>
#include <string.h>

void vi_set(struct view_input *in, const char *text)
{
    size_t n = strlen(text);
    if (n > VI_MAX)
        n = VI_MAX;
    memcpy(in->text, text, n);
    in->text[n] = '\0';
    in->len = in->cursor = n;
}

static int is_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

static size_t prev_char(const struct view_input *in, size_t at)
{
    while (at > 0 && is_continuation((unsigned char)in->text[--at]))
        ;
    return at;
}

static size_t next_char(const struct view_input *in, size_t at)
{
    if (at < in->len)
        at++;
    while (at < in->len && is_continuation((unsigned char)in->text[at]))
        at++;
    return at;
}

static void delete_range(struct view_input *in, size_t from, size_t to)
{
    memmove(in->text + from, in->text + to, in->len - to + 1);
    in->len -= to - from;
    if (in->cursor > to)
        in->cursor -= to - from;
    else if (in->cursor > from)
        in->cursor = from;
}

static void insert(struct view_input *in, const char *s, size_t n)
{
    if (in->len + n > VI_MAX)
        return;
    memmove(in->text + in->cursor + n, in->text + in->cursor, in->len - in->cursor + 1);
    memcpy(in->text + in->cursor, s, n);
    in->len += n;
    in->cursor += n;
}

void vi_replace(struct view_input *in, size_t from, const char *with)
{
    if (from > in->cursor)
        from = in->cursor;
    delete_range(in, from, in->cursor);
    insert(in, with, strlen(with));
}

size_t vi_common_prefix(char *const *items, size_t n)
{
    size_t common = strlen(items[0]);
    for (size_t i = 1; i < n; i++) {
        size_t k = 0;
        while (k < common && items[i][k] == items[0][k])
            k++;
        common = k;
    }
    return common;
}

size_t vi_next_char(const char *text, size_t bytes, mbstate_t *st, wchar_t *wc)
{
    size_t n = mbrtowc(wc, text, bytes, st);
    if (n == (size_t)-1 || n == (size_t)-2) {
        memset(st, 0, sizeof *st);
        *wc = L'?';
        return 1;
    }
    return n == 0 ? 1 : n;
}

int vi_columns(const char *text, size_t bytes)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    int cols = 0;
    size_t i = 0;
    while (i < bytes) {
        wchar_t wc;
        size_t n = vi_next_char(text + i, bytes - i, &st, &wc);
        int w = wcwidth(wc);
        cols += w < 0 ? 1 : w;
        i += n;
    }
    return cols;
}

enum vi_result vi_key(struct view_input *in, int is_key, wint_t ch)
{
    if (is_key) {
        switch (ch) {
        case KEY_LEFT: in->cursor = prev_char(in, in->cursor); return VI_MOVED;
        case KEY_RIGHT: in->cursor = next_char(in, in->cursor); return VI_MOVED;
        case KEY_HOME: in->cursor = 0; return VI_MOVED;
        case KEY_END: in->cursor = in->len; return VI_MOVED;
        case KEY_BACKSPACE:
            if (in->cursor == 0)
                return VI_IGNORED;
            delete_range(in, prev_char(in, in->cursor), in->cursor);
            return VI_EDITED;
        case KEY_DC:
            if (in->cursor == in->len)
                return VI_IGNORED;
            delete_range(in, in->cursor, next_char(in, in->cursor));
            return VI_EDITED;
        case KEY_ENTER: return VI_ENTER;
        case KEY_DOWN: return VI_NEXT;
        case KEY_UP: return VI_PREV;
        default: return VI_IGNORED;
        }
    }
    switch (ch) {
    case '\n':
    case '\r': return VI_ENTER;
    case 27: return VI_CANCEL;  /* Esc */
    case 7: return VI_CANCEL;   /* ^G */
    case '\t': return VI_TAB;
    case 1: in->cursor = 0; return VI_MOVED;       /* ^A */
    case 5: in->cursor = in->len; return VI_MOVED; /* ^E */
    case 21: delete_range(in, 0, in->cursor); return VI_EDITED; /* ^U */
    case 11: delete_range(in, in->cursor, in->len); return VI_EDITED; /* ^K */
    case 23: { /* ^W: the word before the cursor */
        size_t at = in->cursor;
        while (at > 0 && in->text[at - 1] == ' ')
            at--;
        while (at > 0 && in->text[at - 1] != ' ')
            at--;
        delete_range(in, at, in->cursor);
        return VI_EDITED;
    }
    case 8:
    case 127:
        if (in->cursor == 0)
            return VI_IGNORED;
        delete_range(in, prev_char(in, in->cursor), in->cursor);
        return VI_EDITED;
    }
    if (ch < 32)
        return VI_IGNORED;
    char buf[MB_LEN_MAX];
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t n = wcrtomb(buf, (wchar_t)ch, &st);
    if (n == (size_t)-1)
        return VI_IGNORED;
    insert(in, buf, n);
    return VI_EDITED;
}
