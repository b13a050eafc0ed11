/*
 * test_decode.c — value rendering (Python repr without Python), event
 * parsing, and robustness against truncated and malformed input.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "collector/decode.h"
#include "util/json.h"

/* A value under construction. */
struct vb {
    unsigned char b[4096];
    size_t n;
};

static struct vb *vb_new(void)
{
    static struct vb v;
    v.n = 0;
    return &v;
}
static void put_tag(struct vb *v, int t) { v->b[v->n++] = (unsigned char)t; }
static void put_var(struct vb *v, uint64_t x) { v->n = (size_t)(cs_put_varint(v->b + v->n, x) - v->b); }
static void put_s(struct vb *v, const char *s) { v->n = (size_t)(cs_put_str(v->b + v->n, s, strlen(s)) - v->b); }
static void put_int(struct vb *v, int64_t x)
{
    put_tag(v, V_INT);
    v->n = (size_t)(cs_put_svarint(v->b + v->n, x) - v->b);
}
static void put_str(struct vb *v, const char *s, uint64_t total)
{
    put_tag(v, V_STR);
    put_var(v, total);
    put_s(v, s);
}
static void put_float(struct vb *v, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    put_tag(v, V_FLOAT);
    v->n = (size_t)(cs_put_u64(v->b + v->n, bits) - v->b);
}
/* A container is opened by put_container and closed by end_container once
 * its items are in, which fills in its byte length (event.h). */
static size_t open_at[8];
static int open_containers;
static void put_container(struct vb *v, int tag, uint64_t total, uint64_t shown)
{
    put_tag(v, tag);
    open_at[open_containers++] = v->n;
    v->n += 2;
    put_var(v, total);
    put_var(v, shown);
}
static void end_container(struct vb *v)
{
    size_t at = open_at[--open_containers];
    cs_put_u16(v->b + at, (uint16_t)(v->n - at - 2));
}

static int is_container(int tag)
{
    return tag == V_TUPLE || tag == V_LIST || tag == V_SET || tag == V_FROZENSET || tag == V_DICT;
}

/* Renders the value in v; "<error>" when it does not decode. Skipping the
 * value (what the collector does before it looks a value up) must agree
 * with rendering it on where the value ends. */
static const char *render(struct vb *v)
{
    static struct cs_textbuf out;
    cs_textbuf_reset(&out);
    struct cs_reader r = {v->b, v->b + v->n, 0};
    struct cs_reader skipped = r;
    int skip_rc = cs_skip_value(&skipped);
    if (cs_render_value(&r, &out) != 0) {
        /* Skipping trusts a container's byte length (its items are checked
         * when it is rendered), so it may pass over bad items; never past
         * the end, and never over a bad scalar. */
        CHECK(skip_rc == -1 || (skipped.p <= r.end && is_container(v->b[0])));
        return "<error>";
    }
    CHECK_INT(skip_rc, 0);
    CHECK(skipped.p == r.p);
    if (r.p != r.end)
        return "<trailing bytes>";
    return cs_textbuf_cstr(&out);
}

static const char *float_repr(double d)
{
    struct vb *v = vb_new();
    put_float(v, d);
    return render(v);
}

/* Digits of a rendering: the mantissa's, without sign, point and the
 * zeros that only place it ("0.0012" has 2, "1.5e-07" 2, "2960.37" 6,
 * "0.0" 1). */
static int significant_digits(const char *s)
{
    int n = 0, leading = 1, trailing_zeros = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (leading && *s == '0')
            continue;
        leading = 0;
        n++;
        trailing_zeros = *s == '0' ? trailing_zeros + 1 : 0;
    }
    return n - trailing_zeros > 0 ? n - trailing_zeros : 1; /* "0.0" */
}

/* What repr() promises, checked on many floats of the kinds programs pass
 * (money and scores with a few decimals, ratios, random doubles): the text
 * reads back as the same double, and no shorter decimal would. */
static void test_floats_read_back_in_fewest_digits(void)
{
    struct cs_textbuf out = {0};
    uint64_t seed = 0x9e3779b97f4a7c15u;
    int bad = 0;
    for (int i = 0; i < 600000 && bad < 5; i++) {
        double v;
        if (i % 3 == 0) {
            v = (i / 3) * 0.37;
        } else if (i % 3 == 1) {
            v = (i / 3) / 1000.0 - 50.0;
        } else {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            uint64_t bits = (seed & 0x000fffffffffffffu) | ((uint64_t)(1023 - 14 + seed % 64) << 52);
            memcpy(&v, &bits, 8);
        }
        cs_textbuf_reset(&out);
        cs_render_float(v, &out);
        const char *text = cs_textbuf_cstr(&out);
        int fewest = 1;
        char probe[40];
        for (; fewest < 17; fewest++) {
            snprintf(probe, sizeof probe, "%.*g", fewest, v);
            if (strtod(probe, NULL) == v)
                break;
        }
        /* and as repr() writes it: no zeros after the last decimal but in "x.0" */
        const char *point = strchr(text, '.');
        size_t len = strlen(text);
        int padded = point && !strchr(text, 'e') && text[len - 1] == '0' && text + len - 2 != point;
        if (strtod(text, NULL) != v || significant_digits(text) != fewest || padded) {
            fprintf(stderr, "test_decode: %.17g rendered as %s (%d digits; %d would do)\n", v, text,
                    significant_digits(text), fewest);
            bad++;
        }
    }
    CHECK_INT(bad, 0);
    cs_textbuf_free(&out);
}

static void test_scalars(void)
{
    struct vb *v = vb_new();
    put_tag(v, V_NONE);
    CHECK_STR(render(v), "None");
    v = vb_new(), put_tag(v, V_TRUE);
    CHECK_STR(render(v), "True");
    v = vb_new(), put_tag(v, V_FALSE);
    CHECK_STR(render(v), "False");
    v = vb_new(), put_int(v, 42);
    CHECK_STR(render(v), "42");
    v = vb_new(), put_int(v, -7);
    CHECK_STR(render(v), "-7");
    v = vb_new(), put_int(v, INT64_MIN);
    CHECK_STR(render(v), "-9223372036854775808");
    v = vb_new(), put_tag(v, V_BIGINT), put_s(v, "123456789012345678901234567890");
    CHECK_STR(render(v), "123456789012345678901234567890");
    v = vb_new(), put_tag(v, V_UNBOUND);
    CHECK_STR(render(v), "<unbound>");
}

static void test_floats(void)
{
    CHECK_STR(float_repr(1.0), "1.0");
    CHECK_STR(float_repr(0.1), "0.1");
    CHECK_STR(float_repr(-2.5), "-2.5");
    CHECK_STR(float_repr(1e16), "1e+16");
    CHECK_STR(float_repr(1e15), "1000000000000000.0");
    CHECK_STR(float_repr(123456789.125), "123456789.125");
    CHECK_STR(float_repr(0.0001), "0.0001");
    CHECK_STR(float_repr(0.00001), "1e-05");
    CHECK_STR(float_repr(1.5e-7), "1.5e-07");
    CHECK_STR(float_repr(1e100), "1e+100");
    CHECK_STR(float_repr(0.1 + 0.2), "0.30000000000000004");
    CHECK_STR(float_repr(0.0), "0.0");
    CHECK_STR(float_repr(-0.0), "-0.0");
    CHECK_STR(float_repr(INFINITY), "inf");
    CHECK_STR(float_repr(-INFINITY), "-inf");
    CHECK_STR(float_repr(NAN), "nan");
    CHECK_STR(float_repr(5e-324), "5e-324");
    CHECK_STR(float_repr(1.7976931348623157e308), "1.7976931348623157e+308");
    /* Each length of the digit search: whole numbers, 15, 16 and 17 digits, subnormal. */
    CHECK_STR(float_repr(-3330.0), "-3330.0");
    CHECK_STR(float_repr(9007199254740992.0), "9007199254740992.0");
    CHECK_STR(float_repr(9999999999999998.0), "9999999999999998.0");
    CHECK_STR(float_repr(1234 * 0.37), "456.58");
    CHECK_STR(float_repr(1.0 / 3), "0.3333333333333333");
    CHECK_STR(float_repr(2.0 / 3), "0.6666666666666666");
    CHECK_STR(float_repr(1e-310), "1e-310");
    CHECK_STR(float_repr(2.2250738585072014e-308), "2.2250738585072014e-308");
}

static void test_strings(void)
{
    struct vb *v = vb_new();
    put_str(v, "hello", 5);
    CHECK_STR(render(v), "'hello'");
    v = vb_new(), put_str(v, "it's", 4);
    CHECK_STR(render(v), "\"it's\"");
    v = vb_new(), put_str(v, "it's \"q\"", 8);
    CHECK_STR(render(v), "'it\\'s \"q\"'");
    v = vb_new(), put_str(v, "a\\b\nc\rd\te\x01", 10);
    CHECK_STR(render(v), "'a\\\\b\\nc\\rd\\te\\x01'");
    v = vb_new(), put_str(v, "caf\xc3\xa9 \xe2\x82\xac", 6);
    CHECK_STR(render(v), "'caf\xc3\xa9 \xe2\x82\xac'");
    v = vb_new(), put_str(v, "nb\xc2\xa0sp", 5); /* U+00A0 is not printable */
    CHECK_STR(render(v), "'nb\\xa0sp'");
    v = vb_new(), put_str(v, "zw\xe2\x80\x8bj", 4);
    CHECK_STR(render(v), "'zw\\u200bj'");
    v = vb_new(), put_str(v, "aaaa", 100);
    CHECK_STR(render(v), "'aaaa\xe2\x80\xa6'");
    v = vb_new(), put_str(v, "\xff\xfe", 2); /* not UTF-8: bytes shown, no crash */
    CHECK_STR(render(v), "'\\xff\\xfe'");
    v = vb_new(), put_str(v, "x\\udc80y", 3);
    CHECK_STR(render(v), "'x\\udc80y'");
    v = vb_new(), put_str(v, "", 0);
    CHECK_STR(render(v), "''");

    v = vb_new(), put_tag(v, V_BYTES), put_var(v, 5);
    v->n = (size_t)(cs_put_str(v->b + v->n, "a'\x00\xff\n", 5) - v->b);
    CHECK_STR(render(v), "b\"a'\\x00\\xff\\n\"");
    v = vb_new(), put_tag(v, V_BYTES), put_var(v, 10), put_s(v, "abc");
    CHECK_STR(render(v), "b'abc\xe2\x80\xa6'");
}

/* Strings are scanned eight bytes at a time: a character that needs
 * escaping, or a non-ASCII one, is found at every position of a word, and
 * the end of a string whose code points are fewer than its bytes is
 * told apart from a cut one. */
static void test_string_words(void)
{
    static const struct {
        const char *c, *shown;
    } cases[] = {{"\\", "\\\\"}, {"'\"", "\\'\""}, {"\n", "\\n"}, {"\x7f", "\\x7f"}, {"\x1f", "\\x1f"},
                 {"\xc3\xa9", "\xc3\xa9"}, {"~", "~"}, {" ", " "}, {"\x80", "\\x80"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (int at = 0; at < 20; at++) {
            char text[40], want[48];
            int n = snprintf(text, sizeof text, "%.*s%s%.*s", at, "aaaaaaaaaaaaaaaaaaaa", cases[k].c, 19 - at,
                             "bbbbbbbbbbbbbbbbbbbb");
            snprintf(want, sizeof want, "'%.*s%s%.*s'", at, "aaaaaaaaaaaaaaaaaaaa", cases[k].shown, 19 - at,
                     "bbbbbbbbbbbbbbbbbbbb");
            struct vb *v = vb_new();
            /* (a continuation byte, valid or not, is not counted as a code point) */
            uint64_t code_points = (uint64_t)n - ((unsigned char)cases[k].c[strlen(cases[k].c) - 1] >= 0x80);
            put_tag(v, V_STR), put_var(v, code_points);
            v->n = (size_t)(cs_put_str(v->b + v->n, text, (size_t)n) - v->b);
            CHECK_STR(render(v), want);
        }
    }
    static const int lengths[] = {20, 150}; /* (40 and 300 bytes: one count of words, then several) */
    for (int k = 0; k < 2; k++) {
        char accents[320] = "";
        for (int i = 0; i < lengths[k]; i++)
            strcat(accents, "\xc3\xa9");
        struct vb *v = vb_new();
        put_str(v, accents, (uint64_t)lengths[k]);
        CHECK(strstr(render(v), "\xe2\x80\xa6") == NULL);
        v = vb_new(), put_str(v, accents, (uint64_t)lengths[k] + 1);
        CHECK(strstr(render(v), "\xe2\x80\xa6") != NULL);
    }
}

static void test_containers(void)
{
    struct vb *v = vb_new();
    put_container(v, V_TUPLE, 1, 1), put_int(v, 1), end_container(v);
    CHECK_STR(render(v), "(1,)");
    v = vb_new(), put_container(v, V_TUPLE, 2, 2), put_int(v, 1), put_int(v, 2), end_container(v);
    CHECK_STR(render(v), "(1, 2)");
    v = vb_new(), put_container(v, V_TUPLE, 0, 0), end_container(v);
    CHECK_STR(render(v), "()");
    v = vb_new(), put_container(v, V_LIST, 2, 2), put_int(v, 1), put_int(v, 2), end_container(v);
    CHECK_STR(render(v), "[1, 2]");
    v = vb_new(), put_container(v, V_LIST, 100, 3), put_int(v, 0), put_int(v, 1), put_int(v, 2), end_container(v);
    CHECK_STR(render(v), "[0, 1, 2, \xe2\x80\xa6] (100 items)");
    v = vb_new(), put_container(v, V_SET, 2, 2), put_int(v, 1), put_int(v, 2), end_container(v);
    CHECK_STR(render(v), "{1, 2}");
    v = vb_new(), put_container(v, V_SET, 0, 0), end_container(v);
    CHECK_STR(render(v), "set()");
    v = vb_new(), put_container(v, V_FROZENSET, 1, 1), put_int(v, 1), end_container(v);
    CHECK_STR(render(v), "frozenset({1})");
    v = vb_new(), put_container(v, V_FROZENSET, 0, 0), end_container(v);
    CHECK_STR(render(v), "frozenset()");
    v = vb_new(), put_container(v, V_DICT, 1, 1), put_str(v, "a", 1), put_int(v, 1), end_container(v);
    CHECK_STR(render(v), "{'a': 1}");
    v = vb_new(), put_container(v, V_DICT, 0, 0), end_container(v);
    CHECK_STR(render(v), "{}");
    v = vb_new(), put_container(v, V_DICT, 5, 1), put_str(v, "a", 1), put_container(v, V_LIST, 0, 0),
        end_container(v), end_container(v);
    CHECK_STR(render(v), "{'a': [], \xe2\x80\xa6} (5 items)");
    v = vb_new(), put_container(v, V_LIST, 2, 2), put_container(v, V_TUPLE, 1, 1), put_tag(v, V_NONE),
        end_container(v), put_str(v, "x", 1), end_container(v);
    CHECK_STR(render(v), "[(None,), 'x']");
}

/* A container's byte length must agree with its items: shorter, longer or
 * past the end of the input, it is refused, never read beyond. */
static void test_container_lengths(void)
{
    struct vb *v = vb_new();
    put_container(v, V_LIST, 2, 2), put_int(v, 1), put_int(v, 2), end_container(v);
    CHECK_STR(render(v), "[1, 2]");
    v->b[1] = (unsigned char)(v->b[1] - 2); /* the last item outside it */
    CHECK_STR(render(v), "<error>");
    v = vb_new(), put_container(v, V_LIST, 1, 1), put_int(v, 1), put_tag(v, V_NONE), end_container(v);
    CHECK_STR(render(v), "<error>"); /* a byte left over inside it */
    v = vb_new(), put_container(v, V_TUPLE, 1, 1), put_int(v, 1), end_container(v);
    v->b[2] = 1; /* 256 bytes more than there are */
    CHECK_STR(render(v), "<error>");
    struct cs_reader r = {v->b, v->b + v->n, 0};
    CHECK_INT(cs_skip_value(&r), -1);
    v = vb_new(), put_tag(v, V_DICT), put_tag(v, 3); /* a length cut short */
    CHECK_STR(render(v), "<error>");
    /* Over a well-formed container, skipping ends where rendering does
     * without looking at the items. */
    v = vb_new(), put_container(v, V_DICT, 2, 2), put_str(v, "a", 1), put_container(v, V_LIST, 3, 3),
        put_int(v, 1), put_int(v, 2), put_int(v, 3), end_container(v), put_str(v, "b", 1), put_float(v, 0.5),
        end_container(v);
    CHECK_STR(render(v), "{'a': [1, 2, 3], 'b': 0.5}");
}

static void test_objects(void)
{
    struct vb *v = vb_new();
    put_tag(v, V_OBJECT), put_s(v, "mod.Class"), put_var(v, 0x7f3a12345678ull);
    CHECK_STR(render(v), "<mod.Class object at 0x7f3a12345678>");
    v = vb_new(), put_tag(v, V_SUBCLASS), put_s(v, "MyInt"), put_int(v, 3);
    CHECK_STR(render(v), "MyInt(3)");
    v = vb_new(), put_tag(v, V_ELIDED), put_s(v, "list"), put_var(v, 10);
    CHECK_STR(render(v), "[\xe2\x80\xa6]");
    v = vb_new(), put_tag(v, V_ELIDED), put_s(v, "tuple"), put_var(v, 10);
    CHECK_STR(render(v), "(\xe2\x80\xa6)");
    v = vb_new(), put_tag(v, V_ELIDED), put_s(v, "dict"), put_var(v, 10);
    CHECK_STR(render(v), "{\xe2\x80\xa6}");
    v = vb_new(), put_tag(v, V_ELIDED), put_s(v, "set"), put_var(v, 10);
    CHECK_STR(render(v), "{\xe2\x80\xa6}");
    v = vb_new(), put_tag(v, V_ELIDED), put_s(v, "collections.deque"), put_var(v, 3);
    CHECK_STR(render(v), "<collections.deque \xe2\x80\xa6>");
    v = vb_new(), put_tag(v, V_REPR), put_s(v, "geo.Point"), put_var(v, 9), put_s(v, "Point(1, 2)");
    CHECK_STR(render(v), "Point(1, 2)");
    v = vb_new(), put_tag(v, V_REPR), put_s(v, "geo.Point"), put_var(v, 50), put_s(v, "Point(1");
    CHECK_STR(render(v), "Point(1\xe2\x80\xa6");
    v = vb_new(), put_tag(v, V_REPR_FAILED), put_s(v, "mod.Bad"), put_var(v, 0xbeef), put_s(v, "ValueError");
    CHECK_STR(render(v), "<mod.Bad object at 0xbeef; repr raised ValueError>");
}

/* The type name the collector stores with a value (vals.type). */
static const char *type_of(struct vb *v)
{
    static char buf[200];
    struct cs_reader r = {v->b, v->b + v->n, 0};
    struct cs_text t = cs_value_type(&r);
    snprintf(buf, sizeof buf, "%.*s", (int)t.n, t.s);
    CHECK(r.p == v->b); /* the reader is not moved */
    return buf;
}

static void test_types(void)
{
    struct vb *v = vb_new();
    put_tag(v, V_NONE);
    CHECK_STR(type_of(v), "NoneType");
    v = vb_new(), put_tag(v, V_TRUE);
    CHECK_STR(type_of(v), "bool");
    v = vb_new(), put_tag(v, V_INT), put_var(v, 4);
    CHECK_STR(type_of(v), "int");
    v = vb_new(), put_tag(v, V_STR), put_var(v, 2), put_s(v, "hi");
    CHECK_STR(type_of(v), "str");
    v = vb_new(), put_container(v, V_DICT, 0, 0), end_container(v);
    CHECK_STR(type_of(v), "dict");
    v = vb_new(), put_container(v, V_FROZENSET, 0, 0), end_container(v);
    CHECK_STR(type_of(v), "frozenset");
    v = vb_new(), put_tag(v, V_OBJECT), put_s(v, "app.Model"), put_var(v, 0x10);
    CHECK_STR(type_of(v), "app.Model");
    v = vb_new(), put_tag(v, V_SUBCLASS), put_s(v, "MyInt"), put_tag(v, V_INT), put_var(v, 6);
    CHECK_STR(type_of(v), "MyInt");
    v = vb_new(), put_tag(v, V_NAMED), put_s(v, "class"), put_s(v, "app.Model"), put_var(v, 0x10);
    CHECK_STR(type_of(v), "type");
    v = vb_new(), put_tag(v, V_NAMED), put_s(v, "built-in function"), put_s(v, "len"), put_var(v, 0x10);
    CHECK_STR(type_of(v), "builtin_function_or_method");
    v = vb_new(), put_tag(v, V_NAMED), put_s(v, "bound method"), put_s(v, "A.f"), put_var(v, 0x10);
    CHECK_STR(type_of(v), "method");
    v = vb_new(), put_tag(v, V_REPR), put_s(v, "geo.Point"), put_var(v, 9), put_s(v, "Point(1, 2)");
    CHECK_STR(type_of(v), "geo.Point");
    v = vb_new(), put_tag(v, V_ELIDED), put_s(v, "list"), put_var(v, 10);
    CHECK_STR(type_of(v), "list");
    v = vb_new(), put_tag(v, V_ELIDED), put_s(v, "\xe2\x80\xa6"), put_var(v, 0);
    CHECK_STR(type_of(v), ""); /* cut for room: not known */
    v = vb_new(), put_tag(v, V_UNBOUND);
    CHECK_STR(type_of(v), "");
    v = vb_new(), put_tag(v, V_OBJECT); /* truncated */
    CHECK_STR(type_of(v), "");
}

static const char *exception_text(struct vb *v, const char *type)
{
    static struct cs_textbuf out, scratch;
    cs_textbuf_reset(&out);
    struct cs_reader r = {v->b, v->b + v->n, 0};
    struct cs_text t = {type, strlen(type)};
    if (cs_render_exception(&r, t, &out, &scratch) != 0)
        return "<error>";
    return cs_textbuf_cstr(&out);
}

static void test_exceptions(void)
{
    struct vb *v = vb_new();
    put_str(v, "bad 'value'", 11);
    CHECK_STR(exception_text(v, "ValueError"), "ValueError: bad 'value'");
    v = vb_new(), put_str(v, "", 0);
    CHECK_STR(exception_text(v, "StopIteration"), "StopIteration");
    v = vb_new(), put_container(v, V_TUPLE, 0, 0), end_container(v);
    CHECK_STR(exception_text(v, "KeyError"), "KeyError");
    v = vb_new(), put_container(v, V_TUPLE, 2, 2), put_int(v, 1), put_str(v, "x", 1), end_container(v);
    CHECK_STR(exception_text(v, "OSError"), "OSError: (1, 'x')");
    v = vb_new(), put_str(v, "long", 10);
    CHECK_STR(exception_text(v, "E"), "E: long\xe2\x80\xa6");
}

static void test_json(void)
{
    struct cs_textbuf out = {0}, scratch = {0};
    struct vb *v = vb_new();
    put_str(v, "a\"b\n", 4);
    struct cs_reader r = {v->b, v->b + v->n, 0};
    CHECK_INT(cs_render_value_json(&r, &out, &scratch), 0);
    CHECK_STR(cs_textbuf_cstr(&out), "\"'a\\\"b\\\\n'\"");

    /* A log's fields: a dict as a JSON object, refused when its items do
     * not fill its byte length. */
    int is_null;
    v = vb_new(), put_container(v, V_DICT, 1, 1), put_str(v, "k", 1), put_int(v, 3), end_container(v);
    r = (struct cs_reader){v->b, v->b + v->n, 0};
    cs_textbuf_reset(&out);
    CHECK_INT(cs_render_fields_json(&r, &out, &scratch, &is_null), 0);
    CHECK_STR(cs_textbuf_cstr(&out), "{\"k\":\"3\"}");
    CHECK(r.p == r.end);
    v = vb_new(), put_container(v, V_DICT, 1, 1), put_str(v, "k", 1), put_int(v, 3), put_tag(v, V_NONE),
        end_container(v);
    r = (struct cs_reader){v->b, v->b + v->n, 0};
    CHECK_INT(cs_render_fields_json(&r, &out, &scratch, &is_null), -1);

    /* Reading back what we write. */
    struct cs_json_iter it;
    struct cs_textbuf k = {0}, val = {0};
    const char *obj = "{\"n\":\"5\", \"s\":\"'a\\\"b\\u00e9'\",\"x\":1}";
    cs_json_iter_init(&it, obj, strlen(obj));
    CHECK_INT(cs_json_iter_next(&it, &k, &val), 1);
    CHECK_STR(cs_textbuf_cstr(&k), "n");
    CHECK_STR(cs_textbuf_cstr(&val), "5");
    CHECK_INT(cs_json_iter_next(&it, &k, &val), 1);
    CHECK_STR(cs_textbuf_cstr(&val), "'a\"b\xc3\xa9'");
    CHECK_INT(cs_json_iter_next(&it, &k, &val), 1);
    CHECK_STR(cs_textbuf_cstr(&val), "1");
    CHECK_INT(cs_json_iter_next(&it, &k, &val), 0);
    const char *bad[] = {"", "{", "{\"a\"", "{\"a\":", "{\"a\":\"x", "[1]", "{\"a\":\"\\q\"}", "{\"a\":{}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cs_json_iter_init(&it, bad[i], strlen(bad[i]));
        int rc;
        while ((rc = cs_json_iter_next(&it, &k, &val)) == 1)
            ;
        CHECK_INT(rc, -1);
    }
    cs_textbuf_free(&out);
    cs_textbuf_free(&scratch);
    cs_textbuf_free(&k);
    cs_textbuf_free(&val);
}

static void test_events(void)
{
    unsigned char buf[256], *p = buf;
    *p++ = EV_CODE;
    p = cs_put_varint(p, 7);
    p = cs_put_str(p, "m", 1);
    p = cs_put_str(p, "f", 1);
    p = cs_put_str(p, "m.py", 4);
    p = cs_put_varint(p, 12);
    p = cs_put_varint(p, 0);
    p = cs_put_varint(p, 2);
    p = cs_put_str(p, "a", 1);
    p = cs_put_str(p, "b", 1);
    *p++ = EV_RETURN;
    p = cs_put_varint(p, 300);
    *p++ = V_NONE;
    struct cs_reader r = {buf, p, 0};
    struct cs_event ev;
    CHECK_INT(cs_decode_event(&r, &ev), 0);
    CHECK_INT(ev.tag, EV_CODE);
    CHECK_INT(ev.id, 7);
    CHECK_INT(ev.lineno, 12);
    CHECK_INT(ev.nargs, 2);
    CHECK(ev.filename.n == 4 && memcmp(ev.filename.s, "m.py", 4) == 0);
    CHECK_INT(cs_decode_event(&r, &ev), 0);
    CHECK_INT(ev.tag, EV_RETURN);
    CHECK_INT(ev.dt, 300);
    CHECK_INT(cs_skip_value(&r), 0);
    CHECK(r.p == r.end);

    /* Every truncation of that input fails cleanly, never past the end. */
    size_t whole = (size_t)(p - buf);
    int all_failed = 1;
    for (size_t cut = 1; cut < whole - 1; cut++) {
        unsigned char *copy = malloc(cut); /* exact size: ASan sees any overread */
        memcpy(copy, buf, cut);
        struct cs_reader t = {copy, copy + cut, 0};
        int rc = cs_decode_event(&t, &ev);
        if (rc == 0 && ev.tag == EV_CODE)
            rc = cs_decode_event(&t, &ev);
        if (rc == 0)
            rc = cs_skip_value(&t);
        if (rc == 0 && t.p == t.end && cut != 26)
            all_failed = 0;
        free(copy);
    }
    CHECK(all_failed);

    unsigned char unknown[] = {0x7e, 1, 2};
    struct cs_reader u = {unknown, unknown + 3, 0};
    CHECK_INT(cs_decode_event(&u, &ev), -1);
    CHECK(u.error);
}

/* Random bytes: must never crash nor read out of bounds (run under ASan). */
static void test_fuzz(void)
{
    srand(12345);
    struct cs_textbuf out = {0}, scratch = {0};
    int survived = 1;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand() % 64) + 1;
        unsigned char *b = malloc(n);
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)(rand() % 4 ? rand() % 20 : rand());
        struct cs_reader r = {b, b + n, 0};
        cs_textbuf_reset(&out);
        cs_render_value(&r, &out);
        if (r.p > r.end)
            survived = 0;
        struct cs_reader e = {b, b + n, 0};
        struct cs_event ev;
        while (e.p < e.end && cs_decode_event(&e, &ev) == 0)
            ;
        if (e.p > e.end)
            survived = 0;
        free(b);
    }
    /* Deep nesting is refused, not recursed into. */
    unsigned char deep[3 * 200];
    for (int i = 0; i < 200; i++)
        deep[3 * i] = V_LIST, deep[3 * i + 1] = 1, deep[3 * i + 2] = 1;
    struct cs_reader d = {deep, deep + sizeof deep, 0};
    CHECK_INT(cs_render_value(&d, &out), -1);
    CHECK(survived);
    cs_textbuf_free(&out);
    cs_textbuf_free(&scratch);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    CHECK_RUN(test_scalars());
    CHECK_RUN(test_floats());
    CHECK_RUN(test_floats_read_back_in_fewest_digits());
    CHECK_RUN(test_strings());
    CHECK_RUN(test_string_words());
    CHECK_RUN(test_containers());
    CHECK_RUN(test_container_lengths());
    CHECK_RUN(test_objects());
    CHECK_RUN(test_types());
    CHECK_RUN(test_exceptions());
    CHECK_RUN(test_json());
    CHECK_RUN(test_events());
    CHECK_RUN(test_fuzz());
    return CHECK_REPORT("test_decode");
}
