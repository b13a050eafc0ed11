/*
 * commands.h — the reader subcommands of the callscope binary. Each takes the
 * arguments after its own name and returns the process exit status.
 */
#ifndef CALLSCOPE_COMMANDS_H
#define CALLSCOPE_COMMANDS_H

int cs_cmd_show(int argc, char **argv);
int cs_cmd_stats(int argc, char **argv);
int cs_cmd_export(int argc, char **argv);
int cs_cmd_view(int argc, char **argv); /* view.c, linked with ncursesw */

#endif
