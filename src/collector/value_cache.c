/*
 * value_cache.c — captured values already given a vals id (see
 * value_cache.h).
 *
 * Two generations of open-addressing tables with linear probing, each
 * slot a tag of the hash and the index of the value's entry (id, bytes).
 * New values go into the current one; when it is half full it becomes the
 * previous one and the old previous one is dropped. A value found in the
 * previous generation is copied forward, so what the program keeps passing
 * (self, a document, a config) stays known, while the many values met once
 * (a parser's results, positions) age out. Each table is
 * two megabytes: small enough that lookups mostly hit the CPU's caches,
 * which a table sized for millions of values would not.
 */
#include "collector/value_cache.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS (1u << 18)        /* per generation */
#define MAX_USED (SLOTS / 2)    /* then the generations turn over */
#define MAX_BYTES (16u << 20)   /* captured bytes kept per generation */

/* A slot is eight bytes, so that a generation's table (2 MiB) stays in
 * the CPU's caches: most lookups are of new values, which only read
 * slots. The value's own fields are read only when a tag matches. */
struct slot {
    uint32_t tag;   /* high bits of the hash, never 0; 0: empty */
    uint32_t entry; /* index in the generation's entries */
};

struct entry {
    int64_t id; /* < 0: met once, kept inline in the row of call -id */
    uint32_t off, len;
};

struct generation {
    struct slot *slots;
    struct entry *entries; /* MAX_USED, in the order the values came */
    size_t used;
    unsigned char *bytes;
    size_t nbytes;
};

struct cs_value_cache {
    struct generation gen[2];
    int cur; /* index of the current generation in gen */
    uint64_t turns; /* times the generations turned over */
    int64_t next_id;
    /* Set by a find that missed, for the add that follows it; and the
     * entry of a value met once, which that add gives an id. */
    uint64_t pending_hash;
    struct entry *pending_entry;
};

struct cs_value_cache *cs_value_cache_new(void)
{
    struct cs_value_cache *vc = calloc(1, sizeof *vc);
    if (!vc)
        return NULL;
    for (int g = 0; g < 2; g++) {
        vc->gen[g].slots = calloc(SLOTS, sizeof *vc->gen[g].slots);
        vc->gen[g].entries = malloc(MAX_USED * sizeof *vc->gen[g].entries);
        vc->gen[g].bytes = malloc(MAX_BYTES);
        if (!vc->gen[g].slots || !vc->gen[g].entries || !vc->gen[g].bytes) {
            cs_value_cache_free(vc);
            return NULL;
        }
    }
    vc->next_id = 1;
    return vc;
}

void cs_value_cache_free(struct cs_value_cache *vc)
{
    if (!vc)
        return;
    for (int g = 0; g < 2; g++) {
        free(vc->gen[g].slots);
        free(vc->gen[g].entries);
        free(vc->gen[g].bytes);
    }
    free(vc);
}

/* Eight bytes at a time, multiply and fold. */
static uint64_t hash_bytes(const unsigned char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    uint64_t tail = 0;
    memcpy(&tail, s + i, n - i);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53u;
    h ^= h >> 29;
    return h;
}

/* The slot's place comes from the low bits of the hash, its tag from the
 * high ones. */
static uint32_t tag_of(uint64_t h)
{
    uint32_t tag = (uint32_t)(h >> 32);
    return tag ? tag : 1;
}

/* The slot holding the value in g, or the empty slot where it would go. */
static struct slot *probe(struct generation *g, uint64_t h, const void *bytes, size_t len)
{
    uint32_t tag = tag_of(h);
    size_t i = h & (SLOTS - 1);
    for (; g->slots[i].tag; i = (i + 1) & (SLOTS - 1)) {
        const struct slot *sl = &g->slots[i];
        if (sl->tag != tag)
            continue;
        const struct entry *e = &g->entries[sl->entry];
        if (e->len == len && memcmp(g->bytes + e->off, bytes, len) == 0)
            break;
    }
    return &g->slots[i];
}

/* Puts a value into the current generation, turning the generations over
 * first when it is full; returns its entry, NULL if it is not kept. */
static struct entry *insert(struct cs_value_cache *vc, uint64_t h, int64_t id, const void *bytes, size_t len)
{
    if (len > MAX_BYTES / 16)
        return NULL; /* never kept: it would crowd out everything else */
    struct generation *g = &vc->gen[vc->cur];
    if (g->used >= MAX_USED || g->nbytes + len > MAX_BYTES) {
        vc->turns++;
        vc->cur ^= 1;
        g = &vc->gen[vc->cur];
        memset(g->slots, 0, SLOTS * sizeof *g->slots);
        g->used = 0;
        g->nbytes = 0;
    }
    struct slot *sl = probe(g, h, bytes, len);
    struct entry *e = &g->entries[g->used];
    memcpy(g->bytes + g->nbytes, bytes, len);
    *e = (struct entry){id, (uint32_t)g->nbytes, (uint32_t)len};
    *sl = (struct slot){tag_of(h), (uint32_t)g->used};
    g->nbytes += len;
    g->used++;
    return e;
}

int64_t cs_value_cache_find(struct cs_value_cache *vc, const void *bytes, size_t len, int64_t *held_by)
{
    uint64_t h = hash_bytes(bytes, len);
    vc->pending_hash = h;
    vc->pending_entry = NULL;
    *held_by = 0;
    /* Most values are new and miss in both tables, each probe a trip to
     * memory: start the second while the first is under way. */
    struct generation *cur = &vc->gen[vc->cur], *prev = &vc->gen[vc->cur ^ 1];
    __builtin_prefetch(&prev->slots[h & (SLOTS - 1)]);
    struct slot *sl = probe(cur, h, bytes, len);
    struct entry *e;
    if (sl->tag) {
        e = &cur->entries[sl->entry];
    } else {
        sl = probe(prev, h, bytes, len);
        if (!sl->tag)
            return 0;
        e = insert(vc, h, prev->entries[sl->entry].id, bytes, len); /* still in use: carry it forward */
        if (!e)
            return 0;
    }
    if (e->id > 0)
        return e->id;
    vc->pending_entry = e;
    *held_by = -e->id;
    return 0;
}

int64_t cs_value_cache_add(struct cs_value_cache *vc, const void *bytes, size_t len)
{
    int64_t id = vc->next_id++;
    if (vc->pending_entry)
        vc->pending_entry->id = id;
    else
        insert(vc, vc->pending_hash, id, bytes, len);
    vc->pending_entry = NULL;
    return id;
}

void cs_value_cache_add_inline(struct cs_value_cache *vc, const void *bytes, size_t len, int64_t call_id)
{
    insert(vc, vc->pending_hash, -call_id, bytes, len);
}

void cs_value_cache_forget(struct cs_value_cache *vc)
{
    for (int g = 0; g < 2; g++) {
        memset(vc->gen[g].slots, 0, SLOTS * sizeof *vc->gen[g].slots);
        vc->gen[g].used = 0;
        vc->gen[g].nbytes = 0;
    }
    vc->pending_entry = NULL;
    vc->turns++;
}

uint64_t cs_value_cache_turns(const struct cs_value_cache *vc)
{
    return vc->turns;
}
