/*
 * error.h — the one error printer of the callscope binary, and its exit
 * statuses. Every command reports through cs_error, so that every message
 * has the same "callscope: " prefix, is made safe for a terminal (it may
 * quote the traced program's names) and, for commands whose output is JSON
 * lines, is mirrored there. What is said on stderr but is no error (a
 * status, a warning) goes through cs_note: the same line, never mirrored.
 */
#ifndef CALLSCOPE_UTIL_ERROR_H
#define CALLSCOPE_UTIL_ERROR_H

#include <stdio.h>

/* Exit statuses: success, the file (or the program) cannot be used, bad
 * usage, and, in a forked child, a program that could not be started at
 * all (the shell's convention). */
#define CS_EXIT_OK 0
#define CS_EXIT_FAILURE 1
#define CS_EXIT_USAGE 2
#define CS_EXIT_EXEC_FAILED 127

/* Prints "callscope: <message>" on stderr. */
void cs_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same line, for what is not an error: a JSON lines command's output
 * has its own way to say such things, or none, so it is not mirrored. */
void cs_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* From now on, each cs_error also writes {"type":"error","command":command,
 * "error":line} to `out`: a command whose output is JSON lines reports its
 * errors in them too (and still on stderr, for whoever watches that). */
void cs_error_as_json_too(FILE *out, const char *command);

#endif
