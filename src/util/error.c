/*
 * error.c — the one way callscope reports an error, or says anything else
 * on stderr, to its user (see error.h).
 */
#include "util/error.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/safe_text.h"
#include "util/textbuf.h"

static FILE *json_errors_out;
static const char *json_errors_command;

void cs_error_as_json_too(FILE *out, const char *command)
{
    json_errors_out = out;
    json_errors_command = command;
}

/* Says the message on stderr and, for an error of a JSON lines command, in
 * its output too. A long message (an agent's answer may quote a whole
 * condition) is formatted on the heap rather than cut. */
static void say(int is_error, const char *fmt, va_list ap)
{
    char small[4096], *line = small;
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, again);
            line = big;
        }
    }
    va_end(again);
    /* Messages may quote the program's names (a filter's suggestions): the
     * whole line is made safe, none of callscope's own being control text. */
    fprintf(stderr, "callscope: %s\n", cs_safe(line, (size_t)-1));
    if (is_error && json_errors_out) {
        struct cs_textbuf b = {0};
        cs_textbuf_puts(&b, "{\"type\":\"error\",\"command\":");
        cs_json_string(&b, json_errors_command, strlen(json_errors_command));
        cs_textbuf_puts(&b, ",\"error\":");
        cs_json_string(&b, line, strlen(line));
        cs_textbuf_puts(&b, "}\n");
        if (!b.oom) {
            fwrite(b.data, 1, b.len, json_errors_out);
            fflush(json_errors_out);
        }
        cs_textbuf_free(&b);
    }
    if (line != small)
        free(line);
}

void cs_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(1, fmt, ap);
    va_end(ap);
}

void cs_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(0, fmt, ap);
    va_end(ap);
}
