/*
 * test_util.c -- the JSON writer's MLflow wire forms, Python reprs in messages,
 * key-name validation and the bounded buffer.
 */
#include <math.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/validate.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/decimal.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/uri.h"

static void check_double(double v, const char *want)
{
    char out[40];
    json_format_double(v, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_doubles_like_python_repr(void **state)
{
    (void)state;
    check_double(42.0, "42.0");
    check_double(0.1, "0.1");
    check_double(1e-05, "1e-05");
    check_double(0.0001, "0.0001");
    check_double(1.7976931348623157e308, "1.7976931348623157e+308");
    check_double(-1.7976931348623157e308, "-1.7976931348623157e+308");
    check_double(1e16, "1e+16");
    check_double(123456789012345.0, "123456789012345.0");
    check_double(0.6931, "0.6931");
    check_double(-0.0, "-0.0");
}

static void test_writer_nesting_and_escapes(void **state)
{
    (void)state;
    struct kbuf b;
    struct jw w;
    kbuf_init(&b, 1024);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "a", "x\"y\n");
    jw_key(&w, "l");
    jw_arr(&w);
    jw_int(&w, 1);
    jw_double(&w, NAN);
    jw_obj(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_kstr_opt(&w, "skip", "");
    jw_kint(&w, "n", -5);
    jw_obj_end(&w);
    assert_int_equal(w.err, KEEL_OK);
    assert_string_equal(b.data, "{\"a\":\"x\\\"y\\n\",\"l\":[1,\"NaN\",{}],\"n\":-5}");
    /* invalid UTF-8 from a request becomes U+FFFD; valid sequences stay */
    kbuf_reset(&b);
    jw_init(&w, &b);
    jw_str(&w, "a\xae" "b\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80");
    assert_string_equal(b.data, "\"a\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                "\xf0\x9f\x98\x80\"");
    /* integers at both ends of the range */
    kbuf_reset(&b);
    jw_init(&w, &b);
    jw_arr(&w);
    jw_int(&w, 0);
    jw_int(&w, INT64_MIN);
    jw_int(&w, INT64_MAX);
    jw_int(&w, -10);
    jw_arr_end(&w);
    assert_string_equal(b.data, "[0,-9223372036854775808,9223372036854775807,-10]");
    kbuf_free(&b);
}

static void test_buffer_ceiling(void **state)
{
    (void)state;
    struct kbuf b;
    kbuf_init(&b, 8);
    assert_int_equal(kbuf_adds(&b, "12345678"), KEEL_OK);
    assert_int_equal(kbuf_adds(&b, "9"), KEEL_E_TOO_LARGE);
    assert_string_equal(b.data, "12345678");
    kbuf_free(&b);
}

/* The first refused append is remembered, whatever succeeds after it, until
 * the buffer is reset or freed. */
static void test_buffer_sticky_error(void **state)
{
    (void)state;
    struct kbuf b;
    kbuf_init(&b, 8);
    assert_int_equal(kbuf_failed(&b), KEEL_OK);
    assert_int_equal(kbuf_adds(&b, "1234"), KEEL_OK);
    assert_int_equal(kbuf_failed(&b), KEEL_OK);
    assert_int_equal(kbuf_printf(&b, "%s", "56789"), KEEL_E_TOO_LARGE);
    assert_int_equal(kbuf_failed(&b), KEEL_E_TOO_LARGE);
    /* a later append that fits succeeds, but the document stays incomplete */
    assert_int_equal(kbuf_addc(&b, '5'), KEEL_OK);
    assert_string_equal(b.data, "12345");
    assert_int_equal(kbuf_failed(&b), KEEL_E_TOO_LARGE);
    kbuf_reset(&b);
    assert_int_equal(kbuf_failed(&b), KEEL_OK);
    assert_int_equal(kbuf_reserve(&b, 9), KEEL_E_TOO_LARGE);
    assert_int_equal(kbuf_failed(&b), KEEL_E_TOO_LARGE);
    kbuf_free(&b);
    assert_int_equal(kbuf_failed(&b), KEEL_OK);
    /* what the JSON writer could not write is remembered by the buffer too */
    kbuf_init(&b, 4);
    struct jw w;
    jw_init(&w, &b);
    jw_str(&w, "too long for four bytes");
    assert_int_equal(kbuf_failed(&b), KEEL_E_TOO_LARGE);
    kbuf_free(&b);
}

static void test_hex(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char s[2] = {(char)c, 0}, *end = NULL;
        long v = strtol(s, &end, 16);
        bool digit = c && strchr("0123456789abcdefABCDEF", c);
        assert_int_equal(keel_hex_digit((char)c), digit ? v : -1);
    }
    static const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];
    memset(out, 'x', sizeof out);
    keel_hex_encode(bytes, sizeof bytes, out);
    assert_string_equal(out, "000fa5ff");
    unsigned char back[4];
    assert_true(keel_hex_decode("000FA5ff", 4, back));
    assert_memory_equal(back, bytes, sizeof bytes);
    assert_false(keel_hex_decode("000fa5fg", 4, back));
    assert_false(keel_hex_decode("0x", 1, back));
}

static void test_pyrepr(void **state)
{
    (void)state;
    struct kbuf b;
    struct karena *a = karena_new(1 << 20);
    kbuf_init(&b, 1024);
    static const char doc[] = "[{\"key\": \"auc\", \"value\": 0.9, \"ok\": true, \"n\": null}]";
    const struct jval *v = jp_parse(a, doc, sizeof doc - 1, NULL);
    assert_non_null(v);
    assert_int_equal(json_pyrepr(&b, v), KEEL_OK);
    assert_string_equal(b.data, "[{'key': 'auc', 'value': 0.9, 'ok': True, 'n': None}]");
    kbuf_reset(&b);
    json_dump_python(&b, v);
    assert_string_equal(b.data, "[{\"key\": \"auc\", \"value\": 0.9, \"ok\": true, \"n\": null}]");
    kbuf_reset(&b);
    json_pyrepr_str(&b, "it's", 4);
    assert_string_equal(b.data, "\"it's\"");
    kbuf_reset(&b);
    json_pyrepr_str(&b, "a\xc2\xa0\n\xc3\xa9", 6); /* NBSP is escaped, é is not */
    assert_string_equal(b.data, "'a\\xa0\\n\xc3\xa9'");
    kbuf_free(&b);
    karena_free(a);
}

static void test_key_names(void **state)
{
    (void)state;
    struct karena *a = karena_new(1 << 20);
    struct keel_ctx ctx = {.arena = a};
    assert_int_equal(validate_key_name(&ctx, "metric", "eval/auc roc-1.x"), KEEL_OK);
    assert_int_equal(validate_key_name(&ctx, "metric", "../../etc/passwd"),
                     KEEL_E_INVALID_PARAMETER);
    assert_string_equal(ctx.errmsg,
                        "Invalid metric name: '../../etc/passwd'. Names may be treated as files "
                        "in certain cases, and must not resolve to other names when treated as "
                        "such. This name would resolve to '../../etc/passwd'");
    assert_int_equal(validate_key_name(&ctx, "tag", "a//b"), KEEL_E_INVALID_PARAMETER);
    assert_int_equal(validate_key_name(&ctx, "tag", "a?b"), KEEL_E_INVALID_PARAMETER);
    assert_int_equal(validate_length(&ctx, "Param key", "abc", 2), KEEL_E_INVALID_PARAMETER);
    assert_string_equal(ctx.errmsg,
                        "Param key 'abc' had length 3, which exceeded length limit of 2");
    assert_string_equal(validate_truncate(&ctx, "h\xc3\xa9llo", 2), "h\xc3\xa9");
    karena_free(a);
}

static void test_uri_append_like_mlflow(void **state)
{
    (void)state;
    struct karena *a = karena_new(1 << 20);
    assert_string_equal(uri_append(a, "mlflow-artifacts:/", "7"), "mlflow-artifacts:/7");
    assert_string_equal(uri_append(a, "mlflow-artifacts:/7", "abc"), "mlflow-artifacts:/7/abc");
    assert_string_equal(uri_append(a, "s3://bucket/base?x=1", "7"), "s3://bucket/base/7?x=1");
    assert_string_equal(uri_append(a, "s3://bucket", "7"), "s3://bucket/7");
    assert_string_equal(uri_append(a, "file:///data/art/", "7"), "file:///data/art/7");
    assert_string_equal(uri_append(a, "/data/art", "/7"), "/data/art/7");
    assert_string_equal(uri_append(a, "rel/dir", "7"), "rel/dir/7");
    assert_string_equal(uri_resolve_local(a, "s3://b/p"), "s3://b/p");
    assert_string_equal(uri_resolve_local(a, "/abs"), "/abs");
    const char *r = uri_resolve_local(a, "./mlruns");
    assert_true(r[0] == '/' && strstr(r, "/mlruns") && !strstr(r, "./"));
    karena_free(a);
}

/* decimal_parse agrees with strtod bit for bit on every input both accept,
 * and refuses what is not a plain decimal. */
/* Appends ni random digits, a point when dot, then nf random digits, at
 * buf[*len]; no terminator. */
static void put_random_decimal(char *buf, size_t *len, int ni, bool dot, int nf)
{
    for (int d = 0; d < ni; d++)
        buf[(*len)++] = (char)('0' + rand() % 10);
    if (dot)
        buf[(*len)++] = '.';
    for (int d = 0; dot && d < nf; d++)
        buf[(*len)++] = (char)('0' + rand() % 10);
}

static void test_decimal_parse_matches_strtod(void **state)
{
    (void)state;
    static const char *const fixed[] = {
        "0", "-0", "1", "1.", ".5", "+.5", "17.99", "0.1184", "0.000123", "1e22", "1e23",
        "9007199254740993", "123456789012345", "1234567890123456", "0.1", "0.3",
        "2.2250738585072014e-308", "4.9e-324", "1.7976931348623157e308", "1e-400", "1e400",
        "12345678901234567890123", "0.038075906433423026", "-3.14159e-5", "5E+3",
    };
    static const char *const refused[] = {"", "-", ".", "e5", "1e", "1e+", "0x10", "inf",
                                          "nan", " 1", "1 ", "1,5", "1..2", "--1"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        double got = 0, want = strtod(fixed[i], NULL);
        assert_true(decimal_parse(fixed[i], strlen(fixed[i]), &got));
        if (memcmp(&got, &want, sizeof got) != 0)
            fail_msg("%s: %.17g != %.17g", fixed[i], got, want);
    }
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        double d;
        if (decimal_parse(refused[i], strlen(refused[i]), &d))
            fail_msg("accepted '%s'", refused[i]);
    }
    /* random decimals of every length and exponent */
    srand(7);
    for (int k = 0; k < 200000; k++) {
        char buf[64];
        int nd = 1 + rand() % 20, dot = rand() % (nd + 1), len = 0;
        if (rand() % 2)
            buf[len++] = '-';
        for (int d = 0; d < nd; d++) {
            if (d == dot && d)
                buf[len++] = '.';
            buf[len++] = (char)('0' + rand() % 10);
        }
        if (rand() % 3 == 0)
            len += snprintf(buf + len, sizeof buf - (size_t)len, "e%d", rand() % 60 - 30);
        buf[len] = '\0';
        double got = 0, want = strtod(buf, NULL);
        assert_true(decimal_parse(buf, (size_t)len, &got));
        if (memcmp(&got, &want, sizeof got) != 0)
            fail_msg("%s: %.17g != %.17g", buf, got, want);
        /* and as the prefix of a longer field list, where the digits are
         * read eight bytes at a time past the number's end */
        static const char *const after[] = {",12345678", "x", ",", ".5,1", "e", "9"};
        const char *tail = after[k % 6];
        char line[96];
        int ll = snprintf(line, sizeof line, "%s%s", buf, tail);
        double pre = 0, port = 0;
        size_t used = decimal_parse_prefix(line, (size_t)ll, &pre);
        size_t used_port = decimal_parse_prefix_portable(line, (size_t)ll, &port);
        if (used != used_port || (used && memcmp(&pre, &port, sizeof pre) != 0))
            fail_msg("'%s': the portable reader differs", line);
        if (tail[0] == '9' || (tail[0] == '.' && !strchr(buf, '.') && !strchr(buf, 'e')) ||
            (tail[0] == 'e'))
            continue; /* the tail continues the number (or makes it invalid) */
        if (used != (size_t)len || memcmp(&pre, &want, sizeof pre) != 0)
            fail_msg("prefix of '%s': used %zu of %d, %.17g != %.17g", line, used, len, pre,
                     want);
    }
    /* numbers as batch input holds them (short parts, no exponent) with
     * room after them, so that each is read eight digits at a time: signs,
     * empty parts and every split of up to 9 + 9 digits, before each kind of
     * byte that ends a number */
    static const char *const ends[] = {",", "\n", "\r\n", "\"", " ", ":", "/", "a", "\xc3"};
    for (int k = 0; k < 300000; k++) {
        char buf[64];
        size_t len = 0;
        int ni = rand() % 10, nf = rand() % 10, dot = rand() % 4 != 0;
        if (rand() % 4 == 0)
            buf[len++] = rand() % 2 ? '-' : '+';
        put_random_decimal(buf, &len, ni, dot, nf);
        buf[len] = '\0';
        bool valid = ni > 0 || (dot && nf > 0);
        char line[96];
        int ll = snprintf(line, sizeof line, "%s%s0123456789012345678901234", buf, ends[k % 9]);
        double want = strtod(buf, NULL);
        /* the reader this machine runs, and the one machines without
         * SSSE3/SSE4.1 run: the same answers */
        for (int portable = 0; portable < 2; portable++) {
            double got = -1;
            size_t used = portable ? decimal_parse_prefix_portable(line, (size_t)ll, &got)
                                   : decimal_parse_prefix(line, (size_t)ll, &got);
            if (!valid) {
                if (used)
                    fail_msg("'%s' read %zu bytes of no number", line, used);
                continue;
            }
            if (used != len || memcmp(&got, &want, sizeof got) != 0)
                fail_msg("'%s'%s: used %zu of %zu, %.17g != %.17g", line,
                         portable ? " (portable)" : "", used, len, got, want);
        }
    }
}

/* decimal_parse_fields takes a line exactly when each of its width fields is
 * wholly a decimal as decimal_parse_prefix reads it, to the same values. */
static void test_decimal_parse_fields(void **state)
{
    (void)state;
    static const char *const odd[] = {"", "+1", "1e5", "-", ".", "1..2", " 1", "1 ", "nan",
                                      "0x1", "12345678901234567", "1.2.", "-1e-3", "7E+2",
                                      "0.000000000000000000001", "--1", "1-", "\xc3\xa9"};
    srand(13);
    for (int k = 0; k < 100000; k++) {
        char line[2048];
        size_t n = 0, width = 1 + (size_t)rand() % 40;
        for (size_t f = 0; f < width; f++) {
            if (f)
                line[n++] = ',';
            if (rand() % 30 == 0) {
                const char *o = odd[(size_t)rand() % (sizeof odd / sizeof *odd)];
                memcpy(line + n, o, strlen(o));
                n += strlen(o);
                continue;
            }
            if (rand() % 5 == 0)
                line[n++] = '-';
            int ni = rand() % 12, nf = rand() % 12;
            put_random_decimal(line, &n, ni, rand() % 3 != 0, nf);
        }
        size_t asked = rand() % 20 == 0 ? width + 1 - (size_t)(rand() % 3) : width;
        /* the oracle: field by field, each whole */
        bool want = true;
        double exp[64];
        size_t at = 0, got_fields = 0;
        while (want) {
            size_t end = at;
            while (end < n && line[end] != ',')
                end++;
            if (got_fields < 64 &&
                !(end > at && decimal_parse_prefix(line + at, n - at, &exp[got_fields]) ==
                                  end - at))
                want = false;
            got_fields++;
            if (end == n)
                break;
            at = end + 1;
        }
        want = want && got_fields == asked;
        double got[64];
        bool ok = decimal_parse_fields(line, n, asked, got);
        if (ok != want)
            fail_msg("'%.*s' (%zu fields asked): %d, want %d", (int)n, line, asked, ok, want);
        for (size_t f = 0; ok && f < asked; f++)
            if (memcmp(&got[f], &exp[f], sizeof got[f]) != 0)
                fail_msg("field %zu of '%.*s': %.17g, want %.17g", f, (int)n, line, got[f],
                         exp[f]);
    }
}

/* decimal_parse_line, with each reader, finds the same line end and takes
 * exactly the lines decimal_parse_fields takes, to the same values: random
 * lines of numbers (now and then an odd field, byte or line end), followed
 * by more input or not, in buffers of exactly their size (so that the
 * sanitizers see any read past the end), some around DECIMAL_LINE_MAX; half
 * of them with a point in every field, the line the fastest reader takes. */
static void test_decimal_parse_line(void **state)
{
    (void)state;
    static const char *const odd[] = {"",    "+1",  "1e5", "-",    ".",    "1..2", " 1",
                                      "1 ",  "nan", "\"1\"", "1\r2", "1-",   "+-1",  "--1",
                                      "1.2.", "12345678901234567", "0.000000000000000000001",
                                      "\xc3\xa9", "\t"};
    static const char *const eols[] = {"\n", "\r\n", "\r\r\n", "", "\n\n"};
    srand(17);
    size_t taken = 0;
    for (int k = 0; k < 60000; k++) {
        static char text[500 * 26 + 100]; /* 500 fields of at most 25 bytes and a comma */
        size_t n = 0, width = 1 + (size_t)rand() % 40;
        int ni_max = 10, nf_max = 10;
        if (k % 50 == 0) { /* lines around DECIMAL_LINE_MAX bytes */
            width = 200 + (size_t)rand() % 300;
            ni_max = nf_max = 12;
        }
        for (size_t f = 0; f < width; f++) {
            if (f)
                text[n++] = ',';
            if (rand() % 200 == 0) {
                const char *o = odd[(size_t)rand() % (sizeof odd / sizeof *odd)];
                memcpy(text + n, o, strlen(o));
                n += strlen(o);
                continue;
            }
            if (rand() % 8 == 0)
                text[n++] = rand() % 4 ? '-' : '+';
            int ni = rand() % ni_max, nf = rand() % nf_max;
            bool dot = k % 2 == 0 || rand() % 4 != 0; /* half the lines: a point in each */
            put_random_decimal(text, &n, ni || (dot && nf) ? ni : 1, dot, nf);
        }
        const char *eol = eols[rand() % 10 < 6 ? 0 : (size_t)rand() % 5];
        memcpy(text + n, eol, strlen(eol));
        n += strlen(eol);
        for (int more = rand() % 3 ? rand() % 90 : 0; more > 0; more--)
            text[n++] = (char)('0' + rand() % 10);
        size_t asked = rand() % 20 == 0 ? width + 1 - (size_t)(rand() % 3) : width;
        /* the oracle: the line as memchr finds it, read by decimal_parse_fields */
        const char *lf = memchr(text, '\n', n);
        size_t want = lf ? (size_t)(lf - text) : 0;
        want -= want && text[want - 1] == '\r';
        double exp[600], got[600];
        if (want && !decimal_parse_fields(text, want, asked, exp))
            want = 0;
        char *buf = malloc(n);
        assert_non_null(buf);
        memcpy(buf, text, n);
        for (int reader = DECIMAL_READ_PORTABLE; reader <= DECIMAL_READ_64_VBMI2; reader++) {
            size_t len = decimal_parse_line_using(buf, n, asked, got, (enum decimal_reader)reader);
            if (len != want)
                fail_msg("reader %d, line %d of %zu bytes, %zu fields asked: %zu, want %zu",
                         reader, k, n, asked, len, want);
            for (size_t f = 0; len && f < asked; f++)
                if (memcmp(&got[f], &exp[f], sizeof got[f]) != 0)
                    fail_msg("reader %d, line %d, field %zu: %.17g, want %.17g", reader, k, f,
                             got[f], exp[f]);
        }
        taken += want != 0;
        free(buf);
    }
    assert_true(taken > 30000); /* most lines are taken, so the values are compared */
}

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void same_as_reference(double v)
{
    char got[40], want[40];
    json_format_double(v, got, sizeof got);
    json_format_double_reference(v, want, sizeof want);
    if (strcmp(got, want) != 0)
        fail_msg("%.17g: '%s' != reference '%s'", v, got, want);
}

/* The integer shortest-digits path prints what the printf search prints,
 * for every kind of value it takes: random bit patterns, short decimals,
 * widened float32s, powers of two and ten and their neighbours. */
static void test_shortest_matches_reference(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 300000; i++) {
        uint64_t bits = rng_next(&x);
        /* exponents across and beyond the fast path's range */
        bits = (bits & 0x800fffffffffffffULL) | ((uint64_t)(1023 - 24 + (int)(bits >> 52) % 80) << 52);
        double v;
        memcpy(&v, &bits, sizeof v);
        same_as_reference(v);
        same_as_reference((double)(float)v);
    }
    for (int i = 0; i < 200000; i++) {
        char buf[40];
        uint64_t r = rng_next(&x);
        snprintf(buf, sizeof buf, "%llu.%llue%d", (unsigned long long)(r % 100000),
                 (unsigned long long)((r >> 20) % 10000000), (int)((r >> 50) % 30) - 15);
        same_as_reference(strtod(buf, NULL));
        same_as_reference(-strtod(buf, NULL));
    }
    for (int e = -30; e <= 30; e++) {
        double p = pow(10, e), t = ldexp(1, e);
        same_as_reference(p);
        same_as_reference(nextafter(p, 0));
        same_as_reference(nextafter(p, INFINITY));
        same_as_reference(t);
        same_as_reference(nextafter(t, 0));
        same_as_reference(nextafter(t, INFINITY));
    }
    /* the values served and logged take the integer path */
    struct decimal_digits d;
    static const double fast[] = {0.1, 17.99, 0.8723456263542175, 1e-4, 9.999e15, -122.8, 1.0};
    for (size_t i = 0; i < sizeof fast / sizeof *fast; i++)
        if (!decimal_shortest(fast[i], &d))
            fail_msg("%.17g left to the reference", fast[i]);
    assert_false(decimal_shortest(1e-300, &d));
    assert_false(decimal_shortest(0.0, &d));
    check_double(0.5, "0.5");
    check_double(2.5, "2.5");
    check_double(9007199254740993.0, "9007199254740992.0");
    check_double(0.30000000000000004, "0.30000000000000004");
    check_double((double)0.87234562f, "0.8723456263542175");
    check_double(5e-324, "5e-324");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_like_python_repr),
        cmocka_unit_test(test_writer_nesting_and_escapes),
        cmocka_unit_test(test_buffer_ceiling),
        cmocka_unit_test(test_buffer_sticky_error),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_pyrepr),
        cmocka_unit_test(test_key_names),
        cmocka_unit_test(test_uri_append_like_mlflow),
        cmocka_unit_test(test_decimal_parse_matches_strtod),
        cmocka_unit_test(test_decimal_parse_fields),
        cmocka_unit_test(test_decimal_parse_line),
        cmocka_unit_test(test_shortest_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
