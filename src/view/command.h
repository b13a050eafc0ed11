/*
 * command.h — `callscope view` as the binary's dispatcher calls it: the
 * arguments after the command's name in, the process exit status out. Its
 * code (src/view/) needs ncursesw, so only the binary links it.
 */
#ifndef CALLSCOPE_VIEW_COMMAND_H
#define CALLSCOPE_VIEW_COMMAND_H

int cs_cmd_view(int argc, char **argv);

#endif
