/*
 * test_inject.c — the ptrace injector, checked at the level of registers
 * and system calls, on children of this test:
 *
 *   - a child spinning in assembly with known values in xmm0-15 and r8-r11,
 *     and errno set: after 20 injections of the fixture (which loads a
 *     library with SSE code and sets errno itself) every value is intact;
 *   - a child blocked in read() on a pipe, and one in nanosleep(): the call
 *     carries on after the injection as if nothing happened (no EINTR, the
 *     full sleep, the data read).
 *
 * Needs build/tests/fixture_entry.so next to this program.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach/inject.h"
#include "check.h"

struct shared {
    volatile int done;
    volatile int blocks;
    volatile int bad_registers;
    volatile int bad_errno;
    volatile int result;
};

static struct shared *sh;
static char fixture[PATH_MAX + 32];
static char log_path[64];

static const uint64_t pattern[36] __attribute__((aligned(16))) = {
    0x0101010101010101, 0x1010101010101010, 0x0202020202020202, 0x2020202020202020, 0x0303030303030303,
    0x3030303030303030, 0x0404040404040404, 0x4040404040404040, 0x0505050505050505, 0x5050505050505050,
    0x0606060606060606, 0x6060606060606060, 0x0707070707070707, 0x7070707070707070, 0x0808080808080808,
    0x8080808080808080, 0x0909090909090909, 0x9090909090909090, 0x0a0a0a0a0a0a0a0a, 0xa0a0a0a0a0a0a0a0,
    0x0b0b0b0b0b0b0b0b, 0xb0b0b0b0b0b0b0b0, 0x0c0c0c0c0c0c0c0c, 0xc0c0c0c0c0c0c0c0, 0x0d0d0d0d0d0d0d0d,
    0xd0d0d0d0d0d0d0d0, 0x0e0e0e0e0e0e0e0e, 0xe0e0e0e0e0e0e0e0, 0x0f0f0f0f0f0f0f0f, 0xf0f0f0f0f0f0f0f0,
    0x1234567812345678, 0x8765432187654321, 0x1122334455667788, 0x8877665544332211, /* r8-r11 */
    0, 0,
};

/* Loads the pattern into xmm0-15 and r8-r11, spins, stores them to out. */
static void spin_block(uint64_t *out, long iterations)
{
    __asm__ volatile(
        "movdqa 0(%[p]), %%xmm0\n\tmovdqa 16(%[p]), %%xmm1\n\tmovdqa 32(%[p]), %%xmm2\n\t"
        "movdqa 48(%[p]), %%xmm3\n\tmovdqa 64(%[p]), %%xmm4\n\tmovdqa 80(%[p]), %%xmm5\n\t"
        "movdqa 96(%[p]), %%xmm6\n\tmovdqa 112(%[p]), %%xmm7\n\tmovdqa 128(%[p]), %%xmm8\n\t"
        "movdqa 144(%[p]), %%xmm9\n\tmovdqa 160(%[p]), %%xmm10\n\tmovdqa 176(%[p]), %%xmm11\n\t"
        "movdqa 192(%[p]), %%xmm12\n\tmovdqa 208(%[p]), %%xmm13\n\tmovdqa 224(%[p]), %%xmm14\n\t"
        "movdqa 240(%[p]), %%xmm15\n\t"
        "mov 256(%[p]), %%r8\n\tmov 264(%[p]), %%r9\n\tmov 272(%[p]), %%r10\n\tmov 280(%[p]), %%r11\n\t"
        "mov %[n], %%rax\n"
        "1:\n\tpause\n\tdec %%rax\n\tjnz 1b\n\t"
        "movdqu %%xmm0, 0(%[o])\n\tmovdqu %%xmm1, 16(%[o])\n\tmovdqu %%xmm2, 32(%[o])\n\t"
        "movdqu %%xmm3, 48(%[o])\n\tmovdqu %%xmm4, 64(%[o])\n\tmovdqu %%xmm5, 80(%[o])\n\t"
        "movdqu %%xmm6, 96(%[o])\n\tmovdqu %%xmm7, 112(%[o])\n\tmovdqu %%xmm8, 128(%[o])\n\t"
        "movdqu %%xmm9, 144(%[o])\n\tmovdqu %%xmm10, 160(%[o])\n\tmovdqu %%xmm11, 176(%[o])\n\t"
        "movdqu %%xmm12, 192(%[o])\n\tmovdqu %%xmm13, 208(%[o])\n\tmovdqu %%xmm14, 224(%[o])\n\t"
        "movdqu %%xmm15, 240(%[o])\n\t"
        "mov %%r8, 256(%[o])\n\tmov %%r9, 264(%[o])\n\tmov %%r10, 272(%[o])\n\tmov %%r11, 280(%[o])\n\t"
        :
        : [p] "r"(pattern), [o] "r"(out), [n] "r"(iterations)
        : "rax", "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
          "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
}

static void spinner(void)
{
    uint64_t out[36];
    while (!sh->done) {
        errno = 4242;
        spin_block(out, 200000);
        if (errno != 4242)
            sh->bad_errno++;
        if (memcmp(out, pattern, 36 * sizeof(uint64_t) - 16) != 0)
            sh->bad_registers++;
        sh->blocks++;
    }
    _exit(0);
}

static int inject(pid_t pid)
{
    struct cs_inject_request req = {pid, fixture, "callscope_agent_attach", "/tmp/callscope-test/agent.sock", 0};
    char err[512] = "";
    int result = -1;
    int rc = cs_inject_ptrace(&req, &result, err, sizeof err);
    if (rc != CS_INJECT_OK)
        fprintf(stderr, "inject: %s\n", err);
    return rc == CS_INJECT_OK ? result : -100 + rc;
}

static int log_lines(void)
{
    FILE *f = fopen(log_path, "r");
    if (!f)
        return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void wait_blocked(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        char *paren = strrchr(buf, ')');
        if (paren && paren[2] == 'S')
            return;
        usleep(2000);
    }
}

static void test_registers_survive(void)
{
    memset((void *)sh, 0, sizeof *sh);
    unlink(log_path);
    pid_t child = fork();
    if (child == 0)
        spinner();
    while (sh->blocks < 2)
        usleep(1000);
    for (int i = 0; i < 20; i++)
        CHECK_INT(inject(child), 0);
    int seen = sh->blocks;
    while (sh->blocks < seen + 2)
        usleep(1000);
    sh->done = 1;
    int status;
    CHECK_INT(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(sh->bad_registers, 0);
    CHECK_INT(sh->bad_errno, 0);
    CHECK_INT(log_lines(), 20);
}

static void test_read_carries_on(void)
{
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    memset((void *)sh, 0, sizeof *sh);
    pid_t child = fork();
    if (child == 0) {
        char buf[16];
        errno = 0;
        ssize_t n = read(fds[0], buf, sizeof buf);
        sh->result = n == 5 && !memcmp(buf, "hello", 5) ? 1 : (n < 0 ? -errno : 2);
        _exit(0);
    }
    wait_blocked(child);
    CHECK_INT(inject(child), 0);
    CHECK_INT(inject(child), 0);
    usleep(50000);
    CHECK_INT(sh->result, 0); /* still reading */
    CHECK_INT(write(fds[1], "hello", 5), 5);
    int status;
    CHECK_INT(waitpid(child, &status, 0), child);
    CHECK_INT(sh->result, 1);
    close(fds[0]);
    close(fds[1]);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_sleep_carries_on(void)
{
    memset((void *)sh, 0, sizeof *sh);
    pid_t child = fork();
    if (child == 0) {
        double t0 = now_s();
        struct timespec ts = {1, 0}, rem = {0, 0};
        int rc = nanosleep(&ts, &rem);
        double slept = now_s() - t0;
        sh->result = rc == 0 && slept >= 1.0 && slept < 2.5 ? 1 : (rc ? -errno : 2);
        _exit(0);
    }
    wait_blocked(child);
    CHECK_INT(inject(child), 0);
    int status;
    CHECK_INT(waitpid(child, &status, 0), child);
    CHECK_INT(sh->result, 1);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 1;
    exe[n] = 0;
    *strrchr(exe, '/') = 0;
    snprintf(fixture, sizeof fixture, "%s/fixture_entry.so", exe);
    if (access(fixture, R_OK) != 0) {
        fprintf(stderr, "test_inject: %s is missing (make %s)\n", fixture, fixture);
        return 1;
    }
    snprintf(log_path, sizeof log_path, "/tmp/callscope-test-inject-%d.log", (int)getpid());
    setenv("CALLSCOPE_FIXTURE_LOG", log_path, 1);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    CHECK_RUN(test_registers_survive());
    CHECK_RUN(test_read_carries_on());
    CHECK_RUN(test_sleep_carries_on());
    unlink(log_path);
    return CHECK_REPORT("test_inject");
}
