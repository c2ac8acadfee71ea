/*
 * decimal.h -- decimal text to double and back, correctly rounded, fast.
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
/* The same for the longest such number at the start of s[0..n): its length,
 * or 0 when s does not start with one (or its exponent is cut short, "1e"). */
size_t decimal_parse_prefix(const char *s, size_t n, double *out);
/* The same without the 16-byte vector reader: what machines without SSSE3
 * and SSE4.1 run (the tests hold it to the same answers wherever they run). */
size_t decimal_parse_prefix_portable(const char *s, size_t n, double *out);
/* A line of exactly `width` comma-separated fields, each wholly a decimal
 * as decimal_parse reads it, into out[0..width); false at the first field
 * that is not (out is then partly written). */
bool decimal_parse_fields(const char *line, size_t n, size_t width, double *out);

/* The line at the start of p[0..n) -- its bytes before the first LF (or a
 * CR just before it), which must be within n -- read as decimal_parse_fields
 * reads it: its length (without the line end) when it is exactly `width`
 * decimal fields, else 0 (out is then partly written). For batch input,
 * where this runs once a row; lines longer than DECIMAL_LINE_MAX bytes are
 * read the slower way, to the same answers. */
#define DECIMAL_LINE_MAX 4096
size_t decimal_parse_line(const char *p, size_t n, size_t width, double *out);
/* The same with a chosen reader, for tests: the widest this CPU has, up to
 * the one asked for. Every reader gives the same answers. */
enum decimal_reader {
    DECIMAL_READ_PORTABLE, /* memchr and decimal_parse_fields */
    DECIMAL_READ_16,       /* bytes classified 16 at a time (SSSE3, SSE4.1, POPCNT) */
    DECIMAL_READ_64,       /* 64 at a time, numbers 8 at a time (AVX-512 F, BW, DQ, VL) */
    DECIMAL_READ_64_VBMI2, /* and positions listed by byte compress (AVX-512 VBMI2) */
};
size_t decimal_parse_line_using(const char *p, size_t n, size_t width, double *out,
                                enum decimal_reader reader);

/* The shortest decimal that reads back to v: digits[0..n) (no leading or
 * trailing zeros) times 10^(exp10 - n + 1), i.e. exp10 is the power of ten
 * of the first digit; among equally short ones, the nearest to v. Exact
 * integer arithmetic, no printf; false outside roughly 2e-5 <= |v| < 1e16
 * (and for zero, subnormals, inf and nan), which callers format otherwise. */
struct decimal_digits {
    char digits[20];
    int n, exp10;
    bool negative;
};
bool decimal_shortest(double v, struct decimal_digits *out);

#endif
