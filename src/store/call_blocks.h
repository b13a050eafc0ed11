/*
 * call_blocks.h — the store's skip index: for every block of
 * CS_BLOCK_CALLS consecutive call ids, a Bloom filter of what its rows
 * hold (docs/schema.md, "call_blocks").
 *
 * A filter over ten million calls that asks for one function or one
 * argument value would otherwise read every row. With the blocks, a
 * reader tests each block's filter for what the calls it wants must
 * hold, and reads only the blocks that may have them: a Bloom filter says
 * "maybe" or "certainly not", never wrongly "not". An index of SQLite's own
 * would cost the recording an index entry per call and per argument; a
 * block costs one 2 KiB row per 1,024 calls, rewritten by the commit that
 * writes its rows, so readers always find the rows and their block in
 * step.
 *
 * What goes in, each as one item of the filter:
 *   CS_ITEM_FUNCTION  the row's function_id
 *   CS_ITEM_ARG       an argument's text, stored inline (ints, None, bools)
 *   CS_ITEM_ARG_ID    an argument's vals id
 *   CS_ITEM_RESULT    the result's text, stored inline
 *   CS_ITEM_RESULT_ID the result's vals id
 */
#ifndef CALLSCOPE_CALL_BLOCKS_H
#define CALLSCOPE_CALL_BLOCKS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* The hashing and layout below, as meta 'call_blocks_format' records it
 * for each file: a reader uses the blocks of files of its own format only
 * (a filter read with other hashes would pass over calls it wants). */
#define CS_BLOCK_FORMAT 1
#define CS_BLOCK_CALLS 1024 /* ids per block: block k holds ids [k * 1024, k * 1024 + 1023] */
#define CS_BLOCK_BITS 16000 /* bits in a block's filter (a multiple of 64): two blocks fill a 4 KiB page */
#define CS_BLOCK_BYTES (CS_BLOCK_BITS / 8)
#define CS_BLOCK_HASHES 3 /* bits set per item */

enum cs_block_item {
    CS_ITEM_FUNCTION = 'f',
    CS_ITEM_ARG = 'a',
    CS_ITEM_ARG_ID = 'A',
    CS_ITEM_RESULT = 'r',
    CS_ITEM_RESULT_ID = 'R',
};

/* The hash of an item: of a kind and its bytes (or a number). Of a text,
 * only the first CS_BLOCK_HASHED_BYTES count: a long text is written
 * without hashing all of it, and texts that are equal share the prefix. */
#define CS_BLOCK_HASHED_BYTES 32
uint64_t cs_block_hash(int kind, const void *bytes, size_t len);
uint64_t cs_block_hash_id(int kind, int64_t id);

/* Whether a block's filter may hold the item of hash h. */
int cs_block_may_hold(const unsigned char *filter, uint64_t h);

/* ---- the writer's side (store.c) ---- */

struct cs_call_blocks;

/* NULL when out of memory. db is the recording's connection; every call
 * below runs with the store's lock on it held. */
struct cs_call_blocks *cs_call_blocks_new(sqlite3 *db);
void cs_call_blocks_free(struct cs_call_blocks *b);

/* Adds a row to its block: args is the stored args array (NULL: none),
 * result the vals id of the result (> 0) or else result_text its inline
 * text (NULL: none). 0, or an SQLite error code. */
int cs_call_blocks_add(struct cs_call_blocks *b, int64_t id, int64_t function_id, const char *args, size_t args_len,
                       int64_t result, const char *result_text, size_t result_len);

/* Writes every block changed since the last time, before a commit. */
int cs_call_blocks_write(struct cs_call_blocks *b);

/* After calls below first_kept were deleted: deletes the blocks that
 * hold none of the rest. */
int cs_call_blocks_trim(struct cs_call_blocks *b, int64_t first_kept);

#endif
