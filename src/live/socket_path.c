/*
 * socket_path.c — the agent socket's path, computed the same way by the
 * injector and by the agent.
 */
#include <stdio.h>

#include "live/socket_path.h"

static int fits(int n, char *out, size_t size)
{
    if (n < 0 || (size_t)n >= size) {
        if (size)
            out[0] = 0;
        return -1;
    }
    return 0;
}

int cs_agent_socket_dir(uid_t uid, char *out, size_t size)
{
    return fits(snprintf(out, size, CS_AGENT_SOCKET_DIR_FMT, (unsigned)uid), out, size);
}

int cs_agent_socket_path(uid_t uid, pid_t pid, char *out, size_t size)
{
    return fits(snprintf(out, size, CS_AGENT_SOCKET_DIR_FMT "/agent-%d.sock", (unsigned)uid, (int)pid), out, size);
}
