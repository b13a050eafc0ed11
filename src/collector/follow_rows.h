/*
 * follow_rows.h — the calls of a deferred recording still under way, for
 * its readers: the log is built as far as it goes into a private copy,
 * which each catch-up extends with the blocks committed since (the
 * recording commits a block every 100 ms). The copy is a recording of its
 * own, with the rows a live recording has at that point (calls running
 * have a row with no end), so every reader reads it as it reads one; it
 * is removed when the reader is done with it, and one that a reader
 * killed outright left behind, by the next reader.
 */
#ifndef CALLSCOPE_FOLLOW_ROWS_H
#define CALLSCOPE_FOLLOW_ROWS_H

#include <stddef.h>

struct cs_follow_rows;

/* The calls so far of the deferred recording at path, which must be
 * under way. NULL with a one-line message in err. */
struct cs_follow_rows *cs_follow_rows_open(const char *path, char *err, size_t errlen);
/* The copy's path, to open read-only. */
const char *cs_follow_rows_path(const struct cs_follow_rows *f);
/* Builds what the recording committed since: 1 once the copy is complete
 * (the recording ended, or its recorder died), 0 while it goes on, -1
 * with a one-line message (the copy then stays as it was). */
int cs_follow_rows_catch_up(struct cs_follow_rows *f, char *err, size_t errlen);
/* Closes what it opened, and removes the copy. */
void cs_follow_rows_close(struct cs_follow_rows *f);
/* Removes the copy's files only: from a signal handler that ends the
 * reader (async-signal-safe: unlink and rmdir of paths made in advance). */
void cs_follow_rows_remove_files(const struct cs_follow_rows *f);

#endif
