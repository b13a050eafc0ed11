/*
 * inject_gdb.c — the same injection done by gdb: attach in batch mode, call
 * dlopen() and the entry function from a small gdb script, and read what
 * they returned from markers the script prints.
 *
 * gdb resolves dlopen by name (from libc, libdl, wherever it is), so this
 * also works where our own injector cannot find it; it is slower and needs
 * gdb installed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/child_process.h"
#include "attach/inject.h"
#include "attach/target.h"

#define OUTPUT_MAX (64 * 1024)

/* A C string literal for gdb; 0 if it does not fit. */
static int quote(const char *s, char *out, size_t size)
{
    size_t n = 0;
    if (size < 3)
        return 0;
    out[n++] = '"';
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0; /* paths and socket names never hold control characters */
        if (n + 3 >= size)
            return 0;
        if (*s == '"' || *s == '\\')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n++] = '"';
    out[n] = 0;
    return 1;
}

static int valid_identifier(const char *s)
{
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (p > s && *p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

static int write_script(const struct cs_inject_request *req, char *path, size_t size, char *err, size_t errlen)
{
    char lib[4200], arg[4200];
    if (!quote(req->library, lib, sizeof lib) || !quote(req->arg, arg, sizeof arg) || !valid_identifier(req->entry)) {
        snprintf(err, errlen, "cannot pass %s to gdb", req->library);
        return -1;
    }
    snprintf(path, size, "/tmp/callscope-gdb-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a gdb script: %s", strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        snprintf(err, errlen, "cannot write a gdb script: %s", strerror(errno));
        return -1;
    }
    fprintf(f,
            "set unwindonsignal on\n"
            "set $cs_handle = (void *) dlopen(%s, 2)\n"
            "if $cs_handle == 0\n"
            "  set $cs_error = (char *) dlerror()\n"
            "  if $cs_error == 0\n"
            "    printf \"CALLSCOPE-DLERROR unknown reason\\n\"\n"
            "  else\n"
            "    printf \"CALLSCOPE-DLERROR %%s\\n\", $cs_error\n"
            "  end\n"
            "else\n"
            "  printf \"CALLSCOPE-LOADED\\n\"\n"
            "  set $cs_result = (int) %s(%s)\n"
            "  printf \"CALLSCOPE-RESULT %%d\\n\", $cs_result\n"
            "end\n"
            "detach\n",
            lib, req->entry, arg);
    if (fclose(f) != 0) {
        unlink(path);
        snprintf(err, errlen, "cannot write a gdb script: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int gdb_present(char *path, size_t size)
{
    const char *env = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", env && *env ? env : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, size, "%s/gdb", d);
        if (access(path, X_OK) == 0)
            return 1;
    }
    return 0;
}

/* Runs gdb on the script; its stdout and stderr together in out. */
static int run_gdb(const char *gdb, pid_t pid, const char *script, int timeout_ms, char *out, size_t size,
                   char *err, size_t errlen)
{
    char pidstr[32];
    snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
    char *argv[] = {(char *)gdb, "-p", pidstr, "-batch", "-nx", "-iex", "set debuginfod enabled off", "-iex",
                    "set pagination off", "-iex", "set confirm off", "-x", (char *)script, NULL};
    int status = 0;
    switch (cs_run_captured(argv, timeout_ms, out, size, &status, err, errlen)) {
    case CS_CHILD_FAILED:
        return CS_INJECT_TOOL;
    case CS_CHILD_TIMED_OUT: /* the kernel detached the target when gdb died */
        snprintf(err, errlen, "gdb did not finish with process %d within %d s", (int)pid, timeout_ms / 1000);
        return CS_INJECT_TIMEOUT;
    case CS_CHILD_EXITED:
        break;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !out[0]) {
        snprintf(err, errlen, "cannot run %s", gdb);
        return CS_INJECT_TOOL;
    }
    return 0;
}

/* The text after a marker up to the end of its line. */
static const char *marker(const char *out, const char *name, char *value, size_t size)
{
    const char *p = strstr(out, name);
    if (!p)
        return NULL;
    p += strlen(name);
    p += strspn(p, " ");
    snprintf(value, size, "%.*s", (int)strcspn(p, "\n"), p);
    return p;
}

/* gdb's own complaint, for the error line: its first line that says so. */
static void gdb_complaint(const char *out, char *msg, size_t size)
{
    const char *keys[] = {"ptrace:", "No symbol", "Could not attach", "error", "Error", "No such process"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *p = strstr(out, keys[i]);
        if (p) {
            while (p > out && p[-1] != '\n')
                p--;
            snprintf(msg, size, "%.*s", (int)strcspn(p, "\n"), p);
            return;
        }
    }
    snprintf(msg, size, "gdb gave no result");
}

int cs_inject_gdb(const struct cs_inject_request *req, int *result, char *err, size_t errlen)
{
    char gdb[4200];
    if (!gdb_present(gdb, sizeof gdb)) {
        snprintf(err, errlen, "gdb is not installed (install it with `apt-get install gdb`, or use --via ptrace)");
        return CS_INJECT_TOOL;
    }
    char script[64];
    if (write_script(req, script, sizeof script, err, errlen) != 0)
        return CS_INJECT_TOOL;
    char *out = malloc(OUTPUT_MAX);
    if (!out) {
        unlink(script);
        snprintf(err, errlen, "out of memory");
        return CS_INJECT_TOOL;
    }
    int timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 20000;
    int rc = run_gdb(gdb, req->pid, script, timeout_ms + 10000, out, OUTPUT_MAX, err, errlen);
    unlink(script);
    if (rc != 0) {
        free(out);
        return rc;
    }
    char value[512];
    if (marker(out, "CALLSCOPE-RESULT", value, sizeof value)) {
        char *end;
        long v = strtol(value, &end, 10);
        if (end != value) {
            *result = (int)v;
            free(out);
            return CS_INJECT_OK;
        }
    }
    if (marker(out, "CALLSCOPE-DLERROR", value, sizeof value)) {
        snprintf(err, errlen, "cannot load the agent into process %d: %s", (int)req->pid, value);
        rc = CS_INJECT_LOAD_FAILED;
    } else if (strstr(out, "ptrace: No such process") || strstr(out, "exited") || cs_process_gone(req->pid)) {
        snprintf(err, errlen, "process %d exited during attach", (int)req->pid);
        rc = CS_INJECT_GONE;
    } else if (strstr(out, "ptrace: Operation not permitted")) {
        snprintf(err, errlen, "not permitted to trace process %d (gdb: ptrace: Operation not permitted)",
                 (int)req->pid);
        rc = CS_INJECT_DENIED;
    } else {
        char msg[300];
        gdb_complaint(out, msg, sizeof msg);
        if (strstr(out, "CALLSCOPE-LOADED")) {
            snprintf(err, errlen, "gdb loaded %s into process %d but could not call %s: %s", req->library,
                     (int)req->pid, req->entry, msg);
            rc = CS_INJECT_LOAD_FAILED;
        } else {
            snprintf(err, errlen, "gdb could not inject into process %d: %s", (int)req->pid, msg);
            rc = CS_INJECT_TOOL;
        }
    }
    free(out);
    return rc;
}
