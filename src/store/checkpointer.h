/*
 * checkpointer.h — copying the WAL into the main file, on a thread and a
 * connection of its own.
 *
 * In WAL mode every page a recording writes goes to the file twice: first
 * appended to the WAL, then copied into the database by a checkpoint. Left
 * to SQLite, the copy runs in the connection that commits, which is the
 * store's writer thread, the busiest thread of the collector. Here the
 * writer's commits only note how large the WAL has grown; past a threshold
 * a checkpointer thread copies it (a PASSIVE checkpoint: it never waits for
 * the writer, nor for readers, and copies what they allow), and the writer
 * copies only what was committed meanwhile, so that the WAL can start over.
 * The final checkpoint, once recording ends, is the writer's own again.
 */
#ifndef CALLSCOPE_STORE_CHECKPOINTER_H
#define CALLSCOPE_STORE_CHECKPOINTER_H

#include <sqlite3.h>
#include <stdint.h>

struct cs_checkpointer;

/* Starts checkpointing `path`, written by the connection `writer` (in WAL
 * mode), whenever its WAL holds `frames` pages or more. Should there be no
 * thread or no connection for it, SQLite's own automatic checkpoints stay
 * on and NULL is returned. */
struct cs_checkpointer *cs_checkpointer_start(const char *path, sqlite3 *writer, int frames);

/* Ends the thread (after the checkpoint under way, if any) and gives the
 * writer's connection back its automatic checkpoints. NULL is a no-op. */
void cs_checkpointer_stop(struct cs_checkpointer *c, sqlite3 *writer);

/* CPU time the thread has used, in ns (0 for NULL). */
int64_t cs_checkpointer_cpu_ns(const struct cs_checkpointer *c);

#endif
