/*
 * cli.h — the recording and live subcommands of the callscope binary.
 */
#ifndef CALLSCOPE_CLI_H
#define CALLSCOPE_CLI_H

int cs_cmd_run(int argc, char **argv);
int cs_cmd_collect(int argc, char **argv);

/* Live commands (live.c). */
int cs_cmd_trace(int argc, char **argv);
int cs_cmd_watch(int argc, char **argv);
int cs_cmd_stack(int argc, char **argv);
int cs_cmd_reset(int argc, char **argv);
int cs_cmd_detach(int argc, char **argv);

#endif
