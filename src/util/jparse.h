/*
 * jparse.h -- JSON requests parsed into the request arena.
 *
 * A read-only tree: every node, string and member array lives in the arena
 * handed to jp_parse() and goes with it; nothing is freed node by node.
 * Objects keep their members in document order (MLflow's request parsing
 * depends on that order); a key given twice is kept twice, and jv_get()
 * answers the last one, as Python's json module does.
 *
 * Strings are NUL-terminated UTF-8 with their length; input that is not
 * valid UTF-8, or that holds \u0000, is rejected. Numbers without a fraction
 * or exponent that fit in int64 are J_INT, every other number J_REAL; each
 * keeps a view of its text too (`lit`), so a number can be copied out as the
 * client wrote it instead of printed again (the prediction log does).
 */
#ifndef KEEL_JPARSE_H
#define KEEL_JPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct karena;

#define JP_MAX_DEPTH 128
#define JP_LIT_MAX 4096 /* the longest number whose text a jval keeps */

enum jtype { J_NULL, J_FALSE, J_TRUE, J_INT, J_REAL, J_STRING, J_ARRAY, J_OBJECT };

struct jmember;

struct jval {
    enum jtype type;
    uint32_t lit_len; /* J_INT, J_REAL: bytes of `lit` (0: not kept) */
    union {
        size_t n;        /* J_STRING: bytes; J_ARRAY: items; J_OBJECT: members */
        const char *lit; /* J_INT, J_REAL: the number as written in the parsed text, a
                          * valid JSON number that reads back as the value; NULL when
                          * not kept (longer than JP_LIT_MAX) */
    };
    union {
        int64_t i;
        double d;
        const char *s;
        const struct jval *items;
        const struct jmember *members;
    } u;
};

struct jmember {
    const char *key;
    size_t key_len;
    struct jval val;
};

/* Parses exactly one JSON value (surrounding white space allowed) from
 * text[0..len). Returns NULL when the text is not JSON, is nested deeper
 * than JP_MAX_DEPTH, or the arena is exhausted; *err (may be NULL) then
 * says why in a static string. */
const struct jval *jp_parse(struct karena *a, const char *text, size_t len, const char **err);

/* Member `key` of an object (the last one when repeated); NULL when v is not
 * an object or has no such member. */
const struct jval *jv_get(const struct jval *v, const char *key);

static inline bool jv_is_string(const struct jval *v) { return v && v->type == J_STRING; }
static inline bool jv_is_array(const struct jval *v) { return v && v->type == J_ARRAY; }
static inline bool jv_is_object(const struct jval *v) { return v && v->type == J_OBJECT; }
static inline bool jv_is_null(const struct jval *v) { return v && v->type == J_NULL; }
static inline bool jv_is_bool(const struct jval *v)
{
    return v && (v->type == J_TRUE || v->type == J_FALSE);
}
static inline bool jv_is_number(const struct jval *v)
{
    return v && (v->type == J_INT || v->type == J_REAL);
}
static inline bool jv_is_int(const struct jval *v) { return v && v->type == J_INT; }
static inline bool jv_is_real(const struct jval *v) { return v && v->type == J_REAL; }
static inline bool jv_is_true(const struct jval *v) { return v && v->type == J_TRUE; }
/* Length of a string, array or object (0 for anything else). */
static inline size_t jv_len(const struct jval *v)
{
    return v && (v->type == J_STRING || v->type == J_ARRAY || v->type == J_OBJECT) ? v->n : 0;
}
/* Item i of an array, NULL past its end or for a non-array. */
static inline const struct jval *jv_at(const struct jval *v, size_t i)
{
    return jv_is_array(v) && i < v->n ? &v->u.items[i] : NULL;
}
static inline int64_t jv_int(const struct jval *v) { return jv_is_int(v) ? v->u.i : 0; }
static inline double jv_real(const struct jval *v) { return jv_is_real(v) ? v->u.d : 0.0; }
/* The string of a J_STRING, else NULL. */
static inline const char *jv_str(const struct jval *v) { return jv_is_string(v) ? v->u.s : NULL; }
/* A number as a double (J_INT converted), else 0. */
double jv_number(const struct jval *v);

/* Whether s[0..n) is valid UTF-8 with no NUL (what a J_STRING may hold). */
bool jp_utf8_valid(const char *s, size_t n);
/* The bytes of s[0..n) before the first one that is not well-formed UTF-8
 * (n when they all are); NUL is text here. */
size_t jp_utf8_span(const char *s, size_t n);
/* Length of the well-formed UTF-8 sequence whose lead byte (>= 0x80) is at
 * p (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF), or 0
 * when there is none before end. The one UTF-8 check keel has. */
size_t jp_utf8_seq(const unsigned char *p, const unsigned char *end);

/* Builders for values made by keel itself (query strings): arena-allocated. */
struct jval *jv_new_string(struct karena *a, const char *s, size_t n);

#endif
