/*
 * tui_processes.c — the Python processes the user may observe, for the live
 * TUI's first screen: from /proc, those of the user's effective uid (all of
 * them for root) whose program is a python, with their command lines.
 */
#include "tui/tui.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether the file name of an executable is a Python interpreter's:
 * python, python3, python3.12, python3.14t... */
static int is_python_name(const char *base)
{
    if (strncmp(base, "python", 6) != 0)
        return 0;
    for (const char *p = base + 6; *p; p++)
        if (!isdigit((unsigned char)*p) && *p != '.' && *p != 't' && *p != 'd' && *p != 'm')
            return 0;
    return 1;
}

static void read_cmdline(int pid, char *out, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    out[0] = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    size_t n = fread(out, 1, size - 1, f);
    fclose(f);
    out[n] = 0;
    /* arguments are NUL-separated; anything unprintable is shown as '?' */
    for (size_t i = 0; i < n; i++)
        out[i] = out[i] == 0 ? ' ' : (unsigned char)out[i] < 0x20 || out[i] == 0x7f ? '?' : out[i];
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = 0;
}

int tui_list_processes(struct tui_process *out, int max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    uid_t me = geteuid();
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == getpid())
            continue;
        char path[64], exe[4096];
        snprintf(path, sizeof path, "/proc/%ld", pid);
        struct stat st;
        if (stat(path, &st) != 0 || (me != 0 && st.st_uid != me))
            continue;
        snprintf(path, sizeof path, "/proc/%ld/exe", pid);
        ssize_t len = readlink(path, exe, sizeof exe - 1);
        if (len <= 0)
            continue;
        exe[len] = 0;
        const char *base = strrchr(exe, '/');
        if (!is_python_name(base ? base + 1 : exe))
            continue;
        out[n].pid = (int)pid;
        read_cmdline((int)pid, out[n].cmdline, sizeof out[n].cmdline);
        n++;
    }
    closedir(d);
    /* newest last, as `ps` lists them */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j - 1].pid > out[j].pid; j--) {
            struct tui_process t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}
