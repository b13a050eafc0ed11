/*
 * socket_path.h — where a live agent listens, and which places may be
 * trusted with its socket.
 *
 * One socket per process, agent-<pid>.sock, in a directory of the process's
 * user: /tmp/callscope-<uid>/ when that is safe, else a private directory
 * /tmp/callscope-<uid>.XXXXXX made with mkdtemp. Another local user can make
 * the first before its owner does, but can neither make the second (its name
 * is not known in advance) nor make any directory owned by the owner, so a
 * client that only trusts directories owned by the uid, closed to others
 * and not symbolic links, finds the agent wherever it listens and nothing
 * else. Shared by the attaching side (which chooses the path and passes it
 * to the agent) and the agent (which checks it again before listening); no
 * Python dependency.
 */
#ifndef CALLSCOPE_LIVE_SOCKET_PATH_H
#define CALLSCOPE_LIVE_SOCKET_PATH_H

#include <stddef.h>
#include <sys/types.h>

#define CS_AGENT_SOCKET_DIR_FMT "/tmp/callscope-%u"

/* The first-choice directory of a user's agent sockets. Returns 0, or -1 if
 * `size` is too small (out is then an empty string). */
int cs_agent_socket_dir(uid_t uid, char *out, size_t size);

/* Whether `dir` can be trusted with uid's agent sockets: a real directory
 * (no symbolic link), owned by uid, closed to everyone else (mode 0700 or
 * stricter). Returns 1 when it is safe, 0 when it does not exist, -1 with
 * one sentence saying why not in `why`. */
int cs_socket_dir_check(const char *dir, uid_t uid, char *why, size_t size);

/* The socket where process pid (whose effective uid is uid) listens now, if
 * it is in a trusted directory: 1 with its path in `out`, or 0. */
int cs_agent_socket_find(uid_t uid, pid_t pid, char *out, size_t size);

/* A path for a new agent in process pid: in the first-choice directory,
 * made now if need be, or, when that one is not safe, in a private one of
 * uid's (reused, or made now and given to uid). In the second case `note`
 * says why (else it is empty). Returns 0, or -1 with the reason in `why`. */
int cs_agent_socket_choose(uid_t uid, pid_t pid, char *out, size_t size, char *note, size_t notesize, char *why,
                           size_t whysize);

/* The processes of uid with an agent listening (sockets in uid's trusted
 * directories whose process lives): the first `max` in pids; returns how
 * many there are. */
int cs_agent_list(uid_t uid, pid_t *pids, int max);

/* Removes the sockets in uid's trusted directories whose process has ended:
 * one killed while attached cannot remove its own. Returns how many went. */
int cs_agent_sweep_dead_sockets(uid_t uid);

#endif
