/*
 * live.c — the live commands: `trace`, `watch`, `stack`, `reset`, `detach`.
 *
 * Each connects to the agent in the target process (attaching it first when
 * there is none), sends one request and prints what comes back until the
 * -n limit is reached or the user presses Ctrl-C. Closing the connection is
 * enough to end an observation: the agent removes a client's
 * instrumentation when the client goes away, however it goes.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/agent_client.h"
#include "cli/attach.h"
#include "cli/cli.h"
#include "collector/decode.h"
#include "expr/expr.h"
#include "live/protocol.h"
#include "live/socket_path.h"
#include "query/common.h"
#include "cli/live_render.h"

/* ---- options ---- */

enum opt_id { O_DEPTH, O_TIMES, O_CONDITION, O_SKIP, O_NO_SKIP, O_MIN, O_ENTRANCE, O_NESTED, O_FORMAT,
              O_EXPAND, O_AT_ENTRY, O_AT_SUCCESS, O_AT_EXCEPTION, O_AT_FINISH, O_ALL, O_NO_COLOR, O_HELP,
              O_CYCLE, O_ARGS };

struct opt {
    const char *names[3];
    int id;
    int has_arg;
    unsigned commands; /* bit per cs_live_command, plus 1<<0 for reset */
};

#define T (1u << CS_LIVE_TRACE)
#define W (1u << CS_LIVE_WATCH)
#define S (1u << CS_LIVE_STACK)
#define M (1u << CS_LIVE_MONITOR)
#define R 1u

static const struct opt options[] = {
    {{"-d", "--depth"}, O_DEPTH, 1, T | S},
    {{"-n", "--times"}, O_TIMES, 1, T | W | S | M},
    {{"--condition"}, O_CONDITION, 1, T | W | S | M},
    {{"-c", "--cycle"}, O_CYCLE, 1, M},
    {{"--skip-builtin"}, O_SKIP, 0, T},
    {{"--no-skip-builtin"}, O_NO_SKIP, 0, T},
    {{"--min-duration", "-i"}, O_MIN, 1, T},
    {{"--entrance-time", "-et"}, O_ENTRANCE, 1, T | W},
    {{"--nested", "-nm"}, O_NESTED, 1, T | W | S | M},
    {{"--format"}, O_FORMAT, 1, T | W | S | M | R},
    {{"-x", "--expand"}, O_EXPAND, 1, W},
    {{"-b", "--at-entry"}, O_AT_ENTRY, 0, W},
    {{"-s", "--at-success"}, O_AT_SUCCESS, 0, W},
    {{"-e", "--at-exception"}, O_AT_EXCEPTION, 0, W},
    {{"-f", "--at-finish"}, O_AT_FINISH, 0, W},
    {{"--all"}, O_ALL, 0, R},
    {{"--no-color"}, O_NO_COLOR, 0, T | W | S | M},
    {{"--args", "-a"}, O_ARGS, 0, T},
    {{"-h", "--help"}, O_HELP, 0, T | W | S | M | R},
};

static const char *const usages[] = {
    "usage: callscope reset [PID] [PATTERN | --all] [--format text|jsonl]\n"
    "Removes the instrumentation of PATTERN (or all of it) from process PID (by default\n"
    "the only process of yours with an agent); the commands observing it end.\n",
    "usage: callscope trace [PID] PATTERN [-d N] [-n N] [--condition EXPR] [--[no-]skip-builtin]\n"
    "                       [--min-duration MS] [-et MS] [-nm NAME] [--args] [--format tree|jsonl]\n"
    "The call tree of each invocation of PATTERN (module.func, module.Class.method or\n"
    "`module [Class] method`) in the running process PID, with timings.\n",
    "usage: callscope watch [PID] PATTERN [-x N] [-n N] [--condition EXPR] [-b] [-s] [-e] [-f]\n"
    "                       [-et MS] [-nm NAME] [--format tree|jsonl]\n"
    "Arguments, return value or exception, and cost of each call of PATTERN.\n"
    "-b at entry, -s on success, -e on exception, -f at finish (the default).\n",
    "usage: callscope stack [PID] PATTERN [-n N] [-d N] [--condition EXPR] [-nm NAME] [--format tree|jsonl]\n"
    "The Python stack leading to each call of PATTERN.\n",
    "usage: callscope monitor [PID] PATTERN [-c SECONDS] [-n N] [--condition EXPR] [-nm NAME]\n"
    "                         [--format tree|jsonl]\n"
    "Every SECONDS (5), the calls of PATTERN in that time: how many, how many raised,\n"
    "average, shortest and longest; -n stops after N such lines.\n",
};

static const struct opt *find_option(const char *arg, unsigned command_bit, const char **value)
{
    *value = NULL;
    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        if (!(options[i].commands & command_bit))
            continue;
        for (int k = 0; k < 3 && options[i].names[k]; k++) {
            const char *name = options[i].names[k];
            size_t n = strlen(name);
            if (strncmp(arg, name, n) != 0)
                continue;
            if (arg[n] == 0)
                return &options[i];
            if (arg[n] == '=' && options[i].has_arg && name[1] == '-') {
                *value = arg + n + 1;
                return &options[i];
            }
        }
    }
    return NULL;
}

static int parse_ms(const char *name, const char *v, int64_t *ns)
{
    double ms;
    if (cs_parse_double(v, 0, &ms) != 0 || ms > 86400000) {
        cs_error("%s takes a number of milliseconds (a day at most), not '%s'", name, v);
        return -1;
    }
    *ns = (int64_t)(ms * 1e6);
    return 0;
}

struct live_args {
    pid_t pid; /* 0: the one process of the user with an agent */
    struct cs_live_request req;
    int jsonl, no_color, all;
    const char *pattern;
};

/* The pattern from the words after the PID: `module.Class.method`, or the
 * same as separate words (`module Class method`), as people type it. */
static int join_pattern(const char *const *words, int n, char *out, size_t size)
{
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        int w = snprintf(out + at, size - at, "%s%s", i ? " " : "", words[i]);
        if (w < 0 || (size_t)w >= size - at) {
            cs_error("the pattern is too long");
            return -1;
        }
        at += (size_t)w;
    }
    return 0;
}

static int parse_args(int command, int argc, char **argv, struct live_args *a)
{
    unsigned bit = command ? 1u << command : R;
    const char *usage = usages[command];
    memset(a, 0, sizeof *a);
    a->jsonl = -1;
    cs_live_request_defaults(&a->req, command ? command : CS_LIVE_TRACE);
    int when = 0;
    enum { MAX_WORDS = 4 }; /* PID module Class method */
    const char *positional[MAX_WORDS];
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || !strcmp(arg, "-")) {
            if (npos == MAX_WORDS) {
                cs_error("unexpected argument '%s'", arg);
                return -1;
            }
            positional[npos++] = arg;
            continue;
        }
        const char *v;
        const struct opt *o = find_option(arg, bit, &v);
        if (!o) {
            cs_error("unknown option '%s'", arg);
            fputs(usage, stderr);
            return -1;
        }
        if (o->has_arg && !v) {
            if (i + 1 >= argc) {
                cs_error("%s needs a value", arg);
                return -1;
            }
            v = argv[++i];
        }
        long long num;
        switch (o->id) {
        case O_HELP:
            fputs(usage, stdout);
            exit(0);
        case O_DEPTH:
            if (cs_parse_long(v, 0, 1000, &num) != 0) {
                cs_error("--depth takes a number from 0 to 1000, not '%s'", v);
                return -1;
            }
            a->req.depth = (int)num;
            break;
        case O_TIMES:
            if (cs_parse_long(v, -1, 1000000000, &num) != 0 || num == 0) {
                cs_error("-n takes a positive count (or -1 for no limit), not '%s'", v);
                return -1;
            }
            a->req.times = num;
            break;
        case O_EXPAND:
            if (cs_parse_long(v, 0, 16, &num) != 0) {
                cs_error("-x takes a depth from 0 to 16, not '%s'", v);
                return -1;
            }
            a->req.expand = (int)num;
            break;
        case O_CONDITION:
            if (strlen(v) >= sizeof a->req.condition) {
                cs_error("the condition is too long");
                return -1;
            }
            strcpy(a->req.condition, v);
            break;
        case O_NESTED:
            if (strlen(v) >= sizeof a->req.nested) {
                cs_error("the nested function name is too long");
                return -1;
            }
            strcpy(a->req.nested, v);
            break;
        case O_SKIP: a->req.skip_builtin = 1; break;
        case O_NO_SKIP: a->req.skip_builtin = 0; break;
        case O_MIN:
            if (parse_ms(arg, v, &a->req.min_duration_ns) != 0)
                return -1;
            break;
        case O_ENTRANCE:
            if (parse_ms(arg, v, &a->req.entrance_ns) != 0)
                return -1;
            break;
        case O_FORMAT:
            if (cs_parse_live_format(v, &a->jsonl) != 0)
                return -1;
            break;
        case O_AT_ENTRY: when |= CS_AT_ENTRY; break;
        case O_AT_SUCCESS: when |= CS_AT_RETURN; break;
        case O_AT_EXCEPTION: when |= CS_AT_EXCEPTION; break;
        case O_AT_FINISH: when |= CS_AT_FINISH; break;
        case O_CYCLE: {
            double seconds;
            if (cs_parse_double(v, 0.001, &seconds) != 0 || seconds > 86400) {
                cs_error("-c takes a cycle in seconds (at least 0.001), not '%s'", v);
                return -1;
            }
            a->req.cycle_ns = (int64_t)(seconds * 1e9);
            break;
        }
        case O_ALL: a->all = 1; break;
        case O_ARGS: a->req.node_args = 1; break;
        case O_NO_COLOR: a->no_color = 1; break;
        }
    }
    if (when)
        a->req.when = when;
    a->jsonl = cs_default_jsonl(a->jsonl);
    /* The PID may be left out when exactly one process has an agent: a
     * first word that is not a number is then the pattern's. */
    int first = 0;
    if (npos == 0 && (command || a->all)) {
        cs_error("which process? (give a PID%s; it may be left out when one process of yours has an agent)",
                 command ? " and a pattern such as module.Class.method" : "");
        fputs(usage, stderr);
        return -1;
    }
    /* In `module Class method` only the first word has dots: a dotted word
     * after the first means the first was meant as the PID. */
    int dotted_later = 0;
    for (int i = 1; i < npos; i++)
        dotted_later |= strchr(positional[i], '.') != NULL;
    if (npos > 0 && (cs_is_number(positional[0]) || dotted_later ||
                     (positional[0][0] >= '0' && positional[0][0] <= '9'))) {
        if (cs_parse_pid(positional[0], &a->pid) != 0)
            return -1;
        first = 1;
    }
    int nwords = npos - first;
    if (nwords > 3) {
        cs_error("unexpected argument '%s'", positional[npos - 1]);
        return -1;
    }
    if (nwords > 0 && join_pattern(positional + first, nwords, a->req.pattern, sizeof a->req.pattern) != 0)
        return -1;
    a->pattern = nwords > 0 ? a->req.pattern : NULL;
    if (command && !a->pattern) {
        cs_error("which function? (a pattern like module.Class.method is needed)");
        fputs(usage, stderr);
        return -1;
    }
    if (!command && !a->pattern && !a->all) {
        cs_error("reset needs a PATTERN or --all");
        return -1;
    }
    return 0;
}

/* The agent checks a condition again before it runs anything; checking it
 * here first points at the mistake before the target is touched. */
static int check_condition(const char *text)
{
    struct cs_expr_error err = {0};
    struct cs_expr_tree *tree = cs_expr_parse(text, &err);
    int ok = tree && cs_expr_validate_live_condition(tree->root, &err) == 0;
    if (tree)
        cs_expr_tree_free(tree);
    if (ok)
        return 0;
    if (err.column > 0) {
        char caret[CS_EXPR_MAX_LENGTH * 2 + 64];
        cs_expr_caret(text, err.column, "  ", caret, sizeof caret);
        fputs(caret, stderr);
    }
    cs_error("--condition: %s", err.message);
    return -1;
}

/* What a conversation is about, for what it prints. */
struct conversation {
    int command;   /* enum cs_live_command, or 0 for reset and detach */
    pid_t pid;
    int detach;    /* the request was a detach */
    uint64_t watch_id; /* from MSG_STARTED */
};

/* The answer to a reset or a detach: what was removed. */
static void report_success(struct cs_live_render *r, const struct conversation *cv, const unsigned char *payload,
                           size_t len)
{
    struct cs_reader rd = {payload, payload + len, 0};
    size_t n;
    const char *s = cs_get_str(&rd, &n);
    char text[512], data[128];
    snprintf(text, sizeof text, "%.*s", (int)n, s);
    if (cv->detach) {
        snprintf(data, sizeof data, "{\"pid\":%d}", (int)cv->pid);
    } else {
        uint64_t removed = cs_get_varint(&rd);
        uint64_t levels = rd.error ? 0 : cs_get_varint(&rd); /* logger levels put back */
        snprintf(data, sizeof data, "{\"pid\":%d,\"removed\":%llu,\"levels_restored\":%llu}", (int)cv->pid,
                 rd.error ? 0ULL : (unsigned long long)removed, rd.error ? 0ULL : (unsigned long long)levels);
    }
    if (r->jsonl)
        cs_live_render_success(r, data, text);
    else
        cs_live_render_message(r, "status", text);
}

/* Prints frames until done, an error, the end of the connection or Ctrl-C.
 * Returns the exit status. */
static int converse(int fd, struct cs_live_render *r, struct conversation *cv)
{
    int one_reply = cv->command == 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = poll(&p, 1, 200);
        if (cs_agent_interrupted)
            return 0;
        if (ready < 0 && errno != EINTR) {
            cs_error("lost the agent: %s", strerror(errno));
            return 1;
        }
        if (ready <= 0)
            continue;
        unsigned char *payload = NULL;
        size_t len = 0;
        errno = 0;
        int kind = cs_recv_frame(fd, &payload, &len);
        if (kind <= 0) {
            int read_errno = errno;
            free(payload);
            if (cs_agent_interrupted)
                return 0;
            if (read_errno == EAGAIN || read_errno == EWOULDBLOCK)
                cs_error("the agent stopped in the middle of a message for %d s; giving up", cs_agent_reply_timeout_s());
            else
                cs_error("the agent closed the connection (the process may have exited)");
            return 1;
        }
        char text[2048];
        int status = -1;
        struct cs_reader rd = {payload, payload + len, 0};
        switch (kind) {
        case CS_MSG_STATUS:
            if (one_reply) {
                report_success(r, cv, payload, len);
                status = 0;
            } else {
                cs_frame_text(payload, len, text, sizeof text);
                cs_live_render_message(r, "info", text);
            }
            break;
        case CS_MSG_STARTED: {
            cv->watch_id = cs_get_varint(&rd);
            struct cs_text function = cs_get_text(&rd);
            if (!rd.error)
                cs_live_render_started(r, cv->command, cv->watch_id, function.s, function.n);
            break;
        }
        case CS_MSG_NOTICE:
            cs_frame_text(payload, len, text, sizeof text);
            cs_live_render_message(r, "event", text);
            break;
        case CS_MSG_ERROR:
            cs_frame_text(payload, len, text, sizeof text);
            cs_live_render_message(r, "error", text);
            status = 1;
            break;
        case CS_MSG_OBSERVATION:
            if (cs_live_render_observation(r, payload, len) != 0)
                cs_live_render_message(r, "error", "an observation could not be read; skipped");
            break;
        case CS_MSG_DONE: {
            uint64_t sent = cs_get_varint(&rd);
            cs_live_render_stopped(r, cv->command, cv->watch_id, "count", rd.error ? 0 : sent);
            status = 0;
            break;
        }
        case CS_MSG_STOPPED: {
            uint64_t id = cs_get_varint(&rd), sent = cs_get_varint(&rd);
            struct cs_text reason = cs_get_text(&rd);
            char why[80];
            snprintf(why, sizeof why, "%.*s", rd.error ? 0 : (int)(reason.n < 64 ? reason.n : 64),
                     rd.error ? "" : reason.s);
            /* only words callscope's agent uses reach the output */
            cs_live_render_stopped(r, cv->command, id, strcmp(why, "detach") ? "reset" : "detach", sent);
            status = 0;
            break;
        }
        }
        free(payload);
        if (status >= 0)
            return status;
    }
}

static const char *const command_names[] = {"reset", "trace", "watch", "stack", "monitor"};

static int run_live(int command, int argc, char **argv)
{
    struct live_args a;
    if (parse_args(command, argc, argv, &a) != 0)
        return CS_EXIT_USAGE;
    if (a.jsonl)
        cs_error_as_json_too(stdout, command_names[command]);
    if (command && a.req.condition[0] && check_condition(a.req.condition) != 0)
        return CS_EXIT_USAGE;
    if (!a.pid && cs_choose_agent_pid(&a.pid) != 0)
        return CS_EXIT_USAGE;
    struct cs_live_render r = {stdout, a.jsonl, cs_want_color(a.no_color), command_names[command], 0,
                               command != CS_LIVE_TRACE};
    cs_agent_client_catch_signals();
    int fd = cs_connect_agent(a.pid, command != 0);
    if (fd < 0)
        return CS_EXIT_FAILURE;
    char text[CS_LIVE_REQUEST_MAX];
    int kind = command ? CS_REQ_OBSERVE : CS_REQ_RESET;
    size_t len = command ? cs_live_request_format(&a.req, text)
                         : (size_t)snprintf(text, sizeof text, "%s", a.all ? "" : a.pattern);
    int status;
    struct conversation cv = {command, a.pid, 0, 0};
    if (cs_send_frame(fd, kind, text, len) != 0) {
        cs_error("lost the agent of process %d", (int)a.pid);
        status = CS_EXIT_FAILURE;
    } else {
        status = converse(fd, &r, &cv);
    }
    close(fd);
    return status;
}

int cs_cmd_trace(int argc, char **argv) { return run_live(CS_LIVE_TRACE, argc, argv); }
int cs_cmd_watch(int argc, char **argv) { return run_live(CS_LIVE_WATCH, argc, argv); }
int cs_cmd_stack(int argc, char **argv) { return run_live(CS_LIVE_STACK, argc, argv); }
int cs_cmd_monitor(int argc, char **argv) { return run_live(CS_LIVE_MONITOR, argc, argv); }
int cs_cmd_reset(int argc, char **argv) { return run_live(0, argc, argv); }

int cs_cmd_detach(int argc, char **argv)
{
    static const char usage[] = "usage: callscope detach [PID] [--format text|jsonl]\n"
                                "Removes all instrumentation from PID (by default the only process of yours with\n"
                                "an agent) and ends its agent; the commands observing it end.\n";
    const char *pid_arg = NULL;
    int jsonl = -1;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            v = argv[++i];
        } else if (!strncmp(argv[i], "--format=", 9)) {
            v = argv[i] + 9;
        } else if (argv[i][0] == '-' || pid_arg) {
            cs_error(argv[i][0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", argv[i]);
            fputs(usage, stderr);
            return CS_EXIT_USAGE;
        } else {
            pid_arg = argv[i];
        }
        if (v && cs_parse_live_format(v, &jsonl) != 0)
            return CS_EXIT_USAGE;
    }
    jsonl = cs_default_jsonl(jsonl);
    if (jsonl)
        cs_error_as_json_too(stdout, "detach");
    pid_t pid = 0;
    if (pid_arg ? cs_parse_pid(pid_arg, &pid) != 0 : cs_choose_agent_pid(&pid) != 0)
        return CS_EXIT_USAGE;
    struct cs_live_render r = {stdout, jsonl, 0, "detach", 0, 0};
    int fd = cs_connect_agent(pid, 0);
    if (fd < 0)
        return CS_EXIT_FAILURE;
    struct conversation cv = {0, pid, 1, 0};
    int status = cs_send_frame(fd, CS_REQ_DETACH, "", 0) == 0 ? converse(fd, &r, &cv) : CS_EXIT_FAILURE;
    close(fd);
    return status;
}
