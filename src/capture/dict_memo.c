/*
 * dict_memo.c — the encodings of dicts passed again unchanged (see
 * dict_memo.h).
 *
 * A small direct-mapped table keyed by the dict's address: the dicts passed
 * again and again are few, and a slot taken by another dict only costs an
 * encoding. The address is compared, never followed: a freed dict's slot
 * stays until another takes it, and a new dict at the same address has a
 * version tag the freed one never had.
 */
#include "capture/dict_memo.h"

#if CS_PY_HAS_DICT_VERSION

#include <string.h>

#define MEMO_SLOTS 64

struct memo_slot {
    const PyObject *dict;
    const PyInterpreterState *interp;
    uint64_t version;
    uint32_t max_string, max_items; /* the limits it was made under */
    uint32_t len; /* 0: empty */
    unsigned char bytes[CS_DICT_MEMO_MAX_BYTES];
};

static struct memo_slot memo[MEMO_SLOTS];

static struct memo_slot *slot_of(const PyObject *d)
{
    uintptr_t a = (uintptr_t)d;
    return &memo[((a >> 4) ^ (a >> 12)) % MEMO_SLOTS];
}

const unsigned char *cs_dict_memo_find(PyObject *d, const struct cs_value_limits *lim, size_t *len)
{
    const struct memo_slot *s = slot_of(d);
    if (s->dict != d || s->len == 0 || s->version != cs_dict_version(d) || s->max_string != lim->max_string ||
        s->max_items != lim->max_items || s->interp != cs_interpreter())
        return NULL;
    *len = s->len;
    return s->bytes;
}

void cs_dict_memo_keep(PyObject *d, const struct cs_value_limits *lim, const unsigned char *bytes, size_t len)
{
    if (len == 0 || len > CS_DICT_MEMO_MAX_BYTES)
        return;
    struct memo_slot *s = slot_of(d);
    s->dict = d;
    s->interp = cs_interpreter();
    s->version = cs_dict_version(d);
    s->max_string = lim->max_string;
    s->max_items = lim->max_items;
    s->len = (uint32_t)len;
    memcpy(s->bytes, bytes, len);
}

#endif
