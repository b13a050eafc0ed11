/*
 * svg.c — `export --format svg`: a flame graph as one self-contained
 * SVG file that a browser shows, built from the stack tree (folded.c).
 *
 * One rect per distinct stack, root ("all") at the bottom, width by total
 * time, callees above their caller sorted by name. Hovering shows the
 * <title>: name, total time, share of all, self time. A small embedded
 * script zooms into a clicked frame (its callers stay, full width, below
 * it); clicking "all" zooms back out. Labels are cut to what fits, with
 * "..", by the same rule in C and in the script. Frames narrower than
 * 1/20000 of the whole (0.06 px) are left out, with their callees, so
 * the file stays small; the footer says how many.
 */
#include <stdlib.h>
#include <string.h>

#include "export/export.h"
#include "export/names.h"
#include "query/common.h"

#define SVG_WIDTH 1200
#define SVG_PAD 10
#define FRAME_HEIGHT 16
#define TOP 44
#define FOOTER 16 /* the line that says how many frames were left out */
#define CHAR_WIDTH 7.3 /* px of a 12px monospace glyph, with a little slack */
#define MIN_PARTS 20000 /* a frame is kept when it is at least 1/MIN_PARTS of the whole */

struct svg {
    struct cs_stack_tree tree; /* first: see cs_stack_tree_open */
};

static const char SCRIPT[] =
    "var PAD=" "10" ",FW=" "1180" ",CW=7.3;\n"
    "function label(n,w){var k=Math.floor((w-6)/CW);if(k>=n.length)return n;if(k<3)return \"\";"
    "return n.slice(0,k-2)+\"..\";}\n"
    "function zoom(g){var x0=+g.getAttribute(\"data-x\"),w0=+g.getAttribute(\"data-w\"),"
    "y0=+g.querySelector(\"rect\").getAttribute(\"y\"),fs=document.querySelectorAll(\"g.f\");\n"
    " for(var i=0;i<fs.length;i++){var f=fs[i],r=f.querySelector(\"rect\"),t=f.querySelector(\"text\"),"
    "x=+f.getAttribute(\"data-x\"),w=+f.getAttribute(\"data-w\"),y=+r.getAttribute(\"y\"),nx,nw;\n"
    "  if(y<=y0&&x>=x0-1e-9&&x+w<=x0+w0+1e-9){nx=(x-x0)/w0;nw=w/w0;}\n"
    "  else if(y>y0&&x<=x0+1e-9&&x+w>=x0+w0-1e-9){nx=0;nw=1;}\n"
    "  else{f.style.display=\"none\";continue;}\n"
    "  f.style.display=\"\";r.setAttribute(\"x\",PAD+nx*FW);r.setAttribute(\"width\",nw*FW);"
    "t.setAttribute(\"x\",PAD+nx*FW+3);t.textContent=label(f.getAttribute(\"data-n\"),nw*FW);}\n"
    "}\n"
    "function init(){var fs=document.querySelectorAll(\"g.f\");for(var i=0;i<fs.length;i++)"
    "fs[i].addEventListener(\"click\",function(){zoom(this);});}\n";

static int svg_begin(struct cs_export *x)
{
    struct svg *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    x->state = s;
    return cs_stack_tree_init(&s->tree);
}

/* FNV-1a: the same name always gets the same color. */
static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Characters (not bytes) of a UTF-8 string. */
static size_t utf8_chars(const char *s, size_t *byte_at, size_t limit)
{
    size_t chars = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (chars == limit && byte_at)
                *byte_at = i;
            chars++;
        }
    }
    if (byte_at && chars <= limit)
        *byte_at = i;
    return chars;
}

/* The label that fits width px: the name, or its start and "..", or nothing. */
static void put_label(struct cs_textbuf *b, const char *name, double width)
{
    double fit = (width - 6) / CHAR_WIDTH;
    size_t k = fit < 0 ? 0 : (size_t)fit;
    size_t n = utf8_chars(name, NULL, 0);
    if (k >= n) {
        cs_export_put_xml(b, name, strlen(name));
    } else if (k >= 3) {
        size_t cut;
        utf8_chars(name, &cut, k - 2);
        cs_export_put_xml(b, name, cut);
        cs_textbuf_puts(b, "..");
    }
}

/* Children sorted by name (name_id is the rank of the name). */
static int cmp_name(const void *a, const void *b, void *nodes)
{
    const struct cs_stack_node *n = nodes;
    uint32_t x = n[*(const uint32_t *)a].name_id, y = n[*(const uint32_t *)b].name_id;
    return x < y ? -1 : x > y;
}

static int sort_children(struct cs_stack_tree *t)
{
    uint32_t *kids = malloc((size_t)t->n * sizeof *kids);
    if (!kids)
        return -1;
    for (uint32_t p = 0; p < t->n; p++) {
        uint32_t k = 0;
        for (uint32_t c = t->nodes[p].first_child; c; c = t->nodes[c].next_sibling)
            kids[k++] = c;
        if (k < 2)
            continue;
        qsort_r(kids, k, sizeof *kids, cmp_name, t->nodes);
        t->nodes[p].first_child = kids[0];
        for (uint32_t i = 0; i < k; i++)
            t->nodes[kids[i]].next_sibling = i + 1 < k ? kids[i + 1] : 0;
    }
    free(kids);
    return 0;
}

static void put_frame(struct cs_export *x, const char *name, const struct cs_stack_node *n, int64_t offset,
                      int64_t all, int depth, int height)
{
    struct cs_textbuf *b = &x->buf;
    double fx = all ? (double)offset / (double)all : 0, fw = all ? (double)n->total_ns / (double)all : 1;
    double px = SVG_PAD + fx * (SVG_WIDTH - 2 * SVG_PAD), pw = fw * (SVG_WIDTH - 2 * SVG_PAD);
    int y = height - SVG_PAD - FOOTER - (depth + 1) * FRAME_HEIGHT;
    char total[32], self[32];
    cs_format_duration(n->total_ns, total, sizeof total);
    cs_format_duration(n->self_ns, self, sizeof self);
    uint32_t h = hash_name(name);
    cs_textbuf_printf(b, "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-n=\"", fx, fw);
    cs_export_put_xml(b, name, strlen(name));
    cs_textbuf_puts(b, "\"><title>");
    cs_export_put_xml(b, name, strlen(name));
    cs_textbuf_printf(b, " (%s, %.2f%%, self %s)</title>", total, fw * 100, self);
    cs_textbuf_printf(b, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"rgb(%u,%u,%u)\"/>", px, y,
                      pw, FRAME_HEIGHT - 1, 205 + h % 50, (h >> 8) % 230, (h >> 16) % 55);
    cs_textbuf_printf(b, "<text x=\"%.2f\" y=\"%d\">", px + 3, y + FRAME_HEIGHT - 4);
    put_label(b, name, pw);
    cs_textbuf_puts(b, "</text></g>\n");
    cs_export_emit(x);
}

static int svg_end(struct cs_export *x)
{
    struct svg *s = x->state;
    struct cs_stack_tree *t = &s->tree;
    if (sort_children(t) != 0)
        return -1;
    int64_t *offset = malloc((size_t)t->n * sizeof *offset);
    int *depth = malloc((size_t)t->n * sizeof *depth); /* -1: left out */
    const char **names = cs_export_names_by_id(x);
    if (!offset || !depth || !names) {
        free(offset), free(depth), free(names);
        return -1;
    }
    /* Parents come before their children in the node array. */
    /* Rounded up, in integers: total >= min_ns exactly when total * MIN_PARTS >= all. */
    int64_t all = t->nodes[0].total_ns, min_ns = (all + MIN_PARTS - 1) / MIN_PARTS;
    int max_depth = 0;
    long long left_out = 0;
    offset[0] = 0;
    depth[0] = 0;
    for (uint32_t p = 0; p < t->n; p++) {
        int64_t at = offset[p];
        for (uint32_t c = t->nodes[p].first_child; c; c = t->nodes[c].next_sibling) {
            offset[c] = at;
            at += t->nodes[c].total_ns;
            if (depth[p] >= 0 && t->nodes[c].total_ns >= min_ns && t->nodes[c].total_ns > 0) {
                depth[c] = depth[p] + 1;
                if (depth[c] > max_depth)
                    max_depth = depth[c];
            } else {
                depth[c] = -1;
                left_out += depth[p] >= 0;
            }
        }
    }
    int height = TOP + (max_depth + 1) * FRAME_HEIGHT + FOOTER + SVG_PAD;
    struct cs_textbuf *b = &x->buf;
    cs_textbuf_printf(b,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\""
                      " viewBox=\"0 0 %d %d\" onload=\"init()\">\n",
                      SVG_WIDTH, height, SVG_WIDTH, height);
    cs_textbuf_puts(b, "<style>text{font-family:monospace;font-size:12px;fill:#000}"
                       "g.f text{pointer-events:none}g.f{cursor:pointer}g.f:hover rect{stroke:#000;stroke-width:0.5}"
                       "#title{font-size:17px;text-anchor:middle}</style>\n<script><![CDATA[\n");
    cs_textbuf_puts(b, SCRIPT);
    cs_textbuf_printf(b, "]]></script>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fdfdf8\"/>\n"
                         "<text id=\"title\" x=\"%d\" y=\"22\">Flame graph</text>\n"
                         "<text x=\"%d\" y=\"38\">click a frame to zoom, \xe2\x80\x9c" "all\xe2\x80\x9d to zoom out</text>\n",
                      SVG_WIDTH / 2, SVG_PAD);
    put_frame(x, "all", &t->nodes[0], 0, all, 0, height);
    for (uint32_t c = 1; c < t->n; c++)
        if (depth[c] >= 0)
            put_frame(x, names[t->nodes[c].name_id], &t->nodes[c], offset[c], all, depth[c], height);
    if (left_out)
        cs_textbuf_printf(b, "<text x=\"%d\" y=\"%d\">%lld frame%s under 1/20000 of the total left out</text>\n",
                          SVG_PAD, height - SVG_PAD, left_out, left_out == 1 ? "" : "s");
    cs_textbuf_puts(b, "</svg>\n");
    cs_export_flush_buf(x);
    free(offset);
    free(depth);
    free(names);
    return 0;
}

static void svg_free(struct cs_export *x)
{
    struct svg *s = x->state;
    if (s) {
        cs_stack_tree_free(&s->tree);
        free(s);
    }
    x->state = NULL;
}

const struct cs_export_format cs_export_svg = {
    .name = "svg",
    .begin = svg_begin,
    .open = cs_stack_tree_open,
    .close = cs_stack_tree_close,
    .end = svg_end,
    .free = svg_free,
};
