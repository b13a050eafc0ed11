/*
 * command.h — `callscope export` as the binary's dispatcher calls it: the
 * arguments after the command's name in, the process exit status out.
 */
#ifndef CALLSCOPE_EXPORT_COMMAND_H
#define CALLSCOPE_EXPORT_COMMAND_H

int cs_cmd_export(int argc, char **argv);

#endif
