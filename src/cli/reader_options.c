/*
 * reader_options.c — the options `show` and `stats` share, and the getopt
 * loop that takes them with the command's own (see reader_options.h).
 */
#include "cli/reader_options.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/common.h"

static const struct option shared[] = {
    {"filter", required_argument, NULL, 'x'},
    {"limit", required_argument, NULL, 'l'},
    {"format", required_argument, NULL, 'F'},
    {"help", no_argument, NULL, 'h'},
};
#define NSHARED (sizeof shared / sizeof *shared)

/* The command's options and the shared ones in one table for getopt_long,
 * ended by a zeroed entry; NULL when out of memory. Which comes first does
 * not matter: getopt_long finds an option, or an abbreviation of one, by
 * name wherever it stands, and calls an abbreviation that fits two
 * options ambiguous either way. */
static struct option *all_options(const struct option *own)
{
    size_t n = 0;
    while (own[n].name)
        n++;
    struct option *all = calloc(n + NSHARED + 1, sizeof *all);
    if (!all)
        return NULL;
    memcpy(all, own, n * sizeof *all);
    memcpy(all + n, shared, sizeof shared);
    return all;
}

static int parse_with(const struct cs_reader_command *cmd, int argc, char **args, const struct option *longopts,
                      struct cs_reader_options *o, void *own_options)
{
    int opt, rc = 0;
    optind = 0; /* glibc: full reset, so the parse can run more than once */
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc + 1, args, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'x': o->filter = optarg; break;
        case 'l':
            if (cs_parse_long(optarg, 0, INT64_MAX, &o->limit) != 0)
                rc = -1, cs_error("--limit needs a count, not '%s'", optarg);
            break;
        case 'F': rc = cs_parse_format(optarg, cmd->text_format, &o->jsonl); break;
        case 'h': return 1;
        case ':': rc = -1, cs_error("%s needs a value", args[optind - 1]); break;
        case '?':
            rc = -1;
            cs_error("%s: unknown option '%s' (see callscope %s --help)", cmd->name, args[optind - 1], cmd->name);
            break;
        default: rc = cmd->take(opt, optarg, own_options);
        }
    }
    if (rc == 0)
        rc = cs_take_path(cmd->name, argc, args, &o->path);
    return rc;
}

int cs_reader_parse_options(const struct cs_reader_command *cmd, int argc, char **argv,
                            struct cs_reader_options *options, void *own_options)
{
    memset(options, 0, sizeof *options);
    options->path = CS_DEFAULT_DB;
    options->limit = cmd->default_limit;
    char program[64];
    snprintf(program, sizeof program, "callscope %s", cmd->name);
    /* argv[0] is already the first option: getopt wants a name before it. */
    char **args = cs_getopt_argv(argc, argv, program);
    struct option *longopts = all_options(cmd->own);
    int rc = -1;
    if (!args || !longopts)
        cs_error("out of memory");
    else
        rc = parse_with(cmd, argc, args, longopts, options, own_options);
    free(longopts);
    free(args);
    if (rc > 0) {
        cmd->usage(stdout);
        exit(CS_EXIT_OK);
    }
    return rc;
}
