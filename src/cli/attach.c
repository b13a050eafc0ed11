/*
 * attach.c — `callscope attach PID [--via ptrace|gdb]`, and cs_attach_pid,
 * which the live commands share: inspect the target, pick the extension
 * built for its Python, inject it and start the agent.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/inject.h"
#include "attach/target.h"
#include "cli/attach.h"
#include "cli/cli.h"
#include "live/agent_entry.h"
#include "live/socket_path.h"
#include "util/error.h"
#include "util/parse_number.h"
#include "cli/live_render.h"
#include "util/json.h"

const char *cs_attach_via_name(enum cs_attach_via via)
{
    switch (via) {
    case CS_VIA_PTRACE:
        return "ptrace";
    case CS_VIA_GDB:
        return "gdb";
    case CS_VIA_REMOTE_EXEC:
        return "remote_exec";
    default:
        return "auto";
    }
}

/* The shared object to load: the extension for the target's Python, or the
 * test override. */
static int choose_library(struct cs_target *t, char *err, size_t errlen)
{
    const char *override = getenv("CALLSCOPE_ATTACH_LIBRARY");
    if (override && *override) {
        if (!realpath(override, t->extension)) {
            snprintf(err, errlen, "CALLSCOPE_ATTACH_LIBRARY: %s: %s", override, strerror(errno));
            return -1;
        }
        return 0;
    }
    char root[PATH_MAX];
    if (cs_find_package_root(root, sizeof root) != 0) {
        snprintf(err, errlen, "cannot find the callscope Python package next to this binary; run `make`");
        return -1;
    }
    if (cs_target_find_extension(t, root, err, errlen) != 0)
        return -1;
    char real[PATH_MAX];
    if (realpath(t->extension, real))
        snprintf(t->extension, sizeof t->extension, "%s", real);
    return 0;
}

static int agent_result_ok(int result, pid_t pid, char *err, size_t errlen)
{
    switch (result) {
    case CS_AGENT_STARTED:
    case CS_AGENT_ALREADY_RUNNING:
        return 0;
    case CS_AGENT_NO_PYTHON:
        snprintf(err, errlen, "the Python interpreter in process %d is not running (not yet initialized, or "
                              "shutting down)", (int)pid);
        return -1;
    case CS_AGENT_FAILED:
        snprintf(err, errlen, "the agent could not start in process %d (its socket could not be made, out of memory, "
                              "or no thread could be created)", (int)pid);
        return -1;
    case CS_AGENT_STOPPING:
        snprintf(err, errlen, "the agent in process %d is still ending after a detach; try again", (int)pid);
        return -1;
    default:
        snprintf(err, errlen, "the agent in process %d answered %d, which this callscope does not know; is the "
                              "extension from another build?", (int)pid, result);
        return -1;
    }
}

#define STOPPING_RETRIES 50     /* attempts while an earlier agent ends */
#define STOPPING_PAUSE_US 20000 /* between them: a second in all */

#define REMOTE_EXEC_MIN_MINOR 14
#define REMOTE_EXEC_WAIT_MS 15000      /* asked for by --via remote_exec */
#define REMOTE_EXEC_AUTO_WAIT_MS 2000  /* then ptrace does it at once */

static void tell_waiting(pid_t pid)
{
    cs_note("waiting for process %d's main thread to run Python code (sys.remote_exec runs there)", (int)pid);
}

/* Through sys.remote_exec, when the target's Python has it. */
static int inject_remote_exec(const struct cs_inject_request *req, const struct cs_target *t, int wait_ms,
                              int *result, char *err, size_t errlen)
{
    if (t->py_minor < REMOTE_EXEC_MIN_MINOR) {
        snprintf(err, errlen, "sys.remote_exec needs Python 3.%d or later; process %d runs Python %d.%d (use --via "
                              "ptrace)", REMOTE_EXEC_MIN_MINOR, (int)req->pid, t->py_major, t->py_minor);
        return CS_INJECT_TOOL;
    }
    char python[PATH_MAX];
    if (cs_target_client_python(t, python, sizeof python) != 0) {
        snprintf(err, errlen, "sys.remote_exec needs a python%d.%d to run it from, and none is on PATH",
                 t->py_major, t->py_minor);
        return CS_INJECT_TOOL;
    }
    struct cs_remote_exec_request r = {
        .base = *req, .uid = t->uid, .python = python, .wait_ms = wait_ms, .waiting = tell_waiting};
    return cs_inject_remote_exec(&r, result, err, errlen);
}

/* Loads the extension into the target and calls its entry: through
 * sys.remote_exec where the target's Python has it (3.14+), else (or when it
 * cannot work on this process) by our ptrace injector, and by gdb when asked
 * or when ptrace lacks a tool it needs; *used says which way did it. */
static int inject(const struct cs_inject_request *req, const struct cs_target *t, int override, enum cs_attach_via via,
                  enum cs_attach_via *used, int *result, char *err, size_t errlen)
{
    char first[512] = "";
    if (via == CS_VIA_REMOTE_EXEC) {
        *used = CS_VIA_REMOTE_EXEC;
        return inject_remote_exec(req, t, REMOTE_EXEC_WAIT_MS, result, err, errlen);
    }
    /* A stand-in library (CALLSCOPE_ATTACH_LIBRARY) is no extension module. */
    if (via == CS_VIA_AUTO && t->py_minor >= REMOTE_EXEC_MIN_MINOR && !override) {
        *used = CS_VIA_REMOTE_EXEC;
        int rc = inject_remote_exec(req, t, REMOTE_EXEC_AUTO_WAIT_MS, result, err, errlen);
        if (rc == CS_INJECT_OK || rc == CS_INJECT_GONE || rc == CS_INJECT_LOAD_FAILED)
            return rc;
        snprintf(first, sizeof first, "%s", err);
    }
    if (via == CS_VIA_GDB) {
        *used = CS_VIA_GDB;
        return cs_inject_gdb(req, result, err, errlen);
    }
    *used = CS_VIA_PTRACE;
    int rc = cs_inject_ptrace(req, result, err, errlen);
    if (rc == CS_INJECT_TOOL && via == CS_VIA_AUTO) {
        /* gdb finds dlopen by its own means: let it try, and tell both
         * reasons if it fails too. */
        char second[512];
        snprintf(second, sizeof second, "%s", err);
        *used = CS_VIA_GDB;
        rc = cs_inject_gdb(req, result, err, errlen);
        if (rc != CS_INJECT_OK) {
            char third[512];
            snprintf(third, sizeof third, "%s", err);
            snprintf(err, errlen, "%s (and via gdb: %s)", second, third);
        }
    }
    if (rc != CS_INJECT_OK && first[0]) {
        char later[1024];
        snprintf(later, sizeof later, "%s", err);
        snprintf(err, errlen, "%s (and via sys.remote_exec: %s)", later, first);
    }
    return rc;
}

int cs_attach_pid(pid_t pid, enum cs_attach_via via, struct cs_attach_info *info, char *err, size_t errlen)
{
    static struct cs_target t; /* large: PATH_MAX strings */
    if (cs_target_inspect(pid, &t, err, errlen) != 0 || choose_library(&t, err, errlen) != 0)
        return -1;
    /* A running agent keeps its socket; a new one gets a safe place. */
    char note[640];
    if (!cs_agent_socket_find(t.uid, pid, t.socket_path, sizeof t.socket_path)) {
        if (cs_agent_socket_choose(t.uid, pid, t.socket_path, sizeof t.socket_path, note, sizeof note, err, errlen) !=
            0)
            return -1;
        if (note[0])
            cs_note("%s", note);
    }
    const char *override = getenv("CALLSCOPE_ATTACH_LIBRARY");
    struct cs_inject_request req = {
        .pid = pid, .library = t.extension, .entry = CS_AGENT_ENTRY, .arg = t.socket_path, .timeout_ms = 0};
    int result = -1;
    enum cs_attach_via used = via;
    /* An agent ending after a detach is gone within milliseconds: then the
     * entry is called again, and starts a new one. */
    for (int attempt = 0; attempt < STOPPING_RETRIES; attempt++) {
        if (attempt)
            usleep(STOPPING_PAUSE_US);
        if (inject(&req, &t, override && *override, via, &used, &result, err, errlen) != CS_INJECT_OK)
            return -1;
        if (result != CS_AGENT_STOPPING)
            break;
    }
    if (agent_result_ok(result, pid, err, errlen) != 0)
        return -1;
    cs_agent_sweep_dead_sockets(t.uid);
    if (info) {
        info->py_major = t.py_major;
        info->py_minor = t.py_minor;
        info->uid = t.uid;
        info->via = used;
        info->agent_result = result;
        snprintf(info->socket_path, sizeof info->socket_path, "%s", t.socket_path);
    }
    return 0;
}

static void attach_usage(FILE *out)
{
    fputs("usage: callscope attach PID [--via remote_exec|ptrace|gdb] [--format text|jsonl]\n\n"
          "Starts callscope's agent inside the running Python process PID (3.8 or later), without\n"
          "restarting it; the live commands then talk to the agent through its socket.\n\n"
          "  --via remote_exec  ask the interpreter to start it (sys.remote_exec, Python 3.14 and\n"
          "                     later): no ptrace of the target; its main thread must run Python\n"
          "                     code. The default on 3.14+, which falls back to ptrace when the\n"
          "                     target disabled remote debugging or its main thread is blocked\n"
          "  --via ptrace       inject with callscope's own ptrace injector (the default before\n"
          "                     3.14; falls back to gdb when it cannot work on this process)\n"
          "  --via gdb          inject with gdb (must be installed)\n"
          "  --format           text (the default on a terminal) or jsonl (otherwise)\n",
          out);
}

static int parse_via(const char *value, enum cs_attach_via *via)
{
    if (!strcmp(value, "ptrace"))
        *via = CS_VIA_PTRACE;
    else if (!strcmp(value, "gdb"))
        *via = CS_VIA_GDB;
    else if (!strcmp(value, "remote_exec"))
        *via = CS_VIA_REMOTE_EXEC;
    else {
        cs_error("attach: --via is remote_exec, ptrace or gdb, not '%s'", value);
        return -1;
    }
    return 0;
}

int cs_cmd_attach(int argc, char **argv)
{
    const char *pid_arg = NULL;
    enum cs_attach_via via = CS_VIA_AUTO;
    int jsonl = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            attach_usage(stdout);
            return 0;
        }
        const char *name = !strncmp(a, "--via", 5) ? "--via" : !strncmp(a, "--format", 8) ? "--format" : NULL;
        const char *value = NULL;
        if (name && a[strlen(name)] == 0) {
            if (i + 1 >= argc) {
                cs_error("attach: %s needs a value: %s", name,
                         name[2] == 'v' ? "remote_exec, ptrace or gdb" : "text or jsonl");
                return CS_EXIT_USAGE;
            }
            value = argv[++i];
        } else if (name && a[strlen(name)] == '=') {
            value = a + strlen(name) + 1;
        } else if (a[0] == '-' && a[1]) {
            cs_error("attach: unknown option '%s' (see callscope attach --help)", a);
            return CS_EXIT_USAGE;
        } else if (pid_arg) {
            cs_error("attach: one PID only ('%s' is extra)", a);
            return CS_EXIT_USAGE;
        } else {
            pid_arg = a;
        }
        if (value && name[2] == 'v' && parse_via(value, &via) != 0)
            return CS_EXIT_USAGE;
        if (value && name[2] == 'f') {
            if (strcmp(value, "text") && strcmp(value, "tree") && strcmp(value, "jsonl")) {
                cs_error("attach: --format is text or jsonl, not '%s'", value);
                return CS_EXIT_USAGE;
            }
            jsonl = value[0] == 'j';
        }
    }
    /* as the other live commands: JSON lines unless a person reads it */
    if (jsonl < 0)
        jsonl = !isatty(STDOUT_FILENO);
    if (jsonl)
        cs_error_as_json_too(stdout, "attach");
    if (!pid_arg) {
        attach_usage(stderr);
        return CS_EXIT_USAGE;
    }
    long long pid;
    if (cs_parse_long(pid_arg, 1, INT32_MAX, &pid) != 0) {
        cs_error("attach: '%s' is not a process id", pid_arg);
        return CS_EXIT_USAGE;
    }
    struct cs_live_render r = {stdout, jsonl, 0, "attach", 0, 0};
    if (jsonl) {
        char text[64];
        snprintf(text, sizeof text, "attaching to process %lld", pid);
        cs_live_render_message(&r, "status", text);
    }
    char err[1024];
    struct cs_attach_info info;
    if (cs_attach_pid((pid_t)pid, via, &info, err, sizeof err) != 0) {
        cs_error("%s", err);
        return CS_EXIT_FAILURE;
    }
    const char *agent = info.agent_result == CS_AGENT_ALREADY_RUNNING ? "already running" : "started";
    char text[600], data[1024];
    snprintf(text, sizeof text, "callscope: agent %s in %lld (Python %d.%d, via %s)", agent, pid, info.py_major,
             info.py_minor, cs_attach_via_name(info.via));
    struct cs_textbuf socket = {0};
    cs_json_string(&socket, info.socket_path, strlen(info.socket_path));
    snprintf(data, sizeof data, "{\"pid\":%lld,\"agent\":\"%s\",\"python\":\"%d.%d\",\"via\":\"%s\",\"socket\":%.*s}",
             pid, agent, info.py_major, info.py_minor, cs_attach_via_name(info.via), socket.data ? (int)socket.len : 4,
             socket.data ? socket.data : "null");
    cs_textbuf_free(&socket);
    cs_live_render_success(&r, data, text);
    return 0;
}
