/*
 * decimal.c -- decimal text to double: Clinger's fast path, else strtod.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/decimal.h"

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static bool slow_path(const char *s, size_t n, double *out)
{
    char tmp[512];
    if (n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    *out = strtod(tmp, &end);
    return end == tmp + n;
}

bool decimal_parse(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    uint64_t mant = 0;
    int digits = 0, frac = 0, seen = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, seen++) {
        if (mant || s[i] != '0') {
            if (digits < 19)
                mant = mant * 10 + (uint64_t)(s[i] - '0');
            else
                frac--; /* a digit past 19: kept only by strtod */
            digits++;
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, seen++) {
            if (mant || s[i] != '0') {
                if (digits < 19)
                    mant = mant * 10 + (uint64_t)(s[i] - '0');
                digits++;
            }
            frac++;
        }
    }
    if (!seen)
        return false;
    long exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        bool eneg = false;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            eneg = s[j++] == '-';
        if (j >= n || s[j] < '0' || s[j] > '9')
            return false;
        for (; j < n && s[j] >= '0' && s[j] <= '9'; j++)
            if (exp < 100000)
                exp = exp * 10 + (s[j] - '0');
        exp = eneg ? -exp : exp;
        i = j;
    }
    if (i != n)
        return false;
    long e10 = exp - frac;
    if (digits <= 15 && mant < ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        double v = (double)mant;
        v = e10 < 0 ? v / pow10_exact[-e10] : v * pow10_exact[e10];
        *out = neg ? -v : v;
        return true;
    }
    return slow_path(s, n, out);
}
