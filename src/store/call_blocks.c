/*
 * call_blocks.c — the skip index of call_rows (see call_blocks.h).
 */
#include "store/call_blocks.h"

#include <stdlib.h>
#include <string.h>

#include "util/byte_order.h"

/* Blocks kept in memory while recording. Rows come mostly in id order, so
 * one block is filled at a time; the few rows of long calls, written when
 * they end, go to older blocks, read back from the file if they left. */
#define CACHED_BLOCKS 64

/* Words of the file's filters and of hashed texts are little-endian
 * (util/byte_order.h), so a file means the same on every machine. */

static uint64_t mix(uint64_t h)
{
    /* spreads every input bit over the whole word (an avalanche step) */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t cs_block_hash(int kind, const void *bytes, size_t len)
{
    /* eight bytes at a time: most texts stored inline are short ints */
    const unsigned char *p = bytes;
    if (len > CS_BLOCK_HASHED_BYTES)
        len = CS_BLOCK_HASHED_BYTES;
    uint64_t h = (uint64_t)(unsigned char)kind << 56 ^ (uint64_t)len;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix(h ^ cs_le64(w));
    }
    /* The last bytes as the low ones of a little-endian word, read in two
     * loads that may overlap (or three bytes) rather than one at a time. */
    uint64_t tail = 0;
    if (len >= 4) {
        uint32_t first, last;
        memcpy(&first, p, 4);
        memcpy(&last, p + len - 4, 4);
        tail = cs_le32(first) | (uint64_t)cs_le32(last) << (8 * (len - 4));
    } else if (len > 0) {
        tail = p[0] | (uint64_t)p[len / 2] << (8 * (len / 2)) | (uint64_t)p[len - 1] << (8 * (len - 1));
    }
    return mix(h ^ tail ^ 0x9e3779b97f4a7c15ULL);
}

uint64_t cs_block_hash_id(int kind, int64_t id)
{
    return mix((uint64_t)id * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(unsigned char)kind << 56);
}

/* An item's bits all lie in one 64-bit word of the filter (a blocked
 * Bloom filter): one word to read or write per item rather than one per
 * bit, for slightly more false "maybe"s. The word comes from the high half
 * of the hash, the bits from the low one. */
static size_t word_of(uint64_t h)
{
    return (size_t)(((h >> 32) * (CS_BLOCK_BYTES / 8)) >> 32) * 8;
}

static uint64_t bits_of(uint64_t h)
{
    uint64_t bits = 0;
    for (int i = 0; i < CS_BLOCK_HASHES; i++)
        bits |= 1ULL << (h >> (6 * i) & 63);
    return bits;
}

int cs_block_may_hold(const unsigned char *filter, uint64_t h)
{
    uint64_t word;
    memcpy(&word, filter + word_of(h), sizeof word);
    return (cs_le64(word) & bits_of(h)) == bits_of(h);
}

static void set_item(unsigned char *filter, uint64_t h)
{
    uint64_t word;
    memcpy(&word, filter + word_of(h), sizeof word);
    word = cs_le64(cs_le64(word) | bits_of(h));
    memcpy(filter + word_of(h), &word, sizeof word);
}

/* ---- the writer's side ---- */

/* Functions whose item a cached block already has, by id modulo this:
 * a block's calls are mostly of a few functions, each a hash and a
 * filter word saved. */
#define FUNCTIONS_SEEN 16
/* The same for the vals ids of arguments: a function's calls mostly pass
 * the same objects (self, a document, a flag) next to the values that
 * change. */
#define ARG_IDS_SEEN 64
/* And for short inline texts, of up to eight bytes: ints, None, True and
 * False, which repeat within a block (a recursion's arguments and
 * results, counters, flags). A text is kept whole, as one word. */
#define SHORT_TEXTS_SEEN_BITS 6
#define SHORT_TEXTS_SEEN (1 << SHORT_TEXTS_SEEN_BITS)

struct short_text {
    uint64_t word;
    unsigned char len, kind; /* kind 0: none */
};

struct cached_block {
    int64_t block; /* -1: empty */
    int dirty;
    int64_t functions_seen[FUNCTIONS_SEEN]; /* -1: none */
    int64_t arg_ids_seen[ARG_IDS_SEEN];     /* -1: none */
    struct short_text short_texts_seen[SHORT_TEXTS_SEEN];
    unsigned char filter[CS_BLOCK_BYTES];
};

struct cs_call_blocks {
    sqlite3 *db;
    sqlite3_stmt *load, *save, *trim;
    struct cached_block cached[CACHED_BLOCKS];
};

struct cs_call_blocks *cs_call_blocks_new(sqlite3 *db)
{
    struct cs_call_blocks *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->db = db;
    for (int i = 0; i < CACHED_BLOCKS; i++)
        b->cached[i].block = -1;
    return b;
}

void cs_call_blocks_free(struct cs_call_blocks *b)
{
    if (!b)
        return;
    sqlite3_finalize(b->load);
    sqlite3_finalize(b->save);
    sqlite3_finalize(b->trim);
    free(b);
}

static int prepared(struct cs_call_blocks *b, sqlite3_stmt **st, const char *sql)
{
    return *st ? SQLITE_OK : sqlite3_prepare_v3(b->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

static int save(struct cs_call_blocks *b, struct cached_block *c)
{
    int rc = prepared(b, &b->save, "INSERT OR REPLACE INTO call_blocks VALUES (?, ?)");
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(b->save, 1, c->block * CS_BLOCK_CALLS);
    sqlite3_bind_blob(b->save, 2, c->filter, CS_BLOCK_BYTES, SQLITE_STATIC);
    rc = sqlite3_step(b->save);
    sqlite3_reset(b->save);
    if (rc != SQLITE_DONE)
        return rc;
    c->dirty = 0;
    return SQLITE_OK;
}

/* The cached block `block`, read back from the file if it was written. */
static int block_of(struct cs_call_blocks *b, int64_t block, struct cached_block **out)
{
    struct cached_block *c = &b->cached[(uint64_t)block % CACHED_BLOCKS];
    *out = c;
    if (c->block == block)
        return SQLITE_OK;
    int rc = c->dirty ? save(b, c) : SQLITE_OK;
    if (rc == SQLITE_OK)
        rc = prepared(b, &b->load, "SELECT bloom FROM call_blocks WHERE first_id = ?");
    if (rc != SQLITE_OK)
        return rc;
    memset(c->filter, 0, sizeof c->filter);
    memset(c->functions_seen, 0xff, sizeof c->functions_seen);
    memset(c->arg_ids_seen, 0xff, sizeof c->arg_ids_seen);
    memset(c->short_texts_seen, 0, sizeof c->short_texts_seen);
    c->block = block;
    c->dirty = 0;
    sqlite3_bind_int64(b->load, 1, block * CS_BLOCK_CALLS);
    rc = sqlite3_step(b->load);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(b->load, 0) == CS_BLOCK_BYTES)
        memcpy(c->filter, sqlite3_column_blob(b->load, 0), CS_BLOCK_BYTES);
    sqlite3_reset(b->load);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        c->block = -1;
        return rc;
    }
    return SQLITE_OK;
}

/* Adds the item of an inline text, unless the block has it already. */
static void add_text(struct cached_block *c, int kind, const char *p, size_t len)
{
    if (len <= 8) {
        uint64_t word = 0;
        for (size_t i = 0; i < len; i++)
            word |= (uint64_t)(unsigned char)p[i] << (8 * i);
        uint64_t slot = ((word ^ len ^ (uint64_t)kind << 56) * 0x9e3779b97f4a7c15ULL) >> (64 - SHORT_TEXTS_SEEN_BITS);
        struct short_text *seen = &c->short_texts_seen[slot];
        if (seen->kind == kind && seen->len == len && seen->word == word)
            return;
        *seen = (struct short_text){word, (unsigned char)len, (unsigned char)kind};
    }
    set_item(c->filter, cs_block_hash(kind, p, len));
}

/* Adds the elements of a stored args array: "text" (inline) or an id. */
static void add_args(struct cached_block *c, const char *p, const char *end)
{
    unsigned char *filter = c->filter;
    while (p < end) {
        while (p < end && (*p == '[' || *p == ',' || *p == ' ' || *p == ']'))
            p++;
        if (p >= end)
            break;
        if (*p == '"') {
            /* inline values are ints, None and booleans: never an escape */
            const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
            if (!q)
                q = end;
            add_text(c, CS_ITEM_ARG, p + 1, (size_t)(q - p - 1));
            p = q + 1;
        } else {
            int64_t id = 0;
            while (p < end && *p >= '0' && *p <= '9')
                id = id * 10 + (*p++ - '0');
            int64_t *seen = &c->arg_ids_seen[(uint64_t)id % ARG_IDS_SEEN];
            if (*seen != id) {
                set_item(filter, cs_block_hash_id(CS_ITEM_ARG_ID, id));
                *seen = id;
            }
            while (p < end && *p != ',' && *p != ']')
                p++;
        }
    }
}

int cs_call_blocks_add(struct cs_call_blocks *b, int64_t id, int64_t function_id, const char *args, size_t args_len,
                       int64_t result, const char *result_text, size_t result_len)
{
    struct cached_block *c;
    int rc = block_of(b, id / CS_BLOCK_CALLS, &c);
    if (rc != SQLITE_OK)
        return rc;
    int64_t *seen = &c->functions_seen[(uint64_t)function_id % FUNCTIONS_SEEN];
    if (*seen != function_id) {
        set_item(c->filter, cs_block_hash_id(CS_ITEM_FUNCTION, function_id));
        *seen = function_id;
    }
    if (args)
        add_args(c, args, args + args_len);
    if (result > 0)
        set_item(c->filter, cs_block_hash_id(CS_ITEM_RESULT_ID, result));
    else if (result_text)
        add_text(c, CS_ITEM_RESULT, result_text, result_len);
    c->dirty = 1;
    return SQLITE_OK;
}

int cs_call_blocks_write(struct cs_call_blocks *b)
{
    for (int i = 0; i < CACHED_BLOCKS; i++) {
        int rc = b->cached[i].dirty ? save(b, &b->cached[i]) : SQLITE_OK;
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

int cs_call_blocks_trim(struct cs_call_blocks *b, int64_t first_kept)
{
    int64_t first_block = first_kept / CS_BLOCK_CALLS;
    for (int i = 0; i < CACHED_BLOCKS; i++)
        if (b->cached[i].block >= 0 && b->cached[i].block < first_block)
            b->cached[i] = (struct cached_block){.block = -1};
    int rc = prepared(b, &b->trim, "DELETE FROM call_blocks WHERE first_id < ?");
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(b->trim, 1, first_block * CS_BLOCK_CALLS);
    rc = sqlite3_step(b->trim);
    sqlite3_reset(b->trim);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}
