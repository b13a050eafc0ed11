/*
 * inject_remote_exec.c — starting the agent through the interpreter's own
 * remote execution (PEP 768, Python 3.14 and later): no ptrace of the
 * target's threads, no code run at an arbitrary instruction.
 *
 * An interpreter of the target's minor version runs sys.remote_exec(pid,
 * script). That only writes the script's path into the target's memory; the
 * target's main thread runs the script the next time it runs Python code,
 * between two bytecodes, with the GIL. The script loads the extension and
 * calls its agent_attach(), the same entry the injectors call, and writes
 * the result into a file the client waits for.
 *
 * Everything lives in a private directory of the target's user:
 *   attach.py   the script (the target removes it first thing: a script
 *               missing when the target comes to run it is reported on the
 *               target's stderr, so the client never removes it itself)
 *   decided     made (O_EXCL) by whichever side comes first: the script,
 *               which then attaches, or the client when it stops waiting
 *               (the main thread ran no Python code in time), and then a
 *               script that runs later starts nothing and removes the
 *               directory
 *   result      "<number>" from agent_attach(), or "error <message>"
 * The script never raises: whatever goes wrong is written to `result`, so
 * the program's own output stays untouched. It binds names in a namespace
 * of its own, and takes the extension module back out of sys.modules when
 * it was not there before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/child_process.h"
#include "attach/inject.h"
#include "attach/target.h"
#include "core/clock.h"

#define SEND_TIMEOUT_MS 20000 /* for sys.remote_exec itself: it only reads and writes memory */
#define POLL_US 10000
#define TELL_AFTER_MS 1000    /* then the user is told what the wait is for */
#define CLAIMED_WAIT_MS 10000 /* for the answer of a script that has started */

/* The client: one line naming the exception, or nothing. */
static const char CLIENT[] = "import sys\n"
                             "try:\n"
                             "    sys.remote_exec(int(sys.argv[1]), sys.argv[2])\n"
                             "except BaseException as e:\n"
                             "    print('%s: %s' % (type(e).__name__, e))\n"
                             "    raise SystemExit(1)\n";

/* Writes s as a Python bytes literal: every byte outside [A-Za-z0-9/._-]
 * escaped, so no path can end the literal. 0 if it does not fit. */
static int bytes_literal(const char *s, char *out, size_t size)
{
    size_t n = 0;
    if (size < 4)
        return 0;
    out[n++] = 'b';
    out[n++] = '\'';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (n + 5 >= size)
            return 0;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("/._-", *p))
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, size - n, "\\x%02x", *p);
    }
    out[n++] = '\'';
    out[n] = 0;
    return 1;
}

static int write_script(const char *dir, int dfd, const struct cs_remote_exec_request *req, char *path,
                        size_t size, char *err, size_t errlen)
{
    char d[1024], ext[16400], sock[480];
    if (!bytes_literal(dir, d, sizeof d) || !bytes_literal(req->base.library, ext, sizeof ext) ||
        !bytes_literal(req->base.arg, sock, sizeof sock)) {
        snprintf(err, errlen, "path too long: %s", req->base.library);
        return -1;
    }
    snprintf(path, size, "%s/attach.py", dir);
    int fd = openat(dfd, "attach.py", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "import os, sys, _imp\n"
            "d = %s\n"
            "try:\n"
            "    os.unlink(d + b'/attach.py')\n"
            "    try:\n"
            "        os.close(os.open(d + b'/decided', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))\n"
            "        claimed = True\n"
            "    except FileExistsError:\n"
            "        claimed = False\n"
            "        os.unlink(d + b'/decided')\n"
            "        os.rmdir(d)\n"
            "    if claimed:\n"
            "        class Spec:\n"
            "            name = 'callscope._callscope'\n"
            "            origin = os.fsdecode(%s)\n"
            "        had = Spec.name in sys.modules\n"
            "        try:\n"
            "            module = _imp.create_dynamic(Spec)\n"
            "        finally:\n"
            "            if not had:\n"
            "                sys.modules.pop(Spec.name, None)\n"
            "        answer = str(module.agent_attach(os.fsdecode(%s)))\n"
            "        with open(d + b'/result.tmp', 'w') as out:\n"
            "            out.write(answer)\n"
            "        os.rename(d + b'/result.tmp', d + b'/result')\n"
            "except BaseException as e:\n"
            "    try:\n"
            "        with open(d + b'/result.tmp', 'w') as out:\n"
            "            out.write('error %%s: %%s' %% (type(e).__name__, e))\n"
            "        os.rename(d + b'/result.tmp', d + b'/result')\n"
            "    except BaseException:\n"
            "        pass\n",
            d, ext, sock);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Runs the client; CS_INJECT_OK once the target has the script's path. */
static int send_script(const struct cs_remote_exec_request *req, const char *script, char *err, size_t errlen)
{
    char pidstr[32], out[2048];
    snprintf(pidstr, sizeof pidstr, "%d", (int)req->base.pid);
    char *argv[] = {(char *)req->python, "-I", "-S", "-c", (char *)CLIENT, pidstr,
                    (char *)script, NULL};
    int status = 0;
    switch (cs_run_captured(argv, SEND_TIMEOUT_MS, out, sizeof out, &status, err, errlen)) {
    case CS_CHILD_FAILED:
        return CS_INJECT_TOOL;
    case CS_CHILD_TIMED_OUT:
        snprintf(err, errlen, "sys.remote_exec did not finish with process %d within %d s", (int)req->base.pid,
                 SEND_TIMEOUT_MS / 1000);
        return CS_INJECT_TIMEOUT;
    case CS_CHILD_EXITED:
        break;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return CS_INJECT_OK;
    out[strcspn(out, "\n")] = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !out[0]) {
        snprintf(err, errlen, "cannot run %s", req->python);
        return CS_INJECT_TOOL;
    }
    if (cs_process_gone(req->base.pid)) {
        snprintf(err, errlen, "no process with pid %d", (int)req->base.pid);
        return CS_INJECT_GONE;
    }
    if (strstr(out, "Remote debugging is not enabled")) {
        snprintf(err, errlen, "process %d was started with remote debugging disabled (-X disable-remote-debug or "
                              "PYTHON_DISABLE_REMOTE_DEBUG), so sys.remote_exec cannot reach it",
                 (int)req->base.pid);
        return CS_INJECT_REFUSED;
    }
    if (strstr(out, "PermissionError") || strstr(out, "Operation not permitted")) {
        snprintf(err, errlen, "not permitted to write into process %d with sys.remote_exec (%s)", (int)req->base.pid,
                 out);
        return CS_INJECT_DENIED;
    }
    snprintf(err, errlen, "sys.remote_exec failed on process %d: %s", (int)req->base.pid,
             out[0] ? out : "no reason given");
    return CS_INJECT_TOOL;
}

/* Reads the script's answer: CS_INJECT_OK with *result, CS_INJECT_LOAD_FAILED
 * with its message, or 1 while there is none yet. The directory is the
 * target's user's: its files are opened only as regular files in it. */
static int read_result(int dfd, int *result, char *err, size_t errlen)
{
    int fd = openat(dfd, "result", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 1;
    char text[1024];
    struct stat st;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, sizeof text - 1) : -1;
    close(fd);
    unlinkat(dfd, "result", 0);
    text[n > 0 ? n : 0] = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (n > 0 && end != text && *end == 0 && v >= 0 && v < 256) {
        *result = (int)v;
        return CS_INJECT_OK;
    }
    for (char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' '; /* what the target wrote reaches a terminal */
    snprintf(err, errlen, "the agent could not be loaded by sys.remote_exec: %s",
             strncmp(text, "error ", 6) ? text : text + 6);
    return CS_INJECT_LOAD_FAILED;
}

/* A new directory, open as *dfd, with the script in it; then given to the
 * target's user, who removes the script and writes the answer. */
static int prepare(const struct cs_remote_exec_request *req, char *dir, size_t dsize, int *dfd, char *script,
                   size_t ssize, char *err, size_t errlen)
{
    snprintf(dir, dsize, "/tmp/callscope-attach-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "cannot make a directory in /tmp: %s", strerror(errno));
        return -1;
    }
    *dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*dfd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
        rmdir(dir);
        return -1;
    }
    if (write_script(dir, *dfd, req, script, ssize, err, errlen) != 0) {
        unlinkat(*dfd, "attach.py", 0);
    } else if (geteuid() != req->uid && fchown(*dfd, req->uid, (gid_t)-1) != 0) {
        snprintf(err, errlen, "cannot give %s to uid %d: %s", dir, (int)req->uid, strerror(errno));
        unlinkat(*dfd, "attach.py", 0);
    } else {
        return 0;
    }
    close(*dfd);
    rmdir(dir);
    return -1;
}

int cs_inject_remote_exec(const struct cs_remote_exec_request *req, int *result, char *err, size_t errlen)
{
    char dir[64], script[128];
    int dfd;
    if (prepare(req, dir, sizeof dir, &dfd, script, sizeof script, err, errlen) != 0)
        return CS_INJECT_TOOL;
    int rc = send_script(req, script, err, errlen);
    if (rc != CS_INJECT_OK) {
        /* The target never got the path: nothing of it will run. */
        unlinkat(dfd, "attach.py", 0);
        close(dfd);
        rmdir(dir);
        return rc;
    }
    int64_t start = cs_monotonic_ms();
    int told = 0, claimed = 0;
    for (;;) {
        rc = read_result(dfd, result, err, errlen);
        if (rc != 1)
            break;
        int64_t waited = cs_monotonic_ms() - start;
        if (cs_process_gone(req->base.pid)) {
            snprintf(err, errlen, "process %d exited before running the attach script", (int)req->base.pid);
            rc = CS_INJECT_GONE;
            break;
        }
        if (waited >= req->wait_ms && !claimed) {
            int fd = openat(dfd, "decided", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd >= 0) {
                /* The script, when it runs, starts nothing and removes
                 * the directory: it is left to it. */
                close(fd);
                close(dfd);
                snprintf(err, errlen, "process %d's main thread ran no Python code for %d s (it is blocked in C: "
                                      "a sleep, a lock or I/O), and only there does sys.remote_exec run",
                         (int)req->base.pid, req->wait_ms / 1000);
                return CS_INJECT_TIMEOUT;
            }
            claimed = 1; /* the script has started: its answer is a moment away */
        }
        if (claimed && waited >= req->wait_ms + CLAIMED_WAIT_MS) {
            snprintf(err, errlen, "the attach script in process %d gave no answer", (int)req->base.pid);
            rc = CS_INJECT_TIMEOUT;
            break;
        }
        if (!told && waited >= TELL_AFTER_MS && req->waiting) {
            req->waiting(req->base.pid);
            told = 1;
        }
        usleep(POLL_US);
    }
    /* The script has run, or the target is gone: nothing will read these. */
    unlinkat(dfd, "attach.py", 0);
    unlinkat(dfd, "decided", 0);
    unlinkat(dfd, "result.tmp", 0);
    close(dfd);
    rmdir(dir);
    return rc;
}
