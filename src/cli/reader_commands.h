/*
 * reader_commands.h — the subcommands of the callscope binary that read a
 * recording. Each takes the arguments after its own name and returns the
 * process exit status. `export` and `view` live in folders of their own and
 * declare their command there.
 */
#ifndef CALLSCOPE_CLI_READER_COMMANDS_H
#define CALLSCOPE_CLI_READER_COMMANDS_H

#include "export/command.h"
#include "view/command.h"

int cs_cmd_show(int argc, char **argv);  /* show.c */
int cs_cmd_stats(int argc, char **argv); /* stats.c */
int cs_cmd_sql(int argc, char **argv);   /* sql.c */

#endif
