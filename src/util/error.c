/*
 * error.c — the one way callscope reports an error to its user (see error.h).
 */
#include "util/error.h"

#include <stdarg.h>
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

void cs_error(const char *fmt, ...)
{
    /* Messages may quote the program's names (a filter's suggestions): the
     * whole line is made safe, none of callscope's own being control text. */
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "callscope: %s\n", cs_safe(line, (size_t)-1));
    if (json_errors_out) {
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
}
