/*
 * folded.c — `export --format folded`, and the stack tree it shares
 * with the SVG flame graph.
 *
 * The stack tree has one node per distinct stack of function names (root
 * first), holding the self and total time of every call made with exactly
 * that stack; it grows with the number of distinct stacks, never with the
 * number of calls. Folded output is its nodes with self time, one line
 * each, as flamegraph.pl reads them:
 *
 *   app.main;app.load;json.loads 123456
 *
 * Weights are self time in nanoseconds. Names are module.qualname; a ';'
 * or line break inside a name becomes '_' so the line stays parseable.
 */
#include <stdlib.h>
#include <string.h>

#include "export/export.h"
#include "export/names.h"

/* ---- the stack tree ---- */

static uint32_t slot_of(uint32_t parent, uint32_t name_id, uint32_t mask)
{
    uint64_t k = ((uint64_t)parent << 32 | name_id) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(k >> 32) & mask;
}

int cs_stack_tree_init(struct cs_stack_tree *t)
{
    memset(t, 0, sizeof *t);
    t->cap = 1024;
    t->nodes = malloc(t->cap * sizeof *t->nodes);
    t->nslots = 2048;
    t->slots = calloc(t->nslots, sizeof *t->slots);
    if (!t->nodes || !t->slots)
        return -1;
    t->nodes[0] = (struct cs_stack_node){UINT32_MAX, UINT32_MAX, 0, 0, 0, 0};
    t->n = 1;
    return 0;
}

void cs_stack_tree_free(struct cs_stack_tree *t)
{
    free(t->nodes);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* Doubles the slot table; slots hold node indexes, 0 (the root) meaning empty. */
static int rehash(struct cs_stack_tree *t)
{
    uint32_t n = t->nslots * 2;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    for (uint32_t i = 1; i < t->n; i++) {
        uint32_t s = slot_of(t->nodes[i].parent, t->nodes[i].name_id, n - 1);
        while (slots[s])
            s = (s + 1) & (n - 1);
        slots[s] = i;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return 0;
}

uint32_t cs_stack_tree_child(struct cs_stack_tree *t, uint32_t parent, uint32_t name_id)
{
    uint32_t mask = t->nslots - 1, s = slot_of(parent, name_id, mask);
    for (; t->slots[s]; s = (s + 1) & mask) {
        struct cs_stack_node *n = &t->nodes[t->slots[s]];
        if (n->parent == parent && n->name_id == name_id)
            return t->slots[s];
    }
    if (t->n == UINT32_MAX - 1)
        return UINT32_MAX;
    if (t->n == t->cap) {
        struct cs_stack_node *grown = realloc(t->nodes, (size_t)t->cap * 2 * sizeof *grown);
        if (!grown)
            return UINT32_MAX;
        t->nodes = grown;
        t->cap *= 2;
    }
    uint32_t i = t->n++;
    t->nodes[i] = (struct cs_stack_node){parent, name_id, 0, t->nodes[parent].first_child, 0, 0};
    t->nodes[parent].first_child = i;
    t->slots[s] = i;
    if ((uint64_t)t->n * 2 > t->nslots && rehash(t) != 0)
        return UINT32_MAX;
    return i;
}

int cs_stack_tree_open(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent,
                       sqlite3_stmt *row)
{
    (void)row;
    struct cs_stack_tree *t = x->state;
    f->node = cs_stack_tree_child(t, parent ? parent->node : 0, f->fn->name_id);
    return f->node == UINT32_MAX ? -1 : 0;
}

int cs_stack_tree_close(struct cs_export *x, struct cs_export_frame *f, const struct cs_export_frame *parent)
{
    (void)parent;
    struct cs_stack_tree *t = x->state;
    struct cs_stack_node *n = &t->nodes[f->node];
    n->self_ns += f->self_ns;
    n->total_ns += f->end_ns - f->start_ns;
    if (!parent)
        t->nodes[0].total_ns += f->end_ns - f->start_ns;
    return 0;
}

/* ---- folded output ---- */

struct folded {
    struct cs_stack_tree tree; /* first: cs_stack_tree_open/close take the state as a tree */
    const char **names;        /* by name_id */
};

static int folded_begin(struct cs_export *x)
{
    struct folded *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    x->state = f;
    return cs_stack_tree_init(&f->tree);
}

static void put_folded_name(struct cs_textbuf *b, const char *s)
{
    for (; *s; s++)
        cs_textbuf_putc(b, *s == ';' || *s == '\n' || *s == '\r' ? '_' : *s);
}

/* Depth first through the tree; `path` holds the names down to the node. */
static int folded_end(struct cs_export *x)
{
    struct folded *fo = x->state;
    struct cs_stack_tree *t = &fo->tree;
    fo->names = cs_export_names_by_id(x);
    size_t *marks = malloc(((size_t)t->n + 1) * sizeof *marks); /* path length at each level */
    uint32_t *stack = malloc(((size_t)t->n + 1) * sizeof *stack);
    struct cs_textbuf path = {0};
    if (!fo->names || !marks || !stack) {
        free(marks);
        free(stack);
        return -1;
    }
    /* stack[d]: the node being visited at level d */
    size_t d = 0;
    uint32_t node = t->nodes[0].first_child;
    while (node) {
        const struct cs_stack_node *n = &t->nodes[node];
        marks[d] = path.len;
        if (d)
            cs_textbuf_putc(&path, ';');
        put_folded_name(&path, fo->names[n->name_id]);
        if (n->self_ns > 0) {
            cs_textbuf_put(&x->buf, path.data, path.len);
            cs_textbuf_printf(&x->buf, " %lld\n", (long long)n->self_ns);
            cs_export_emit(x);
        }
        stack[d] = node;
        if (n->first_child) {
            d++;
            node = n->first_child;
            continue;
        }
        /* up until a level has a next sibling */
        for (;;) {
            path.len = marks[d];
            uint32_t next = t->nodes[stack[d]].next_sibling;
            if (next) {
                node = next;
                break;
            }
            if (d == 0) {
                node = 0;
                break;
            }
            d--;
        }
    }
    cs_export_flush_buf(x);
    int oom = path.oom;
    cs_textbuf_free(&path);
    free(marks);
    free(stack);
    return oom ? -1 : 0;
}

static void folded_free(struct cs_export *x)
{
    struct folded *f = x->state;
    if (f) {
        cs_stack_tree_free(&f->tree);
        free(f->names);
        free(f);
    }
    x->state = NULL;
}

const struct cs_export_format cs_export_folded = {
    .name = "folded",
    .begin = folded_begin,
    .open = cs_stack_tree_open,
    .close = cs_stack_tree_close,
    .end = folded_end,
    .free = folded_free,
};
