/*
 * query.c — which function answers which question (query.h).
 */
#include "live/query.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*answer)(int argc, char **argv, struct cs_live_answer *answer);
} questions[] = {
    {"thread", cs_query_thread},
    {"sc", cs_query_sc},
    {"sm", cs_query_sm},
    {"inspect", cs_query_inspect},
    {"logger", cs_query_logger},
    {"memory", cs_query_memory},
    {"top", cs_query_top},
};

int cs_live_query_answer(const char *question, int argc, char **argv, struct cs_live_answer *answer)
{
    for (size_t i = 0; i < sizeof questions / sizeof questions[0]; i++)
        if (!strcmp(question, questions[i].name))
            return questions[i].answer(argc, argv, answer);
    snprintf(answer->error, sizeof answer->error, "this agent cannot answer '%.64s' (is it from another build?)",
             question);
    return -1;
}
