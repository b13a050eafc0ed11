/*
 * fuzz_expr.c — libFuzzer harness: the expression language's lexer, parser
 * and live-condition validator on any text (the --condition and --filter a
 * user, or a script, may type).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct cs_expr_error err = {0};
    struct cs_expr_tree *tree = cs_expr_parse(text, &err);
    if (tree) {
        struct cs_expr_error verr = {0};
        cs_expr_validate_live(tree->root, cs_expr_live_names, &verr);
        cs_expr_tree_free(tree);
    }
    free(text);
    return 0;
}
