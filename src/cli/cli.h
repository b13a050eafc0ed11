/*
 * cli.h — the recording, attaching and live subcommands of the callscope binary.
 */
#ifndef CALLSCOPE_CLI_H
#define CALLSCOPE_CLI_H

#include <stddef.h>

int cs_cmd_run(int argc, char **argv);
int cs_cmd_collect(int argc, char **argv);
int cs_cmd_attach(int argc, char **argv);
/* Builds the calls of a recording made with --defer-rows (index.c). */
int cs_cmd_index(int argc, char **argv);

/* The directory holding the `callscope` Python package and its extension
 * files (build/lib next to build/callscope). Returns 0, or -1. */
int cs_find_package_root(char *out, size_t size);

/* Live commands (live.c). */
int cs_cmd_trace(int argc, char **argv);
int cs_cmd_watch(int argc, char **argv);
int cs_cmd_stack(int argc, char **argv);
int cs_cmd_monitor(int argc, char **argv);
int cs_cmd_reset(int argc, char **argv);
int cs_cmd_detach(int argc, char **argv);
/* A read-only question to a live agent: `thread`... (query.c). */
int cs_cmd_query(const char *question, int argc, char **argv);

#endif
