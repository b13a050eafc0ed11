/*
 * reader_options.h — the options that `show` and `stats` both take, parsed
 * in one place: the store to read (FILE), --filter, --limit, --format and
 * --help, with one wording for a missing value, a bad count or an unknown
 * option. Each command names its own options and takes them itself, so
 * what the two commands share cannot drift apart.
 */
#ifndef CALLSCOPE_CLI_READER_OPTIONS_H
#define CALLSCOPE_CLI_READER_OPTIONS_H

#include <getopt.h>
#include <stdio.h>

/* What the options both commands take say. */
struct cs_reader_options {
    const char *path;   /* FILE; CS_DEFAULT_DB when none is given */
    const char *filter; /* --filter EXPR; NULL: every call */
    long long limit;    /* --limit N; -1: no limit */
    int jsonl;          /* --format jsonl, rather than the command's text format */
};

/* A command that reads a recording, as its option parsing sees it. */
struct cs_reader_command {
    const char *name;        /* "show": in messages and in getopt's argv[0] */
    const char *text_format; /* --format's other choice than jsonl: "tree", "table" */
    long long default_limit; /* --limit when not given; -1: no limit */
    /* Its own long options, ended by an entry whose name is NULL. Their
     * values must differ from the shared ones ('x', 'l', 'F', 'h') and
     * from getopt's ':' and '?'. */
    const struct option *own;
    /* Takes one of its own options (the value getopt returned, and the
     * option's argument or NULL) into own_options; 0, or -1 after
     * cs_error. */
    int (*take)(int opt, const char *arg, void *own_options);
    void (*usage)(FILE *out); /* --help: on stdout, then exit 0 */
};

/* Parses argv, the arguments after the command's name, into *options and
 * through cmd->take into own_options. 0, or -1 after printing the error. */
int cs_reader_parse_options(const struct cs_reader_command *cmd, int argc, char **argv,
                            struct cs_reader_options *options, void *own_options);

#endif
