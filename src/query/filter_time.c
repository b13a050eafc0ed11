/*
 * filter_time.c — the dates and times a record filter compares `time` with
 * (see cs_filter_parse_time in filter.h), read as local time.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "query/filter.h"

/* Parses 'YYYY/MM/DD[ HH:MM[:SS[.fff]]]' (or with '-' and 'T') as local
 * time: [*lo, *lo + *span) in ns since the epoch. 0 or -1. */
int cs_filter_parse_time(const char *s, int64_t *lo, int64_t *span)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    char sep1, sep2;
    if (sscanf(s, "%4d%c%2d%c%2d%n", &y, &sep1, &mo, &sep2, &d, &n) != 5 || sep1 != sep2 ||
        (sep1 != '/' && sep1 != '-'))
        return -1;
    const char *p = s + n;
    int64_t unit = 86400LL * 1000000000LL;
    int64_t frac = 0;
    if (*p == ' ' || *p == 'T') {
        p++;
        if (sscanf(p, "%2d:%2d%n", &h, &mi, &n) != 2)
            return -1;
        p += n;
        unit = 60LL * 1000000000LL;
        if (*p == ':') {
            p++;
            if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9'))
                return -1;
            sec = (p[0] - '0') * 10 + (p[1] - '0');
            p += 2;
            unit = 1000000000LL;
            if (*p == '.') {
                p++;
                int digits = 0;
                while (*p >= '0' && *p <= '9' && digits < 9) {
                    frac = frac * 10 + (*p++ - '0');
                    unit /= 10;
                    digits++;
                }
                if (!digits)
                    return -1;
                frac *= unit;
            }
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || h < 0 || mi < 0)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) /* also refuses 2026/02/31 */
        return -1;
    /* Nanoseconds since the epoch hold years 1677 to 2262: a date beyond
     * a century of now on either side compares with every call the same as
     * that bound, and must not overflow (later offsets stay in range). */
    const int64_t bound = 4600000000LL; /* seconds: years 1824 to 2115 */
    if (t > bound)
        t = bound;
    if (t < -bound)
        t = -bound;
    *lo = (int64_t)t * 1000000000LL + frac;
    *span = unit;
    return 0;
}
