/*
 * jparse.c -- the request-body JSON parser (see jparse.h).
 *
 * It replaces jansson on the request path, where a log-batch body of a
 * thousand metrics spent most of its parse time in per-node allocation and a
 * character-at-a-time lexer. Here a body becomes one tree in the request
 * arena: each string is copied once, numbers are converted in place, and the
 * children of an open array or object wait on a scratch stack until it
 * closes, when they are copied into a single arena block of the exact size.
 */
#include "util/jparse.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/hex.h"

/* Scratch stack that lives in jp_parse's frame, so that a small request
 * never reaches malloc. 2 KiB holds 85 array items or 51 object members. */
#define JP_LOCAL_STACK 2048

struct jp {
    struct karena *a;
    const unsigned char *end;
    unsigned char *stk; /* children of the open containers, innermost last */
    size_t sp, cap;
    size_t max; /* no valid document of this input's length needs more */
    bool heap;  /* stk was malloc'd, rather than jp_parse's local buffer */
    const char *err;
};

/* Records why the parse stopped; the first reason wins because later ones
 * are consequences of it. */
static bool bad(struct jp *j, const char *why)
{
    if (!j->err)
        j->err = why;
    return false;
}

/* bad() for the steps that return the input position. */
static const unsigned char *fail(struct jp *j, const char *why)
{
    bad(j, why);
    return NULL;
}

/* 1 for the bytes a string may hold as they are: printable ASCII other than
 * '"' and '\\'. Everything else needs a closer look. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0 */
};

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Skips plain bytes eight at a time: a word is skipped only when none of
 * its bytes is a control character, '"', '\\' or non-ASCII. */
static inline const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end)
{
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
        /* Each term sets the high bit of a byte that needs the byte-wise
         * path: q - ONES and b - ONES of a '"' or '\\' (zero in q or b),
         * w - 0x20s of a control byte, w itself of a non-ASCII one. Their
         * stray bits (borrows, bytes >= 0x81 in q or b) only ever come with
         * such a byte, so a word of plain bytes alone always passes. */
        if (((w - ONES * 0x20) | (q - ONES) | (b - ONES) | w) & HIGHS)
            break;
        p += 8;
    }
    while (p < end && plain[*p])
        p++;
    return p;
}

size_t jp_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0xC2)
        return 0; /* continuation byte, or a 2-byte overlong lead */
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                       (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = keel_hex_digit((char)p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Decodes the string body from p (just past an escape-free prefix already
 * copied to d) up to the closing quote at q. Every escape is at least as
 * long as the UTF-8 it stands for, so d, sized for the raw text, cannot
 * overflow. On success *dp is the end of the written bytes. */
static bool decode_escaped(struct jp *j, const unsigned char *p, const unsigned char *q,
                           char **dp)
{
    char *d = *dp;
    while (p < q) {
        unsigned c = *p;
        if (plain[c]) {
            const unsigned char *run = skip_plain(p, q);
            memcpy(d, p, (size_t)(run - p));
            d += run - p;
            p = run;
            continue;
        }
        if (c >= 0x80) {
            size_t k = jp_utf8_seq(p, q);
            if (!k)
                return bad(j, "invalid UTF-8 in string");
            memcpy(d, p, k);
            d += k;
            p += k;
            continue;
        }
        if (c != '\\')
            return bad(j, "control character in string");
        if (q - p < 2)
            return bad(j, "invalid escape in string");
        switch (p[1]) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '/': *d++ = '/'; break;
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u': {
            int cp = q - p >= 6 ? hex4(p + 2) : -1;
            if (cp < 0)
                return bad(j, "invalid \\u escape in string");
            if (cp == 0)
                return bad(j, "\\u0000 is not allowed in a string");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return bad(j, "lone UTF-16 surrogate in string");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = q - p >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return bad(j, "lone UTF-16 surrogate in string");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            if (cp < 0x80) {
                *d++ = (char)cp;
            } else if (cp < 0x800) {
                *d++ = (char)(0xC0 | cp >> 6);
                *d++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *d++ = (char)(0xE0 | cp >> 12);
                *d++ = (char)(0x80 | (cp >> 6 & 0x3F));
                *d++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *d++ = (char)(0xF0 | cp >> 18);
                *d++ = (char)(0x80 | (cp >> 12 & 0x3F));
                *d++ = (char)(0x80 | (cp >> 6 & 0x3F));
                *d++ = (char)(0x80 | (cp & 0x3F));
            }
            p += 4;
            break;
        }
        default:
            return bad(j, "invalid escape in string");
        }
        p += 2;
    }
    *dp = d;
    return true;
}

/* p is just past the opening quote. Stores the arena copy and its length;
 * returns the position after the closing quote, or NULL. */
static const unsigned char *parse_string(struct jp *j, const unsigned char *p, const char **out,
                                         size_t *out_n)
{
    const unsigned char *s = p, *end = j->end;
    for (;;) {
        p = skip_plain(p, end);
        if (p == end)
            return fail(j, "unterminated string");
        if (*p == '"' || *p == '\\')
            break;
        if (*p < 0x20)
            return fail(j, "control character in string");
        size_t k = jp_utf8_seq(p, end);
        if (!k)
            return fail(j, "invalid UTF-8 in string");
        p += k;
    }
    if (*p == '"') {
        size_t n = (size_t)(p - s);
        char *d = karena_alloc(j->a, n + 1);
        if (!d)
            return fail(j, "out of memory");
        memcpy(d, s, n);
        d[n] = '\0';
        *out = d;
        *out_n = n;
        return p + 1;
    }
    /* An escape: find the closing quote first, so one allocation sized for
     * the raw text holds the decoded string. */
    const unsigned char *q = p;
    while (q < end && *q != '"') {
        if (*q == '\\' && end - q < 2)
            return fail(j, "unterminated string");
        q += *q == '\\' ? 2 : 1;
    }
    if (q == end)
        return fail(j, "unterminated string");
    char *d = karena_alloc(j->a, (size_t)(q - s) + 1);
    if (!d)
        return fail(j, "out of memory");
    memcpy(d, s, (size_t)(p - s));
    char *e = d + (p - s);
    if (!decode_escaped(j, p, q, &e))
        return NULL;
    *e = '\0';
    *out = d;
    *out_n = (size_t)(e - d);
    return q + 1;
}

/* Powers of ten that a double holds exactly. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static const unsigned char *parse_number(struct jp *j, const unsigned char *p, struct jval *out)
{
    const unsigned char *start = p, *end = j->end;
    bool neg = false, whole = true, exact = true;
    uint64_t m = 0; /* all the digits, integer and fraction, while they fit */
    int frac = 0;   /* fraction digits taken into m */
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p == end || (unsigned)(*p - '0') > 9)
        return fail(j, "invalid number");
    if (*p == '0') {
        p++;
        if (p < end && (unsigned)(*p - '0') <= 9)
            return fail(j, "invalid number: leading zero");
    } else {
        for (; p < end && (unsigned)(*p - '0') <= 9; p++) {
            unsigned dg = *p - '0';
            if (m > (UINT64_MAX - dg) / 10)
                exact = false;
            else if (exact)
                m = m * 10 + dg;
        }
    }
    int ex = 0;
    if (p < end && *p == '.') {
        whole = false;
        p++;
        if (p == end || (unsigned)(*p - '0') > 9)
            return fail(j, "invalid number: no digits after '.'");
        for (; p < end && (unsigned)(*p - '0') <= 9; p++) {
            unsigned dg = *p - '0';
            if (m > (UINT64_MAX - dg) / 10)
                exact = false;
            else if (exact) {
                m = m * 10 + dg;
                frac++;
            }
        }
    }
    if (p < end && (*p | 0x20) == 'e') {
        whole = false;
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == end || (unsigned)(*p - '0') > 9)
            return fail(j, "invalid number: no digits in exponent");
        for (; p < end && (unsigned)(*p - '0') <= 9; p++)
            if (ex < 100000) /* only strtod sees it past the fast path's range */
                ex = ex * 10 + (*p - '0');
        if (eneg)
            ex = -ex;
    }
    size_t lit_len = (size_t)(p - start);
    out->lit = lit_len <= JP_LIT_MAX ? (const char *)start : NULL;
    out->lit_len = out->lit ? (uint32_t)lit_len : 0;
    if (whole && exact && m <= (uint64_t)INT64_MAX + neg) {
        out->type = J_INT;
        out->u.i = !neg ? (int64_t)m : m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
        return p;
    }
    out->type = J_REAL;
    /* Clinger's fast path: an exact mantissa times or divided by an exact
     * power of ten is one correctly rounded operation, so the result is
     * strtod's -- provided doubles are computed as doubles (no x87). */
    int e10 = ex - frac;
    if (FLT_EVAL_METHOD == 0 && exact && m <= (1ull << 53) && e10 >= -22 && e10 <= 22) {
        double d = (double)m;
        d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
        out->u.d = neg ? -d : d;
        return p;
    }
    /* strtod needs a terminated copy: the input need not end after the token */
    size_t n = (size_t)(p - start);
    char local[64];
    char *buf = n < sizeof local ? local : karena_alloc(j->a, n + 1);
    if (!buf)
        return fail(j, "out of memory");
    memcpy(buf, start, n);
    buf[n] = '\0';
    out->u.d = strtod(buf, NULL);
    if (isinf(out->u.d))
        return fail(j, "real number overflow");
    return p;
}

static bool stk_grow(struct jp *j, size_t n)
{
    if (n > j->max - j->sp)
        return bad(j, "document too large");
    size_t need = j->sp + n;
    size_t cap = j->cap * 2 > need ? j->cap * 2 : need;
    if (cap > j->max)
        cap = j->max;
    unsigned char *s;
    if (j->heap) {
        s = realloc(j->stk, cap);
    } else {
        s = malloc(cap);
        if (s)
            memcpy(s, j->stk, j->sp);
    }
    if (!s)
        return bad(j, "out of memory");
    j->stk = s;
    j->cap = cap;
    j->heap = true;
    return true;
}

/* Room for n bytes on the scratch stack. The pointer is good until the next
 * push, so callers build the child first and push it whole. */
static inline void *stk_push(struct jp *j, size_t n)
{
    if (j->cap - j->sp < n && !stk_grow(j, n))
        return NULL;
    void *p = j->stk + j->sp;
    j->sp += n;
    return p;
}

/* Moves the children pushed since base into an arena block of their own. */
static const void *stk_pop(struct jp *j, size_t base)
{
    size_t n = j->sp - base;
    void *d = karena_alloc(j->a, n);
    if (!d) {
        bad(j, "out of memory");
        return NULL;
    }
    memcpy(d, j->stk + base, n);
    j->sp = base;
    return d;
}

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static const unsigned char *parse_value(struct jp *j, const unsigned char *p, struct jval *out,
                                        int depth);

/* p is just past the '['. */
static const unsigned char *parse_array(struct jp *j, const unsigned char *p, struct jval *out,
                                        int depth)
{
    const unsigned char *end = j->end;
    if (depth > JP_MAX_DEPTH)
        return fail(j, "nested too deeply");
    out->type = J_ARRAY;
    out->n = 0;
    out->u.items = NULL;
    p = skip_ws(p, end);
    if (p < end && *p == ']')
        return p + 1;
    size_t base = j->sp;
    for (;;) {
        struct jval v;
        p = parse_value(j, p, &v, depth);
        if (!p)
            return NULL;
        struct jval *slot = stk_push(j, sizeof v);
        if (!slot)
            return NULL;
        *slot = v;
        p = skip_ws(p, end);
        if (p == end)
            return fail(j, "unterminated array");
        if (*p == ']')
            break;
        if (*p != ',')
            return fail(j, "expected ',' or ']' in array");
        p++;
    }
    out->n = (j->sp - base) / sizeof(struct jval);
    out->u.items = stk_pop(j, base);
    return out->u.items ? p + 1 : NULL;
}

/* p is just past the '{'. */
static const unsigned char *parse_object(struct jp *j, const unsigned char *p, struct jval *out,
                                         int depth)
{
    const unsigned char *end = j->end;
    if (depth > JP_MAX_DEPTH)
        return fail(j, "nested too deeply");
    out->type = J_OBJECT;
    out->n = 0;
    out->u.members = NULL;
    p = skip_ws(p, end);
    if (p < end && *p == '}')
        return p + 1;
    size_t base = j->sp;
    for (;;) {
        struct jmember m;
        if (p == end || *p != '"')
            return fail(j, "expected a string key in object");
        p = parse_string(j, p + 1, &m.key, &m.key_len);
        if (!p)
            return NULL;
        p = skip_ws(p, end);
        if (p == end || *p != ':')
            return fail(j, "expected ':' after object key");
        p = parse_value(j, p + 1, &m.val, depth);
        if (!p)
            return NULL;
        struct jmember *slot = stk_push(j, sizeof m);
        if (!slot)
            return NULL;
        *slot = m;
        p = skip_ws(p, end);
        if (p == end)
            return fail(j, "unterminated object");
        if (*p == '}')
            break;
        if (*p != ',')
            return fail(j, "expected ',' or '}' in object");
        p = skip_ws(p + 1, end);
    }
    out->n = (j->sp - base) / sizeof(struct jmember);
    out->u.members = stk_pop(j, base);
    return out->u.members ? p + 1 : NULL;
}

static const unsigned char *literal(struct jp *j, const unsigned char *p, const char *word,
                                    size_t n, enum jtype t, struct jval *out)
{
    if ((size_t)(j->end - p) < n || memcmp(p, word, n) != 0)
        return fail(j, "invalid literal");
    out->type = t;
    out->n = 0;
    out->u.i = 0;
    return p + n;
}

/* depth counts the containers around this value; recursion goes no deeper
 * than JP_MAX_DEPTH because parse_array/parse_object refuse past it. */
static const unsigned char *parse_value(struct jp *j, const unsigned char *p, struct jval *out,
                                        int depth)
{
    p = skip_ws(p, j->end);
    if (p == j->end)
        return fail(j, "unexpected end of input");
    out->lit_len = 0; /* a number sets its own */
    switch (*p) {
    case '"':
        out->type = J_STRING;
        return parse_string(j, p + 1, &out->u.s, &out->n);
    case '{':
        return parse_object(j, p + 1, out, depth + 1);
    case '[':
        return parse_array(j, p + 1, out, depth + 1);
    case 't':
        return literal(j, p, "true", 4, J_TRUE, out);
    case 'f':
        return literal(j, p, "false", 5, J_FALSE, out);
    case 'n':
        return literal(j, p, "null", 4, J_NULL, out);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(j, p, out);
    default:
        return fail(j, "unexpected character");
    }
}

const struct jval *jp_parse(struct karena *a, const char *text, size_t len, const char **err)
{
    _Alignas(16) unsigned char local[JP_LOCAL_STACK];
    struct jp j = {.a = a, .stk = local, .cap = sizeof local};
    const unsigned char *p = (const unsigned char *)text;
    const struct jval *res = NULL;
    /* Each array item takes at least 2 bytes of input ("0,") and 24 on the
     * stack, each member at least 5 ("\"\":0,") and 40, so 12 stack bytes
     * per input byte is more than any valid document can use. */
    if (len > (SIZE_MAX - 64) / 12) {
        bad(&j, "document too large");
        goto out;
    }
    j.max = 12 * len + 64;
    if (!text) {
        bad(&j, "unexpected end of input");
        goto out;
    }
    j.end = p + len;
    struct jval v;
    p = parse_value(&j, p, &v, 0);
    if (!p)
        goto out;
    p = skip_ws(p, j.end);
    if (p != j.end) {
        bad(&j, "trailing characters after the JSON value");
        goto out;
    }
    struct jval *r = karena_alloc(a, sizeof *r);
    if (!r) {
        bad(&j, "out of memory");
        goto out;
    }
    *r = v;
    res = r;
out:
    if (j.heap)
        free(j.stk);
    if (err)
        *err = res ? NULL : j.err;
    return res;
}

const struct jval *jv_get(const struct jval *v, const char *key)
{
    if (!jv_is_object(v) || !key)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = v->n; i-- > 0;) {
        const struct jmember *m = &v->u.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return &m->val;
    }
    return NULL;
}

double jv_number(const struct jval *v)
{
    if (!v)
        return 0;
    if (v->type == J_INT)
        return (double)v->u.i;
    if (v->type == J_REAL)
        return v->u.d;
    return 0;
}

struct jval *jv_new_string(struct karena *a, const char *s, size_t n)
{
    if (n > SIZE_MAX - sizeof(struct jval) - 1)
        return NULL;
    /* one block: the node, then its bytes */
    struct jval *v = karena_alloc(a, sizeof *v + n + 1);
    if (!v)
        return NULL;
    char *d = (char *)(v + 1);
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    v->type = J_STRING;
    v->lit_len = 0;
    v->n = n;
    v->u.s = d;
    return v;
}

size_t jp_utf8_span(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t k = *p < 0x80 ? 1 : jp_utf8_seq(p, end);
        if (!k)
            break;
        p += k;
    }
    return (size_t)(p - (const unsigned char *)s);
}

bool jp_utf8_valid(const char *s, size_t n)
{
    return jp_utf8_span(s, n) == n && !memchr(s, '\0', n);
}
