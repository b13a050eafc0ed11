/*
 * safe_text.c — text from the traced program made safe to print on a
 * terminal (see safe_text.h).
 */
#include "util/safe_text.h"

#include <string.h>

#include "util/textbuf.h"

const char *cs_safe(const char *s, size_t n)
{
    static struct cs_textbuf ring[8];
    static unsigned next;
    struct cs_textbuf *b = &ring[next++ % 8];
    b->len = 0;
    if (!s)
        s = "";
    if (n == (size_t)-1)
        n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            cs_textbuf_printf(b, "\\x%02x", c);
        } else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f) {
            cs_textbuf_printf(b, "\\x%02x", (unsigned char)s[++i]); /* U+0080-U+009F in UTF-8 */
        } else {
            cs_textbuf_putc(b, (char)c);
        }
    }
    cs_textbuf_putc(b, 0);
    return b->oom ? "?" : b->data;
}
