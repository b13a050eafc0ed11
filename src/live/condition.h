/*
 * condition.h — live conditions (`--condition 'cost > 5 and params[0] > 100'`)
 * evaluated inside the target over the call's own objects.
 *
 * The text is parsed and checked by the expression language (src/expr)
 * before anything runs; evaluation then only does what the checked tree
 * says: read the call's names, subscripts and public attributes, compare,
 * compute, and call the allowed builtins and plain methods of built-in
 * types. GIL held throughout.
 */
#ifndef CALLSCOPE_LIVE_CONDITION_H
#define CALLSCOPE_LIVE_CONDITION_H

#include <Python.h>

struct cs_expr_tree;

struct cs_live_condition {
    struct cs_expr_tree *tree;
    int needs_exit;   /* reads cost, return_obj or throw_exp */
    int reported;     /* a failure was reported to the client already */
};

/* What a condition can read about one call (borrowed references; NULL for
 * unknown, read as None). */
struct cs_live_call_values {
    PyObject *const *params; /* the arguments, in parameter order */
    int nparams;
    PyCodeObject *code;      /* the function's code: its parameters by name */
    PyObject *const *argv;   /* all its arguments, receiver and **kwargs too */
    int nargv;
    PyObject *kwargs;        /* the **kwargs dict, if the function has one */
    PyObject *self;          /* the first argument of a method */
    PyObject *return_obj;
    PyObject *throw_exp;
    double cost_ms;
};

/* 0, or -1 with a one-line error (with its column) in err. */
int cs_live_condition_compile(struct cs_live_condition *c, const char *text, char *err, size_t errlen);
void cs_live_condition_free(struct cs_live_condition *c);
/* 0 when every name the condition reads is one of callscope's
 * (cs_expr_live_names) or a parameter of `code`, whose name is `function`;
 * else -1 with a one-line error naming the parameters there are. */
int cs_live_condition_check_names(const struct cs_live_condition *c, PyCodeObject *code, int nargs,
                                  const char *function, char *err, size_t errlen);

/* 1 true, 0 false, -1 when evaluating raised: err then says what (the
 * exception is cleared; the caller counts the call as false). */
int cs_live_condition_test(const struct cs_live_condition *c, const struct cs_live_call_values *v, char *err,
                           size_t errlen);

#endif
