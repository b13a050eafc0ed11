/*
 * test_expr.c — the expression language: the parser (tree shape, columns,
 * refusals by name), the live-condition validator against known sandbox
 * escapes, suggestions, and record filters (SQL text, parameters, results
 * on a small store, errors with suggestions, completion).
 */
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "expr/expr.h"
#include "query/filter.h"
#include "store/read_sets.h"
#include "store/read_values.h"
#include "store/schema.h"
#include "store/store.h"
#include "store/val_chunks.h"
#include "util/textbuf.h"

/* ---- a readable dump of a tree: (op left right) ---- */

static void dump(const struct cs_expr *e, struct cs_textbuf *b)
{
    switch (e->kind) {
    case CS_EXPR_INT: cs_textbuf_printf(b, "%lld", (long long)e->ival); return;
    case CS_EXPR_FLOAT: cs_textbuf_printf(b, "%g", e->fval); return;
    case CS_EXPR_STR: cs_textbuf_printf(b, "'%s'", e->str); return;
    case CS_EXPR_TRUE: cs_textbuf_puts(b, "True"); return;
    case CS_EXPR_FALSE: cs_textbuf_puts(b, "False"); return;
    case CS_EXPR_NONE: cs_textbuf_puts(b, "None"); return;
    case CS_EXPR_NAME: cs_textbuf_puts(b, e->str); return;
    case CS_EXPR_ATTR: cs_textbuf_puts(b, "(. "), dump(e->left, b), cs_textbuf_printf(b, " %s)", e->str); return;
    case CS_EXPR_SUBSCRIPT:
        cs_textbuf_puts(b, "([] "), dump(e->left, b), cs_textbuf_putc(b, ' '), dump(e->right, b), cs_textbuf_putc(b, ')');
        return;
    case CS_EXPR_CALL:
        cs_textbuf_puts(b, "(call "), dump(e->left, b);
        for (size_t i = 0; i < e->nargs; i++)
            cs_textbuf_putc(b, ' '), dump(e->args[i], b);
        cs_textbuf_putc(b, ')');
        return;
    case CS_EXPR_NEG: cs_textbuf_puts(b, "(neg "), dump(e->left, b), cs_textbuf_putc(b, ')'); return;
    case CS_EXPR_NOT: cs_textbuf_puts(b, "(not "), dump(e->left, b), cs_textbuf_putc(b, ')'); return;
    case CS_EXPR_AND:
    case CS_EXPR_OR:
    case CS_EXPR_BINARY:
    case CS_EXPR_COMPARE:
        cs_textbuf_printf(b, "(%s ", e->kind == CS_EXPR_AND ? "and" : e->kind == CS_EXPR_OR ? "or" : cs_expr_op_name(e->op));
        dump(e->left, b), cs_textbuf_putc(b, ' '), dump(e->right, b), cs_textbuf_putc(b, ')');
        return;
    }
}

static const char *parsed(const char *text)
{
    static struct cs_textbuf b;
    cs_textbuf_reset(&b);
    struct cs_expr_error err;
    struct cs_expr_tree *t = cs_expr_parse(text, &err);
    if (!t) {
        cs_textbuf_printf(&b, "error %d: %s", err.column, err.message);
        return cs_textbuf_cstr(&b);
    }
    dump(t->root, &b);
    cs_expr_tree_free(t);
    return cs_textbuf_cstr(&b);
}

static void test_parse_shapes(void)
{
    CHECK_STR(parsed("cost > 100 and params[0] > 5"), "(and (> cost 100) (> ([] params 0) 5))");
    CHECK_STR(parsed("a or b and not c"), "(or a (and b (not c)))");
    CHECK_STR(parsed("1 + 2 * 3 - 4 // 2 % 3 / 1"), "(- (+ 1 (* 2 3)) (/ (% (// 4 2) 3) 1))");
    CHECK_STR(parsed("-x * -3"), "(* (neg x) -3)");
    CHECK_STR(parsed("(1 + 2) * 3"), "(* (+ 1 2) 3)");
    CHECK_STR(parsed("self.name.lower().startswith('ab')"), "(call (. (call (. (. self name) lower)) startswith) 'ab')");
    CHECK_STR(parsed("len(args) >= 2"), "(>= (call len args) 2)");
    CHECK_STR(parsed("max(1, 2, 3,)"), "(call max 1 2 3)");
    CHECK_STR(parsed("'a' in x and 'b' not in y"), "(and (in 'a' x) (not in 'b' y))");
    CHECK_STR(parsed("x is None or x is not None"), "(or (is x None) (is not x None))");
    CHECK_STR(parsed("True != False"), "(!= True False)");
    CHECK_STR(parsed("1.5e3 == 1500.0"), "(== 1500 1500)");
    CHECK_STR(parsed("0x10 == 16"), "(== 16 16)");
    CHECK_STR(parsed("kwargs['k\\'ey\\n'] == \"v\\x41\""), "(== ([] kwargs 'k'ey\n') 'vA')");
    CHECK_STR(parsed("'\\u00e9' == 'é'"), "(== 'é' 'é')");
    CHECK_STR(parsed("'100\\%'"), "'100\\%'");
    CHECK_STR(parsed("not not x"), "(not (not x))");
    CHECK_STR(parsed("-(-5)"), "5");

    /* columns: of each node and of operators */
    struct cs_expr_error err;
    struct cs_expr_tree *t = cs_expr_parse("cost > 100 and  params[0].x(1)", &err);
    CHECK(t != NULL);
    if (t) {
        const struct cs_expr *r = t->root;
        CHECK_INT(r->column, 1);
        CHECK_INT(r->op_column, 12);
        CHECK_INT(r->left->column, 1);
        CHECK_INT(r->left->op_column, 6);
        CHECK_INT(r->left->right->column, 8);
        const struct cs_expr *call = r->right;
        CHECK_INT(call->kind, CS_EXPR_CALL);
        CHECK_INT(call->column, 17);
        CHECK_INT(call->op_column, 28);
        CHECK_INT(call->left->op_column, 27); /* the attribute name x */
        CHECK_INT(call->args[0]->column, 29);
        cs_expr_tree_free(t);
    }
    /* columns count characters, not bytes */
    t = cs_expr_parse("'é' == x", &err);
    CHECK(t && t->root->right->column == 8);
    cs_expr_tree_free(t);
}

struct refusal {
    const char *text;
    int column;
    const char *message; /* a fragment of it */
};

static void check_refusals(const struct refusal *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cs_expr_error err = {0, ""};
        struct cs_expr_tree *t = cs_expr_parse(r[i].text, &err);
        CHECK(t == NULL);
        int ok = t == NULL && strstr(err.message, r[i].message) && (r[i].column < 0 || err.column == r[i].column);
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  %s -> column %d: %s (expected %d: %s)\n", r[i].text, err.column, err.message,
                    r[i].column, r[i].message);
        cs_expr_tree_free(t);
    }
}

static void test_parse_errors(void)
{
    static const struct refusal r[] = {
        {"lambda: 1", 1, "lambda expressions are not allowed"},
        {"[x for x in y]", 1, "list displays"},
        {"(x for x in y)", 4, "comprehensions ('for') are not allowed"},
        {"x := 1", 3, "':=' (assignment expression)"},
        {"x = 1", 3, "'=' is assignment"},
        {"2 ** 8", 3, "'**' is not allowed"},
        {"a if b else c", 3, "conditional expressions"},
        {"import os", 1, "import is not allowed"},
        {"f'{x}'", 1, "f-strings are not allowed"},
        {"b'x' == y", 1, "string prefix 'b'"},
        {"x; y", 2, "';' is not allowed"},
        {"...", 1, "Ellipsis"},
        {"*x", 1, "starred expressions"},
        {"f(*x)", 3, "starred arguments"},
        {"f(**x)", 3, "'**' is not allowed"},
        {"f(x=1)", 3, "keyword arguments are not allowed"},
        {"x[1:2]", 4, "slices"},
        {"x[:2]", 3, "slices"},
        {"{1: 2}", 1, "dict and set displays"},
        {"a & b", 3, "bitwise"},
        {"~a", 1, "bitwise"},
        {"a < b < c", 7, "chained comparisons"},
        {"x ==", 5, "ends early"},
        {"(x", 3, "expected ')'"},
        {"'abc", 1, "no closing '"},
        {"'''x'''", 1, "triple-quoted"},
        {"x y", 3, "unexpected 'y'"},
        {"", 1, "empty"},
        {"yield x", 1, "'yield' is not allowed"},
        {"await x", 1, "'await' is not allowed"},
        {"def f(): pass", 1, "statements are not allowed ('def')"},
        {"del x", 1, "statements are not allowed ('del')"},
        {"x and", 6, "ends early"},
        {"and x", 1, "'and' needs an expression"},
        {"1j", 1, "complex numbers"},
        {"99999999999999999999", 1, "integer too large"},
        {"1_000", 1, "underscores"},
        {"x @ y", 3, "'@'"},
        {"x +=1", 3, "assignment is not allowed"},
        {"a <> b", 3, "use '!='"},
        {"!x", 1, "use 'not'"},
        {"x # c", 3, "comments"},
        {"'a' 'b'", 5, "adjacent strings"},
        {"()", 1, "tuples"},
        {"(1, 2)", 3, "tuples"},
        {"x[1, 2]", 4, "tuples"},
        {"é", 1, "non-ASCII"},
        {"'\\N{DASH}'", 2, "\\N{...}"},
        {"'\\x4'", 2, "hex digits"},
        {"+x", 1, "unary '+'"},
        {"x.1", 2, "unexpected number"},
    };
    check_refusals(r, sizeof r / sizeof *r);

    /* hostile nesting and length stop with an error, not a crash */
    char deep[400];
    memset(deep, '(', 300);
    strcpy(deep + 300, "1");
    struct cs_expr_error err;
    CHECK(cs_expr_parse(deep, &err) == NULL && strstr(err.message, "nested too deeply"));
    memset(deep, '-', 300);
    CHECK(cs_expr_parse(deep, &err) == NULL && strstr(err.message, "nested too deeply"));
    char *big = malloc(CS_EXPR_MAX_LENGTH + 10);
    memset(big, 'x', CS_EXPR_MAX_LENGTH + 5);
    big[CS_EXPR_MAX_LENGTH + 5] = 0;
    CHECK(cs_expr_parse(big, &err) == NULL && strstr(err.message, "too long"));
    free(big);
    char args[200] = "f(";
    for (int i = 0; i < 20; i++)
        strcat(args, "1,");
    strcat(args, ")");
    CHECK(cs_expr_parse(args, &err) == NULL && strstr(err.message, "too many arguments"));
}

/* ---- the live validator ---- */

static const char *validated(const char *text)
{
    static char out[600];
    struct cs_expr_error err;
    struct cs_expr_tree *t = cs_expr_parse(text, &err);
    if (t && cs_expr_validate_live(t->root, cs_expr_live_names, &err) == 0) {
        cs_expr_tree_free(t);
        return "ok";
    }
    cs_expr_tree_free(t);
    snprintf(out, sizeof out, "%d: %s", err.column, err.message);
    return out;
}

static void test_live_escapes(void)
{
    /* Each known way out of an expression sandbox, refused before anything
     * runs, with the reason. */
    static const struct {
        const char *text, *message;
    } escapes[] = {
        {"().__class__.__bases__[0].__subclasses__()", "tuples"},
        {"''.__class__.__mro__[1].__subclasses__()", "attribute '__subclasses__' is not allowed: dunder"},
        {"params[0].__globals__", "attribute '__globals__' is not allowed: dunder"},
        {"getattr(self, 'x')", "calling 'getattr' is not allowed"},
        {"[x for x in ()]", "list displays"},
        {"lambda: 1", "lambda expressions are not allowed"},
        {"__import__('os')", "calling '__import__' is not allowed"},
        {"__import__", "name '__import__' is not allowed"},
        {"self.func_globals", "attribute 'func_globals' is not allowed"},
        {"str.format", "attribute 'format' is not allowed"},
        {"'{0.__class__}'.format(1)", "attribute 'format' is not allowed"},
        {"'{x}'.format_map(kwargs)", "attribute 'format_map' is not allowed"},
        {"open('/etc/passwd')", "calling 'open' is not allowed"},
        {"(x := 1)", "':=' (assignment expression)"},
        {"self._secret", "attribute '_secret' is not allowed: private"},
        {"x.gi_frame", "attribute 'gi_frame' is not allowed"},
        {"f.f_back", "attribute 'f_back' is not allowed"},
        {"self.gi_code", "attribute 'gi_code' is not allowed"},
        {"self.f_globals", "attribute 'f_globals' is not allowed"},
        {"self.f_locals", "attribute 'f_locals' is not allowed"},
        {"self.f_builtins", "attribute 'f_builtins' is not allowed"},
        {"throw_exp.tb_frame", "attribute 'tb_frame' is not allowed"},
        {"throw_exp.tb_next", "attribute 'tb_next' is not allowed"},
        {"return_obj.cr_frame", "attribute 'cr_frame' is not allowed"},
        {"return_obj.ag_frame", "attribute 'ag_frame' is not allowed"},
        {"self.method.co_code", "attribute 'co_code' is not allowed: code object"},
        {"self.co_consts", "attribute 'co_consts' is not allowed"},
        {"self.mro()", "attribute 'mro' is not allowed"},
        {"eval('1')", "calling 'eval' is not allowed"},
        {"exec('x=1')", "calling 'exec' is not allowed"},
        {"compile('1', '', 'eval')", "calling 'compile' is not allowed"},
        {"type(self)", "calling 'type' is not allowed"},
        {"vars(self)", "calling 'vars' is not allowed"},
        {"globals()", "calling 'globals' is not allowed"},
        {"locals()", "calling 'locals' is not allowed"},
        {"dir(self)", "calling 'dir' is not allowed"},
        {"setattr(self, 'x', 1)", "calling 'setattr' is not allowed"},
        {"delattr(self, 'x')", "calling 'delattr' is not allowed"},
        {"breakpoint()", "calling 'breakpoint' is not allowed"},
        {"input()", "calling 'input' is not allowed"},
        {"print(1)", "calling 'print' is not allowed"},
        {"params.pop()", "calling method 'pop' is not allowed"},
        {"params.append(1)", "calling method 'append' is not allowed"},
        {"kwargs.clear()", "calling method 'clear' is not allowed"},
        {"kwargs.update(a=1)", "keyword arguments are not allowed"},
        {"kwargs.update(args)", "calling method 'update' is not allowed"},
        {"kwargs.setdefault('a', 1)", "calling method 'setdefault' is not allowed"},
        {"self.save()", "calling method 'save' is not allowed"},
        {"self.__class__", "attribute '__class__' is not allowed"},
        {"self.__dict__", "attribute '__dict__' is not allowed"},
        {"self.__init__.__globals__['os']", "attribute '__globals__' is not allowed"},
        {"self.__init__", "attribute '__init__' is not allowed"},
        {"params[0]()", "only the allowed builtins and methods can be called"},
        {"len(params)()", "only the allowed builtins and methods can be called"},
        {"(self.x)()", "calling method 'x' is not allowed"},
        {"os.system('id')", "attribute 'system' is not allowed"},
        {"sys.modules", "attribute 'modules' is not allowed"},
        {"os", "unknown name 'os'"},
        {"__builtins__", "name '__builtins__' is not allowed"},
        {"_", "name '_' is not allowed"},
        {"len", "'len' can only be called"},
        {"len.__self__", "attribute '__self__' is not allowed"},
        {"str.join(',', params)", "'str' can only be called"},
        {"return 1", "statements are not allowed ('return')"},
        {"return_obj.__reduce_ex__(2)", "attribute '__reduce_ex__' is not allowed"},
        {"self.x.y.z.__reduce__()", "attribute '__reduce__' is not allowed"},
        {"[].__class__", "list displays"},
        {"{}.__class__", "dict and set displays"},
        {"import os", "import is not allowed"},
        {"x if y else z", "conditional expressions"},
        {"cost if cost else 0", "conditional expressions"},
        {"f'{self.__class__}'", "f-strings are not allowed"},
        {"self.gi_yieldfrom", "attribute 'gi_yieldfrom' is not allowed"},
        {"self.cell_contents", "attribute 'cell_contents' is not allowed"},
        {"self.im_func", "attribute 'im_func' is not allowed"},
        {"max(params, key=len)", "keyword arguments are not allowed"},
        {"min(*params)", "starred arguments"},
        {"params[0].format(self)", "attribute 'format' is not allowed"},
        {"a.b(); c", "';' is not allowed"},
    };
    size_t n = sizeof escapes / sizeof *escapes;
    CHECK(n >= 50);
    for (size_t i = 0; i < n; i++) {
        const char *got = validated(escapes[i].text);
        int ok = strcmp(got, "ok") != 0 && strstr(got, escapes[i].message) != NULL;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  %s -> %s (expected: %s)\n", escapes[i].text, got, escapes[i].message);
    }
    /* the column points at the offending part */
    CHECK_STR(validated("cost > 1 and self._secret"), "19: attribute '_secret' is not allowed: private attributes (starting with '_') are not allowed");
    CHECK(strncmp(validated("len(params) + eval('1')"), "15: calling 'eval'", 18) == 0);

    static const char *const fine[] = {
        "cost > 100 and params[0] > 5",
        "len(args) == 2 or kwargs.get('user') == 'bob'",
        "self.name.lower().startswith('adm')",
        "str(params[0]).endswith('.py')",
        "return_obj is None",
        "throw_exp is not None and 'Timeout' in str(throw_exp)",
        "abs(cost - 10) < 1.5 and round(cost) >= int('3') and float(1) and bool(0) == False",
        "min(params[0], 5) < max(1, 2)",
        "'x' in kwargs.keys() and 1 in kwargs.values() and len(kwargs.items()) > 0",
        "','.join(params).split(',')[0].strip() == 'a'",
        "-cost // 2 % 3 != 0",
        "not params",
        "self.user.profile.email.endswith('@example.com')",
    };
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        const char *got = validated(fine[i]);
        CHECK_STR(got, "ok");
    }
    /* the allowed names are the caller's */
    struct cs_expr_error err;
    struct cs_expr_tree *t = cs_expr_parse("cost > 1", &err);
    static const char *const only_params[] = {"params", NULL};
    CHECK_INT(cs_expr_validate_live(t->root, only_params, &err), -1);
    CHECK(strstr(err.message, "unknown name 'cost'; a condition can use params") != NULL);
    cs_expr_tree_free(t);
}

/* ---- suggestions and carets ---- */

static void test_suggest(void)
{
    CHECK_INT(cs_edit_distance("kitten", "sitting"), 3);
    CHECK_INT(cs_edit_distance("", "abc"), 3);
    CHECK_INT(cs_edit_distance("same", "same"), 0);
    static const char *const words[] = {"module", "func", "function", "file", "line", "duration"};
    const char *out[4];
    size_t n = cs_nearest("modul", words, 6, out, 4);
    CHECK_INT(n, 1);
    CHECK_STR(out[0], "module");
    n = cs_nearest("fnuc", words, 6, out, 4);
    CHECK(n >= 1 && strcmp(out[0], "func") == 0);
    n = cs_nearest("fun", words, 6, out, 4); /* a prefix: both func and function */
    CHECK_INT(n, 2);
    n = cs_nearest("zzzzzz", words, 6, out, 4);
    CHECK_INT(n, 0);

    char buf[200];
    cs_expr_caret("module == 'x'", 11, "  ", buf, sizeof buf);
    CHECK_STR(buf, "  module == 'x'\n            ^\n");
    cs_expr_caret("a\tb", 3, "", buf, sizeof buf);
    CHECK_STR(buf, "a b\n  ^\n");
    cs_expr_caret("abcdef", 2, "", buf, 6); /* truncated, terminated */
    CHECK_INT(strlen(buf), 5);
}

/* ---- record filters ---- */

static const char *compiled(sqlite3 *db, const char *text, struct cs_filter *f)
{
    static char out[1200];
    struct cs_expr_error err;
    if (cs_filter_compile(db, text, 1, f, &err) != 0) {
        snprintf(out, sizeof out, "error %d: %s", err.column, err.message);
        return out;
    }
    snprintf(out, sizeof out, "%s", f->sql);
    return out;
}

/* Fields of functions and threads are looked up once, by id. */
#define FN(cond) "c.function_id IN (SELECT f.id FROM functions f WHERE " cond ")"
#define TH(cond) "c.thread_id IN (SELECT t.id FROM threads t WHERE " cond ")"

static void test_filter_sql(void)
{
    struct cs_filter f;
    CHECK_STR(compiled(NULL, "module == 'app%' and tid == 3", &f), "(" FN("f.module GLOB ?1") " AND " TH("t.tid = ?2") ")");
    CHECK_INT(f.nparams, 2);
    CHECK_STR(f.params[0].s, "app*");
    CHECK_INT(f.params[1].type, SQLITE_INTEGER);
    CHECK_INT(f.params[1].i, 3);
    cs_filter_free(&f);

    CHECK_STR(compiled(NULL, "func == 'Model.save'", &f), FN("f.qualname = ?1"));
    CHECK_STR(f.params[0].s, "Model.save");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "function != 'a_b*'", &f), FN("coalesce(f.name NOT GLOB ?1, 1)"));
    CHECK_STR(f.params[0].s, "a?b[*]");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "file == '100\\%'", &f), FN("f.filename = ?1"));
    CHECK_STR(f.params[0].s, "100%");
    cs_filter_free(&f);

    /* values never appear in the SQL text, however they are quoted */
    CHECK_STR(compiled(NULL, "thread == \"x' OR 1=1 --\"", &f), TH("t.name = ?1"));
    CHECK_STR(f.params[0].s, "x' OR 1=1 --");
    cs_filter_free(&f);

    CHECK_STR(compiled(NULL, "duration > 2.5", &f), "c.duration_ns > ?1");
    CHECK(f.params[0].type == SQLITE_FLOAT && f.params[0].d == 2.5e6);
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "5 < depth", &f), "c.depth > ?1");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "exception != None or duration is None", &f),
              "(c.exception IS NOT NULL OR c.duration_ns IS NULL)");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "not (line >= 10)", &f), "NOT (" FN("f.lineno >= ?1") ")");
    cs_filter_free(&f);

    /* one argument: comparisons on arg/value in one and-chain share an EXISTS */
    CHECK_STR(compiled(NULL, "arg == 'n' and module == 'm' and value == '5'", &f),
              "(" FN("f.module = ?1") " AND (cs_arg_is(c.args, c.function_id, ?2, ?3, 0)))");
    CHECK_STR(f.params[1].s, "n");
    CHECK_INT(f.nparams, 3);
    cs_filter_free(&f);
    /* a name with wildcards walks the arguments */
    CHECK_STR(compiled(NULL, "arg == 'n%' and value != '5'", &f),
              "EXISTS (SELECT 1 FROM cs_each(c.args, c.function_id) a WHERE a.key GLOB ?1 AND coalesce(a.value <> ?2, 1))");
    cs_filter_free(&f);
    /* (a chain of `or` compiles flat: SQLite's parser holds few open parentheses) */
    CHECK_STR(compiled(NULL, "value == 5 or value == 2.5 or value == True or value == None", &f),
              "EXISTS (SELECT 1 FROM cs_each(c.args, c.function_id) a WHERE (a.value = ?1 OR a.value = ?2 OR a.value = ?3 OR "
              "a.value = ?4))");
    CHECK_STR(f.params[0].s, "5");
    CHECK_STR(f.params[1].s, "2.5");
    CHECK_STR(f.params[2].s, "True");
    CHECK_STR(f.params[3].s, "None");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "arg == 'n' and value != 'a'", &f),
              "(cs_arg(c.args, c.function_id, ?1) IS NOT NULL AND coalesce(cs_arg(c.args, c.function_id, ?1) <> ?2, 1))");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "value == 'a%'", &f), "cs_has_value(c.args, ?1, 1)");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "not value == 5", &f), "NOT cs_has_value(c.args, ?1, 0)");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "not arg == 'x'", &f), "NOT (cs_arg(c.args, c.function_id, ?1) IS NOT NULL)");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "not arg == 'x_'", &f), "NOT EXISTS (SELECT 1 FROM cs_each(c.args, c.function_id) a WHERE a.key GLOB ?1)");
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "return == 1.0 and exception == 'KeyError%'", &f),
              "(cs_val(c.result) = ?1 AND c.exception GLOB ?2)");
    CHECK_STR(f.params[0].s, "1.0");
    cs_filter_free(&f);

    /* time: the span written, relative to the recording's start (db NULL: 0) */
    setenv("TZ", "UTC", 1);
    tzset();
    int64_t lo, span;
    CHECK_INT(cs_filter_parse_time("2026/11/24 13:45:00", &lo, &span), 0);
    CHECK_INT(lo, 1795527900LL * 1000000000LL);
    CHECK_INT(span, 1000000000LL);
    CHECK_INT(cs_filter_parse_time("2026-11-24T13:45", &lo, &span), 0);
    CHECK_INT(span, 60000000000LL);
    CHECK_INT(cs_filter_parse_time("2026/11/24 13:45:00.25", &lo, &span), 0);
    CHECK_INT(lo, 1795527900LL * 1000000000LL + 250000000LL);
    CHECK_INT(span, 10000000LL);
    CHECK_INT(cs_filter_parse_time("2026/11/24", &lo, &span), 0);
    CHECK_INT(span, 86400000000000LL);
    CHECK_INT(cs_filter_parse_time("2026/02/31", &lo, &span), -1);
    CHECK_INT(cs_filter_parse_time("2026/11/24 25:00", &lo, &span), -1);
    CHECK_INT(cs_filter_parse_time("yesterday", &lo, &span), -1);
    CHECK_STR(compiled(NULL, "time == '2026/11/24 13:45'", &f), "(c.start_ns >= ?1 AND c.start_ns < ?2)");
    CHECK_INT(f.params[1].i - f.params[0].i, 60000000000LL);
    cs_filter_free(&f);
    CHECK_STR(compiled(NULL, "time <= '2026/11/24 13:45'", &f), "c.start_ns < ?1");
    CHECK_INT(f.params[0].i, (1795527900LL + 60) * 1000000000LL);
    cs_filter_free(&f);

    /* errors: the column, and what to write instead */
    static const struct refusal r[] = {
        {"modul == 'x'", 1, "unknown field 'modul'; did you mean module?"},
        {"fnuc == 'x'", 1, "did you mean func?"},
        {"zzzzzz == 1", 1, "the fields are time, tid"},
        {"module < 'x'", 8, "'<' does not apply to module; module takes == or !="},
        {"module in 'x'", 8, "'in' does not apply to module"},
        {"tid == '3'", 8, "tid is a number: write it without quotes, e.g. tid == 3"},
        {"duration > 'x'", 12, "duration is a number of milliseconds"},
        {"module == 3", 11, "module is text (a module): put the value in quotes"},
        {"time > 5", 8, "time takes a local date and time in quotes"},
        {"time > '24 Nov'", 8, "like '2026/11/24 13:45:00'"},
        {"type < 'int'", 6, "'<' does not apply to type"},
        {"duration", 1, "'duration' alone is not a condition"},
        {"exception", 1, "e.g. exception != None"},
        {"5", 1, "a value alone is not a condition"},
        {"tid == pid", 8, "not with another field"},
        {"module == app", 11, "'app' is not a value: text goes in quotes ('app')"},
        {"duration > 1 + 2", 12, "arithmetic is not supported in filters"},
        {"len(module) > 1", 1, "calls are not supported in filters"},
        {"1 == 1", 1, "a comparison needs a field"},
        {"module is 'x'", 8, "'is' only compares with None; use '=='"},
        {"duration < None", 10, "'<' does not apply|None only compares"},
        {"depth == True", 10, "depth is a number, not True"},
        {"module == 'x' and (tid ==", 26, "ends early"},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        const char *got = compiled(NULL, r[i].text, &f);
        char expect[40];
        snprintf(expect, sizeof expect, "error %d: ", r[i].column);
        /* a '|' in the fragment separates acceptable alternatives */
        char alts[200];
        snprintf(alts, sizeof alts, "%s", r[i].message);
        int ok = 0;
        for (char *a = strtok(alts, "|"); a && !ok; a = strtok(NULL, "|"))
            ok = strncmp(got, expect, strlen(expect)) == 0 && strstr(got, a) != NULL;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  %s -> %s (expected %s%s)\n", r[i].text, got, expect, r[i].message);
    }
}

/* A small store: two modules, a few functions and calls. */
static sqlite3 *make_db(void)
{
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    CHECK_INT(cs_schema_create(db), 0);
    const char *sql =
        "INSERT INTO meta VALUES ('started_wall_ns', 1795527900000000000);"
        "INSERT INTO threads VALUES (1, 100, 100, 'MainThread'), (2, 100, 101, 'worker');"
        "INSERT INTO functions VALUES (1, 'python', 'myapp', 'fib', 'myapp.fib', '/src/myapp.py', 3, '[\"n\"]'),"
        " (2, 'python', 'myapp.db', 'Model.save', 'myapp.db.Model.save', '/src/db.py', 10, '[\"self\",\"force\"]'),"
        " (3, 'python', 'other', 'run', 'other.run', '/src/other.py', 1, '[]');"
        /* id, parent, thread, function, depth, start, duration, self, args, result, exception, flags;
         * args are vals ids or inline text, in arg_names order. Rows of
         * call_late, which call_rows shows as it shows chunks' rows. */
        "INSERT INTO call_late VALUES (1, NULL, 1, 3, 0, 0, 10000000, 1000, '[]', 'None', NULL, 0),"
        " (2, 1, 1, 1, 1, 1000, 3000000, 1000, '[\"5\"]', '5', NULL, 0),"
        " (3, 2, 1, 1, 2, 2000, 1000000, 1000, '[\"4\"]', '3', NULL, 0),"
        " (4, 1, 1, 2, 1, 61000000000, 500000, 500000, '[1,\"True\"]', NULL, 'ValueError: bad', 0),"
        " (5, NULL, 2, 1, 0, 120000000000, NULL, NULL, '[\"5\"]', NULL, NULL, 0);";
    CHECK_INT(cs_read_values_register(db), SQLITE_OK);
    CHECK_INT(cs_read_sets_register(db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "make_db: %s\n", err);
        CHECK(0);
    }
    sqlite3_free(err);
    /* The one value the calls refer to (vals row 1), in a chunk as the
     * store writes it. */
    struct cs_val_encoder *e = cs_val_encoder_new(1);
    struct cs_textbuf blob = {0};
    int64_t first, last;
    int rows;
    char why[128];
    CHECK(e != NULL);
    CHECK_INT(cs_val_encoder_add(e, &(struct cs_val_row){1, "<Model>", 7, "myapp.db.Model", 14}), 0);
    CHECK_INT(cs_val_encoder_finish(e, &blob, &first, &last, &rows, why, sizeof why), 0);
    sqlite3_stmt *st;
    CHECK_INT(sqlite3_prepare_v2(db, "INSERT INTO val_chunks VALUES (?, ?, ?, ?)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, first);
    sqlite3_bind_int64(st, 2, last);
    sqlite3_bind_int(st, 3, rows);
    sqlite3_bind_blob(st, 4, blob.data, (int)blob.len, SQLITE_STATIC);
    CHECK_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    cs_textbuf_free(&blob);
    cs_val_encoder_free(e);
    return db;
}

/* The ids of the calls that match, as "1,2,3", or the error. */
static const char *matching(sqlite3 *db, const char *text)
{
    static char out[600];
    struct cs_filter f;
    struct cs_expr_error err;
    if (cs_filter_compile(db, text, 1, &f, &err) != 0) {
        snprintf(out, sizeof out, "error %d: %s", err.column, err.message);
        return out;
    }
    char sql[2000];
    snprintf(sql, sizeof sql, "SELECT c.id FROM %s WHERE %s ORDER BY c.id", CS_FILTER_FROM, f.sql);
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(out, sizeof out, "sql error: %s", sqlite3_errmsg(db));
    } else {
        CHECK_INT(cs_filter_bind(&f, st), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            size_t len = strlen(out);
            snprintf(out + len, sizeof out - len, "%s%lld", len ? "," : "", (long long)sqlite3_column_int64(st, 0));
        }
        sqlite3_finalize(st);
    }
    cs_filter_free(&f);
    return out;
}

static void test_filter_results(void)
{
    sqlite3 *db = make_db();
    CHECK_STR(matching(db, "module == 'myapp%'"), "2,3,4,5");
    CHECK_STR(matching(db, "module == 'myapp'"), "2,3,5");
    CHECK_STR(matching(db, "module != 'myapp'"), "1,4");
    CHECK_STR(matching(db, "function == 'myapp.db.Model.save'"), "4");
    CHECK_STR(matching(db, "func == 'Model.%' or func == 'ru_'"), "1,4");
    CHECK_STR(matching(db, "thread == 'worker'"), "5");
    CHECK_STR(matching(db, "tid == 100 and depth >= 1"), "2,3,4");
    CHECK_STR(matching(db, "pid == 100 and line == 3"), "2,3,5");
    CHECK_STR(matching(db, "file == '%/db.py'"), "4");
    CHECK_STR(matching(db, "duration > 2"), "1,2");
    CHECK_STR(matching(db, "duration >= 1 and duration < 3.5"), "2,3");
    CHECK_STR(matching(db, "duration == None"), "5");
    CHECK_STR(matching(db, "exception != None"), "4");
    CHECK_STR(matching(db, "exception == 'ValueError%'"), "4");
    CHECK_STR(matching(db, "exception != 'ValueError%'"), "1,2,3,5");
    CHECK_STR(matching(db, "return == 5 or return == None"), "1,2");
    CHECK_STR(matching(db, "arg == 'n' and value == '5'"), "2,5");
    CHECK_STR(matching(db, "arg == 'n' and value == 5 and tid == 101"), "5");
    CHECK_STR(matching(db, "arg == 'force' and value == True"), "4");
    /* the same argument: no argument is both named self and 'True' */
    CHECK_STR(matching(db, "arg == 'self' and value == True"), "");
    CHECK_STR(matching(db, "value == '5' or value == '<Model>'"), "2,4,5");
    CHECK_STR(matching(db, "not value == '5'"), "1,3,4");
    CHECK_STR(matching(db, "arg == 'n' and value != '5'"), "3");
    CHECK_STR(matching(db, "not arg == 'n'"), "1,4");
    CHECK_STR(matching(db, "arg == 'force' and (value == 'True' or value == 'False') and depth == 1"), "4");
    /* types: stored with shared values, implied by inline ones (ints, None, bools) */
    CHECK_STR(matching(db, "type == 'myapp.db.Model'"), "4");
    CHECK_STR(matching(db, "arg == 'force' and type == 'bool'"), "4");
    CHECK_STR(matching(db, "arg == 'self' and type == 'bool'"), "");
    CHECK_STR(matching(db, "type == 'int' and depth == 0"), "5");
    CHECK_STR(matching(db, "type == 'myapp.%'"), "4");
    CHECK_STR(matching(db, "type != 'int'"), "4"); /* some argument that is not an int */
    CHECK_STR(matching(db, "arg == 'n' and value >= '4'"), "error 22: '>=' does not apply to value; value takes == or !=");
    /* time: 2026/11/24 13:45:00 UTC is the recording's start (TZ=UTC above) */
    CHECK_STR(matching(db, "time == '2026/11/24 13:45'"), "1,2,3");
    CHECK_STR(matching(db, "time >= '2026/11/24 13:46' and time < '2026/11/24 13:47'"), "4");
    CHECK_STR(matching(db, "time > '2026/11/24 13:46'"), "5");
    CHECK_STR(matching(db, "time == '2026/11/24 13:46:01.000'"), "4");
    CHECK_STR(matching(db, "time != '2026/11/24'"), "");

    /* values that exist nowhere: the ones that do, by prefix or by distance */
    CHECK_STR(matching(db, "module == 'myap'"), "error 11: no module is 'myap'; did you mean 'myapp', 'myapp.db'?");
    CHECK_STR(matching(db, "module == 'otehr'"), "error 11: no module is 'otehr'; did you mean 'other'?");
    CHECK_STR(matching(db, "function == 'fib'"), "error 13: no function is 'fib'; did you mean 'myapp.fib'?");
    CHECK_STR(matching(db, "func == 'Model.sav'"), "error 9: no func is 'Model.sav'; did you mean 'Model.save'?");
    CHECK_STR(matching(db, "thread == 'zzzzzzzz'"),
              "error 11: no thread is 'zzzzzzzz'; the recording has 'MainThread' and 'worker'");
    CHECK_STR(matching(db, "arg == 'nn'"), "error 8: no arg is 'nn'; did you mean 'n'?");
    CHECK_STR(matching(db, "tid == 3 and module == 'x%'"),
              "error 24: no module is 'x%'; the recording has 'myapp', 'myapp.db' and 'other'");
    /* '!=' a value that does not exist is no error */
    CHECK_STR(matching(db, "module != 'nothing'"), "1,2,3,4,5");
    cs_store_close_readonly(db);
}

/* A filter on a field of functions is resolved to a set of function ids
 * when compiled; a function the recording defines later (it is still being
 * written, and ids are not always written in order) must still be
 * matched, above the largest id known then or below it. */
static void test_filter_sees_functions_defined_later(void)
{
    sqlite3 *db = make_db();
    CHECK_INT(sqlite3_exec(db, "INSERT INTO functions VALUES (8, 'python', 'other', 'x', 'other.x', '/o.py', 1, '[]')",
                           NULL, NULL, NULL),
              SQLITE_OK);
    struct cs_filter f;
    struct cs_expr_error err;
    CHECK_INT(cs_filter_compile(db, "module == 'myapp%'", 1, &f, &err), 0);
    CHECK(strstr(f.sql, "cs_in_set") != NULL);
    CHECK_INT(sqlite3_exec(db,
                           "INSERT INTO functions VALUES (9, 'python', 'myapp.late', 'g', 'myapp.late.g', '/src/late.py',"
                           " 1, '[]'), (10, 'python', 'zzz', 'h', 'zzz.h', '/src/zzz.py', 1, '[]'),"
                           " (5, 'python', 'myapp.gap', 'k', 'myapp.gap.k', '/src/gap.py', 1, '[]');"
                           "INSERT INTO call_late VALUES (6, NULL, 1, 9, 0, 0, 1, 1, '[]', 'None', NULL, 0),"
                           " (7, NULL, 1, 10, 0, 0, 1, 1, '[]', 'None', NULL, 0),"
                           " (8, NULL, 1, 5, 0, 0, 1, 1, '[]', 'None', NULL, 0),"
                           " (9, NULL, 1, 8, 0, 0, 1, 1, '[]', 'None', NULL, 0);",
                           NULL, NULL, NULL),
              SQLITE_OK);
    char sql[2000];
    snprintf(sql, sizeof sql, "SELECT group_concat(c.id) FROM (SELECT c.id FROM %s WHERE %s ORDER BY c.id) c",
             CS_FILTER_FROM, f.sql);
    sqlite3_stmt *st;
    CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    CHECK_INT(cs_filter_bind(&f, st), SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "2,3,4,5,6,8");
    sqlite3_finalize(st);
    cs_filter_free(&f);
    cs_store_close_readonly(db);
}

static const char *completed(sqlite3 *db, const char *text, size_t cursor)
{
    static char out[1000];
    struct cs_completion c;
    if (cs_filter_complete(db, text, cursor, &c) != 0)
        return "error";
    int at = snprintf(out, sizeof out, "%zu:", c.from);
    for (size_t i = 0; i < c.n && at < (int)sizeof out; i++)
        at += snprintf(out + at, sizeof out - (size_t)at, "%s%s", i ? " " : "", c.items[i]);
    cs_completion_free(&c);
    return out;
}

static void test_completion(void)
{
    sqlite3 *db = make_db();
    CHECK_STR(completed(db, "", 0),
              "0:time tid pid thread module func function file line depth duration arg value type return exception");
    CHECK_STR(completed(db, "fu", 2), "0:func function");
    CHECK_STR(completed(db, "tid == 3 and mo", 15), "13:module");
    CHECK_STR(completed(db, "(d", 2), "1:depth duration");
    CHECK_STR(completed(db, "module ", 7), "7:== !=");
    CHECK_STR(completed(db, "duration ", 9), "9:== != < <= > >=");
    CHECK_STR(completed(db, "duration <", 10), "9:< <=");
    CHECK_STR(completed(db, "module == ", 10), "10:'myapp' 'myapp.db' 'other'");
    CHECK_STR(completed(db, "module == 'my", 13), "10:'myapp' 'myapp.db'");
    CHECK_STR(completed(db, "arg == '", 8), "7:'force' 'n' 'self'");
    CHECK_STR(completed(db, "tid == ", 7), "7:100 101");
    CHECK_STR(completed(db, "module == 'other' ", 18), "18:and or");
    CHECK_STR(completed(db, "module == 'other' o", 19), "18:or");
    /* the cursor, not the end of the text, decides */
    CHECK_STR(completed(db, "mo == 'x'", 2), "0:module");
    CHECK_STR(completed(NULL, "module == ", 10), "10:");
    CHECK_STR(completed(db, "module == 'it''s", 16), "14:");
    cs_store_close_readonly(db);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    CHECK_RUN(test_parse_shapes());
    CHECK_RUN(test_parse_errors());
    CHECK_RUN(test_live_escapes());
    CHECK_RUN(test_suggest());
    CHECK_RUN(test_filter_sql());
    CHECK_RUN(test_filter_results());
    CHECK_RUN(test_filter_sees_functions_defined_later());
    CHECK_RUN(test_completion());
    return CHECK_REPORT("test_expr");
}
