/*
 * query.c — the live commands that ask a running process one question and
 * print the answer (`thread`, ...): the question goes to the agent with the
 * arguments as typed, the agent answers once (live/query.h), and the answer
 * is printed as a `result` JSON line or as text.
 *
 * The answer is the agent's word, checked like any frame: its JSON must be
 * one well-formed object before it is passed on, and its text is printed
 * with control characters made visible.
 *
 * A question that instruments the process while it runs (top --calls) ends
 * when a reset or a detach removes that: the agent says so with a
 * MSG_STOPPED, printed as a `<question>_stopped` event, and the command
 * ends with status 0, as an observing command does.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/agent_client.h"
#include "cli/cli.h"
#include "collector/decode.h"
#include "live/protocol.h"
#include "query/common.h"
#include "util/json.h"

static const struct {
    const char *name;
    const char *usage;
} questions[] = {
    {"thread", "usage: callscope thread [PID] [-d N] [--format text|jsonl]\n"
               "Every thread of the process: name, ident, native id, daemon, state, CPU time, and\n"
               "the Python stack it is in now (-d frames, 10).\n"},
    {"sc", "usage: callscope sc [PID] PATTERN [-n N] [-d] [--format text|jsonl]\n"
           "The classes of the loaded modules whose names match PATTERN (* and ? are wildcards,\n"
           "e.g. 'myapp.*Service'), with module, file and line; -n how many to describe (100;\n"
           "all are counted), -d their bases and number of methods.\n"},
    {"sm", "usage: callscope sm [PID] PATTERN [-n N] [--format text|jsonl]\n"
           "The functions and methods of the loaded modules whose names match PATTERN (* and ?\n"
           "are wildcards, e.g. 'myapp.orders.OrderService.*', '*.process'): the name to give\n"
           "trace, the kind (function, method, staticmethod, classmethod, property getter), file\n"
           "and line; -n how many to describe (100; all are counted).\n"},
    {"inspect", "usage: callscope inspect [PID] EXPR [-x N] [--format text|jsonl]\n"
                "The value of a module global or an attribute path, read without running the\n"
                "program's code: myapp.config.settings.timeout, \"myapp.cache._store['k']\", or a\n"
                "global of the main script by its name. Rendered as recordings render values;\n"
                "-x how deep containers are expanded (2, at most 16).\n"},
    {"logger", "usage: callscope logger [PID] [NAME] [--level LEVEL] [--format text|jsonl]\n"
               "The process's loggers (or the one called NAME; \"root\" is the root logger): own and\n"
               "effective level, handlers, propagate, disabled. --level DEBUG|INFO|...|N sets NAME's\n"
               "level; `callscope reset` (or detach) puts it back.\n"},
    {"memory", "usage: callscope memory [PID] [-n N] [--sort bytes|count] [--tracemalloc SECONDS] [--format text|jsonl]\n"
               "RSS and its growth, the collector's counts per generation, the N types (20) with the most\n"
               "bytes or instances among the objects the collector tracks, and, when tracemalloc traces\n"
               "(or --tracemalloc traces for SECONDS, then stops), the allocation sites that grew.\n"},
    {"top", "usage: callscope top [PID] [-i SECONDS] [-n ROUNDS] [--rows N] [--hz RATE] [--calls] [--no-color]\n"
            "                     [--format text|jsonl]\n"
            "The functions the process spends its CPU time in, a table every -i seconds (1), -n times (until\n"
            "Ctrl-C): self and total CPU time per function, sampled --hz times a second (100) from every\n"
            "thread's Python stack; --rows functions per table (20). --calls also counts every call of every\n"
            "function while top runs (calls/s), which slows the process down (docs/live.md says how much).\n"},
};

/* Questions answered in rounds whose text replaces the last round's on a
 * terminal, as `top` redraws its screen. */
static const char *const redrawn[] = {"top"};

static int is_redrawn(const char *question)
{
    for (size_t i = 0; i < sizeof redrawn / sizeof redrawn[0]; i++)
        if (!strcmp(redrawn[i], question))
            return 1;
    return 0;
}

/* How the answer's text is printed. */
struct text_form {
    int redraw; /* clear the terminal before each round */
    int color;  /* the first line (a round's header) in reverse video */
};

static void print_text(const char *s, size_t n, const struct text_form *form)
{
    if (form->redraw)
        fputs("\033[H\033[2J", stdout);
    int first = 1;
    /* line by line: the newlines are the agent's layout, anything else
     * below 0x20 is shown, not sent to the terminal */
    const char *end = s + n;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        if (first && form->color)
            printf("\033[7m%s\033[0m\n", cs_safe(s, len));
        else
            printf("%s\n", cs_safe(s, len));
        first = 0;
        s += len + (nl != NULL);
    }
    fflush(stdout);
}

/* A MSG_STOPPED: the reason, as an event line or a line on stderr. */
static void print_stopped(const unsigned char *payload, size_t len, const char *question, int jsonl)
{
    struct cs_reader rd = {payload, payload + len, 0};
    cs_get_varint(&rd); /* the watch's id and observations: none to speak of */
    cs_get_varint(&rd);
    struct cs_text reason = cs_get_text(&rd);
    /* only words callscope's agent uses reach the output */
    const char *why = !rd.error && reason.n == 6 && !memcmp(reason.s, "detach", 6) ? "detach" : "reset";
    if (jsonl) {
        printf("{\"type\":\"event\",\"command\":\"%s\",\"event\":\"%s_stopped\",\"data\":{\"reason\":\"%s\"}}\n",
               question, question, why);
        fflush(stdout);
    } else {
        fprintf(stderr, "callscope: %s was stopped by a %s\n", question, why);
    }
}

/* Waits for the answer, or its rounds until the last one; prints them. The
 * exit status (Ctrl-C after a round ends a question answered in rounds
 * as the user means to: 0). */
static int receive_answer(int fd, const char *question, int jsonl, const struct text_form *form)
{
    int rounds = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, 200);
        if (cs_agent_interrupted)
            return rounds ? 0 : CS_EXIT_FAILURE;
        if (ready < 0 && errno != EINTR) {
            cs_error("lost the agent: %s", strerror(errno));
            return CS_EXIT_FAILURE;
        }
        if (ready <= 0)
            continue;
        unsigned char *payload = NULL;
        size_t len = 0;
        int kind = cs_recv_frame(fd, &payload, &len);
        int status = -1;
        if (kind <= 0) {
            cs_error("the agent closed the connection (the process may have exited)");
            status = CS_EXIT_FAILURE;
        } else if (kind == CS_MSG_ERROR) {
            char text[2048];
            cs_frame_text(payload, len, text, sizeof text);
            cs_error("%s", text);
            status = CS_EXIT_FAILURE;
        } else if (kind == CS_MSG_RESULT || kind == CS_MSG_ROUND) {
            struct cs_reader rd = {payload, payload + len, 0};
            struct cs_text json = cs_get_text(&rd), text = cs_get_text(&rd);
            if (rd.error || json.n == 0 || json.s[0] != '{' || cs_json_check(json.s, json.n, 64) != 0) {
                cs_error("the agent's answer is not well-formed; not printing it");
                status = CS_EXIT_FAILURE;
            } else if (jsonl) {
                printf("{\"type\":\"result\",\"command\":\"%s\",\"data\":%.*s}\n", question, (int)json.n, json.s);
                fflush(stdout);
                status = kind == CS_MSG_RESULT ? 0 : -1;
            } else {
                print_text(text.s, text.n, form);
                status = kind == CS_MSG_RESULT ? 0 : -1;
            }
            rounds++;
        } else if (kind == CS_MSG_STOPPED) {
            print_stopped(payload, len, question, jsonl);
            status = 0;
        }
        free(payload);
        if (status >= 0)
            return status;
    }
}

int cs_cmd_query(const char *question, int argc, char **argv)
{
    const char *usage = NULL;
    for (size_t i = 0; i < sizeof questions / sizeof questions[0]; i++)
        if (!strcmp(questions[i].name, question))
            usage = questions[i].usage;
    if (!usage) {
        cs_error("unknown command '%s'", question);
        return CS_EXIT_USAGE;
    }
    int jsonl = -1, no_color = 0;
    pid_t pid = 0;
    const char *args[CS_QUERY_MAX_ARGS];
    int nargs = 0;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--format")) {
            if (i + 1 >= argc) {
                cs_error("--format needs a value");
                return CS_EXIT_USAGE;
            }
            v = argv[++i];
        } else if (!strncmp(argv[i], "--format=", 9)) {
            v = argv[i] + 9;
        } else if (!strcmp(argv[i], "--no-color")) {
            no_color = 1;
            continue;
        } else if (i == 0 && cs_is_number(argv[i])) {
            if (cs_parse_pid(argv[i], &pid) != 0)
                return CS_EXIT_USAGE;
            continue;
        } else {
            /* the question's own options and operands, checked by the agent */
            if (nargs == CS_QUERY_MAX_ARGS || strlen(argv[i]) > CS_QUERY_MAX_ARG) {
                cs_error("too many or too long arguments");
                return CS_EXIT_USAGE;
            }
            args[nargs++] = argv[i];
            continue;
        }
        if (cs_parse_live_format(v, &jsonl) != 0)
            return CS_EXIT_USAGE;
    }
    jsonl = cs_default_jsonl(jsonl);
    if (jsonl)
        cs_error_as_json_too(stdout, question);
    if (!pid && cs_choose_agent_pid(&pid) != 0)
        return CS_EXIT_USAGE;
    cs_agent_client_catch_signals();
    int fd = cs_connect_agent(pid, 1);
    if (fd < 0)
        return CS_EXIT_FAILURE;
    /* the arguments were bounded above: the request always fits */
    size_t size = 2 * CS_VARINT_MAX + strlen(question) + (size_t)nargs * (CS_VARINT_MAX + CS_QUERY_MAX_ARG);
    unsigned char *request = malloc(size);
    size_t len = request ? cs_live_query_format(request, size, question, nargs, args) : 0;
    int status = CS_EXIT_FAILURE;
    if (len) {
        int redraw = is_redrawn(question) && isatty(STDOUT_FILENO);
        struct text_form form = {redraw, redraw && cs_want_color(no_color)};
        if (cs_send_frame(fd, CS_REQ_QUERY, request, len) != 0)
            cs_error("lost the agent of process %d", (int)pid);
        else
            status = receive_answer(fd, question, jsonl, &form);
    }
    free(request);
    close(fd);
    return status;
}
