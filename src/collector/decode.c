/*
 * decode.c — event parsing and repr-style value rendering (see decode.h).
 */
#include "collector/decode.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/byte_order.h"
#include "util/json.h"

static const char ELLIPSIS[] = "\xe2\x80\xa6"; /* … */
static const char HEX[] = "0123456789abcdef";

/* ---- events ---- */

static int decode_code(struct cs_reader *r, struct cs_event *ev)
{
    ev->id = cs_get_varint(r);
    ev->module = cs_get_text(r);
    ev->qualname = cs_get_text(r);
    ev->filename = cs_get_text(r);
    ev->lineno = cs_get_varint(r);
    ev->code_flags = cs_get_varint(r);
    ev->nargs = cs_get_varint(r);
    ev->arg_names = r->p;
    /* Validate the names now so the collector can re-read them blindly. */
    for (uint64_t i = 0; i < ev->nargs && !r->error; i++)
        (void)cs_get_text(r);
    ev->arg_names_end = r->p;
    return r->error ? -1 : 0;
}

int cs_decode_event(struct cs_reader *r, struct cs_event *ev)
{
    ev->tag = cs_get_byte(r);
    switch (ev->tag) {
    case EV_SYNC:
        ev->ticks = cs_get_u64(r);
        break;
    case EV_STREAM:
        ev->pid = cs_get_varint(r);
        ev->tid = cs_get_varint(r);
        ev->ppid = cs_get_varint(r);
        break;
    case EV_THREAD_NAME:
        ev->tid = cs_get_varint(r);
        ev->text = cs_get_text(r);
        break;
    case EV_CODE:
        return decode_code(r, ev);
    case EV_CFUNC:
        ev->id = cs_get_varint(r);
        ev->module = cs_get_text(r);
        ev->qualname = cs_get_text(r);
        break;
    case EV_CALL:
    case EV_CALL_BARE:
    case EV_RESUME:
    case EV_CCALL:
        ev->id = cs_get_varint(r);
        ev->dt = cs_get_varint(r);
        break;
    case EV_RETURN:
    case EV_RETURN_BARE:
    case EV_YIELD:
    case EV_YIELD_BARE:
    case EV_CRETURN:
    case EV_CRAISE:
    case EV_STOP:
        ev->dt = cs_get_varint(r);
        break;
    case EV_UNWIND:
    case EV_LOG:
        ev->dt = cs_get_varint(r);
        ev->text = cs_get_text(r);
        break;
    case EV_LOST:
        ev->count = cs_get_varint(r);
        ev->depth = cs_get_varint(r);
        ev->low = cs_get_varint(r);
        break;
    default:
        r->error = 1;
        return -1;
    }
    return r->error ? -1 : 0;
}

/* ---- text escaping ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes) and its code
 * point, or 0 when the bytes there are not valid UTF-8. */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c < 0xe0) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c < 0xf0) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c < 0xf5) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
        return 0;
    *cp = v;
    return len;
}

/* Python's str.isprintable() for non-ASCII code points, approximated with
 * the ranges that matter in practice: C1 controls, the non-breaking and
 * typographic spaces, format characters, separators, private use and
 * noncharacters. */
static int printable_non_ascii(uint32_t cp)
{
    if (cp < 0xa1 || cp == 0xad)
        return 0;
    if ((cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
        (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff ||
        (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xe000 && cp <= 0xf8ff) ||
        (cp & 0xfffe) == 0xfffe || cp >= 0xf0000 || cp == 0x1680 || cp == 0x180e ||
        cp == 0x061c)
        return 0;
    return 1;
}

static void put_hex_escape(struct cs_textbuf *out, uint32_t v, int digits, char kind)
{
    char e[10];
    e[0] = '\\';
    e[1] = kind;
    for (int i = 0; i < digits; i++)
        e[2 + i] = HEX[(v >> (4 * (digits - 1 - i))) & 15];
    cs_textbuf_put(out, e, (size_t)digits + 2);
}

static char choose_quote(const unsigned char *s, size_t n)
{
    int single = memchr(s, '\'', n) != NULL;
    int dbl = memchr(s, '"', n) != NULL;
    return single && !dbl ? '"' : '\'';
}

/* Escapes shared by str and bytes reprs; returns 1 if c was handled. */
static int put_ascii_escape(struct cs_textbuf *out, unsigned char c, char quote)
{
    switch (c) {
    case '\\': cs_textbuf_put(out, "\\\\", 2); return 1;
    case '\n': cs_textbuf_put(out, "\\n", 2); return 1;
    case '\r': cs_textbuf_put(out, "\\r", 2); return 1;
    case '\t': cs_textbuf_put(out, "\\t", 2); return 1;
    }
    if (c == (unsigned char)quote) {
        cs_textbuf_putc(out, '\\');
        cs_textbuf_putc(out, (char)c);
        return 1;
    }
    if (c < 0x20 || c == 0x7f) {
        put_hex_escape(out, c, 2, 'x');
        return 1;
    }
    return 0;
}

/* The producer writes a lone surrogate as the six characters "\udXXX";
 * keep them as they are so the repr reads as Python's would. */
static int is_surrogate_escape(const unsigned char *s, size_t n)
{
    return n >= 6 && s[0] == '\\' && s[1] == 'u' && (s[2] == 'd' || s[2] == 'D') &&
           s[3] && strchr("89abcdefABCDEF", s[3]) && isxdigit(s[4]) && isxdigit(s[5]);
}

static int plain_in_repr(unsigned char c, unsigned char quote)
{
    return c >= 0x20 && c < 0x7f && c != '\\' && c != quote;
}

/* How many bytes from s on are plain_in_repr, eight at a time: most
 * strings are long runs of them. In each word a byte is marked (its high
 * bit) when it is below 0x20, above 0x7e, a backslash or the quote; a
 * borrow or carry can only mark bytes above a marked one, so the lowest
 * mark is exact. */
static size_t plain_run(const unsigned char *s, size_t n, unsigned char quote)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, bs, q;
        memcpy(&w, s + i, 8);
        w = cs_le64(w); /* byte k at bits 8k on: the lowest mark is the first byte */
        bs = w ^ (ones * '\\');
        q = w ^ (ones * quote);
        uint64_t marked = ((w - ones * 0x20) & ~w) | ((w + ones) | w) | ((bs - ones) & ~bs) | ((q - ones) & ~q);
        marked &= high;
        if (marked)
            return i + (size_t)(__builtin_ctzll(marked) >> 3);
    }
    while (i < n && plain_in_repr(s[i], quote))
        i++;
    return i;
}

void cs_render_str(const char *text, size_t n, uint64_t total, struct cs_textbuf *out)
{
    const unsigned char *s = (const unsigned char *)text;
    char quote = choose_quote(s, n);
    cs_textbuf_grow(out, n + 2);
    cs_textbuf_putc(out, quote);
    /* The prefix's code points, counted on the way as count_code_points
     * does: every byte but the continuation bytes (10xxxxxx). */
    uint64_t code_points = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (plain_in_repr(c, (unsigned char)quote)) {
            size_t run = plain_run(s + i, n - i, (unsigned char)quote); /* copied at once */
            cs_textbuf_put(out, s + i, run);
            i += run;
            code_points += run;
            continue;
        }
        if (c == '\\' && is_surrogate_escape(s + i, n - i)) {
            cs_textbuf_put(out, s + i, 6);
            i += 6;
            code_points += 6;
            continue;
        }
        if (c < 0x80) {
            put_ascii_escape(out, c, quote);
            i++;
            code_points++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_char(s + i, n - i, &cp);
        code_points += (c & 0xc0) != 0x80; /* a valid sequence's lead byte, or an invalid byte */
        if (len == 0) {
            put_hex_escape(out, c, 2, 'x'); /* not UTF-8: show the byte */
            i++;
        } else if (printable_non_ascii(cp)) {
            cs_textbuf_put(out, s + i, len);
            i += len;
        } else {
            if (cp < 0x100)
                put_hex_escape(out, cp, 2, 'x');
            else if (cp < 0x10000)
                put_hex_escape(out, cp, 4, 'u');
            else
                put_hex_escape(out, cp, 8, 'U');
            i += len;
        }
    }
    if (total > code_points)
        cs_textbuf_put(out, ELLIPSIS, 3);
    cs_textbuf_putc(out, quote);
}

void cs_render_bytes(const unsigned char *s, size_t n, int cut, struct cs_textbuf *out)
{
    char quote = choose_quote(s, n);
    cs_textbuf_putc(out, 'b');
    cs_textbuf_putc(out, quote);
    for (size_t i = 0; i < n; i++) {
        if (put_ascii_escape(out, s[i], quote))
            continue;
        if (s[i] >= 0x80)
            put_hex_escape(out, s[i], 2, 'x');
        else
            cs_textbuf_putc(out, (char)s[i]);
    }
    if (cut)
        cs_textbuf_put(out, ELLIPSIS, 3);
    cs_textbuf_putc(out, quote);
}

void cs_append_utf8_clean(const char *text, size_t n, struct cs_textbuf *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, run = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = s[i] < 0x80 ? 1 : utf8_char(s + i, n - i, &cp);
        if (len) {
            i += len;
            continue;
        }
        cs_textbuf_put(out, s + run, i - run);
        cs_textbuf_put(out, "\xef\xbf\xbd", 3);
        run = ++i;
    }
    cs_textbuf_put(out, s + run, n - run);
}

/* Code points in a UTF-8 prefix; each invalid byte counts as one. */
static uint64_t count_code_points(const char *text, size_t n)
{
    uint64_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)text[i] & 0xc0) != 0x80)
            count++;
    return count;
}

/* ---- floats ---- */

/* Python's repr(float): the shortest digits that read back as the same
 * double, in fixed notation when the decimal exponent is in [-4, 16), in
 * exponent notation (at least two exponent digits) otherwise. */
/* The common float of prices, scores and measurements (2960.37, 0.25):
 * one that a decimal of at most 15 significant digits and a few places
 * reads back as. Found with exact arithmetic, no conversion to text: when
 * m / 10^k is the double v, m is the integer nearest v * 10^k (its rounding
 * error is far below one half), and the decimal m * 10^-k reads back as v
 * because IEEE division rounds m / 10^k exactly as strtod rounds that
 * decimal. No two such decimals read back as the same double, so the
 * first k that fits gives the shortest one, as repr() prints it. 0 when v
 * needs the general way (more digits, or an exponent). */
static int render_few_decimals(double v, struct cs_textbuf *out)
{
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    static const uint64_t upow10[] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull,
                                      10000000ull, 100000000ull, 1000000000ull, 10000000000ull};
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15))
        return 0; /* repr() writes these with an exponent, or they have more digits */
    for (int k = 1; k < (int)(sizeof upow10 / sizeof upow10[0]); k++) {
        double scaled = a * pow10[k];
        if (scaled >= 1e15)
            return 0;
        double m = nearbyint(scaled);
        if (m / pow10[k] != a)
            continue;
        uint64_t digits = (uint64_t)m;
        if (v < 0)
            cs_textbuf_putc(out, '-');
        cs_textbuf_int(out, (int64_t)(digits / upow10[k]));
        cs_textbuf_putc(out, '.');
        char frac[16];
        uint64_t rest = digits % upow10[k];
        for (int i = k - 1; i >= 0; i--, rest /= 10)
            frac[i] = (char)('0' + rest % 10);
        cs_textbuf_put(out, frac, (size_t)k);
        return 1;
    }
    return 0;
}

void cs_render_float(double v, struct cs_textbuf *out)
{
    if (isnan(v)) {
        cs_textbuf_puts(out, "nan");
        return;
    }
    if (isinf(v)) {
        cs_textbuf_puts(out, v < 0 ? "-inf" : "inf");
        return;
    }
    /* A whole number below 10^16 prints as itself plus ".0"; no digit search. */
    if (fabs(v) < 1e16 && v == (double)(long long)v) {
        if (v == 0 && signbit(v))
            cs_textbuf_putc(out, '-');
        cs_textbuf_int(out, (long long)v);
        cs_textbuf_puts(out, ".0");
        return;
    }
    if (render_few_decimals(v, out))
        return;
    /* Any decimal of at most 15 significant digits reads back as the double
     * nearest it, so when v rounded to 15 digits reads back as v, that
     * rounding less its trailing zeros is the shortest form; otherwise the
     * nearest of 16 digits is, if it reads back, and 17 always do. Three
     * conversions at most instead of one per length. Subnormal numbers hold
     * fewer digits, so for them every length is tried from one up. */
    char sci[40];
    for (int prec = fabs(v) < DBL_MIN ? 0 : 14;; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, v);
        if (prec == 16 || strtod(sci, NULL) == v)
            break;
    }
    /* sci is [-]d[.ddd]e±XX: split it into sign, digits and exponent. */
    const char *p = sci;
    int negative = *p == '-';
    if (negative)
        p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < sizeof digits - 1)
            digits[nd++] = *p;
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    if (negative)
        cs_textbuf_putc(out, '-');
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            cs_textbuf_puts(out, "0.");
            for (int i = -1; i > exp; i--)
                cs_textbuf_putc(out, '0');
            cs_textbuf_put(out, digits, nd);
        } else {
            size_t whole = (size_t)exp + 1;
            for (size_t i = 0; i < whole; i++)
                cs_textbuf_putc(out, i < nd ? digits[i] : '0');
            cs_textbuf_putc(out, '.');
            if (nd > whole)
                cs_textbuf_put(out, digits + whole, nd - whole);
            else
                cs_textbuf_putc(out, '0');
        }
        return;
    }
    cs_textbuf_putc(out, digits[0]);
    if (nd > 1) {
        cs_textbuf_putc(out, '.');
        cs_textbuf_put(out, digits + 1, nd - 1);
    }
    cs_textbuf_printf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

/* ---- values ---- */

static int render(struct cs_reader *r, struct cs_textbuf *out, int nesting);

static double get_double(struct cs_reader *r)
{
    uint64_t bits = cs_get_u64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static void render_items_suffix(struct cs_textbuf *out, uint64_t total, uint64_t shown)
{
    (void)shown;
    cs_textbuf_printf(out, " (%llu items)", (unsigned long long)total);
}

/* The end of a container whose tag was just read, from its byte length;
 * NULL (and r->error) when it would lie past the input. */
static const unsigned char *container_end(struct cs_reader *r)
{
    uint16_t len = cs_get_u16(r);
    if (r->error || len > r->end - r->p) {
        r->error = 1;
        return NULL;
    }
    return r->p + len;
}

/* tuple, list, set, frozenset and dict share one shape: a byte length, a
 * total, a count shown, the items, and a marker when some were left out.
 * The items must fill the byte length exactly. */
static int render_container(struct cs_reader *r, struct cs_textbuf *out, int tag, int nesting)
{
    const unsigned char *end = container_end(r);
    uint64_t total = cs_get_varint(r);
    uint64_t shown = cs_get_varint(r);
    if (r->error || r->p > end)
        goto malformed;
    if (shown == 0 && total == 0) {
        static const char *const empty[] = {[V_TUPLE] = "()", [V_LIST] = "[]", [V_SET] = "set()",
                                            [V_FROZENSET] = "frozenset()", [V_DICT] = "{}"};
        if (r->p != end)
            goto malformed;
        cs_textbuf_puts(out, empty[tag]);
        return 0;
    }
    const char *open = tag == V_TUPLE ? "(" : tag == V_LIST ? "[" : tag == V_FROZENSET ? "frozenset({" : "{";
    const char *close = tag == V_TUPLE ? ")" : tag == V_LIST ? "]" : tag == V_FROZENSET ? "})" : "}";
    cs_textbuf_puts(out, open);
    for (uint64_t i = 0; i < shown; i++) {
        if (i)
            cs_textbuf_put(out, ", ", 2);
        if (render(r, out, nesting + 1) != 0)
            return -1;
        if (tag == V_DICT) {
            cs_textbuf_put(out, ": ", 2);
            if (render(r, out, nesting + 1) != 0)
                return -1;
        }
    }
    int cut = total > shown;
    if (cut)
        cs_textbuf_puts(out, shown ? ", \xe2\x80\xa6" : "\xe2\x80\xa6");
    else if (tag == V_TUPLE && shown == 1)
        cs_textbuf_putc(out, ',');
    if (r->p != end)
        goto malformed;
    cs_textbuf_puts(out, close);
    if (cut)
        render_items_suffix(out, total, shown);
    return 0;
malformed:
    r->error = 1;
    return -1;
}

static void render_elided(struct cs_textbuf *out, struct cs_text type)
{
    static const struct {
        const char *type, *text;
    } brackets[] = {{"list", "[\xe2\x80\xa6]"}, {"tuple", "(\xe2\x80\xa6)"}, {"dict", "{\xe2\x80\xa6}"},
                    {"set", "{\xe2\x80\xa6}"}};
    for (size_t i = 0; i < sizeof brackets / sizeof brackets[0]; i++) {
        if (strlen(brackets[i].type) == type.n && memcmp(brackets[i].type, type.s, type.n) == 0) {
            cs_textbuf_puts(out, brackets[i].text);
            return;
        }
    }
    cs_textbuf_putc(out, '<');
    cs_append_utf8_clean(type.s, type.n, out);
    cs_textbuf_puts(out, " \xe2\x80\xa6>");
}

static int render(struct cs_reader *r, struct cs_textbuf *out, int nesting)
{
    if (nesting > CS_MAX_VALUE_NESTING) {
        r->error = 1;
        return -1;
    }
    int tag = cs_get_byte(r);
    switch (tag) {
    case V_NONE: cs_textbuf_put(out, "None", 4); break;
    case V_FALSE: cs_textbuf_put(out, "False", 5); break;
    case V_TRUE: cs_textbuf_put(out, "True", 4); break;
    case V_INT: cs_textbuf_int(out, cs_get_svarint(r)); break;
    case V_BIGINT: {
        struct cs_text t = cs_get_text(r);
        cs_append_utf8_clean(t.s, t.n, out);
        break;
    }
    case V_FLOAT: {
        double d = get_double(r);
        if (!r->error)
            cs_render_float(d, out);
        break;
    }
    case V_STR: {
        uint64_t total = cs_get_varint(r);
        struct cs_text t = cs_get_text(r);
        cs_render_str(t.s, t.n, total, out);
        break;
    }
    case V_BYTES: {
        uint64_t total = cs_get_varint(r);
        struct cs_text t = cs_get_text(r);
        cs_render_bytes((const unsigned char *)t.s, t.n, total > t.n, out);
        break;
    }
    case V_TUPLE:
    case V_LIST:
    case V_SET:
    case V_FROZENSET:
    case V_DICT:
        return render_container(r, out, tag, nesting);
    case V_OBJECT: {
        struct cs_text type = cs_get_text(r);
        uint64_t addr = cs_get_varint(r);
        cs_textbuf_putc(out, '<');
        cs_append_utf8_clean(type.s, type.n, out);
        cs_textbuf_printf(out, " object at 0x%llx>", (unsigned long long)addr);
        break;
    }
    case V_NAMED: {
        struct cs_text kind = cs_get_text(r);
        struct cs_text name = cs_get_text(r);
        uint64_t addr = cs_get_varint(r);
        int quoted = (kind.n == 5 && !memcmp(kind.s, "class", 5)) || (kind.n == 6 && !memcmp(kind.s, "module", 6));
        cs_textbuf_putc(out, '<');
        cs_append_utf8_clean(kind.s, kind.n, out);
        cs_textbuf_puts(out, quoted ? " '" : " ");
        cs_append_utf8_clean(name.s, name.n, out);
        if (quoted)
            cs_textbuf_puts(out, "'>"); /* as Python shows classes and modules */
        else if (kind.n == 17 && !memcmp(kind.s, "built-in function", 17))
            cs_textbuf_putc(out, '>');
        else
            cs_textbuf_printf(out, " at 0x%llx>", (unsigned long long)addr);
        break;
    }
    case V_SUBCLASS: {
        struct cs_text type = cs_get_text(r);
        cs_append_utf8_clean(type.s, type.n, out);
        cs_textbuf_putc(out, '(');
        if (render(r, out, nesting + 1) != 0)
            return -1;
        cs_textbuf_putc(out, ')');
        break;
    }
    case V_REPR: {
        (void)cs_get_text(r); /* the type */
        uint64_t total = cs_get_varint(r);
        struct cs_text t = cs_get_text(r);
        cs_append_utf8_clean(t.s, t.n, out);
        if (total > count_code_points(t.s, t.n))
            cs_textbuf_put(out, ELLIPSIS, 3);
        break;
    }
    case V_REPR_FAILED: {
        struct cs_text type = cs_get_text(r);
        uint64_t addr = cs_get_varint(r);
        struct cs_text exc = cs_get_text(r);
        cs_textbuf_putc(out, '<');
        cs_append_utf8_clean(type.s, type.n, out);
        cs_textbuf_printf(out, " object at 0x%llx; repr raised ", (unsigned long long)addr);
        cs_append_utf8_clean(exc.s, exc.n, out);
        cs_textbuf_putc(out, '>');
        break;
    }
    case V_ELIDED: {
        struct cs_text type = cs_get_text(r);
        (void)cs_get_varint(r);
        render_elided(out, type);
        break;
    }
    case V_UNBOUND: cs_textbuf_puts(out, "<unbound>"); break;
    default:
        r->error = 1;
        return -1;
    }
    return r->error ? -1 : 0;
}

static struct cs_text text_of(const char *s)
{
    struct cs_text t = {s, strlen(s)};
    return t;
}

struct cs_text cs_value_type(const struct cs_reader *r)
{
    struct cs_reader v = *r;
    int tag = cs_get_byte(&v);
    switch (tag) {
    case V_NONE: return text_of("NoneType");
    case V_FALSE:
    case V_TRUE: return text_of("bool");
    case V_INT:
    case V_BIGINT: return text_of("int");
    case V_FLOAT: return text_of("float");
    case V_STR: return text_of("str");
    case V_BYTES: return text_of("bytes");
    case V_TUPLE: return text_of("tuple");
    case V_LIST: return text_of("list");
    case V_SET: return text_of("set");
    case V_FROZENSET: return text_of("frozenset");
    case V_DICT: return text_of("dict");
    case V_NAMED: {
        /* the kind of thing, as Python names its type */
        static const char *const kinds[][2] = {{"function", "function"},
                                               {"bound method", "method"},
                                               {"built-in function", "builtin_function_or_method"},
                                               {"class", "type"},
                                               {"module", "module"}};
        struct cs_text kind = cs_get_text(&v);
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strlen(kinds[i][0]) == kind.n && memcmp(kinds[i][0], kind.s, kind.n) == 0)
                return text_of(kinds[i][1]);
        return kind;
    }
    case V_OBJECT:
    case V_SUBCLASS:
    case V_REPR:
    case V_REPR_FAILED: {
        struct cs_text type = cs_get_text(&v);
        return v.error ? text_of("") : type;
    }
    case V_ELIDED: {
        struct cs_text type = cs_get_text(&v);
        /* "…" marks a value left out for room, whose type is not known */
        return v.error || (type.n == 3 && memcmp(type.s, ELLIPSIS, 3) == 0) ? text_of("") : type;
    }
    default: return text_of("");
    }
}

int cs_render_value(struct cs_reader *r, struct cs_textbuf *out)
{
    return render(r, out, 0);
}

/* Finds the end of one value without rendering it: the collector finds the
 * extent of a value this way before deciding whether it needs rendering at
 * all. A container is stepped over by its byte length, so a value the
 * collector already knows costs nothing to walk. Keep in step with render(). */
static int skip(struct cs_reader *r, int nesting)
{
    if (nesting > CS_MAX_VALUE_NESTING) {
        r->error = 1;
        return -1;
    }
    int tag = cs_get_byte(r);
    switch (tag) {
    case V_NONE:
    case V_FALSE:
    case V_TRUE:
    case V_UNBOUND: break;
    case V_INT: (void)cs_get_varint(r); break;
    case V_BIGINT: (void)cs_get_text(r); break;
    case V_FLOAT: (void)cs_get_u64(r); break;
    case V_STR:
    case V_BYTES: (void)cs_get_varint(r), (void)cs_get_text(r); break;
    case V_REPR: (void)cs_get_text(r), (void)cs_get_varint(r), (void)cs_get_text(r); break;
    case V_TUPLE:
    case V_LIST:
    case V_SET:
    case V_FROZENSET:
    case V_DICT: {
        /* its items are checked when it is rendered */
        const unsigned char *end = container_end(r);
        if (end)
            r->p = end;
        break;
    }
    case V_OBJECT: (void)cs_get_text(r), (void)cs_get_varint(r); break;
    case V_NAMED: (void)cs_get_text(r), (void)cs_get_text(r), (void)cs_get_varint(r); break;
    case V_SUBCLASS:
        (void)cs_get_text(r);
        return skip(r, nesting + 1);
    case V_REPR_FAILED: (void)cs_get_text(r), (void)cs_get_varint(r), (void)cs_get_text(r); break;
    case V_ELIDED: (void)cs_get_text(r), (void)cs_get_varint(r); break;
    default: r->error = 1; return -1;
    }
    return r->error ? -1 : 0;
}

int cs_skip_value(struct cs_reader *r)
{
    return skip(r, 0);
}

int cs_render_value_json(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch)
{
    /* Fast path: small ints are the most common argument by far. */
    if (r->p < r->end && *r->p == V_INT) {
        r->p++;
        int64_t v = cs_get_svarint(r);
        cs_textbuf_putc(out, '"');
        cs_textbuf_int(out, v);
        cs_textbuf_putc(out, '"');
        return r->error ? -1 : 0;
    }
    cs_textbuf_reset(scratch);
    if (render(r, scratch, 0) != 0)
        return -1;
    cs_json_string(out, scratch->data, scratch->len);
    return 0;
}

int cs_render_exception(struct cs_reader *r, struct cs_text type, struct cs_textbuf *out,
                        struct cs_textbuf *scratch)
{
    cs_textbuf_reset(scratch);
    int tag = r->p < r->end ? *r->p : -1;
    if (tag == V_STR) {
        r->p++;
        uint64_t total = cs_get_varint(r);
        struct cs_text t = cs_get_text(r);
        if (r->error)
            return -1;
        cs_append_utf8_clean(t.s, t.n, scratch);
        if (total > count_code_points(t.s, t.n))
            cs_textbuf_put(scratch, ELLIPSIS, 3);
    } else if (tag == V_NONE) {
        r->p++;
    } else {
        if (render(r, scratch, 0) != 0)
            return -1;
        if (scratch->len == 2 && memcmp(scratch->data, "()", 2) == 0)
            scratch->len = 0; /* no arguments: str(exc) is empty */
    }
    cs_append_utf8_clean(type.s, type.n, out);
    if (scratch->len) {
        cs_textbuf_put(out, ": ", 2);
        cs_textbuf_put(out, scratch->data, scratch->len);
    }
    return 0;
}

/* A dict key as a JSON object key: a str key as its text, others as repr. */
static int render_key_json(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch)
{
    cs_textbuf_reset(scratch);
    if (r->p < r->end && *r->p == V_STR) {
        r->p++;
        (void)cs_get_varint(r);
        struct cs_text t = cs_get_text(r);
        cs_append_utf8_clean(t.s, t.n, scratch);
    } else if (render(r, scratch, 1) != 0) {
        return -1;
    }
    if (r->error)
        return -1;
    cs_json_string(out, scratch->data, scratch->len);
    return 0;
}

int cs_render_fields_json(struct cs_reader *r, struct cs_textbuf *out, struct cs_textbuf *scratch,
                          int *is_null)
{
    *is_null = 0;
    int tag = r->p < r->end ? *r->p : -1;
    if (tag == V_NONE) {
        r->p++;
        *is_null = 1;
        return 0;
    }
    if (tag != V_DICT) {
        cs_textbuf_puts(out, "{\"value\":");
        if (cs_render_value_json(r, out, scratch) != 0)
            return -1;
        cs_textbuf_putc(out, '}');
        return 0;
    }
    r->p++;
    const unsigned char *end = container_end(r);
    (void)cs_get_varint(r);
    uint64_t shown = cs_get_varint(r);
    cs_textbuf_putc(out, '{');
    for (uint64_t i = 0; i < shown && !r->error; i++) {
        if (i)
            cs_textbuf_putc(out, ',');
        if (render_key_json(r, out, scratch) != 0)
            return -1;
        cs_textbuf_putc(out, ':');
        if (cs_render_value_json(r, out, scratch) != 0)
            return -1;
    }
    cs_textbuf_putc(out, '}');
    if (r->p != end) /* the items must fill the dict's byte length */
        r->error = 1;
    return r->error ? -1 : 0;
}
