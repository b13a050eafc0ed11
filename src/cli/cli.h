/*
 * cli.h — the recording subcommands of the callscope binary.
 */
#ifndef CALLSCOPE_CLI_H
#define CALLSCOPE_CLI_H

int cs_cmd_run(int argc, char **argv);
int cs_cmd_collect(int argc, char **argv);

#endif
