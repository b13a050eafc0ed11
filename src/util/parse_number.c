/*
 * parse_number.c — strict parsing of the numbers given in options (see
 * parse_number.h).
 */
#include "util/parse_number.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int cs_parse_long(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cs_parse_double(const char *s, double min, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < min)
        return -1;
    *out = v;
    return 0;
}
