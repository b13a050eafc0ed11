/*
 * record_options.c — parses the recording options of `run` and `collect`.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/record_options.h"
#include "util/error.h"
#include "util/parse_number.h"

void cs_record_options_init(struct cs_record_options *o)
{
    memset(o, 0, sizeof *o);
    o->capture.max_string = 120;
    o->capture.max_items = 10;
    o->capture.max_nesting = 2;
    o->collect.db_path = "callscope.db";
    o->collect.max_depth = -1;
    o->buffer_bytes = 64u << 20;
    o->python = "python3";
}

void cs_record_options_usage(FILE *out)
{
    fputs("  -o, --output PATH      the database to write (default callscope.db; replaced)\n"
          "  --no-args              timing only: no arguments, no return values\n"
          "  --repr                 show other objects with their own __repr__ (guarded)\n"
          "  --c-calls              also record calls into built-in and C functions\n"
          "  --include PREFIX       trace only these paths or modules (repeatable)\n"
          "  --exclude PREFIX       never trace these paths or modules (repeatable)\n"
          "  --no-stdlib            skip the standard library\n"
          "  --no-site-packages     skip installed packages\n"
          "  --deep-recursion       let the program recurse as deep as untraced, past some\n"
          "                         10,000 calls on 3.11+ (a slower hook)\n"
          "  --max-depth N          keep calls at most N deep\n"
          "  --min-duration MS      keep only calls that took at least MS milliseconds\n"
          "  --max-calls N          keep only the newest N calls\n"
          "  --defer-rows[=later]   keep the events only, compressed: the program runs faster;\n"
          "                         the calls are built once it is done, in the background\n"
          "                         (or, with =later, by `callscope index FILE`)\n"
          "  --max-string N         characters kept of str and bytes values (120)\n"
          "  --max-items N          items kept of containers (10)\n"
          "  --buffer MB            shared-memory buffer between program and collector, taken\n"
          "                         from /dev/shm 4 MB first, then as it fills (64)\n"
          "  --on-full wait|drop    when the buffer is full: make the program wait, or drop\n"
          "                         events and record how many (wait)\n",
          out);
}

/* The value of option `opt`, a whole number from min to max; -1 after
 * saying what the option takes. */
static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
    long long v;
    if (cs_parse_long(s, min, max, &v) != 0) {
        cs_error("%s needs a whole number from %ld to %ld, not '%s'", opt, min, max, s);
        return -1;
    }
    *out = (long)v;
    return 0;
}

static int parse_ms(const char *opt, const char *s, int64_t *ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0 || v > 1e9) {
        cs_error("%s needs a number of milliseconds, not '%s'", opt, s);
        return -1;
    }
    *ns = (int64_t)(v * 1e6);
    return 0;
}

/* Appends to a NUL-separated list ended by an empty string. */
static int add_pattern(char *list, const char *opt, const char *value)
{
    size_t used = 0;
    while (list[used])
        used += strlen(list + used) + 1;
    /* A path is matched as an absolute prefix, as the code objects name it. */
    char resolved[PATH_MAX];
    if (strchr(value, '/') && value[0] != '/' && realpath(value, resolved))
        value = resolved;
    size_t n = strlen(value);
    if (n == 0 || used + n + 2 > CS_PATTERN_BYTES) {
        cs_error("%s: %s", opt, n ? "too many patterns" : "empty pattern");
        return -1;
    }
    memcpy(list + used, value, n + 1);
    list[used + n + 1] = 0;
    return 0;
}

int cs_record_options_add_folders(struct cs_record_options *o, const char *what, const char *folders)
{
    char *copy = strdup(folders);
    if (!copy) {
        cs_error("out of memory");
        return -1;
    }
    int rc = 0;
    for (char *tok = strtok(copy, ":"); tok && rc == 0; tok = strtok(NULL, ":")) {
        /* A folder: everything under it, so it ends with a slash. */
        char abs[PATH_MAX], folder[PATH_MAX + 2];
        const char *dir = realpath(tok, abs) ? abs : tok;
        snprintf(folder, sizeof folder, "%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/");
        rc = add_pattern(o->capture.include, what, folder);
    }
    free(copy);
    return rc;
}

int cs_record_options_parse(struct cs_record_options *o, int argc, char **argv, int for_run)
{
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (a[0] != '-' || strcmp(a, "-") == 0)
            break;
        if (strcmp(a, "--") == 0)
            return i + 1;
        if (for_run && strcmp(a, "-m") == 0)
            break;
#define NEEDS_VALUE()                                                         \
    do {                                                                      \
        if (!v) {                                                             \
            cs_error("%s needs a value", a);                                  \
            return -1;                                                        \
        }                                                                     \
        i++;                                                                  \
    } while (0)
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            NEEDS_VALUE();
            /* SQLite takes "" for a temporary file: the record would vanish. */
            if (!*v) {
                cs_error("%s needs a file path", a);
                return -1;
            }
            o->collect.db_path = v;
        } else if (for_run && !strcmp(a, "--python")) {
            NEEDS_VALUE();
            o->python = v;
        } else if (!for_run && !strcmp(a, "--owner")) {
            NEEDS_VALUE();
            if (parse_long(a, v, 1, 1L << 30, &n))
                return -1;
            o->owner_pid = (int)n;
        } else if (!strcmp(a, "--no-args")) {
            o->capture.flags |= CS_OPT_NO_ARGS;
        } else if (!strcmp(a, "--repr")) {
            o->capture.flags |= CS_OPT_REPR;
        } else if (!strcmp(a, "--c-calls")) {
            o->capture.flags |= CS_OPT_C_CALLS;
        } else if (!strcmp(a, "--no-stdlib")) {
            o->capture.flags |= CS_OPT_NO_STDLIB;
        } else if (!strcmp(a, "--no-site-packages")) {
            o->capture.flags |= CS_OPT_NO_SITE;
        } else if (!strcmp(a, "--deep-recursion")) {
            o->capture.flags |= CS_OPT_DEEP_RECURSION;
        } else if (!strcmp(a, "--include") || !strcmp(a, "--exclude")) {
            NEEDS_VALUE();
            if (add_pattern(a[2] == 'i' ? o->capture.include : o->capture.exclude, a, v))
                return -1;
        } else if (!strcmp(a, "--max-depth")) {
            NEEDS_VALUE();
            if (parse_long(a, v, 0, 1000000, &n))
                return -1;
            o->collect.max_depth = (int)n;
        } else if (!strcmp(a, "--min-duration")) {
            NEEDS_VALUE();
            if (parse_ms(a, v, &o->collect.min_duration_ns))
                return -1;
        } else if (!strcmp(a, "--max-calls")) {
            NEEDS_VALUE();
            if (parse_long(a, v, 1, 1L << 40, &n))
                return -1;
            o->collect.max_calls = n;
        } else if (!strcmp(a, "--defer-rows") || !strcmp(a, "--defer-rows=background")) {
            o->collect.defer_rows = CS_DEFER_BACKGROUND;
        } else if (!strcmp(a, "--defer-rows=later")) {
            o->collect.defer_rows = CS_DEFER_LATER;
        } else if (!strcmp(a, "--max-string")) {
            NEEDS_VALUE();
            if (parse_long(a, v, 1, 1000000, &n))
                return -1;
            o->capture.max_string = (uint32_t)n;
        } else if (!strcmp(a, "--max-items")) {
            NEEDS_VALUE();
            if (parse_long(a, v, 1, CS_MAX_ITEMS_LIMIT, &n))
                return -1;
            o->capture.max_items = (uint32_t)n;
        } else if (!strcmp(a, "--buffer")) {
            NEEDS_VALUE();
            if (parse_long(a, v, 1, 65536, &n))
                return -1;
            o->buffer_bytes = (size_t)n << 20;
        } else if (!strcmp(a, "--on-full")) {
            NEEDS_VALUE();
            if (!strcmp(v, "drop"))
                o->capture.flags |= CS_OPT_DROP_WHEN_FULL;
            else if (strcmp(v, "wait") != 0) {
                cs_error("--on-full takes wait or drop, not '%s'", v);
                return -1;
            }
        } else {
            cs_error("unknown option '%s' (see callscope %s --help)", a,
                    for_run ? "run" : "collect");
            return -1;
        }
#undef NEEDS_VALUE
    }
    if (o->collect.defer_rows && o->collect.max_calls) {
        /* the newest N calls are known only once the log is read */
        cs_error("--defer-rows keeps every event until the calls are built: it cannot keep only --max-calls");
        return -1;
    }
    return i;
}
