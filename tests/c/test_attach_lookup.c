/*
 * test_attach_lookup.c — the attach side's lookups, on this very process
 * and on a child: symbol addresses from /proc/PID/maps and the ELF files,
 * the agent socket's path, and the refusals of cs_target_inspect.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach/elf_symbols.h"
#include "attach/target.h"
#include "check.h"
#include "live/socket_path.h"

/* A function of this executable (a PIE), looked up through .symtab. */
__attribute__((noinline)) int attach_lookup_marker(int x)
{
    return x * 3 + 1;
}

static void test_symbols_in_libc(void)
{
    char err[512];
    struct cs_mapped_object libc;
    CHECK_INT(cs_proc_find_object(getpid(), cs_match_basename, "libc.so.6", &libc, err, sizeof err), 0);
    uintptr_t addr = 0;
    CHECK_INT(cs_proc_symbol_in(getpid(), &libc, "dlopen", &addr, err, sizeof err), 0);
    /* libc's own dlopen (a sanitizer may interpose its own by that name) */
    void *libc_handle = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    CHECK(libc_handle != NULL);
    CHECK(libc_handle && addr == (uintptr_t)dlsym(libc_handle, "dlopen"));
    CHECK_INT(cs_proc_symbol_in(getpid(), &libc, "getpid", &addr, err, sizeof err), 0);
    CHECK(addr == (uintptr_t)dlsym(RTLD_DEFAULT, "getpid"));
    CHECK_INT(cs_proc_symbol_in(getpid(), &libc, "no_such_symbol_here", &addr, err, sizeof err), 1);
    CHECK(strstr(err, "has no symbol no_such_symbol_here") != NULL);
    CHECK_INT(cs_proc_find_object(getpid(), cs_match_basename, "libnothing.so.9", &libc, err, sizeof err), 1);
}

static void test_symbol_in_executable(void)
{
    char err[512], exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n > 0 ? n : 0] = 0;
    struct cs_mapped_object self;
    CHECK_INT(cs_proc_find_object(getpid(), cs_match_path, exe, &self, err, sizeof err), 0);
    uintptr_t addr = 0;
    CHECK_INT(cs_proc_symbol_in(getpid(), &self, "attach_lookup_marker", &addr, err, sizeof err), 0);
    CHECK(addr == (uintptr_t)&attach_lookup_marker);
    CHECK_INT(attach_lookup_marker(1), 4);
}

static void test_not_elf(void)
{
    char err[512];
    uint64_t v;
    CHECK_INT(cs_elf_symbol_value("/proc/self/status", "x", &v, err, sizeof err), -1);
    CHECK_INT(cs_elf_symbol_value("/nonexistent/file.so", "x", &v, err, sizeof err), -1);
    CHECK(strstr(err, "cannot open /nonexistent/file.so") != NULL);
}

static void test_socket_path(void)
{
    char path[108], expected[108], note[640], why[512];
    CHECK_INT(cs_agent_socket_dir(0, path, sizeof path), 0);
    CHECK_STR(path, "/tmp/callscope-0");
    /* Our own directory: made if need be, and chosen without a note. */
    uid_t uid = geteuid();
    snprintf(expected, sizeof expected, "/tmp/callscope-%u/agent-2147483646.sock", (unsigned)uid);
    CHECK_INT(cs_agent_socket_choose(uid, 2147483646, path, sizeof path, note, sizeof note, why, sizeof why), 0);
    CHECK_STR(path, expected);
    CHECK_STR(note, "");
    /* No socket there: nothing is found. */
    CHECK_INT(cs_agent_socket_find(uid, 2147483646, path, sizeof path), 0);
    CHECK_STR(path, "");
    char small[10];
    CHECK_INT(cs_agent_socket_choose(uid, 2147483646, small, sizeof small, note, sizeof note, why, sizeof why), -1);
    CHECK_STR(why, "the agent's socket path is too long");
    /* A directory of another owner is refused with its reason. */
    CHECK_INT(cs_socket_dir_check("/", uid + 1, why, sizeof why), -1);
    snprintf(expected, sizeof expected, "/ belongs to uid 0, not to uid %u whose agent", (unsigned)uid + 1);
    CHECK(strncmp(why, expected, strlen(expected)) == 0);
    CHECK_INT(cs_socket_dir_check("/nonexistent-callscope-dir", uid, why, sizeof why), 0);
}

static void test_inspect_refusals(void)
{
    static struct cs_target t;
    char err[512];
    CHECK_INT(cs_target_inspect(getpid(), &t, err, sizeof err), -1);
    CHECK_STR(err, "cannot attach to callscope itself");
    CHECK_INT(cs_target_inspect(0, &t, err, sizeof err), -1);
    CHECK_STR(err, "0 is not a process id");

    /* A child that is not Python (this test program), then gone. */
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    CHECK_INT(cs_target_inspect(child, &t, err, sizeof err), -1);
    CHECK(strstr(err, "is not a Python process") != NULL);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK_INT(cs_process_gone(child), 1);
    CHECK_INT(cs_target_inspect(child, &t, err, sizeof err), -1);
    char want[64];
    snprintf(want, sizeof want, "no process with pid %d", (int)child);
    CHECK_STR(err, want);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    CHECK_RUN(test_symbols_in_libc());
    CHECK_RUN(test_symbol_in_executable());
    CHECK_RUN(test_not_elf());
    CHECK_RUN(test_socket_path());
    CHECK_RUN(test_inspect_refusals());
    return CHECK_REPORT("test_attach_lookup");
}
