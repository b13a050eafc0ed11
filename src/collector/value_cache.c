/*
 * value_cache.c — captured values already given a vals id (see
 * value_cache.h).
 *
 * An open-addressing table of (hash, id, bytes) with linear probing, kept
 * at most half full. The bytes live in one arena, so a lookup that hits
 * compares them in place and allocates nothing.
 */
#include "collector/value_cache.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS (1u << 21)           /* 2M values; 48 MiB of slots */
#define MAX_USED (SLOTS / 2)       /* then start over */
#define MAX_BYTES (64u << 20)      /* captured bytes kept, at most */

struct slot {
    uint64_t hash; /* 0: empty */
    int64_t id;
    uint32_t off, len;
};

struct cs_value_cache {
    struct slot *slots;
    size_t used;
    int64_t next_id;
    unsigned char *bytes;
    size_t nbytes;
    /* Set by a find that missed, for the add that follows it. */
    uint64_t pending_hash;
    size_t pending_slot;
};

struct cs_value_cache *cs_value_cache_new(void)
{
    struct cs_value_cache *vc = calloc(1, sizeof *vc);
    if (!vc)
        return NULL;
    vc->slots = calloc(SLOTS, sizeof *vc->slots);
    vc->bytes = malloc(MAX_BYTES);
    if (!vc->slots || !vc->bytes) {
        cs_value_cache_free(vc);
        return NULL;
    }
    vc->next_id = 1;
    return vc;
}

void cs_value_cache_free(struct cs_value_cache *vc)
{
    if (!vc)
        return;
    free(vc->slots);
    free(vc->bytes);
    free(vc);
}

/* Eight bytes at a time, multiply and fold; never 0 (the empty mark). */
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
    return h ? h : 1;
}

int64_t cs_value_cache_find(struct cs_value_cache *vc, const void *bytes, size_t len)
{
    uint64_t h = hash_bytes(bytes, len);
    size_t i = h & (SLOTS - 1);
    for (; vc->slots[i].hash; i = (i + 1) & (SLOTS - 1)) {
        const struct slot *sl = &vc->slots[i];
        if (sl->hash == h && sl->len == len && memcmp(vc->bytes + sl->off, bytes, len) == 0)
            return sl->id;
    }
    vc->pending_hash = h;
    vc->pending_slot = i;
    return 0;
}

int64_t cs_value_cache_add(struct cs_value_cache *vc, const void *bytes, size_t len)
{
    int64_t id = vc->next_id++;
    if (len > MAX_BYTES / 4)
        return id; /* never kept: it would crowd out everything else */
    if (vc->used >= MAX_USED || vc->nbytes + len > MAX_BYTES) {
        /* Full: forget everything, and find the slot again in the empty
         * table. Ids count on, so ids given before stay unique. */
        memset(vc->slots, 0, SLOTS * sizeof *vc->slots);
        vc->used = 0;
        vc->nbytes = 0;
        vc->pending_slot = vc->pending_hash & (SLOTS - 1);
    }
    memcpy(vc->bytes + vc->nbytes, bytes, len);
    vc->slots[vc->pending_slot] = (struct slot){vc->pending_hash, id, (uint32_t)vc->nbytes, (uint32_t)len};
    vc->nbytes += len;
    vc->used++;
    return id;
}
