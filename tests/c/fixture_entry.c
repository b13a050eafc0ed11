/*
 * fixture_entry.c — a stand-in for the agent, to test injection: exports
 * callscope_agent_attach, which appends "pid tid socket_path" to the file
 * named by CALLSCOPE_FIXTURE_LOG and returns CALLSCOPE_FIXTURE_RESULT (0 by
 * default). CALLSCOPE_FIXTURE_SIGNAL=N sends signal N to the calling thread
 * (it arrives while the injector holds the thread); CALLSCOPE_FIXTURE_EXIT=N
 * ends the process with status N (a target exiting during the attach). Built as build/tests/fixture_entry.so; tests load it with
 * CALLSCOPE_ATTACH_LIBRARY.
 *
 * Like the real entry it may run on a thread interrupted anywhere, so it
 * uses system calls only (no stdio, no malloc). It sets errno and clears
 * the vector registers on purpose: the injector must give the thread its
 * own back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void put_number(char *buf, size_t *n, long v)
{
    char digits[24];
    int k = 0;
    if (v < 0) {
        buf[(*n)++] = '-';
        v = -v;
    }
    do
        digits[k++] = (char)('0' + v % 10);
    while ((v /= 10) && k < 23);
    while (k)
        buf[(*n)++] = digits[--k];
}

__attribute__((visibility("default"))) int callscope_agent_attach(const char *socket_path)
{
    const char *log = getenv("CALLSCOPE_FIXTURE_LOG");
    const char *result = getenv("CALLSCOPE_FIXTURE_RESULT");
    if (log) {
        char line[4200];
        size_t n = 0;
        put_number(line, &n, (long)getpid());
        line[n++] = ' ';
        put_number(line, &n, (long)syscall(SYS_gettid));
        line[n++] = ' ';
        size_t len = strlen(socket_path);
        if (len > sizeof line - n - 2)
            len = sizeof line - n - 2;
        memcpy(line + n, socket_path, len);
        n += len;
        line[n++] = '\n';
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ssize_t w = write(fd, line, n);
            (void)w;
            close(fd);
        }
    }
    const char *sig = getenv("CALLSCOPE_FIXTURE_SIGNAL");
    if (sig)
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), atoi(sig));
    const char *status = getenv("CALLSCOPE_FIXTURE_EXIT");
    if (status)
        syscall(SYS_exit_group, atoi(status));
    errno = EDOM;
    /* Vector registers are the caller's to lose: make sure they are lost,
     * so that only the injector's restoring gives them back. */
    __asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
                     "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
                     "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\tpxor %%xmm8, %%xmm8\n\t"
                     "pxor %%xmm9, %%xmm9\n\tpxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
                     "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\tpxor %%xmm14, %%xmm14\n\t"
                     "pxor %%xmm15, %%xmm15\n\t"
                     ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                     "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    return result ? atoi(result) : 0;
}
