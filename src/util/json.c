/*
 * json.c -- JSON writer and Python-repr rendering (see json.h).
 */
#include "util/json.h"
#include "util/decimal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(struct jw *w, struct kbuf *b)
{
    memset(w, 0, sizeof *w);
    w->b = b;
}

static void put(struct jw *w, const char *s, size_t n)
{
    if (w->err == KEEL_OK)
        w->err = kbuf_add(w->b, s, n);
}

/* Arrays separate their values here; objects do it in jw_key. */
static void before_value(struct jw *w)
{
    if (w->depth > 0 && !w->in_obj[w->depth] && w->n_items[w->depth]++ > 0)
        put(w, ",", 1);
}

static void open_scope(struct jw *w, char c, bool obj)
{
    before_value(w);
    put(w, &c, 1);
    if (w->depth + 1 >= JW_MAX_DEPTH) {
        w->err = KEEL_E_TOO_LARGE;
        return;
    }
    w->depth++;
    w->in_obj[w->depth] = obj;
    w->n_items[w->depth] = 0;
}

static void close_scope(struct jw *w, char c)
{
    put(w, &c, 1);
    if (w->depth > 0)
        w->depth--;
}

void jw_obj(struct jw *w) { open_scope(w, '{', true); }
void jw_obj_end(struct jw *w) { close_scope(w, '}'); }
void jw_arr(struct jw *w) { open_scope(w, '[', false); }
void jw_arr_end(struct jw *w) { close_scope(w, ']'); }

static void put_escaped(struct jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            /* text from a request may be any bytes; JSON must be UTF-8: an
             * invalid byte becomes U+FFFD, as Python's errors="replace" */
            size_t len = jp_utf8_seq((const unsigned char *)s + i, (const unsigned char *)s + n);
            if (len) {
                i += len - 1;
                continue;
            }
            put(w, s + run, i - run);
            put(w, "\xEF\xBF\xBD", 3);
            run = i + 1;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(w, s + run, i - run);
        run = i + 1;
        char esc[7] = {'\\', 0};
        switch (c) {
        case '"': esc[1] = '"'; put(w, esc, 2); break;
        case '\\': esc[1] = '\\'; put(w, esc, 2); break;
        case '\n': esc[1] = 'n'; put(w, esc, 2); break;
        case '\r': esc[1] = 'r'; put(w, esc, 2); break;
        case '\t': esc[1] = 't'; put(w, esc, 2); break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            put(w, esc, 6);
        }
    }
    put(w, s + run, n - run);
    put(w, "\"", 1);
}

void jw_key(struct jw *w, const char *key)
{
    if (w->n_items[w->depth]++ > 0)
        put(w, ",", 1);
    put_escaped(w, key, strlen(key));
    put(w, ":", 1);
}

void jw_str(struct jw *w, const char *s)
{
    before_value(w);
    if (!s) {
        put(w, "null", 4);
        return;
    }
    put_escaped(w, s, strlen(s));
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
    before_value(w);
    put_escaped(w, s, n);
}

void jw_int(struct jw *w, int64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp; /* digits from the right, no printf */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    before_value(w);
    put(w, p, (size_t)(tmp + sizeof tmp - p));
}

/* Python's repr of the digits: positional for 1e-4 <= |v| < 1e16 (with at
 * least ".0"), else C's exponent form ("1e-05", "1.5e+20"). */
static size_t repr_digits(const struct decimal_digits *d, char *out)
{
    size_t o = 0;
    if (d->negative)
        out[o++] = '-';
    int x = d->exp10;
    if (x >= -4 && x < 16) {
        if (x < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -x - 1; i++)
                out[o++] = '0';
            memcpy(out + o, d->digits, (size_t)d->n);
            o += (size_t)d->n;
        } else {
            for (int i = 0; i <= x; i++)
                out[o++] = i < d->n ? d->digits[i] : '0';
            out[o++] = '.';
            if (d->n > x + 1) {
                memcpy(out + o, d->digits + x + 1, (size_t)(d->n - x - 1));
                o += (size_t)(d->n - x - 1);
            } else {
                out[o++] = '0';
            }
        }
    } else {
        out[o++] = d->digits[0];
        if (d->n > 1) {
            out[o++] = '.';
            memcpy(out + o, d->digits + 1, (size_t)(d->n - 1));
            o += (size_t)(d->n - 1);
        }
        o += (size_t)sprintf(out + o, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    }
    out[o] = '\0';
    return o;
}

size_t json_format_double(double v, char *out, size_t n)
{
    struct decimal_digits d;
    if (n >= 32 && decimal_shortest(v, &d))
        return repr_digits(&d, out);
    json_format_double_reference(v, out, n);
    return strlen(out);
}

void json_format_double_reference(double v, char *out, size_t n)
{
    /* the shortest precision that reads back to v; reading back is monotonic
     * in the precision (17 digits always do), so search it by halves. Most
     * values are either short (metrics like 0.5) or need 16-17 digits (a
     * float32 widened), so 15 digits decides which half to search first. */
    int lo = 1, hi = 17;
    snprintf(out, n, "%.14e", v);
    if (strtod(out, NULL) == v) {
        hi = 15;
    } else {
        lo = 16;
    }
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(out, n, "%.*e", mid - 1, v);
        if (strtod(out, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    int prec = lo;
    snprintf(out, n, "%.*e", prec - 1, v);
    int exp10 = atoi(strchr(out, 'e') + 1);
    /* Python's repr uses positional notation for 1e-4 <= |v| < 1e16 and
     * keeps C's exponent form ("1e-05", "1.5e+20") otherwise */
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = prec - 1 - exp10;
        snprintf(out, n, "%.*f", decimals > 0 ? decimals : 0, v);
        if (!strchr(out, '.'))
            strncat(out, ".0", n - strlen(out) - 1);
    }
}

/* A finite double's repr written straight into the buffer (no copy, no
 * strlen): numbers are most of what prediction records and batch outputs
 * hold. */
static void put_finite(struct jw *w, double v)
{
    if (w->err == KEEL_OK)
        w->err = kbuf_reserve(w->b, 40);
    if (w->err != KEEL_OK)
        return;
    w->b->len += json_format_double(v, w->b->data + w->b->len, 40);
}

void jw_double(struct jw *w, double v)
{
    before_value(w);
    if (isnan(v)) {
        put(w, "\"NaN\"", 5);
    } else if (isinf(v)) {
        put(w, v > 0 ? "\"Infinity\"" : "\"-Infinity\"", v > 0 ? 10 : 11);
    } else {
        put_finite(w, v);
    }
}

void jw_double_fast(struct jw *w, double v)
{
    before_value(w);
    if (!isfinite(v)) {
        put(w, "null", 4);
        return;
    }
    put_finite(w, v);
}

void jw_raw(struct jw *w, const char *json, size_t n)
{
    before_value(w);
    put(w, json, n);
}

void jw_bool(struct jw *w, bool v)
{
    before_value(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w)
{
    before_value(w);
    put(w, "null", 4);
}

void jw_json(struct jw *w, const struct jval *v)
{
    switch (v->type) {
    case J_OBJECT:
        jw_obj(w);
        for (size_t i = 0; i < v->n; i++) {
            jw_key(w, v->u.members[i].key);
            jw_json(w, &v->u.members[i].val);
        }
        jw_obj_end(w);
        break;
    case J_ARRAY:
        jw_arr(w);
        for (size_t i = 0; i < v->n; i++)
            jw_json(w, &v->u.items[i]);
        jw_arr_end(w);
        break;
    case J_STRING: jw_strn(w, v->u.s, v->n); break;
    case J_INT: jw_int(w, v->u.i); break;
    case J_REAL: jw_double(w, v->u.d); break;
    case J_TRUE: jw_bool(w, true); break;
    case J_FALSE: jw_bool(w, false); break;
    default: jw_null(w); break;
    }
}

void jw_kstr(struct jw *w, const char *key, const char *v)
{
    jw_key(w, key);
    jw_str(w, v ? v : "");
}

void jw_kstr_opt(struct jw *w, const char *key, const char *v)
{
    if (v && *v)
        jw_kstr(w, key, v);
}

void jw_kint(struct jw *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_int(w, v);
}

/* Code points Python's str.isprintable() rejects, approximated by the
 * ranges that occur in practice (C1 controls, soft hyphen, Unicode spaces
 * and format characters, surrogates and private use, specials). */
static bool unprintable(uint32_t v)
{
    static const uint32_t ranges[][2] = {
        {0x80, 0xA0},     {0xAD, 0xAD},     {0x1680, 0x1680}, {0x2000, 0x200F},
        {0x2028, 0x202F}, {0x205F, 0x206F}, {0x3000, 0x3000}, {0xD800, 0xF8FF},
        {0xFEFF, 0xFEFF}, {0xFFF0, 0xFFFF}, {0xF0000, 0x10FFFF},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
        if (v >= ranges[i][0] && v <= ranges[i][1])
            return true;
    return false;
}

enum keel_err json_pyrepr_str(struct kbuf *b, const char *s, size_t n)
{
    char q = (memchr(s, '\'', n) && !memchr(s, '"', n)) ? '"' : '\'';
    enum keel_err e = kbuf_addc(b, q);
    for (size_t i = 0; i < n && !e;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == (unsigned char)q) {
            char esc[2] = {'\\', (char)c};
            e = kbuf_add(b, esc, 2);
            i++;
        } else if (c == '\t' || c == '\n' || c == '\r') {
            e = kbuf_adds(b, c == '\t' ? "\\t" : c == '\n' ? "\\n" : "\\r");
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            e = kbuf_printf(b, "\\x%02x", c);
            i++;
        } else if (c < 0x80) {
            e = kbuf_addc(b, (char)c);
            i++;
        } else {
            size_t k = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
            if (i + k > n)
                k = n - i;
            uint32_t v = c & (0x7Fu >> k);
            for (size_t j = 1; j < k; j++)
                v = (v << 6) | ((unsigned char)s[i + j] & 0x3Fu);
            if (unprintable(v))
                e = kbuf_printf(b, v <= 0xFF ? "\\x%02x" : v <= 0xFFFF ? "\\u%04x" : "\\U%08x",
                                (unsigned)v);
            else
                e = kbuf_add(b, s + i, k);
            i += k;
        }
    }
    return e ? e : kbuf_addc(b, q);
}

const char *json_pytype(const struct jval *v)
{
    static const char *const names[] = {[J_NULL] = "NoneType", [J_FALSE] = "bool",
                                        [J_TRUE] = "bool",     [J_INT] = "int",
                                        [J_REAL] = "float",    [J_STRING] = "str",
                                        [J_ARRAY] = "list",    [J_OBJECT] = "dict"};
    return names[v->type];
}

static enum keel_err dump_py_str(struct kbuf *b, const char *s, size_t n)
{
    enum keel_err e = kbuf_addc(b, '"');
    for (size_t i = 0; i < n && !e;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            switch (c) {
            case '"': e = kbuf_adds(b, "\\\""); break;
            case '\\': e = kbuf_adds(b, "\\\\"); break;
            case '\n': e = kbuf_adds(b, "\\n"); break;
            case '\r': e = kbuf_adds(b, "\\r"); break;
            case '\t': e = kbuf_adds(b, "\\t"); break;
            case '\b': e = kbuf_adds(b, "\\b"); break;
            case '\f': e = kbuf_adds(b, "\\f"); break;
            default:
                e = c < 0x20 ? kbuf_printf(b, "\\u%04x", c) : kbuf_addc(b, (char)c);
            }
            i++;
            continue;
        }
        /* decode one UTF-8 sequence (the parser has validated it) */
        int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        uint32_t cp = c & (0x3f >> (len - 1));
        for (int k = 1; k < len && i + (size_t)k < n; k++)
            cp = (cp << 6) | ((unsigned char)s[i + (size_t)k] & 0x3f);
        i += (size_t)len;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            e = kbuf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        } else {
            e = kbuf_printf(b, "\\u%04x", cp);
        }
    }
    return e ? e : kbuf_addc(b, '"');
}

/* Python's two renderings of a value: repr() ({'a': True, 'n': None}) and
 * json.dumps() ({"a": true, "n": null}); containers are walked alike. */
enum py_style { PY_REPR, PY_JSON };

static enum keel_err py_str(struct kbuf *b, const char *s, size_t n, enum py_style style)
{
    return style == PY_REPR ? json_pyrepr_str(b, s, n) : dump_py_str(b, s, n);
}

static enum keel_err py_scalar(struct kbuf *b, const struct jval *v, enum py_style style)
{
    static const char *const words[2][3] = {{"True", "False", "None"}, {"true", "false", "null"}};
    switch (v->type) {
    case J_STRING: return py_str(b, v->u.s, v->n, style);
    case J_INT: return kbuf_printf(b, "%lld", (long long)v->u.i);
    case J_REAL: {
        char tmp[40];
        json_format_double(v->u.d, tmp, sizeof tmp);
        return kbuf_adds(b, tmp);
    }
    case J_TRUE: return kbuf_adds(b, words[style][0]);
    case J_FALSE: return kbuf_adds(b, words[style][1]);
    default: return kbuf_adds(b, words[style][2]);
    }
}

static enum keel_err py_dump(struct kbuf *b, const struct jval *v, enum py_style style, int depth)
{
    enum keel_err e = KEEL_OK;
    if (depth > JP_MAX_DEPTH)
        return KEEL_E_TOO_LARGE;
    if (v->type == J_OBJECT) {
        e = kbuf_addc(b, '{');
        for (size_t i = 0; i < v->n && !e; i++) {
            const struct jmember *m = &v->u.members[i];
            if (i)
                e = kbuf_adds(b, ", ");
            if (!e)
                e = py_str(b, m->key, m->key_len, style);
            if (!e)
                e = kbuf_adds(b, ": ");
            if (!e)
                e = py_dump(b, &m->val, style, depth + 1);
        }
        return e ? e : kbuf_addc(b, '}');
    }
    if (v->type == J_ARRAY) {
        e = kbuf_addc(b, '[');
        for (size_t i = 0; i < v->n && !e; i++) {
            if (i)
                e = kbuf_adds(b, ", ");
            if (!e)
                e = py_dump(b, &v->u.items[i], style, depth + 1);
        }
        return e ? e : kbuf_addc(b, ']');
    }
    return py_scalar(b, v, style);
}

enum keel_err json_pyrepr(struct kbuf *b, const struct jval *v)
{
    return py_dump(b, v, PY_REPR, 0);
}

enum keel_err json_dump_python(struct kbuf *b, const struct jval *v)
{
    return py_dump(b, v, PY_JSON, 0);
}
