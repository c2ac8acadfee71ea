/*
 * test_jparse.c -- the request JSON parser: exact values, every class of
 * malformed input, the depth and arena limits, and agreement with jansson
 * (the parser it replaced) on tricky and mutated documents.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "util/arena.h"
#include "util/jparse.h"

#define TEST_ARENA_CEILING (64u << 20)
#include "testlib.h"

/* Parses a copy in a block of exactly len bytes, so that AddressSanitizer
 * sees any read past the input; no terminating NUL is there to hide one. */
static const struct jval *parse_n(const char *text, size_t len)
{
    const char *err = "unset";
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    const struct jval *v = jp_parse(arena, copy, len, &err);
    free(copy);
    if (v)
        assert_null(err);
    else
        assert_non_null(err);
    return v;
}

static const struct jval *parse(const char *text) { return parse_n(text, strlen(text)); }

static void check_int(const char *text, int64_t want)
{
    const struct jval *v = parse(text);
    assert_non_null(v);
    assert_int_equal(v->type, J_INT);
    assert_true(v->u.i == want);
}

/* Reals must match strtod bit for bit, sign of zero included. */
static void check_real(const char *text, double want)
{
    const struct jval *v = parse(text);
    if (!v)
        fail_msg("rejected %s", text);
    assert_int_equal(v->type, J_REAL);
    if (memcmp(&v->u.d, &want, sizeof want) != 0)
        fail_msg("%s: got %.17g, want %.17g", text, v->u.d, want);
}

static void check_real_strtod(const char *text) { check_real(text, strtod(text, NULL)); }

static void check_string(const char *text, const char *want, size_t want_n)
{
    const struct jval *v = parse(text);
    if (!v)
        fail_msg("rejected %s", text);
    assert_int_equal(v->type, J_STRING);
    assert_int_equal(v->n, want_n);
    assert_memory_equal(v->u.s, want, want_n);
    assert_int_equal(v->u.s[want_n], '\0');
}

#define CHECK_STRING(text, lit) check_string(text, lit, sizeof lit - 1)

static void test_literals_and_white_space(void **state)
{
    (void)state;
    assert_int_equal(parse("null")->type, J_NULL);
    assert_int_equal(parse("true")->type, J_TRUE);
    assert_int_equal(parse("false")->type, J_FALSE);
    assert_int_equal(parse(" \t\r\n true \t\r\n ")->type, J_TRUE);
    assert_true(jv_is_bool(parse("false")));
    assert_true(jv_is_null(parse("null")));
}

static void test_integers(void **state)
{
    (void)state;
    check_int("0", 0);
    check_int("-0", 0);
    check_int("1", 1);
    check_int("-1", -1);
    check_int("1700000000000", 1700000000000);
    check_int("9223372036854775807", INT64_MAX);
    check_int("-9223372036854775808", INT64_MIN);
    check_int("-9223372036854775807", -INT64_MAX);
    /* past int64: a real, as near as a double gets */
    check_real("9223372036854775808", 9223372036854775808.0);
    check_real("-9223372036854775809", -9223372036854775808.0);
    check_real("18446744073709551615", 18446744073709551615.0);
    check_real("18446744073709551616", 18446744073709551616.0);
    check_real_strtod("123456789012345678901234567890");
    check_real_strtod("-99999999999999999999999999999999999999999999999999999999999999999999999999");
    assert_true(jv_number(parse("42")) == 42.0);
    assert_true(jv_number(parse("-2.5")) == -2.5);
    assert_true(jv_number(parse("\"7\"")) == 0.0);
    assert_true(jv_number(NULL) == 0.0);
}

static void test_reals(void **state)
{
    (void)state;
    check_real("0.5", 0.5);
    check_real("-0.0", -0.0);
    check_real("-0e0", -0.0);
    check_real("0.0", 0.0);
    check_real("1e308", 1e308);
    check_real("1.5e-7", 1.5e-7);
    check_real("1E2", 100.0);
    check_real("1e+2", 100.0);
    check_real("1e-2", 0.01);
    check_real("0.1", 0.1);
    check_real("1.7976931348623157e308", 1.7976931348623157e308);
    check_real("-1.7976931348623157e308", -1.7976931348623157e308);
    check_real("2.2250738585072014e-308", 2.2250738585072014e-308);
    check_real("5e-324", 5e-324);
    check_real("1e-400", 0.0);
    check_real("-1e-400", -0.0);
    check_real("0e99999999999999999999", 0.0);
    check_real("1e-99999999999999999999", 0.0);
    /* digits beyond the fast path's reach, and exponents at its edges */
    const char *hard[] = {"0.8444218515250481", "0.75795440294030247", "3.141592653589793238462643383279",
                          "9007199254740993.0", "9007199254740992.0", "1e22", "1e23", "1e-22",
                          "1e-23", "123456789e-30", "4.9406564584124654e-324",
                          "2.4703282292062327e-324", "2.4703282292062328e-324",
                          "1.00000000000000011102230246251565404236316680908203125",
                          "0.000000000000000000000000000000000000000000001", "1.0000000000000000000000001",
                          "7.0e-10", "12345678901234567890e-5", "17000000000000.5e-3"};
    for (size_t i = 0; i < sizeof hard / sizeof *hard; i++)
        check_real_strtod(hard[i]);
}

/* Every number keeps a view of its text, exactly as written; other values
 * and numbers longer than JP_LIT_MAX keep none. */
static void test_number_literals(void **state)
{
    (void)state;
    static const char text[] = "[1.50, -0 ,12345678901234567890, 1E+2,\"7\", true, {\"k\": -3}]";
    const char *err = NULL;
    const struct jval *v = jp_parse(arena, text, sizeof text - 1, &err);
    assert_non_null(v);
    static const char *const want[] = {"1.50", "-0", "12345678901234567890", "1E+2"};
    for (size_t i = 0; i < 4; i++) {
        const struct jval *it = jv_at(v, i);
        assert_non_null(it->lit);
        assert_int_equal(it->lit_len, strlen(want[i]));
        assert_memory_equal(it->lit, want[i], it->lit_len);
        assert_true(it->lit >= text && it->lit + it->lit_len <= text + sizeof text - 1);
    }
    assert_int_equal(jv_at(v, 4)->lit_len, 0);
    assert_int_equal(jv_at(v, 5)->lit_len, 0);
    const struct jval *k = jv_get(jv_at(v, 6), "k");
    assert_int_equal(k->lit_len, 2);
    assert_memory_equal(k->lit, "-3", 2);
    /* past the limit: the value is read, its text not kept */
    size_t n = JP_LIT_MAX + 3;
    char *big = malloc(n + 1);
    assert_non_null(big);
    big[0] = '0';
    big[1] = '.';
    memset(big + 2, '1', n - 2);
    big[n] = '\0';
    const struct jval *b = jp_parse(arena, big, n, &err);
    assert_non_null(b);
    assert_int_equal(b->type, J_REAL);
    assert_null(b->lit);
    assert_int_equal(b->lit_len, 0);
    free(big);
}

static void test_strings(void **state)
{
    (void)state;
    CHECK_STRING("\"\"", "");
    CHECK_STRING("\"abc\"", "abc");
    CHECK_STRING("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
    CHECK_STRING("\"\\u0041\\u007a\"", "Az");
    CHECK_STRING("\"\\u00e9\"", "\xc3\xa9");
    CHECK_STRING("\"\\u00E9\"", "\xc3\xa9");
    CHECK_STRING("\"\\u07ff\\u0800\"", "\xdf\xbf\xe0\xa0\x80");
    CHECK_STRING("\"\\u20ac\"", "\xe2\x82\xac");
    CHECK_STRING("\"\\uffff\"", "\xef\xbf\xbf");
    CHECK_STRING("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80");
    CHECK_STRING("\"\\ud800\\udc00\"", "\xf0\x90\x80\x80");
    CHECK_STRING("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf");
    CHECK_STRING("\"x\\uD83D\\uDE00y\\n\"", "x\xf0\x9f\x98\x80y\n");
    /* raw UTF-8 of every length passes through as is, also after an escape */
    CHECK_STRING("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"",
                 "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
    CHECK_STRING("\"\\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xee\x80\x80\"",
                 "\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xee\x80\x80");
    /* DEL is not a control character to JSON */
    CHECK_STRING("\"\x7f\"", "\x7f");
    CHECK_STRING("\"a/b\"", "a/b");
}

/* Each special byte at every offset of strings long enough to cross the
 * eight-byte scanning steps, in both the plain and the escaped path. */
static void test_string_positions(void **state)
{
    (void)state;
    struct {
        const char *raw, *want;
    } specials[] = {{"\\n", "\n"},         {"\\\"", "\""},     {"\\\\", "\\"},
                    {"\xc3\xa9", "\xc3\xa9"}, {"\\u00e9", "\xc3\xa9"}, {"~", "~"}};
    char text[128], want[128];
    for (size_t s = 0; s < sizeof specials / sizeof *specials; s++) {
        for (size_t len = 0; len < 40; len++) {
            for (size_t at = 0; at <= len; at++) {
                size_t t = 0, w = 0;
                text[t++] = '"';
                for (size_t i = 0; i < len; i++) {
                    if (i == at) {
                        t += (size_t)snprintf(text + t, sizeof text - t, "%s", specials[s].raw);
                        w += (size_t)snprintf(want + w, sizeof want - w, "%s", specials[s].want);
                    }
                    text[t++] = (char)('a' + i % 26);
                    want[w++] = (char)('a' + i % 26);
                }
                text[t++] = '"';
                text[t] = '\0';
                want[w] = '\0';
                check_string(text, want, w);
                /* the same with a control byte in it must fail */
                if (len > 0) {
                    text[1 + at % len] = '\x1f';
                    assert_null(parse(text));
                }
            }
        }
    }
}

/* A byte no string may hold raw, at every offset of plain text and of text
 * behind an escape: the eight-byte skip must stop for each of them. */
static void test_bad_byte_positions(void **state)
{
    (void)state;
    static const char bad_bytes[] = {'\0', '\x01', '\x1f', '\x80', '\x9f', '\xa0', '\xbf',
                                     '\xc0', '\xc1', '\xf5', '\xf8', '\xfe', '\xff'};
    char text[64];
    for (size_t b = 0; b < sizeof bad_bytes; b++) {
        for (size_t esc = 0; esc < 2; esc++) {
            for (size_t len = 1; len < 40; len++) {
                for (size_t at = 0; at < len; at++) {
                    size_t t = 0;
                    text[t++] = '"';
                    if (esc) {
                        text[t++] = '\\';
                        text[t++] = 't';
                    }
                    for (size_t i = 0; i < len; i++)
                        text[t++] = i == at ? bad_bytes[b] : (char)('a' + i % 26);
                    text[t++] = '"';
                    if (parse_n(text, t))
                        fail_msg("accepted byte 0x%02x at %zu of %zu (escaped %zu)",
                                 (unsigned char)bad_bytes[b], at, len, esc);
                }
            }
        }
    }
}

static void test_containers(void **state)
{
    (void)state;
    const struct jval *v = parse("[]");
    assert_true(jv_is_array(v));
    assert_int_equal(v->n, 0);
    v = parse("{}");
    assert_true(jv_is_object(v));
    assert_int_equal(v->n, 0);
    assert_null(jv_get(v, "a"));
    v = parse(" [ 1 , \"two\" , 3.5 , true , false , null , [ ] , { } , [ [ 7 ] ] ] ");
    assert_true(jv_is_array(v));
    assert_int_equal(v->n, 9);
    assert_int_equal(v->u.items[0].type, J_INT);
    assert_string_equal(jv_str(&v->u.items[1]), "two");
    assert_true(v->u.items[2].u.d == 3.5);
    assert_int_equal(v->u.items[3].type, J_TRUE);
    assert_int_equal(v->u.items[4].type, J_FALSE);
    assert_int_equal(v->u.items[5].type, J_NULL);
    assert_int_equal(v->u.items[6].type, J_ARRAY);
    assert_int_equal(v->u.items[7].type, J_OBJECT);
    assert_int_equal(v->u.items[8].u.items[0].u.items[0].u.i, 7);

    v = parse("{\"run_id\": \"r1\", \"metrics\": [{\"key\": \"m\", \"value\": 0.5, "
              "\"timestamp\": 1700000000000, \"step\": 3}], \"z\": {\"a\": [], \"b\": {}}, "
              "\"\": 1, \"k\\u00e9y\": 2}");
    assert_true(jv_is_object(v));
    assert_int_equal(v->n, 5);
    /* document order */
    assert_string_equal(v->u.members[0].key, "run_id");
    assert_string_equal(v->u.members[1].key, "metrics");
    assert_string_equal(v->u.members[2].key, "z");
    assert_string_equal(v->u.members[3].key, "");
    assert_int_equal(v->u.members[3].key_len, 0);
    assert_string_equal(v->u.members[4].key, "k\xc3\xa9y");
    assert_int_equal(v->u.members[4].key_len, 4);
    assert_string_equal(jv_str(jv_get(v, "run_id")), "r1");
    const struct jval *m = jv_get(v, "metrics");
    assert_true(jv_is_array(m));
    assert_int_equal(m->n, 1);
    const struct jval *m0 = &m->u.items[0];
    assert_string_equal(jv_str(jv_get(m0, "key")), "m");
    assert_true(jv_get(m0, "value")->u.d == 0.5);
    assert_int_equal(jv_get(m0, "timestamp")->u.i, 1700000000000);
    assert_int_equal(jv_get(m0, "step")->u.i, 3);
    assert_int_equal(jv_get(v, "")->u.i, 1);
    assert_int_equal(jv_get(v, "k\xc3\xa9y")->u.i, 2);
    assert_null(jv_get(v, "missing"));
    assert_null(jv_get(v, "run"));
    assert_null(jv_get(m, "key"));
    assert_null(jv_get(NULL, "key"));
    assert_null(jv_get(v, NULL));
    assert_null(jv_str(m));
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    const struct jval *v = parse("{\"a\": 1, \"b\": 2, \"a\": 3, \"a\": \"last\", \"b\": 4}");
    assert_int_equal(v->n, 5);
    assert_string_equal(v->u.members[0].key, "a");
    assert_int_equal(v->u.members[0].val.u.i, 1);
    assert_int_equal(v->u.members[2].val.u.i, 3);
    assert_string_equal(jv_str(jv_get(v, "a")), "last");
    assert_int_equal(jv_get(v, "b")->u.i, 4);
}

/* Big enough that the scratch stack leaves jp_parse's frame and grows,
 * with containers finishing at every level while it does. */
static void test_large_documents(void **state)
{
    (void)state;
    enum { N = 20000 };
    size_t cap = N * 64, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text + n, cap - n, "{\"a\": [");
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s%d", i ? "," : "", i - N / 2);
    n += (size_t)snprintf(text + n, cap - n, "], \"o\": {");
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(text + n, cap - n, "%s\"k%d\": [%d, {\"x\": [%d]}]", i ? "," : "", i, i,
                              -i);
    n += (size_t)snprintf(text + n, cap - n, "}}");
    assert_true(n < cap);
    const struct jval *v = parse_n(text, n);
    assert_non_null(v);
    const struct jval *a = jv_get(v, "a");
    assert_int_equal(a->n, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(a->u.items[i].u.i, i - N / 2);
    const struct jval *o = jv_get(v, "o");
    assert_int_equal(o->n, N);
    for (int i = 0; i < N; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        assert_string_equal(o->u.members[i].key, key);
        const struct jval *pair = &o->u.members[i].val;
        assert_int_equal(pair->n, 2);
        assert_int_equal(pair->u.items[0].u.i, i);
        assert_int_equal(jv_get(&pair->u.items[1], "x")->u.items[0].u.i, -i);
    }
    assert_int_equal(jv_get(o, "k19999")->u.items[0].u.i, 19999);
    free(text);
}

/* Inputs that are not JSON, by class; each must be rejected. Lengths are
 * explicit so NUL bytes can be part of the input. */
struct bad {
    const char *text;
    size_t len;
};
#define BAD(lit) {lit, sizeof lit - 1}

static const struct bad bad_inputs[] = {
    /* nothing, or more than one value */
    BAD(""), BAD(" "), BAD(" \n\t\r"), BAD("1 2"), BAD("{} x"), BAD("[]]"), BAD("{}}"), BAD("1\0"),
    BAD("\0"), BAD("[1]\0"), BAD("\"a\"\"b\""), BAD("nullnull"), BAD("truex"),
    /* white space JSON does not know */
    BAD("\f1"), BAD("\v1"), BAD("1\v"), BAD("\xc2\xa0" "1"), BAD("\xef\xbb\xbf" "1"),
    /* structure */
    BAD("["), BAD("{"), BAD("]"), BAD("}"), BAD("[1"), BAD("[1,"), BAD("[1,]"), BAD("[,1]"),
    BAD("[1 2]"), BAD("[1;2]"), BAD("{\"a\":1"), BAD("{\"a\":1,"), BAD("{\"a\":1,}"), BAD("{\"a\"}"),
    BAD("{\"a\":}"), BAD("{\"a\" 1}"), BAD("{a:1}"), BAD("{'a':1}"), BAD("{1:1}"), BAD("{\"a\"=1}"),
    BAD("{\"a\":1 \"b\":2}"), BAD("{,}"), BAD("[}"), BAD("{]"), BAD("{\"a\":1]"), BAD("[1}"),
    BAD("'a'"), BAD("\"abc"), BAD("\"abc\\\""), BAD("\"\\"), BAD("[\"a\\\"]"),
    /* literals */
    BAD("t"), BAD("tru"), BAD("True"), BAD("nul"), BAD("NULL"), BAD("fals"), BAD("NaN"), BAD("nan"),
    BAD("Infinity"), BAD("-Infinity"), BAD("+Infinity"), BAD("undefined"), BAD("[tru]"),
    /* numbers */
    BAD("01"), BAD("-01"), BAD("00"), BAD("-00"), BAD("+1"), BAD("1."), BAD(".5"), BAD("-"), BAD("-a"),
    BAD("1e"), BAD("1e+"), BAD("1e-"), BAD("1E"), BAD("0x10"), BAD("0X1"), BAD("1.e5"), BAD("-.5"),
    BAD("1e5.5"), BAD("--1"), BAD("1ee5"), BAD("1.5.5"), BAD("0.5f"), BAD("1_000"), BAD("\xef\xbc\x91"),
    BAD("[01]"), BAD("{\"a\":-}"),
    /* reals too large for a double */
    BAD("1e309"), BAD("-1e309"), BAD("1e400000000000"), BAD("1.8e308"),
    BAD("1797693134862315807937289714053034150799341327710524892543223"
        "7686749876539876898976896543256767654678987989878765e300"),
    /* control characters in strings */
    BAD("\"\x01\""), BAD("\"a\tb\""), BAD("\"a\nb\""), BAD("\"\r\""), BAD("\"\x1f\""), BAD("\"a\0b\""),
    BAD("\"\\n\x01\""), BAD("{\"k\x02\":1}"),
    /* escapes */
    BAD("\"\\x\""), BAD("\"\\a\""), BAD("\"\\'\""), BAD("\"\\0\""), BAD("\"\\U0041\""), BAD("\"\\u\""),
    BAD("\"\\u1\""), BAD("\"\\u12\""), BAD("\"\\u123\""), BAD("\"\\u12G4\""), BAD("\"\\u-123\""),
    BAD("\"\\u 123\""), BAD("\"\\\n\""), BAD("\"\\u0000\""), BAD("\"a\\u0000b\""), BAD("{\"\\u0000\":1}"),
    /* lone surrogates */
    BAD("\"\\uD800\""), BAD("\"\\uDBFF\""), BAD("\"\\uDC00\""), BAD("\"\\uDFFF\""), BAD("\"\\uD800x\""),
    BAD("\"\\uD800\\u0041\""), BAD("\"\\uDBFF\\uDBFF\""), BAD("\"\\uD800\\n\""), BAD("\"\\uD800\\uE000\""),
    BAD("\"\\uDC00\\uD800\""), BAD("\"\\uD800\\\""), BAD("\"\\uD800\\u\""), BAD("\"\\uD800\\uDC0\""),
    /* invalid UTF-8: stray continuations and bad leads */
    BAD("\"\x80\""), BAD("\"\xbf\""), BAD("\"a\x80z\""), BAD("\"\xfe\""), BAD("\"\xff\""),
    BAD("\"\xf5\x80\x80\x80\""), BAD("\"\xf8\x88\x80\x80\x80\""),
    /* overlongs */
    BAD("\"\xc0\x80\""), BAD("\"\xc0\xaf\""), BAD("\"\xc1\xbf\""), BAD("\"\xe0\x80\x80\""),
    BAD("\"\xe0\x9f\xbf\""), BAD("\"\xf0\x80\x80\x80\""), BAD("\"\xf0\x8f\xbf\xbf\""),
    /* surrogates encoded in UTF-8, and beyond U+10FFFF */
    BAD("\"\xed\xa0\x80\""), BAD("\"\xed\xbf\xbf\""), BAD("\"\xed\xa0\xbd\xed\xb8\x80\""),
    BAD("\"\xf4\x90\x80\x80\""), BAD("\"\xf7\xbf\xbf\xbf\""),
    /* truncated or broken sequences */
    BAD("\"\xc3\""), BAD("\"\xe2\x82\""), BAD("\"\xf0\x9f\x98\""), BAD("\"\xc3\x28\""),
    BAD("\"\xe2\x28\xa1\""), BAD("\"\xe2\x82\x28\""), BAD("\"\xf0\x28\x8c\xbc\""),
    BAD("\"\xf0\x9f\x98\x28\""), BAD("\"\xc3"), BAD("\"\xf0\x9f\x98"), BAD("\"\xe2"),
    /* the same behind an escape, where the slow path checks them */
    BAD("\"\\n\x80\""), BAD("\"\\n\xc0\x80\""), BAD("\"\\n\xed\xa0\x80\""), BAD("\"\\n\xf4\x90\x80\x80\""),
    BAD("\"\\n\xc3\""), BAD("\"\\n\xe2\x82\""), BAD("{\"\\n\xff\":1}"),
    /* invalid UTF-8 outside strings */
    BAD("\x80"), BAD("[\xc3\xa9]"), BAD("{\"a\":1}\xff"),
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_inputs / sizeof *bad_inputs; i++) {
        if (parse_n(bad_inputs[i].text, bad_inputs[i].len))
            fail_msg("accepted bad input #%zu: %.*s", i, (int)bad_inputs[i].len, bad_inputs[i].text);
        /* err may be NULL */
        assert_null(jp_parse(arena, bad_inputs[i].text, bad_inputs[i].len, NULL));
    }
    const char *err = NULL;
    assert_null(jp_parse(arena, NULL, 0, &err));
    assert_non_null(err);
    assert_null(jp_parse(arena, "1e999", 5, &err));
    assert_string_equal(err, "real number overflow");
    /* the length bounds the input even when a valid JSON text follows */
    assert_null(jp_parse(arena, "[1, 2]", 5, &err));
    assert_null(jp_parse(arena, "\"abc\"", 4, &err));
    assert_null(jp_parse(arena, "true", 3, &err));
    check_int("123", 123);
    assert_int_equal(jp_parse(arena, "123", 2, &err)->u.i, 12);
}

/* Nesting of n containers, alternating arrays and objects. */
static char *nested(int n, size_t *len)
{
    char *t = malloc((size_t)n * 6 + 8);
    size_t k = 0;
    assert_non_null(t);
    for (int i = 0; i < n; i++) {
        if (i % 2) {
            memcpy(t + k, "{\"a\":", 5);
            k += 5;
        } else {
            t[k++] = '[';
        }
    }
    t[k++] = '0';
    for (int i = n - 1; i >= 0; i--)
        t[k++] = i % 2 ? '}' : ']';
    *len = k;
    return t;
}

static void test_depth_limit(void **state)
{
    (void)state;
    const int depths[] = {1, 2, JP_MAX_DEPTH - 1, JP_MAX_DEPTH, JP_MAX_DEPTH + 1, JP_MAX_DEPTH + 2,
                          10000, 1000000};
    for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
        size_t len;
        char *t = nested(depths[i], &len);
        const char *err = NULL;
        const struct jval *v = jp_parse(arena, t, len, &err);
        if (depths[i] <= JP_MAX_DEPTH) {
            assert_non_null(v);
            int d = 0;
            while (v->type == J_ARRAY || v->type == J_OBJECT) {
                v = v->type == J_ARRAY ? &v->u.items[0] : jv_get(v, "a");
                d++;
            }
            assert_int_equal(d, depths[i]);
            assert_int_equal(v->u.i, 0);
        } else {
            assert_null(v);
            assert_string_equal(err, "nested too deeply");
        }
        free(t);
    }
    /* only arrays, and unclosed */
    char t[JP_MAX_DEPTH + 1];
    memset(t, '[', sizeof t);
    assert_null(jp_parse(arena, t, JP_MAX_DEPTH, NULL));
    assert_null(jp_parse(arena, t, sizeof t, NULL));
}

/* Every ceiling short of what the parse needs fails cleanly; the exact
 * amount succeeds. */
static void test_arena_ceiling(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"run_id\": \"0123456789abcdef\", \"metrics\": [{\"key\": \"m\\u00e9\", \"value\": "
        "0.12345678901234567890123456789012345678901234567890123456789012345678901234567890, "
        "\"timestamp\": 1700000000000, \"step\": 3}, [1, 2, [3, {}]], \"esc\\n\", \"\"], "
        "\"tags\": {\"a\": \"b\", \"c\": [true, false, null]}}";
    struct karena *big = karena_new(TEST_ARENA_CEILING);
    assert_non_null(big);
    assert_non_null(jp_parse(big, doc, sizeof doc - 1, NULL));
    size_t need = karena_used(big);
    karena_free(big);
    for (size_t c = 0; c < need; c++) {
        struct karena *a = karena_new(c);
        const char *err = NULL;
        assert_non_null(a);
        assert_null(jp_parse(a, doc, sizeof doc - 1, &err));
        assert_string_equal(err, "out of memory");
        karena_free(a);
    }
    struct karena *a = karena_new(need);
    assert_non_null(a);
    const struct jval *v = jp_parse(a, doc, sizeof doc - 1, NULL);
    assert_non_null(v);
    assert_string_equal(jv_str(jv_get(&jv_get(v, "metrics")->u.items[0], "key")), "m\xc3\xa9");
    karena_free(a);

    const char *err = NULL;
    assert_null(jp_parse(NULL, "1", 1, &err));
    assert_string_equal(err, "out of memory");
}

static void test_new_string(void **state)
{
    (void)state;
    struct jval *v = jv_new_string(arena, "abcdef", 3);
    assert_non_null(v);
    assert_true(jv_is_string(v));
    assert_int_equal(v->n, 3);
    assert_string_equal(jv_str(v), "abc");
    v = jv_new_string(arena, NULL, 0);
    assert_non_null(v);
    assert_string_equal(jv_str(v), "");
    struct karena *tiny = karena_new(16);
    assert_null(jv_new_string(tiny, "abc", 3));
    karena_free(tiny);
}

/* ---- agreement with jansson ------------------------------------------ */

static bool same_value(const struct jval *v, const json_t *r)
{
    switch (json_typeof(r)) {
    case JSON_NULL:
        return v->type == J_NULL;
    case JSON_TRUE:
        return v->type == J_TRUE;
    case JSON_FALSE:
        return v->type == J_FALSE;
    case JSON_INTEGER:
        return v->type == J_INT && v->u.i == json_integer_value(r);
    case JSON_REAL: {
        double d = json_real_value(r);
        return v->type == J_REAL && memcmp(&v->u.d, &d, sizeof d) == 0;
    }
    case JSON_STRING:
        return v->type == J_STRING && v->n == json_string_length(r) &&
               memcmp(v->u.s, json_string_value(r), v->n) == 0 && v->u.s[v->n] == '\0';
    case JSON_ARRAY:
        if (v->type != J_ARRAY || v->n != json_array_size(r))
            return false;
        for (size_t i = 0; i < v->n; i++)
            if (!same_value(&v->u.items[i], json_array_get(r, i)))
                return false;
        return true;
    case JSON_OBJECT: {
        if (v->type != J_OBJECT)
            return false;
        /* jansson keeps one member per key, the last given */
        size_t distinct = 0;
        for (size_t i = 0; i < v->n; i++) {
            const struct jmember *m = &v->u.members[i];
            if (jv_get(v, m->key) == &m->val)
                distinct++;
        }
        if (distinct != json_object_size(r))
            return false;
        const char *key;
        size_t key_len;
        json_t *val;
        json_object_keylen_foreach((json_t *)r, key, key_len, val)
        {
            const struct jval *mine = jv_get(v, key);
            if (!mine || strlen(key) != key_len || !same_value(mine, val))
                return false;
        }
        return true;
    }
    }
    return false;
}

static bool has_nul(const char *t, size_t n) { return memchr(t, '\0', n) != NULL; }

/* Parses with both; returns false when they disagree in a way keel did not
 * choose. The chosen differences: integers past int64, which jansson
 * refuses and keel makes reals; a NUL byte, which jansson sometimes takes
 * for the end of the input and keel always refuses. */
static bool agree(const char *t, size_t n)
{
    json_error_t jerr;
    json_t *r = json_loadb(t, n, JSON_DECODE_ANY, &jerr);
    struct karena *saved = arena;
    arena = karena_new(TEST_ARENA_CEILING);
    assert_non_null(arena);
    const struct jval *v = parse_n(t, n);
    bool ok;
    if (!r)
        ok = !v || strstr(jerr.text, "too big") != NULL;
    else if (!v)
        ok = has_nul(t, n);
    else
        ok = same_value(v, r);
    json_decref(r);
    karena_free(arena);
    arena = saved;
    return ok;
}

static const char *const tricky[] = {
    "0", "-0", "-0.0", "0.0e0", "1E+2", "1e-2", "1.5e-7", "1e308", "2.2250738585072011e-308",
    "4.9e-324", "2e-324", "0.30000000000000004", "9007199254740993", "9007199254740993.0",
    "1e22", "1e23", "8.988465674311579e307", "1.7976931348623157e308", "1.7976931348623159e308",
    "123456789012345678", "-9223372036854775808", "9223372036854775807", "1e400", "-1e400",
    "1e-400", "[1.0, 1, -1, 1e1, 10]", "\"\"", "\"\\u0000\"", "\"\\uD834\\uDD1E\"", "\"\\uD834\"",
    "\"\\uDD1E\"", "\"\\uD834\\uD834\"", "\"\\u00\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
    "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"", "\"\xf0\x80\x80\xaf\"", "\"\xf4\x8f\xbf\xbf\"",
    "\"\xef\xbf\xbf\"", "\"\xee\x80\x80\"", "\"\x7f\"", "\"\x1f\"", "\"\\/\"", "\"\\a\"", "{\"a\":1,\"a\":2}",
    "{\"a\":{\"b\":[1,{\"c\":null}]},\"a\":[true]}", "[[[[[[[[[[]]]]]]]]]]", "{\"\":\"\"}",
    "{\"\\u00e9\":\"\\u00e9\",\"\xc3\xa9\":1}", " [ 1 , 2 ] ", "[1,]", "[01]", "[-]", "[1e]", "[.1]",
    "[1.]", "[+1]", "[0x1]", "[NaN]", "[Infinity]", "[-Infinity]", "[tru]", "[nulls]", "{\"a\"1}",
    "{\"a\":1,}", "{,}", "\"a", "[\"a\\\"]", "\xef\xbb\xbf[]", "[\f]", "[\v]", "[\"\\u0041\\u0042\"]",
    "\"\\uFFFE\\uFEFF\"", "[1] ", "[1] x", "1 1", "\"\\uDBFF\\uDFFF\"", "\"\\uDBFF\\uE000\"",
    "123.456e-789", "0.000001", "1e-7", "100000000000000000000000000000e-30",
};

static void test_agrees_with_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof tricky / sizeof *tricky; i++)
        if (!agree(tricky[i], strlen(tricky[i])))
            fail_msg("jansson disagrees on #%zu: %s", i, tricky[i]);
    for (size_t i = 0; i < sizeof bad_inputs / sizeof *bad_inputs; i++)
        if (!agree(bad_inputs[i].text, bad_inputs[i].len))
            fail_msg("jansson disagrees on bad #%zu: %s", i, bad_inputs[i].text);
    /* the deliberate differences, spelled out */
    json_error_t jerr;
    assert_null(json_loadb("99999999999999999999", 20, JSON_DECODE_ANY, &jerr));
    check_real("99999999999999999999", 1e20);
    json_t *r = json_loadb("1\0", 2, JSON_DECODE_ANY, &jerr);
    assert_non_null(r);
    json_decref(r);
    assert_null(parse_n("1\0", 2));
}

/* Small deterministic mutations of valid documents: flipped, inserted and
 * deleted bytes, each judged by both parsers. */
static void test_mutations_agree_with_jansson(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "{\"run_id\": \"abc\", \"metrics\": [{\"key\": \"m\", \"value\": 0.5, \"timestamp\": "
        "1700000000000, \"step\": 3}, {\"key\": \"l\\u00e9\", \"value\": -1.25e-3, \"step\": 0}]}",
        "[\"\\uD83D\\uDE00\", \"\xc3\xa9\xe2\x82\xac\", true, false, null, -0.0, 12, [], {}]",
        "{\"a\": {\"b\": {\"c\": [1, [2, [3, \"\\n\\t\\\\\\\"\"]]]}}, \"d\": 1e10}",
    };
    static const char pool[] = "{}[]\",:\\u0123456789abcdefABCDEF.eE+- \t\n\x00\x1f\x7f\x80\xbf\xc0"
                               "\xc3\xe2\xed\xf0\xf4\xf5\xfftrueflsn";
    unsigned long long s = 88172645463325252ull;
    char buf[512];
    for (int it = 0; it < 30000; it++) {
        const char *seed = seeds[it % 3];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int edits = 1 + (int)(s % 3);
        for (int e = 0; e < edits; e++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            size_t at = (size_t)(s >> 8) % (n + 1);
            char c = (s >> 40) % 4 ? pool[(s >> 20) % (sizeof pool - 1)] : (char)(s >> 48);
            switch (s % 3) {
            case 0: /* replace */
                if (at < n)
                    buf[at] = c;
                break;
            case 1: /* insert */
                if (n < sizeof buf - 1) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = c;
                    n++;
                }
                break;
            default: /* delete */
                if (at < n) {
                    memmove(buf + at, buf + at + 1, n - at - 1);
                    n--;
                }
            }
        }
        if (!agree(buf, n))
            fail_msg("jansson disagrees on mutation %d: %.*s", it, (int)n, buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_literals_and_white_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_byte_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_containers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_documents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arena_ceiling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_number_literals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agrees_with_jansson, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutations_agree_with_jansson, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
