/*
 * decimal.h -- decimal text to double, correctly rounded, fast.
 *
 * Batch scoring reads tens of millions of numbers; strtod takes ~100 ns for
 * each (locale handling, arbitrary precision). Most numbers in data files
 * have at most 15 significant digits and a small exponent, and for those
 * Clinger's fast path is exact: the digits as an integer (exact below 2^53)
 * times or divided by an exact power of ten (up to 1e22) is one correctly
 * rounded operation. Everything else goes to strtod, so every answer is the
 * correctly rounded one.
 */
#ifndef KEEL_DECIMAL_H
#define KEEL_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>

/* s[0..n) as [+-]digits[.digits][(e|E)[+-]digits] (at least one digit
 * before the exponent); false for anything else, including white space,
 * hex, inf and nan, which callers handle by their own rules. */
bool decimal_parse(const char *s, size_t n, double *out);

#endif
