/*
 * live_render.c — turns observation frames from a live agent into what the
 * user reads: a titled call tree per invocation (`trace`), arguments and
 * outcome per call (`watch`), the calling stack (`stack`), or one JSON
 * object per line for any of them. Values arrive in the capture encoding
 * and are rendered by the same code that renders a recording.
 */
#include "cli/live_render.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/decode.h"
#include "collector/value_json.h"
#include "live/protocol.h"
#include "query/common.h"
#include "util/json.h"

#define RED "\x1b[31m"
#define YELLOW "\x1b[33m"
#define GREEN "\x1b[32m"
#define DIM "\x1b[2m"
#define RESET "\x1b[0m"


struct node {
    int depth;
    uint64_t duration_ns;
    int flags;
    struct cs_text function, filename;
    uint64_t lineno;
    int has_next_sibling;
    const unsigned char *args; /* CS_NODE_ARGS: nargs (name, value) pairs from here */
    uint64_t nargs;
};

/* A node's flags as JSON keys (`"await":true`) and tree marks (`[await]`). */
static const struct {
    int flag;
    const char *name;
} node_marks[] = {
    {CS_NODE_BUILTIN, "builtin"}, {CS_NODE_AWAIT, "await"}, {CS_NODE_YIELD, "yield"},
    {CS_NODE_RAISED, "raised"},   {CS_NODE_UNFINISHED, "unfinished"},
};

/* Reads past a node's arguments, remembering where they are. */
static void read_node_args(struct cs_reader *rd, struct node *nd)
{
    nd->nargs = cs_get_varint(rd);
    if (rd->error || nd->nargs > (uint64_t)(rd->end - rd->p)) {
        rd->error = 1;
        return;
    }
    nd->args = rd->p;
    for (uint64_t i = 0; i < nd->nargs && !rd->error; i++) {
        (void)cs_get_text(rd);
        cs_skip_value(rd);
    }
}

/* A node's arguments: `n=5, s='x'` for the tree, or an object of typed
 * values for JSON. -1 when a value is malformed (the output is then not to
 * be used). */
static int node_args(const struct node *nd, const unsigned char *end, int json, struct cs_textbuf *b)
{
    struct cs_reader rd = {nd->args, end, 0};
    struct cs_textbuf value = {0}, scratch = {0};
    size_t members = 0;
    if (json)
        cs_textbuf_puts(b, ",\"args\":{");
    for (uint64_t i = 0; i < nd->nargs && !rd.error; i++) {
        struct cs_text name = cs_get_text(&rd);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(name.n < 255 ? name.n : 255), name.s ? name.s : "");
        if (json) {
            if (cs_value_json_member(&rd, key, b, &scratch, &members) != 0)
                rd.error = 1;
        } else {
            cs_textbuf_reset(&value);
            if (cs_render_value(&rd, &value) != 0)
                rd.error = 1;
            cs_textbuf_printf(b, "%s%s=%s", i ? ", " : "", cs_safe(key, (size_t)-1), cs_safe(value.data, value.len));
        }
    }
    if (json)
        cs_textbuf_putc(b, '}');
    cs_textbuf_free(&value);
    cs_textbuf_free(&scratch);
    return rd.error ? -1 : 0;
}


static void timestamp(uint64_t wall_ns, char *buf, size_t size)
{
    time_t s = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    localtime_r(&s, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03d", (int)(wall_ns / 1000000 % 1000));
}

static void title(struct cs_live_render *r, const struct cs_observation_header *h, struct cs_textbuf *b)
{
    char ts[64], dur[32];
    timestamp(h->wall_ns, ts, sizeof ts);
    cs_format_duration((int64_t)h->duration_ns, dur, sizeof dur);
    cs_textbuf_printf(b, "%s%s%s thread=%s tid=%llu daemon=%s", r->color ? DIM : "", ts, r->color ? RESET : "",
                      cs_safe(h->thread, h->thread_len), (unsigned long long)h->tid, h->daemon ? "True" : "False");
    if (h->command != CS_LIVE_STACK)
        cs_textbuf_printf(b, " cost=%s", dur);
}

static const char *command_name(int command)
{
    switch (command) {
    case CS_LIVE_TRACE: return "trace";
    case CS_LIVE_WATCH: return "watch";
    case CS_LIVE_STACK: return "stack";
    case CS_LIVE_MONITOR: return "monitor";
    default: return "live";
    }
}

/* A watch id as the JSON contract has it: a string naming the command
 * ("trace_3"), the agent's number after the underscore. */
static void json_watch_id(struct cs_textbuf *b, int command, uint64_t id)
{
    cs_textbuf_printf(b, "\"%s_%llu\"", command_name(command), (unsigned long long)id);
}

/* The fields every observation has: watch_id, timestamp (epoch seconds),
 * time (the same, local and readable), func_name, location, thread, tid,
 * daemon. */
static void json_head(struct cs_textbuf *b, const struct cs_observation_header *h, struct cs_text func, struct cs_text file,
                      uint64_t line)
{
    char ts[64];
    timestamp(h->wall_ns, ts, sizeof ts);
    cs_textbuf_puts(b, "{\"type\":\"observation\",\"watch_id\":");
    json_watch_id(b, h->command, h->watch_id);
    cs_textbuf_printf(b, ",\"timestamp\":%llu.%06llu,\"time\":\"%s\",\"func_name\":",
                      (unsigned long long)(h->wall_ns / 1000000000), (unsigned long long)(h->wall_ns / 1000 % 1000000),
                      ts);
    cs_json_string(b, func.s, func.n);
    cs_textbuf_puts(b, ",\"location\":");
    struct cs_textbuf loc = {0};
    cs_textbuf_printf(&loc, "%.*s:%llu", (int)file.n, file.s, (unsigned long long)line); /* JSON escapes it */
    cs_json_string(b, loc.data ? loc.data : "", loc.len);
    cs_textbuf_free(&loc);
    cs_textbuf_puts(b, ",\"thread\":");
    cs_json_string(b, h->thread, h->thread_len);
    cs_textbuf_printf(b, ",\"tid\":%llu,\"daemon\":%s", (unsigned long long)h->tid, h->daemon ? "true" : "false");
}

/* ---- trace ---- */

static const char *share_color(uint64_t part, uint64_t whole)
{
    if (!whole)
        return "";
    double share = (double)part / (double)whole;
    return share > 0.5 ? RED : share > 0.2 ? YELLOW : share > 0.05 ? GREEN : "";
}

static int json_node(struct cs_textbuf *b, const struct node *nd, const unsigned char *end)
{
    cs_textbuf_printf(b, "{\"depth\":%d,\"function\":", nd->depth);
    cs_json_string(b, nd->function.s, nd->function.n);
    cs_textbuf_puts(b, ",\"filename\":");
    cs_json_string(b, nd->filename.s, nd->filename.n);
    cs_textbuf_printf(b, ",\"lineno\":%llu,\"duration_ms\":%.6f", (unsigned long long)nd->lineno,
                      (double)nd->duration_ns / 1e6);
    for (size_t i = 0; i < sizeof node_marks / sizeof *node_marks; i++)
        if (nd->flags & node_marks[i].flag)
            cs_textbuf_printf(b, ",\"%s\":true", node_marks[i].name);
    int rc = nd->flags & CS_NODE_ARGS ? node_args(nd, end, 1, b) : 0;
    cs_textbuf_puts(b, ",\"children\":[");
    return rc;
}

/* The nodes in order as nested objects, without recursion: a tree as deep
 * as the agent's frame allows must not exhaust the client's stack. -1 when
 * a node's arguments are malformed. */
static int json_tree(struct cs_textbuf *b, const struct node *nodes, size_t n, const unsigned char *end)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rc |= json_node(b, &nodes[i], end);
        int next = i + 1 < n ? nodes[i + 1].depth : -1;
        if (next > nodes[i].depth)
            continue; /* its first child follows */
        for (int d = nodes[i].depth; d >= next && d >= 0; d--)
            cs_textbuf_puts(b, "]}");
        if (next >= 0)
            cs_textbuf_putc(b, ',');
    }
    return rc;
}

/* Guides drawn for at most this many levels; a deeper node says how deep. */
#define MAX_DRAWN_DEPTH 64

static int render_trace(struct cs_live_render *r, struct cs_reader *rd, const struct cs_observation_header *h,
                        struct cs_textbuf *b)
{
    uint64_t count = cs_get_varint(rd);
    if (rd->error || count > (uint64_t)(rd->end - rd->p))
        return -1;
    struct node *nodes = calloc(count ? count : 1, sizeof *nodes);
    if (!nodes)
        return -1;
    /* The frame is the agent's word, not to be trusted: the root at depth
     * 0, and each node at most one level below the one before, so every
     * depth lies in [0, i] and indexes the arrays below safely. */
    for (uint64_t i = 0; i < count && !rd->error; i++) {
        uint64_t depth = cs_get_varint(rd);
        if (depth > (i ? (uint64_t)nodes[i - 1].depth + 1 : 0))
            rd->error = 1;
        nodes[i].depth = (int)depth;
        nodes[i].duration_ns = cs_get_varint(rd);
        nodes[i].flags = cs_get_byte(rd);
        nodes[i].function = cs_get_text(rd);
        nodes[i].filename = cs_get_text(rd);
        nodes[i].lineno = cs_get_varint(rd);
        if (nodes[i].flags & CS_NODE_ARGS)
            read_node_args(rd, &nodes[i]);
    }
    if (rd->error || count == 0) {
        free(nodes);
        return -1;
    }
    /* A later sibling: the next node at the same depth before a shallower
     * one. last[d] is the latest node at depth d still open; a step up
     * closes the deeper ones (each closed once, so this is linear). */
    uint64_t *last = malloc((count + 1) * sizeof *last);
    if (!last) {
        free(nodes);
        return -1;
    }
    int top = -1;
    for (uint64_t i = 0; i < count; i++) {
        int d = nodes[i].depth;
        if (d <= top && last[d] != UINT64_MAX)
            nodes[last[d]].has_next_sibling = 1;
        for (int k = d + 1; k <= top; k++)
            last[k] = UINT64_MAX;
        last[d] = i;
        top = d;
    }
    free(last);
    if (r->jsonl) {
        json_head(b, h, nodes[0].function, nodes[0].filename, nodes[0].lineno);
        cs_textbuf_puts(b, ",\"call_tree\":[");
        int malformed = json_tree(b, nodes, count, rd->end);
        /* data.duration_ms too: scripts written for either place read it */
        cs_textbuf_printf(b, "],\"total_duration_ms\":%.6f,\"node_count\":%llu,\"data\":{\"duration_ms\":%.6f,"
                          "\"node_count\":%llu}}\n",
                          (double)h->duration_ns / 1e6, (unsigned long long)count, (double)h->duration_ns / 1e6,
                          (unsigned long long)count);
        free(nodes);
        return malformed ? -1 : 0;
    }
    title(r, h, b);
    cs_textbuf_putc(b, '\n');
    /* parent of each node, for the color by share and the guides */
    uint64_t *parent_dur = calloc(count, sizeof *parent_dur);
    unsigned char *guide = calloc(count + 1, 1); /* per depth: an open branch */
    if (!parent_dur || !guide) {
        free(parent_dur);
        free(guide);
        free(nodes);
        return -1;
    }
    uint64_t *stack_dur = calloc(count + 1, sizeof *stack_dur);
    for (uint64_t i = 0; stack_dur && i < count; i++) {
        int d = nodes[i].depth;
        parent_dur[i] = d > 0 ? stack_dur[d - 1] : nodes[i].duration_ns;
        stack_dur[d] = nodes[i].duration_ns;
    }
    free(stack_dur);
    for (uint64_t i = 0; i < count; i++) {
        const struct node *nd = &nodes[i];
        for (int d = 1; d < nd->depth && d < MAX_DRAWN_DEPTH; d++)
            cs_textbuf_puts(b, guide[d] ? "\xe2\x94\x82   " : "    ");
        if (nd->depth >= MAX_DRAWN_DEPTH)
            cs_textbuf_printf(b, "(depth %d) ", nd->depth);
        if (nd->depth > 0)
            cs_textbuf_puts(b, nd->has_next_sibling ? "\xe2\x94\x9c\xe2\x94\x80 " : "\xe2\x94\x94\xe2\x94\x80 ");
        guide[nd->depth] = (unsigned char)nd->has_next_sibling;
        char dur[32];
        cs_format_duration((int64_t)nd->duration_ns, dur, sizeof dur);
        const char *color = r->color ? share_color(nd->duration_ns, parent_dur[i]) : "";
        cs_textbuf_printf(b, "%s[%s]%s %s", color, dur, color[0] ? RESET : "", cs_safe(nd->function.s, nd->function.n));
        if (nd->flags & CS_NODE_ARGS) {
            cs_textbuf_putc(b, '(');
            rd->error |= node_args(nd, rd->end, 0, b) != 0;
            cs_textbuf_putc(b, ')');
        }
        cs_textbuf_putc(b, ' ');
        if (nd->flags & CS_NODE_BUILTIN)
            cs_textbuf_puts(b, "<built-in>");
        else
            cs_textbuf_printf(b, "%s:%llu", cs_safe(nd->filename.s, nd->filename.n),
                              (unsigned long long)nd->lineno);
        for (size_t k = 0; k < sizeof node_marks / sizeof *node_marks; k++)
            if ((nd->flags & node_marks[k].flag) && node_marks[k].flag != CS_NODE_BUILTIN) /* shown as its place */
                cs_textbuf_printf(b, " [%s]", node_marks[k].name);
        cs_textbuf_putc(b, '\n');
    }
    free(parent_dur);
    free(guide);
    free(nodes);
    return rd->error ? -1 : 0;
}

/* ---- watch ---- */

/* The arguments of a watch observation as a caller passed them: `args`, the
 * positional ones after the receiver with *args spread, and `kwargs`, the
 * keyword-only ones with **kwargs spread, each value typed (value_json.h).
 * Reads the nargs (name, value) pairs from rd. */
static int json_call_args(struct cs_reader *rd, int shape, uint64_t positional, uint64_t nargs,
                          struct cs_textbuf *b, struct cs_textbuf *scratch)
{
    struct cs_textbuf kwargs = {0};
    size_t nargs_json = 0, nkwargs = 0;
    uint64_t varkw_at = shape & CS_ARGS_VARKEYWORDS ? nargs - 1 : UINT64_MAX;
    uint64_t varargs_at = shape & CS_ARGS_VARARGS ? nargs - 1 - (varkw_at != UINT64_MAX) : UINT64_MAX;
    cs_textbuf_puts(b, ",\"args\":[");
    for (uint64_t i = 0; i < nargs && !rd->error; i++) {
        struct cs_text name = cs_get_text(rd);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(name.n < 255 ? name.n : 255), name.s ? name.s : "");
        int rc;
        if (i == 0 && (shape & CS_ARGS_RECEIVER) && positional > 0)
            rc = cs_skip_value(rd); /* self or cls: in params, not among the arguments passed */
        else if (i == varargs_at)
            rc = cs_value_json_spread(rd, 0, key, b, scratch, &nargs_json);
        else if (i == varkw_at)
            rc = cs_value_json_spread(rd, 1, key, &kwargs, scratch, &nkwargs);
        else if (i < positional)
            rc = cs_value_json_member(rd, NULL, b, scratch, &nargs_json);
        else
            rc = cs_value_json_member(rd, key, &kwargs, scratch, &nkwargs);
        if (rc != 0)
            rd->error = 1;
    }
    cs_textbuf_puts(b, "],\"kwargs\":{");
    if (kwargs.len)
        cs_textbuf_put(b, kwargs.data, kwargs.len);
    cs_textbuf_putc(b, '}');
    int oom = kwargs.oom;
    cs_textbuf_free(&kwargs);
    return rd->error || oom ? -1 : 0;
}

static int render_watch(struct cs_live_render *r, struct cs_reader *rd, const struct cs_observation_header *h,
                        struct cs_textbuf *b)
{
    struct cs_text func = cs_get_text(rd), file = cs_get_text(rd);
    uint64_t line = cs_get_varint(rd);
    int at = cs_get_byte(rd);
    int shape = cs_get_byte(rd);
    uint64_t positional = cs_get_varint(rd);
    uint64_t nargs = cs_get_varint(rd);
    if (rd->error || nargs > (uint64_t)(rd->end - rd->p) || positional > nargs)
        return -1;
    struct cs_textbuf value = {0}, scratch = {0};
    static const char *at_name[] = {"", "entry", "return", "", "exception"};
    const char *when = at >= 0 && at <= 4 ? at_name[at] : "";
    if (r->jsonl) {
        json_head(b, h, func, file, line);
        struct cs_reader args = *rd; /* read twice: typed, then as recordings render them */
        if (json_call_args(&args, shape, positional, nargs, b, &scratch) != 0) {
            cs_textbuf_free(&scratch);
            return -1;
        }
        cs_textbuf_printf(b, ",\"at\":\"%s\",\"cost_ms\":%.6f,\"params\":{", when, (double)h->duration_ns / 1e6);
    } else {
        title(r, h, b);
        cs_textbuf_printf(b, " %s %s:%llu (%s)\n  params: ", cs_safe(func.s, func.n), cs_safe(file.s, file.n),
                          (unsigned long long)line, when);
    }
    for (uint64_t i = 0; i < nargs && !rd->error; i++) {
        struct cs_text name = cs_get_text(rd);
        cs_textbuf_reset(&value);
        if (cs_render_value(rd, &value) != 0)
            break;
        if (r->jsonl) {
            if (i)
                cs_textbuf_putc(b, ',');
            cs_json_string(b, name.s, name.n);
            cs_textbuf_putc(b, ':');
            cs_json_string(b, value.data ? value.data : "", value.len);
        } else {
            cs_textbuf_printf(b, "%s%s=%s", i ? ", " : "", cs_safe(name.s, name.n), cs_safe(value.data, value.len));
        }
    }
    if (r->jsonl)
        cs_textbuf_putc(b, '}');
    else
        cs_textbuf_putc(b, '\n');
    /* result, success: null until the call has ended (-b) */
    const char *success = at == CS_AT_RETURN ? "true" : at == CS_AT_EXCEPTION ? "false" : "null";
    if (at == CS_AT_RETURN) {
        struct cs_reader result = *rd;
        cs_textbuf_reset(&value);
        cs_render_value(rd, &value);
        if (r->jsonl) {
            cs_textbuf_puts(b, ",\"return_obj\":");
            cs_json_string(b, value.data ? value.data : "", value.len);
            cs_textbuf_puts(b, ",\"result\":");
            if (cs_value_json(&result, b, &scratch) != 0)
                rd->error = 1;
        } else {
            cs_textbuf_printf(b, "  return: %s\n", cs_safe(value.data, value.len));
        }
    } else if (at == CS_AT_EXCEPTION) {
        struct cs_text type = cs_get_text(rd);
        cs_textbuf_reset(&value);
        cs_render_exception(rd, type, &value, &scratch);
        if (r->jsonl) {
            cs_textbuf_puts(b, ",\"throw_exp\":");
            cs_json_string(b, value.data ? value.data : "", value.len);
            cs_textbuf_puts(b, ",\"exception\":");
            cs_json_string(b, value.data ? value.data : "", value.len);
            cs_textbuf_puts(b, ",\"result\":null");
        } else {
            cs_textbuf_printf(b, "  raised: %s\n", cs_safe(value.data, value.len));
        }
    } else if (r->jsonl) {
        cs_textbuf_puts(b, ",\"result\":null");
    }
    if (r->jsonl) {
        double ms = (double)h->duration_ns / 1e6;
        long long count = r->count + 1;
        cs_textbuf_printf(b, ",\"success\":%s,\"duration_ms\":%.6f,\"count\":%lld,\"data\":{\"duration_ms\":%.6f,"
                          "\"success\":%s,\"count\":%lld}}\n",
                          success, ms, count, ms, success, count);
    }
    cs_textbuf_free(&value);
    cs_textbuf_free(&scratch);
    return rd->error ? -1 : 0;
}

/* ---- stack ---- */

static int render_stack(struct cs_live_render *r, struct cs_reader *rd, const struct cs_observation_header *h,
                        struct cs_textbuf *b)
{
    struct cs_text func = cs_get_text(rd), file = cs_get_text(rd);
    uint64_t line = cs_get_varint(rd);
    uint64_t n = cs_get_varint(rd);
    if (rd->error || n > (uint64_t)(rd->end - rd->p))
        return -1;
    if (r->jsonl) {
        json_head(b, h, func, file, line);
        cs_textbuf_puts(b, ",\"stack\":[");
    } else {
        title(r, h, b);
        cs_textbuf_printf(b, " %s\n", cs_safe(func.s, func.n));
    }
    for (uint64_t i = 0; i < n && !rd->error; i++) {
        struct cs_text f = cs_get_text(rd), fn = cs_get_text(rd);
        uint64_t ln = cs_get_varint(rd);
        if (r->jsonl) {
            cs_textbuf_puts(b, i ? ",{\"function\":" : "{\"function\":");
            cs_json_string(b, f.s, f.n);
            cs_textbuf_puts(b, ",\"filename\":");
            cs_json_string(b, fn.s, fn.n);
            cs_textbuf_printf(b, ",\"lineno\":%llu}", (unsigned long long)ln);
        } else {
            cs_textbuf_printf(b, "    at %s (%s:%llu)\n", cs_safe(f.s, f.n), cs_safe(fn.s, fn.n),
                              (unsigned long long)ln);
        }
    }
    if (r->jsonl)
        cs_textbuf_puts(b, "]}\n");
    return rd->error ? -1 : 0;
}

/* ---- monitor ---- */

static int render_monitor(struct cs_live_render *r, struct cs_reader *rd, const struct cs_observation_header *h,
                          struct cs_textbuf *b)
{
    struct cs_text func = cs_get_text(rd), file = cs_get_text(rd);
    uint64_t line = cs_get_varint(rd);
    uint64_t calls = cs_get_varint(rd), failed = cs_get_varint(rd), total = cs_get_varint(rd);
    uint64_t min = cs_get_varint(rd), max = cs_get_varint(rd);
    if (rd->error || failed > calls)
        return -1;
    uint64_t avg = calls ? total / calls : 0;
    double fail_rate = calls ? 100.0 * (double)failed / (double)calls : 0;
    if (r->jsonl) {
        json_head(b, h, func, file, line);
        cs_textbuf_printf(b,
                          ",\"cycle_s\":%.3f,\"calls\":%llu,\"success\":%llu,\"failed\":%llu,\"avg_ms\":%.6f,"
                          "\"min_ms\":%.6f,\"max_ms\":%.6f,\"fail_rate\":%.4f}\n",
                          (double)h->duration_ns / 1e9, (unsigned long long)calls,
                          (unsigned long long)(calls - failed), (unsigned long long)failed, (double)avg / 1e6,
                          (double)min / 1e6, (double)max / 1e6, fail_rate / 100);
        return 0;
    }
    char ts[64], a[32], lo[32], hi[32];
    timestamp(h->wall_ns, ts, sizeof ts);
    cs_format_duration((int64_t)avg, a, sizeof a);
    cs_format_duration((int64_t)min, lo, sizeof lo);
    cs_format_duration((int64_t)max, hi, sizeof hi);
    cs_textbuf_printf(b, "%s%s%s %s calls=%llu ok=%llu failed=%llu avg=%s min=%s max=%s fail-rate=%.2f%%\n",
                      r->color ? DIM : "", ts, r->color ? RESET : "", cs_safe(func.s, func.n),
                      (unsigned long long)calls, (unsigned long long)(calls - failed), (unsigned long long)failed,
                      calls ? a : "-", calls ? lo : "-", calls ? hi : "-", fail_rate);
    return 0;
}

int cs_live_render_observation(struct cs_live_render *r, const unsigned char *payload, size_t len)
{
    struct cs_reader rd = {payload, payload + len, 0};
    struct cs_observation_header h;
    cs_observation_header_get(&rd, &h);
    if (rd.error)
        return -1;
    struct cs_textbuf b = {0};
    int rc = h.command == CS_LIVE_TRACE   ? render_trace(r, &rd, &h, &b)
             : h.command == CS_LIVE_WATCH ? render_watch(r, &rd, &h, &b)
             : h.command == CS_LIVE_STACK ? render_stack(r, &rd, &h, &b)
             : h.command == CS_LIVE_MONITOR ? render_monitor(r, &rd, &h, &b)
                                          : -1;
    if (rc == 0 && !b.oom) {
        r->count++;
        if (!r->jsonl && h.command != CS_LIVE_MONITOR)
            cs_textbuf_putc(&b, '\n'); /* a blank line between multi-line observations */
        fwrite(b.data, 1, b.len, r->out);
        fflush(r->out);
    }
    cs_textbuf_free(&b);
    return rc == 0 && !b.oom ? 0 : -1;
}

static void write_line(struct cs_live_render *r, struct cs_textbuf *b)
{
    if (!b->oom) {
        fwrite(b->data, 1, b->len, r->out);
        fflush(r->out);
    }
    cs_textbuf_free(b);
}

static void json_command(struct cs_textbuf *b, const struct cs_live_render *r)
{
    cs_textbuf_puts(b, ",\"command\":");
    const char *c = r->command ? r->command : "live";
    cs_json_string(b, c, strlen(c));
}

void cs_live_render_message(struct cs_live_render *r, const char *type, const char *text)
{
    int is_error = !strcmp(type, "error");
    if (!strcmp(type, "info") && r->jsonl && r->events)
        return; /* its watch_started event says it */
    int as_json = r->jsonl && (is_error || !strcmp(type, "status") || (!strcmp(type, "event") && r->events));
    /* Status and errors stay off the tree's stream (they name the program's
     * functions); an error is said on stderr in JSON lines too, for a
     * person watching a script. */
    if (!as_json || is_error)
        cs_note("%s", text); /* the JSON, if any, is written below: not cs_error's */
    if (!as_json)
        return;
    struct cs_textbuf b = {0};
    cs_textbuf_printf(&b, "{\"type\":\"%s\"", type);
    if (!strcmp(type, "status"))
        cs_textbuf_puts(&b, ",\"level\":\"info\"");
    else if (!strcmp(type, "event"))
        cs_textbuf_puts(&b, ",\"event\":\"notice\"");
    json_command(&b, r);
    cs_textbuf_puts(&b, is_error ? ",\"error\":" : ",\"message\":");
    cs_json_string(&b, text, strlen(text));
    cs_textbuf_puts(&b, "}\n");
    write_line(r, &b);
}

/* The start of a watch's event line, up to its watch_id in "data": the
 * caller adds the event's own fields and closes both objects. */
static void begin_watch_event(struct cs_textbuf *b, const struct cs_live_render *r, int command, const char *what,
                              uint64_t watch_id)
{
    cs_textbuf_printf(b, "{\"type\":\"event\",\"event\":\"%s_%s\"", command_name(command), what);
    json_command(b, r);
    cs_textbuf_puts(b, ",\"data\":{\"watch_id\":");
    json_watch_id(b, command, watch_id);
}

void cs_live_render_started(struct cs_live_render *r, int command, uint64_t watch_id, const char *function,
                            size_t function_len)
{
    if (!r->jsonl || !r->events)
        return; /* the info line said it */
    struct cs_textbuf b = {0};
    begin_watch_event(&b, r, command, "started", watch_id);
    cs_textbuf_puts(&b, ",\"function\":");
    cs_json_string(&b, function, function_len);
    cs_textbuf_puts(&b, "}}\n");
    write_line(r, &b);
}

void cs_live_render_stopped(struct cs_live_render *r, int command, uint64_t watch_id, const char *reason,
                            uint64_t observations)
{
    if (!r->jsonl || !r->events) {
        if (strcmp(reason, "count") != 0)
            cs_note("the observation was removed (%s) after %llu observation%s", reason,
                    (unsigned long long)observations, observations == 1 ? "" : "s");
        return;
    }
    struct cs_textbuf b = {0};
    begin_watch_event(&b, r, command, "stopped", watch_id);
    cs_textbuf_puts(&b, ",\"reason\":");
    cs_json_string(&b, reason, strlen(reason));
    cs_textbuf_printf(&b, ",\"observations\":%llu}}\n", (unsigned long long)observations);
    write_line(r, &b);
}

void cs_live_render_success(struct cs_live_render *r, const char *data_json, const char *text)
{
    if (!r->jsonl) {
        fprintf(r->out, "%s\n", cs_safe(text, (size_t)-1));
        fflush(r->out);
        return;
    }
    struct cs_textbuf b = {0};
    cs_textbuf_puts(&b, "{\"type\":\"success\"");
    json_command(&b, r);
    cs_textbuf_printf(&b, ",\"data\":%s}\n", data_json);
    write_line(r, &b);
}
