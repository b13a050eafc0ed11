/*
 * parse_number.h — the numbers of command-line options, parsed strictly:
 * the whole string, in range, or an error (never a silent 0).
 */
#ifndef CALLSCOPE_UTIL_PARSE_NUMBER_H
#define CALLSCOPE_UTIL_PARSE_NUMBER_H

/* A decimal integer from min to max. 0, or -1 (nothing stored). */
int cs_parse_long(const char *s, long long min, long long max, long long *out);
/* A finite number of at least min. 0, or -1 (nothing stored). */
int cs_parse_double(const char *s, double min, double *out);

#endif
