/*
 * suggest.c — "did you mean": edit distance and the nearest candidates to a
 * misspelt field, operator or value.
 */
#include <string.h>

#include "expr/expr.h"

int cs_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 254 || lb > 254)
        return 255;
    unsigned char row[256];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned char diag = row[0];
        row[0] = (unsigned char)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned char up = row[j];
            unsigned best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1u < best)
                best = up + 1u;
            if (row[j - 1] + 1u < best)
                best = row[j - 1] + 1u;
            row[j] = (unsigned char)(best > 255 ? 255 : best);
            diag = up;
        }
    }
    return row[lb];
}

size_t cs_nearest(const char *word, const char *const *candidates, size_t ncandidates, const char **out, size_t max)
{
    size_t wlen = strlen(word);
    int limit = (int)(wlen / 3 > 2 ? wlen / 3 : 2);
    size_t n = 0;
    int dist[64];
    if (max > 64)
        max = 64;
    for (size_t i = 0; i < ncandidates; i++) {
        const char *c = candidates[i];
        int d = wlen && strncmp(c, word, wlen) == 0 && strlen(c) > wlen ? 1 : cs_edit_distance(word, c);
        if (d > limit)
            continue;
        /* insertion sort by distance, stable */
        size_t at = n < max ? n : max;
        while (at > 0 && dist[at - 1] > d)
            at--;
        if (at >= max)
            continue;
        size_t last = n < max ? n : max - 1;
        for (size_t k = last; k > at; k--) {
            out[k] = out[k - 1];
            dist[k] = dist[k - 1];
        }
        out[at] = c;
        dist[at] = d;
        if (n < max)
            n++;
    }
    return n;
}
