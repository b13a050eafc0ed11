/*
 * safe_text.h — names and messages that came from the traced program, made
 * safe to print on a terminal.
 */
#ifndef CALLSCOPE_UTIL_SAFE_TEXT_H
#define CALLSCOPE_UTIL_SAFE_TEXT_H

#include <stddef.h>

/* Text that came from the traced program (names, messages, thread names),
 * made safe for a terminal: control characters (C0, DEL and the C1 range
 * U+0080–U+009F) are written as \xNN, so no name can move the cursor, set
 * the window title or clear the screen. n is the length, or (size_t)-1 for
 * a NUL-terminated s (NULL reads as ""). The copy stays valid until the
 * eighth call after this one: enough for the arguments of one printf. */
const char *cs_safe(const char *s, size_t n);

#endif
