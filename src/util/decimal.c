/*
 * decimal.c -- decimal text to double: Clinger's fast path, else strtod.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

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
    return n && decimal_parse_prefix(s, n, out) == n;
}

/* ---- eight digits at a time ----
 *
 * Batch scoring reads tens of millions of numbers like 17.99 or 0.006399.
 * A loop over their digits spends most of its time in mispredicted branches
 * (where the integer part and the fraction end differs from number to
 * number); these read each part as one 8-byte word instead: which bytes are
 * digits is a mask, how many lead is a count of trailing zero bits, and
 * their value three multiplications (Lemire's). */

static uint64_t load8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w); /* little-endian: p[0] is the low byte */
    return w;
}

/* The number of leading ASCII digits of the word (0-8), and in *vals the
 * word's bytes minus '0' (the digits' values in the leading bytes). No byte
 * carries into the next: (t & 0x7f) + 0x76 stays below 0x100. */
static unsigned lead_digits(uint64_t w, uint64_t *vals)
{
    uint64_t t = w ^ 0x3030303030303030ULL;
    uint64_t bad = (((t & 0x7f7f7f7f7f7f7f7fULL) + 0x7676767676767676ULL) | t) &
                   0x8080808080808080ULL;
    *vals = t;
    return bad ? (unsigned)__builtin_ctzll(bad) >> 3 : 8;
}

/* The value of the first k (1-8) digits of vals. */
static uint64_t digits_value(uint64_t vals, unsigned k)
{
    uint64_t v = vals << (8 * (8 - k)); /* k digits, led by 8 - k zeros */
    v = v * 10 + (v >> 8);
    v = (((v & 0x000000ff000000ffULL) * (100 + (1000000ULL << 32))) +
         (((v >> 16) & 0x000000ff000000ffULL) * (1 + (10000ULL << 32)))) >>
        32;
    return (uint32_t)v;
}

static const uint64_t pow10_small[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};

/* [-]digits[.digits] with fewer than 8 digits on each side and no exponent,
 * read from at least 18 readable bytes: its length, else 0 for the general
 * reader to take it (longer parts, an exponent, or no digits). */
static size_t parse_short(const char *s, double *out)
{
    const char *p = s;
    bool neg = *p == '-';
    p += neg || *p == '+';
    uint64_t vals;
    unsigned ni = lead_digits(load8(p), &vals);
    if (ni == 8)
        return 0;
    uint64_t mant = ni ? digits_value(vals, ni) : 0;
    p += ni;
    unsigned nf = 0;
    if (*p == '.') {
        nf = lead_digits(load8(p + 1), &vals);
        if (nf == 8)
            return 0;
        if (nf)
            mant = mant * pow10_small[nf] + digits_value(vals, nf);
        p += 1 + nf;
    }
    if ((ni | nf) == 0 || *p == 'e' || *p == 'E')
        return 0;
    /* below 10^14 and over at most 10^7: one correctly rounded division,
     * strtod's answer (Clinger) */
    double v = (double)mant / (double)pow10_small[nf];
    *out = neg ? -v : v;
    return (size_t)(p - s);
}

/* ---- sixteen bytes at a time (x86-64 with SSSE3 and SSE4.1) ----
 *
 * The same numbers read with one 16-byte load: a compare finds the digits,
 * a shuffle chosen by the lengths of the two parts lines the digits up
 * without the point, and three multiply-adds make the value -- a quarter
 * less time than the eight-byte reader on batch input. Chosen at run time:
 * the binary still runs on any x86-64. */
#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_PARSE16 1

/* For ni integer and nf fraction digits (ni + nf <= 15): the shuffle that
 * takes them from the 16 bytes at the number's first digit to the right
 * end of a vector, point dropped, zeros before. */
static unsigned char lineup[16][16][16] __attribute__((aligned(16)));
static pthread_once_t parse16_once = PTHREAD_ONCE_INIT;
/* 0: not looked at yet, 1: this CPU has them, 2: it has not. Set once by
 * parse16_init, after the table (release), read per number (acquire):
 * pthread_once's call on every number was a visible cost. */
static int parse16_state;
/* Whether decimal_parse_line may use AVX-512 (F, BW, DQ and VL): bytes
 * classified 64 at a time, numbers converted 8 at a time. Set by
 * parse16_init before parse16_state. */
static bool have_line64;
static bool have_vbmi2; /* and VBMI2, for classify64b */

static void parse16_init(void)
{
    for (int ni = 0; ni < 16; ni++)
        for (int nf = 0; nf + ni < 16; nf++)
            for (int j = 0, t = ni + nf; j < 16; j++) {
                int at = j - (16 - t);
                lineup[ni][nf][j] = at < 0 ? 0x80 : (unsigned char)(at < ni ? at : at + 1);
            }
    __builtin_cpu_init();
    bool ok = __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("sse4.1") &&
              __builtin_cpu_supports("popcnt");
    have_line64 = ok && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    have_vbmi2 = have_line64 && __builtin_cpu_supports("avx512vbmi2");
    __atomic_store_n(&parse16_state, ok ? 1 : 2, __ATOMIC_RELEASE);
}

/* The value of ni + nf digits (1 to 15) at the start of d (16 bytes, each
 * minus '0'), a point between them when nf is not 0: a shuffle lines the
 * digits up without the point, three multiply-adds make the mantissa (below
 * 10^15), and one correctly rounded division by 10^nf the double. */
__attribute__((target("ssse3,sse4.1"))) static inline double digits_value16(__m128i d, unsigned ni,
                                                                            unsigned nf)
{
    __m128i v = _mm_shuffle_epi8(d, _mm_load_si128((const __m128i *)lineup[ni][nf]));
    v = _mm_maddubs_epi16(v, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1));
    v = _mm_madd_epi16(v, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1)); /* 4-digit groups */
    v = _mm_packus_epi32(v, v);
    v = _mm_madd_epi16(v, _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
    uint64_t mant = (uint64_t)(uint32_t)_mm_cvtsi128_si32(v) * 100000000u +
                    (uint32_t)_mm_extract_epi32(v, 1);
    return (double)mant / pow10_exact[nf];
}

/* As parse_short, for numbers of at most 15 digits in all (which includes
 * every number parse_short takes), from at least 17 readable bytes; 0 leaves
 * the number to parse_general. */
__attribute__((target("ssse3,sse4.1"))) static size_t parse16(const char *s, double *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    __m128i d = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)p), _mm_set1_epi8('0'));
    __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
    unsigned m = (unsigned)_mm_movemask_epi8(digit); /* bit i: p[i] is a digit */
    unsigned ni = (unsigned)__builtin_ctz(~m), nf = 0;
    if (ni >= 16)
        return 0;
    size_t len = ni;
    if (p[ni] == '.') {
        nf = (unsigned)__builtin_ctz(~(m >> (ni + 1)));
        len = ni + 1 + nf;
    }
    if (ni + nf == 0 || ni + nf > 15 || len >= 16 || p[len] == 'e' || p[len] == 'E')
        return 0;
    double x = digits_value16(d, ni, nf);
    *out = *s == '-' ? -x : x;
    return (size_t)(p - s) + len;
}
#endif

/* Any number decimal_parse_prefix takes, one digit at a time: what the
 * fast readers leave (exponents, long numbers, the last bytes of a buffer). */
static size_t parse_general(const char *s, size_t n, double *out)
{
    const char *p = s, *end = s + n;
    bool neg = false;
    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    uint64_t mant = 0; /* wraps past 19 digits; then only strtod's answer counts */
    const char *int_start = p;
    while (p < end && (unsigned char)(*p - '0') < 10)
        mant = mant * 10 + (uint64_t)(*p++ - '0');
    size_t digits = (size_t)(p - int_start), frac = 0;
    if (p < end && *p == '.') {
        const char *frac_start = ++p;
        while (p < end && (unsigned char)(*p - '0') < 10)
            mant = mant * 10 + (uint64_t)(*p++ - '0');
        frac = (size_t)(p - frac_start);
        digits += frac;
    }
    if (!digits)
        return 0;
    long exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        bool eneg = false;
        if (q < end && (*q == '+' || *q == '-'))
            eneg = *q++ == '-';
        if (q >= end || (unsigned char)(*q - '0') >= 10)
            return 0;
        for (; q < end && (unsigned char)(*q - '0') < 10; q++)
            if (exp < 100000)
                exp = exp * 10 + (*q - '0');
        exp = eneg ? -exp : exp;
        p = q;
    }
    size_t len = (size_t)(p - s);
    long e10 = exp - (long)frac;
    /* Clinger: an exact mantissa (19 digits cannot have wrapped, and below
     * 2^53 it converts exactly) times or over an exact power of ten is one
     * correctly rounded operation */
    if (digits <= 19 && mant < ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        double v = (double)mant;
        v = e10 < 0 ? v / pow10_exact[-e10] : v * pow10_exact[e10];
        *out = neg ? -v : v;
        return len;
    }
    return slow_path(s, len, out) ? len : 0;
}

size_t decimal_parse_prefix_portable(const char *s, size_t n, double *out)
{
    size_t k = n >= 18 ? parse_short(s, out) : 0;
    return k ? k : parse_general(s, n, out);
}

#ifdef HAVE_PARSE16
/* Whether this CPU runs parse16 (the first call looks). */
static bool have_parse16(void)
{
    int state = __atomic_load_n(&parse16_state, __ATOMIC_ACQUIRE);
    if (!state) {
        pthread_once(&parse16_once, parse16_init);
        state = __atomic_load_n(&parse16_state, __ATOMIC_ACQUIRE);
    }
    return state == 1;
}

/* decimal_parse_prefix with the 16-byte reader, inlined into its callers. */
__attribute__((target("ssse3,sse4.1"))) static inline size_t parse_any16(const char *s, size_t n,
                                                                         double *out)
{
    size_t k = n >= 17 ? parse16(s, out) : 0;
    return k ? k : parse_general(s, n, out);
}
#endif

size_t decimal_parse_prefix(const char *s, size_t n, double *out)
{
#ifdef HAVE_PARSE16
    if (have_parse16())
        return parse_any16(s, n, out);
#endif
    return decimal_parse_prefix_portable(s, n, out);
}

/* The fields of a line, each read whole by decimal_parse_prefix and ended
 * by a comma (the last by the end of the line). */
static bool fields_each(const char *line, size_t n, size_t width, double *out)
{
    const char *p = line, *end = line + n;
    for (size_t f = 0; f < width; f++) {
        size_t k = decimal_parse_prefix(p, (size_t)(end - p), &out[f]);
        if (!k)
            return false;
        p += k;
        if (f + 1 < width) {
            if (p == end || *p != ',')
                return false;
            p++;
        } else if (p != end) {
            return false;
        }
    }
    return true;
}

#ifdef HAVE_PARSE16
/* The commas of a line are found first, 16 bytes a compare, so that where
 * each field starts does not wait for the field before it to be read: the
 * numbers' conversions overlap instead of queueing behind each other. */
#define COMMA_WORDS 64 /* lines up to 4,096 bytes; longer ones field by field */

__attribute__((target("ssse3,sse4.1"))) static bool fields16(const char *line, size_t n,
                                                              size_t width, double *out)
{
    if (n > COMMA_WORDS * 64)
        return fields_each(line, n, width, out);
    uint64_t comma[COMMA_WORDS];
    size_t words = (n + 63) / 64, i = 0;
    memset(comma, 0, words * sizeof *comma);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(line + i));
        uint64_t m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')));
        comma[i >> 6] |= m << (i & 63);
    }
    for (; i < n; i++)
        if (line[i] == ',')
            comma[i >> 6] |= 1ULL << (i & 63);
    size_t start = 0, k = 0;
    uint64_t w = words ? comma[0] : 0;
    for (size_t f = 0; f < width; f++) {
        while (!w && ++k < words)
            w = comma[k];
        size_t end = w ? (k << 6) + (size_t)__builtin_ctzll(w) : n; /* past the last: n */
        w &= w - 1;
        if ((f + 1 < width) != (end < n))
            return false; /* too few or too many fields */
        if (end == start || parse_any16(line + start, n - start, &out[f]) != end - start)
            return false;
        start = end + 1;
    }
    return true;
}
#endif

/* ---- whole lines ----
 *
 * A line's bytes are classified -- commas, points, signs, the line end,
 * anything else -- into bitmaps, 64 bytes at a time with AVX-512 or 16 with
 * SSSE3/SSE4.1; where each field ends and where its point is are listed from
 * them, and each number is parse16's conversion without parse16's search for
 * its end (eight numbers a step with AVX-512). Any line this does not take
 * (an exponent, more than 15 digits, a quote, a CR inside, the buffer's last
 * bytes) goes to decimal_parse_fields, so the answers are the same; only the
 * time differs: 3.7 ns a number on the benchmark's lines with AVX-512 and
 * VBMI2, 8.5 with the 16-byte classifier, 10.8 finding each line with memchr
 * and calling decimal_parse_fields, which batch scoring did before
 * (docs/decisions/0016). */
#ifdef HAVE_PARSE16

/* A classified line: where each field ends (the last at the LF) and which
 * bytes are points. ends and dots have room for the flatteners' extra
 * writes (up to 16 entries past the count). */
#define LINE_FIELDS_MAX (DECIMAL_LINE_MAX / 2 + 1) /* of one byte each */
struct line_marks {
    size_t len, fields;
    uint64_t carry; /* a field starts at the next word's first byte */
    uint64_t dot[DECIMAL_LINE_MAX / 64 + 1];
    uint32_t ends[LINE_FIELDS_MAX + 16];
    /* where the points are, while there are no more than fields asked for
     * (past that, n_dots is LINE_FIELDS_MAX + 1): one a field is the common
     * line, read without looking at the bitmaps again */
    uint32_t dots[LINE_FIELDS_MAX + 16];
    size_t n_dots;
    bool signs; /* a field starts with '-' or '+' */
};

/* An empty classification, before a line's first block. */
static inline void marks_reset(struct line_marks *m)
{
    m->fields = m->n_dots = 0;
    m->signs = false;
    m->carry = 1; /* a field starts at the line's first byte */
}

/* Where each 1 bit of m is, plus base, into pos[0..popcount(m)): eight are
 * written whatever the count, so that the loop is not a branch per bit. */
static inline void flatten(uint64_t m, uint32_t base, uint32_t *pos)
{
    size_t cnt = (size_t)__builtin_popcountll(m);
    for (size_t i = 0; i < 8; i++) {
        pos[i] = base + (uint32_t)__builtin_ctzll(m | (1ULL << 63));
        m &= m - 1;
    }
    for (size_t i = 8; i < cnt; i++) {
        pos[i] = base + (uint32_t)__builtin_ctzll(m);
        m &= m - 1;
    }
}

/* Takes the classes of bytes i..i+63 (1 bits: commas, points, LFs, CRs,
 * signs, and bytes that are a digit or any of those but CR). -1: not a line of
 * plain numbers of at most `width` fields; 1: the line ended in this block;
 * 0: read on. The block's field ends and points (0 when no longer counted)
 * are left in *ends and *dots for the caller to flatten, the counts already
 * taken. Inlined into each classifier. */
static inline int mark_block(struct line_marks *m, size_t i, size_t width, uint64_t comma,
                             uint64_t point, uint64_t lf, uint64_t cr, uint64_t sign,
                             uint64_t known, uint64_t *ends_out, uint64_t *dots_out)
{
    uint64_t first_lf = lf & -lf;
    uint64_t eol = cr & (first_lf >> 1) ? first_lf >> 1 : first_lf; /* the CR of a CRLF */
    uint64_t below = eol - 1; /* the line's bytes (all of them without an end) */
    uint64_t starts = comma << 1 | m->carry;
    m->carry = comma >> 63;
    if ((~known | (sign & ~starts)) & below)
        return -1; /* a byte no plain number has, or a sign inside a field */
    m->signs |= (sign & below) != 0;
    uint64_t ends = (comma & below) | eol;
    size_t fields = m->fields + (size_t)__builtin_popcountll(ends);
    if (fields > width || fields > LINE_FIELDS_MAX)
        return -1; /* more fields than asked for, or some empty */
    m->fields = fields;
    *ends_out = ends;
    m->dot[i / 64] = point & below;
    size_t dots = m->n_dots + (size_t)__builtin_popcountll(point & below);
    bool counted = m->n_dots <= width && dots <= width && dots <= LINE_FIELDS_MAX;
    m->n_dots = counted ? dots : LINE_FIELDS_MAX + 1;
    *dots_out = counted ? point & below : 0;
    if (!lf)
        return 0;
    m->len = i + (size_t)__builtin_ctzll(eol);
    m->dot[i / 64 + 1] = 0; /* the field loop's window reads one word on */
    return 1;
}

/* The line at p classified 16 bytes a compare; false where mark_block
 * refuses it or its LF is not within the whole 64-byte blocks of n. */
__attribute__((target("ssse3,sse4.1,popcnt"))) static bool classify16(const char *p, size_t n,
                                                                      size_t width,
                                                                      struct line_marks *m)
{
    marks_reset(m);
    for (size_t i = 0; i + 64 <= n; i += 64) {
        uint64_t comma = 0, point = 0, lf = 0, cr = 0, sign = 0, known = 0;
        for (unsigned k = 0; k < 4; k++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(p + i + 16 * k));
            __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
            __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
            __m128i c = _mm_cmpeq_epi8(v, _mm_set1_epi8(','));
            __m128i pt = _mm_cmpeq_epi8(v, _mm_set1_epi8('.'));
            __m128i l = _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'));
            __m128i r = _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'));
            __m128i s = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('+')));
            __m128i any = _mm_or_si128(_mm_or_si128(digit, c), _mm_or_si128(_mm_or_si128(pt, l), s));
            comma |= (uint64_t)(unsigned)_mm_movemask_epi8(c) << (16 * k);
            point |= (uint64_t)(unsigned)_mm_movemask_epi8(pt) << (16 * k);
            lf |= (uint64_t)(unsigned)_mm_movemask_epi8(l) << (16 * k);
            cr |= (uint64_t)(unsigned)_mm_movemask_epi8(r) << (16 * k);
            sign |= (uint64_t)(unsigned)_mm_movemask_epi8(s) << (16 * k);
            known |= (uint64_t)(unsigned)_mm_movemask_epi8(any) << (16 * k);
        }
        size_t fields = m->fields, dots = m->n_dots;
        uint64_t ends_at, dots_at;
        int st = mark_block(m, i, width, comma, point, lf, cr, sign, known, &ends_at, &dots_at);
        if (st < 0)
            return false;
        flatten(ends_at, (uint32_t)i, m->ends + fields);
        if (dots_at)
            flatten(dots_at, (uint32_t)i, m->dots + dots);
        if (st)
            return true;
    }
    return false;
}

/* flatten with AVX-512: the positions of each 16 bits' 1s packed by one
 * compress, 16 entries written whatever the count. */
__attribute__((target("avx512f"))) static inline void flatten64(uint64_t m, uint32_t base,
                                                                uint32_t *pos)
{
    __m512i at = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                    13, 14, 15),
                                  _mm512_set1_epi32((int)base));
    for (unsigned k = 0; k < 4; k++, m >>= 16) {
        __mmask16 bits = (__mmask16)m;
        _mm512_storeu_si512((void *)pos, _mm512_maskz_compress_epi32(bits, at));
        pos += __builtin_popcount(bits);
        at = _mm512_add_epi32(at, _mm512_set1_epi32(16));
    }
}

/* flatten with AVX-512 VBMI2: the positions of all 64 bits' 1s packed as
 * bytes by one compress, then widened 16 at a time. */
__attribute__((target("avx512f,avx512bw,avx512vbmi2"))) static inline void
flatten64b(uint64_t m, uint32_t base, uint32_t *pos)
{
    const __m512i at = _mm512_set_epi8(
        63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42,
        41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20,
        19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i packed = _mm512_maskz_compress_epi8(m, at), b = _mm512_set1_epi32((int)base);
    _mm512_storeu_si512((void *)pos,
                        _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(packed)), b));
    for (int k = 1, groups = (__builtin_popcountll(m) + 15) / 16; k < groups; k++) {
        __m128i bytes = k == 1 ? _mm512_extracti32x4_epi32(packed, 1)
                      : k == 2 ? _mm512_extracti32x4_epi32(packed, 2)
                               : _mm512_extracti32x4_epi32(packed, 3);
        _mm512_storeu_si512((void *)(pos + 16 * k), _mm512_add_epi32(_mm512_cvtepu8_epi32(bytes), b));
    }
}

/* mark_block for the 64 bytes at p + i, classified by one load and compares
 * straight into bitmaps. */
__attribute__((target("avx512f,avx512bw,popcnt"))) static inline int
mark_block64(struct line_marks *m, const char *p, size_t i, size_t width, uint64_t *ends_at,
             uint64_t *dots_at)
{
    __m512i v = _mm512_loadu_si512((const void *)(p + i));
    uint64_t comma = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(','));
    uint64_t point = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('.'));
    uint64_t lf = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\n'));
    uint64_t cr = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\r'));
    uint64_t sign = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('-')) |
                    _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('+'));
    uint64_t digit = _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, _mm512_set1_epi8('0')),
                                            _mm512_set1_epi8(9));
    return mark_block(m, i, width, comma, point, lf, cr, sign, digit | comma | point | lf | sign,
                      ends_at, dots_at);
}

/* classify16 64 bytes a step, the lists made by flatten64b where the CPU
 * has VBMI2 (a quarter less time), else by flatten64; inlined into the two
 * below, one for each. */
__attribute__((target("avx512f,avx512bw,popcnt"), always_inline)) static inline bool
classify64_with(const char *p, size_t n, size_t width, struct line_marks *m, bool vbmi2)
{
    marks_reset(m);
    for (size_t i = 0; i + 64 <= n; i += 64) {
        size_t fields = m->fields, dots = m->n_dots;
        uint64_t ends_at, dots_at;
        int st = mark_block64(m, p, i, width, &ends_at, &dots_at);
        if (st < 0)
            return false;
        if (vbmi2) {
            flatten64b(ends_at, (uint32_t)i, m->ends + fields);
            if (dots_at)
                flatten64b(dots_at, (uint32_t)i, m->dots + dots);
        } else {
            flatten64(ends_at, (uint32_t)i, m->ends + fields);
            if (dots_at)
                flatten64(dots_at, (uint32_t)i, m->dots + dots);
        }
        if (st)
            return true;
    }
    return false;
}

__attribute__((target("avx512f,avx512bw,popcnt"))) static bool classify64(const char *p, size_t n,
                                                                          size_t width,
                                                                          struct line_marks *m)
{
    return classify64_with(p, n, width, m, false);
}

__attribute__((target("avx512f,avx512bw,avx512vbmi2,popcnt"))) static bool
classify64b(const char *p, size_t n, size_t width, struct line_marks *m)
{
    return classify64_with(p, n, width, m, true);
}

/* digits_value16 of the field at s, from at least 16 readable bytes. */
__attribute__((target("ssse3,sse4.1"))) static inline double field_value(const char *s,
                                                                          unsigned ni,
                                                                          unsigned nf)
{
    __m128i d = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)s), _mm_set1_epi8('0'));
    return digits_value16(d, ni, nf);
}

/* The classified line's numbers into out[0..width); false at a field that is
 * not [+-]digits[.digits] of 1 to 15 digits (or two points). p has at least
 * 17 readable bytes past the last field's start. */
__attribute__((target("ssse3,sse4.1"))) static bool line_values(const char *p,
                                                                const struct line_marks *m,
                                                                size_t width, size_t done,
                                                                double *out)
{
    size_t start = done ? m->ends[done - 1] + 1 : 0;
    if (m->n_dots == width) {
        /* as many points as fields: if each lies in its own field, the
         * fields are read without the bitmaps (if one does not, a field
         * before it may have had two, so all are read again below); the
         * first `done` have been read so already */
        size_t f = done;
        for (; f < width; f++) {
            size_t end = m->ends[f], at = m->dots[f] - start;
            const char *s = p + start;
            unsigned sign = *s == '-' || *s == '+';
            unsigned ni = (unsigned)at - sign, nf = (unsigned)(end - m->dots[f]) - 1;
            if (at >= end - start || ni + nf - 1 >= 15)
                break; /* the point is another field's, or no digit, or more than 15 */
            double x = field_value(s + sign, ni, nf);
            out[f] = *s == '-' ? -x : x;
            start = end + 1;
        }
        if (f == width)
            return true;
        start = 0;
    }
    for (size_t f = 0; f < width; f++) {
        size_t end = m->ends[f], flen = end - start;
        const char *s = p + start;
        unsigned sign = *s == '-' || *s == '+';
        /* the points among the field's bytes, from its start */
        unsigned sh = start & 63;
        uint64_t win = m->dot[start >> 6] >> sh | (m->dot[(start >> 6) + 1] << 1) << (63 - sh);
        win &= flen < 64 ? (1ULL << flen) - 1 : ~0ULL;
        unsigned at = win ? (unsigned)__builtin_ctzll(win) : (unsigned)flen;
        unsigned ni = at - sign, nf = win ? (unsigned)flen - at - 1 : 0;
        if ((win & (win - 1)) || ni + nf - 1 >= 15)
            return false; /* two points, no digit, or more than 15 */
        double x = field_value(s + sign, ni, nf);
        out[f] = *s == '-' ? -x : x;
        start = end + 1;
    }
    return true;
}

/* line_values' first loop for AVX-512, eight fields a step, on lines
 * without signs: their starts, points and digit counts as vectors, four
 * numbers converted in each 512-bit register (a 16-byte lane each, as
 * digits_value16 converts one), the eight mantissas converted and
 * divided together.
 * Returns how many fields it read: all when each had one point of its own
 * and 1 to 15 digits, else a multiple of 8, line_values reading the rest (or
 * all again). No gathers: they are slow where microcode guards them. */
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) static size_t
line_values8(const char *p, const struct line_marks *m, size_t width, double *out)
{
    if (m->n_dots != width || m->signs)
        return 0;
    /* 10^0..10^15, the divisors, held in two registers */
    const __m512d pow_lo = _mm512_loadu_pd(pow10_exact), pow_hi = _mm512_loadu_pd(pow10_exact + 8);
    const __m256i one = _mm256_set1_epi32(1);
    const __m512i w1 = _mm512_set1_epi16(0x010a); /* bytes 10, 1 */
    const __m512i w2 = _mm512_set1_epi32(0x00010064); /* words 100, 1 */
    const __m512i w3 = _mm512_set1_epi32(0x00012710); /* words 10000, 1 */
    __m256i prev = _mm256_set1_epi32(-1); /* the end before field 0, so that it starts at 0 */
    size_t f = 0;
    for (; f < width; f += 8) {
        __mmask8 lanes = width - f >= 8 ? 0xff : (__mmask8)((1u << (width - f)) - 1);
        __m256i end = _mm256_maskz_loadu_epi32(lanes, m->ends + f);
        __m256i start = _mm256_add_epi32(_mm256_alignr_epi32(end, prev, 7), one);
        prev = end;
        __m256i ni = _mm256_sub_epi32(_mm256_maskz_loadu_epi32(lanes, m->dots + f), start);
        __m256i flen = _mm256_sub_epi32(end, start);
        __m256i nf = _mm256_sub_epi32(_mm256_sub_epi32(flen, ni), one);
        __mmask8 ok = _mm256_cmplt_epu32_mask(ni, flen) &
                      _mm256_cmplt_epu32_mask(_mm256_sub_epi32(_mm256_add_epi32(ni, nf), one),
                                              _mm256_set1_epi32(15));
        if ((ok & lanes) != lanes)
            return f; /* line_values sees to it */
        /* a last step's missing fields: one digit at the line's start, not stored */
        __m256i shape = _mm256_add_epi32(_mm256_slli_epi32(ni, 4), nf);
        shape = _mm256_mask_mov_epi32(_mm256_set1_epi32(16), lanes, shape);
        start = _mm256_maskz_mov_epi32(lanes, start);
        nf = _mm256_maskz_mov_epi32(lanes, nf);
        uint32_t from[8], shapes[8];
        _mm256_storeu_si256((__m256i *)from, start);
        _mm256_storeu_si256((__m256i *)shapes, shape);
        __m512i mant[2];
        for (unsigned g = 0; g < 2; g++) {
            const uint32_t *fr = from + 4 * g, *sh = shapes + 4 * g;
            __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + fr[0])));
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + fr[1])), 1);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + fr[2])), 2);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + fr[3])), 3);
            const unsigned char(*lu)[16] = &lineup[0][0];
            __m512i k = _mm512_castsi128_si512(_mm_load_si128((const __m128i *)lu[sh[0]]));
            k = _mm512_inserti32x4(k, _mm_load_si128((const __m128i *)lu[sh[1]]), 1);
            k = _mm512_inserti32x4(k, _mm_load_si128((const __m128i *)lu[sh[2]]), 2);
            k = _mm512_inserti32x4(k, _mm_load_si128((const __m128i *)lu[sh[3]]), 3);
            v = _mm512_shuffle_epi8(_mm512_sub_epi8(v, _mm512_set1_epi8('0')), k);
            v = _mm512_madd_epi16(_mm512_maddubs_epi16(v, w1), w2); /* 4-digit groups */
            v = _mm512_madd_epi16(_mm512_packus_epi32(v, v), w3);   /* 8-digit halves */
            /* each lane's first quadword: high half x 10^8 + low half */
            mant[g] = _mm512_add_epi64(_mm512_mul_epu32(v, _mm512_set1_epi64(100000000)),
                                       _mm512_srli_epi64(v, 32));
        }
        __m512i mq = _mm512_permutex2var_epi64(
            mant[0], _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), mant[1]);
        /* below 2^53, converted exactly; then one correctly rounded division */
        __m512d pw = _mm512_permutex2var_pd(pow_lo, _mm512_cvtepu32_epi64(nf), pow_hi);
        _mm512_mask_storeu_pd(out + f, lanes, _mm512_div_pd(_mm512_cvtepu64_pd(mq), pw));
    }
    return width;
}
#endif

bool decimal_parse_fields(const char *line, size_t n, size_t width, double *out)
{
    if (!width)
        return false; /* a line has a field at least */
#ifdef HAVE_PARSE16
    if (have_parse16())
        return fields16(line, n, width, out);
#endif
    return fields_each(line, n, width, out);
}

/* The line found with memchr and read by decimal_parse_fields: what every
 * machine can do, and what the classifiers leave (lines past
 * DECIMAL_LINE_MAX bytes among them). */
static size_t line_by_fields(const char *p, size_t n, size_t width, double *out)
{
    const char *lf = memchr(p, '\n', n);
    size_t len = lf ? (size_t)(lf - p) : 0;
    len -= len && p[len - 1] == '\r';
    return len && decimal_parse_fields(p, len, width, out) ? len : 0;
}

size_t decimal_parse_line_using(const char *p, size_t n, size_t width, double *out,
                                enum decimal_reader reader)
{
    if (!width)
        return 0;
#ifdef HAVE_PARSE16
    if (reader != DECIMAL_READ_PORTABLE && have_parse16()) {
        struct line_marks m;
        size_t reach = n < DECIMAL_LINE_MAX ? n : DECIMAL_LINE_MAX;
        bool wide = reader >= DECIMAL_READ_64 && have_line64;
        bool marked = !wide ? classify16(p, reach, width, &m)
                      : reader == DECIMAL_READ_64_VBMI2 && have_vbmi2
                          ? classify64b(p, reach, width, &m)
                          : classify64(p, reach, width, &m);
        if (marked && m.fields == width && m.ends[width - 1] + 17 <= n) {
            size_t done = wide ? line_values8(p, &m, width, out) : 0;
            if (line_values(p, &m, width, done, out))
                return m.len;
        }
    }
#endif
    return line_by_fields(p, n, width, out);
}

size_t decimal_parse_line(const char *p, size_t n, size_t width, double *out)
{
    return decimal_parse_line_using(p, n, width, out, DECIMAL_READ_64_VBMI2);
}

/* ---- double to shortest decimal ----
 *
 * The exact method (Steele & White's), in 128-bit integers: v = m * 2^e is
 * the centre of the interval of reals that round to it, whose ends are
 * v -/+ half an ulp. Scaled by 10^q so that v * 10^q has 17 integer digits,
 * the interval spans at least one integer; the shortest decimal is the
 * multiple of the largest power of ten inside it, and among several such
 * multiples the one nearest v. Every quantity is exact: 4m + 2 < 2^55 and
 * 10^21 < 2^70 keep the products below 2^128, which bounds the range this
 * handles (10^q for q <= 21 and a right shift, so roughly 2e-5 <= v < 1e16,
 * normal doubles only); the caller formats anything else another way. */

typedef unsigned __int128 u128;

static const uint64_t pow10_u64[] = {1ULL,
                                     10ULL,
                                     100ULL,
                                     1000ULL,
                                     10000ULL,
                                     100000ULL,
                                     1000000ULL,
                                     10000000ULL,
                                     100000000ULL,
                                     1000000000ULL,
                                     10000000000ULL,
                                     100000000000ULL,
                                     1000000000000ULL,
                                     10000000000000ULL,
                                     100000000000000ULL,
                                     1000000000000000ULL,
                                     10000000000000000ULL,
                                     100000000000000000ULL,
                                     1000000000000000000ULL,
                                     10000000000000000000ULL};
#define POW10_20 ((u128)10000000000000000000ULL * 10)
static const u128 pow10_wide[] = {POW10_20, POW10_20 * 10};

static u128 pow10_u128(int q)
{
    return q < 20 ? (u128)pow10_u64[q] : pow10_wide[q - 20];
}

/* "00".."99", for writing digits two at a time */
static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                                  "34353637383940414243444546474849505152535455565758596061626364656667"
                                  "6869707172737475767778798081828384858687888990919293949596979899";

/* x * 10^q / 2^s: its floor, whether it was exact, and its fraction
 * against one half (-1, 0, 1). */
static uint64_t scaled(uint64_t x, u128 p10, int s, bool *exact, int *vs_half)
{
    u128 prod = (u128)x * p10;
    u128 rem = prod & (((u128)1 << s) - 1), half = (u128)1 << (s - 1);
    *exact = rem == 0;
    *vs_half = rem < half ? -1 : rem > half;
    return (uint64_t)(prod >> s);
}

bool decimal_shortest(double v, struct decimal_digits *out)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    out->negative = bits >> 63;
    int biased = (int)((bits >> 52) & 0x7ff);
    uint64_t frac = bits & ((1ULL << 52) - 1);
    if (biased == 0 || biased == 0x7ff)
        return false; /* zero, subnormal, inf, nan: not this path's */
    uint64_t m = frac | (1ULL << 52);
    int e = biased - 1075; /* |v| = m * 2^e */
    /* in units of 2^(e-2): v = 4m, the ends 4m -/+ 2 (the lower one is
     * closer, 4m - 1, when m is a power of two above the smallest normal) */
    uint64_t vx = 4 * m, lx = frac == 0 && biased > 1 ? 4 * m - 1 : 4 * m - 2, hx = 4 * m + 2;
    int s = 2 - e;
    if (s <= 0 || s >= 127)
        return false;
    /* q so that |v| * 10^q lies in [1e16, 1e18): q = 16 - floor(exp2 *
     * log10 2), taken from the binary exponent alone and never corrected.
     * None is needed: the multiply-shift below gives that floor exactly for
     * every exponent a double has (-1074..1023, checked one by one), and
     * 2^exp2 <= |v| < 2^(exp2 + 1) then puts |v| * 10^q in [1e16, 2e17) */
    int exp2 = e + 52;
    int est = (int)((exp2 * 78913L) >> 18); /* floor(exp2 * log10 2); 78913 / 2^18 ~ log10 2 */
    int q = 16 - est;
    if (q < 0 || q > 21)
        return false;
    const u128 p10 = pow10_u128(q);
    bool vexact, lexact, hexact;
    int vhalf, ignored;
    uint64_t vi = scaled(vx, p10, s, &vexact, &vhalf);
    uint64_t li = scaled(lx, p10, s, &lexact, &ignored);
    uint64_t hi = scaled(hx, p10, s, &hexact, &ignored);
    bool inclusive = (m & 1) == 0; /* ties round to even: an even v owns its ends */
    uint64_t a = lexact && inclusive ? li : li + 1, b = hexact && !inclusive ? hi - 1 : hi;
    /* the largest k with a multiple of 10^k in [a, b]: [ak, bk] is [a, b]
     * in units of 10^k, rounded inwards; a power that fits implies every
     * smaller one does, so the steps can be taken largest first (divisions
     * by constants, which compile to multiplications) */
    int k = 0;
    uint64_t ak = a, bk = b;
#define SHORTEN(P, STEP)                                                                          \
    while ((ak + (P) - 1) / (P) <= bk / (P)) {                                                    \
        ak = (ak + (P) - 1) / (P);                                                                \
        bk /= (P);                                                                                \
        k += (STEP);                                                                              \
    }
    SHORTEN(100000000ULL, 8)
    SHORTEN(10000ULL, 4)
    SHORTEN(100ULL, 2)
    SHORTEN(10ULL, 1)
#undef SHORTEN
    /* the multiple nearest v: v * 10^q / 10^k rounded, kept inside [ak, bk] */
    uint64_t pk = pow10_u64[k];
    uint64_t d = vi / pk, r = vi % pk;
    if (k == 0) {
        if (vhalf > 0 || (vhalf == 0 && (d & 1)))
            d++;
    } else if (r > pk / 2 || (r == pk / 2 && (!vexact || (d & 1)))) {
        d++;
    }
    if (d < ak)
        d = ak;
    if (d > bk)
        d = bk;
    /* digits, trailing zeros dropped */
    int exp10 = k - q;
    while (d % 10 == 0) {
        d /= 10;
        exp10++;
    }
    /* its digit count from its bit length (d < 10^18), and the digits
     * written eight at a time in two independent halves: a float32
     * prediction widened to a double has 16 or 17 of them */
    int t = ((64 - __builtin_clzll(d)) * 1233) >> 12; /* ~ log10 of 2^bits */
    int n = t + 1 - (d < pow10_u64[t]);
    char *o = out->digits + n;
    while (d >= 100000000) {
        uint32_t low = (uint32_t)(d % 100000000), a4 = low / 10000, b4 = low % 10000;
        d /= 100000000;
        o -= 8;
        memcpy(o, digit_pairs + 2 * (a4 / 100), 2);
        memcpy(o + 2, digit_pairs + 2 * (a4 % 100), 2);
        memcpy(o + 4, digit_pairs + 2 * (b4 / 100), 2);
        memcpy(o + 6, digit_pairs + 2 * (b4 % 100), 2);
    }
    while (d >= 100) {
        o -= 2;
        memcpy(o, digit_pairs + 2 * (d % 100), 2);
        d /= 100;
    }
    if (d >= 10) {
        o -= 2;
        memcpy(o, digit_pairs + 2 * d, 2);
    } else {
        *--o = (char)('0' + d);
    }
    out->n = n;
    out->exp10 = exp10 + n - 1; /* of the first digit */
    return true;
}
