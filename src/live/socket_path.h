/*
 * socket_path.h — where a live agent listens: one directory per user,
 * /tmp/callscope-<uid>/, one socket per process, agent-<pid>.sock.
 *
 * Shared by the attaching side (which computes the path and passes it to the
 * agent) and the agent (which creates it); no Python dependency.
 */
#ifndef CALLSCOPE_LIVE_SOCKET_PATH_H
#define CALLSCOPE_LIVE_SOCKET_PATH_H

#include <stddef.h>
#include <sys/types.h>

#define CS_AGENT_SOCKET_DIR_FMT "/tmp/callscope-%u"

/* The directory of a user's agent sockets. Returns 0, or -1 if `size` is too
 * small (out is then an empty string). */
int cs_agent_socket_dir(uid_t uid, char *out, size_t size);

/* The socket of the agent in process `pid`, owned by `uid` (the process's
 * effective uid). Returns 0, or -1 if `size` is too small. */
int cs_agent_socket_path(uid_t uid, pid_t pid, char *out, size_t size);

/* Whether uid's socket directory can be trusted with an agent's socket: a
 * real directory (no symbolic link), owned by uid, closed to everyone else
 * (mode 0700 or stricter). Another local user who made it first could
 * otherwise listen in the agent's place. Returns 1 when it is safe, 0 when
 * it does not exist, -1 with one sentence saying why not in `why`. */
int cs_agent_socket_dir_check(uid_t uid, char *why, size_t size);

/* Removes the sockets in uid's directory whose process has ended: one
 * killed while attached cannot remove its own. Returns how many went. */
int cs_agent_sweep_dead_sockets(uid_t uid);

#endif
