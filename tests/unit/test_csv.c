/*
 * test_csv.c -- the CSV reader: fields, quoting, line ends, the BOM, blank
 * lines and line numbers; the same rows (and the same errors) however the
 * input is cut into pieces, down to one byte at a time; the field, column
 * and arena limits.
 *
 * Every run is written out as a "dump" -- one line per row, "<line>:" then
 * each field as [text] (unquoted) or {text} (quoted), and finally END or
 * ERR<code>@<line> -- so a test states the whole outcome in one string and
 * two cuttings of a document can be compared with one memcmp (lengths
 * first: a field may hold a NUL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/arena.h"
#include "util/csv.h"

#define TEST_ARENA_CEILING (64u << 20)
#include "testlib.h"

/* ---- a growable string for dumps ---- */

struct dstr {
    char *p;
    size_t len, cap;
};

static void ds_add(struct dstr *d, const char *s, size_t n)
{
    if (d->len + n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap : 256;
        while (cap < d->len + n + 1)
            cap *= 2;
        d->p = realloc(d->p, cap);
        assert_non_null(d->p);
        d->cap = cap;
    }
    memcpy(d->p + d->len, s, n);
    d->len += n;
    d->p[d->len] = '\0';
}

static void ds_printf(struct dstr *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ds_printf(struct dstr *d, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof tmp);
    ds_add(d, tmp, (size_t)n);
}

/* ---- the feeder ---- */

/*
 * Reads doc[0..n) handed over in pieces that end at cuts[0], cuts[1], ...
 * (ascending, each <= n; the last piece runs to n) and returns the dump
 * (malloc'd; the caller frees), its length in *len when len is not NULL.
 * Each piece is copied into a block of its exact size that is freed as soon
 * as the reader answers CSV_MORE, so AddressSanitizer catches a row that
 * still points into an old piece.
 */
static char *run_cuts(struct karena *a, const char *doc, size_t n, const size_t *cuts,
                      size_t ncuts, const struct csv_limits *lim, size_t *len)
{
    struct csv_reader r;
    struct dstr d = {0};
    csv_init(&r, a, lim);
    size_t start = 0;
    size_t piece = 0;
    char *copy = NULL;
    for (;;) {
        size_t end = piece < ncuts ? cuts[piece] : n;
        bool last = piece == ncuts;
        assert_true(start <= end && end <= n);
        copy = malloc(end - start ? end - start : 1);
        assert_non_null(copy);
        memcpy(copy, doc + start, end - start);
        csv_feed(&r, copy, end - start, last);
        enum csv_status st;
        const struct csv_field *f;
        size_t nf;
        while ((st = csv_next(&r, &f, &nf)) == CSV_ROW) {
            ds_printf(&d, "%llu:", (unsigned long long)csv_line(&r));
            for (size_t i = 0; i < nf; i++) {
                ds_add(&d, f[i].quoted ? "{" : "[", 1);
                if (f[i].len)
                    ds_add(&d, f[i].p, f[i].len);
                ds_add(&d, f[i].quoted ? "}" : "]", 1);
            }
            ds_add(&d, "\n", 1);
            assert_int_equal(csv_error(&r), CSV_OK);
        }
        if (st == CSV_MORE) {
            if (last)
                fail_msg("CSV_MORE after the last piece");
            assert_null(f);
            assert_int_equal(nf, 0);
            free(copy);
            copy = NULL;
            start = end;
            piece++;
            continue;
        }
        assert_null(f);
        assert_int_equal(nf, 0);
        if (st == CSV_END) {
            if (!last)
                fail_msg("CSV_END before the last piece");
            assert_int_equal(csv_error(&r), CSV_OK);
            ds_add(&d, "END", 3);
            /* and it stays at the end */
            assert_int_equal(csv_next(&r, &f, &nf), CSV_END);
        } else {
            assert_int_equal(st, CSV_ERROR);
            enum csv_error e = csv_error(&r);
            assert_int_not_equal(e, CSV_OK);
            assert_non_null(csv_strerror(e));
            ds_printf(&d, "ERR%d@%llu", (int)e, (unsigned long long)csv_line(&r));
            /* every later call answers CSV_ERROR again, with the same error */
            assert_int_equal(csv_next(&r, &f, &nf), CSV_ERROR);
            assert_int_equal(csv_error(&r), e);
        }
        free(copy);
        if (len)
            *len = d.len;
        return d.p;
    }
}

static char *run_whole(const char *doc, size_t n, const struct csv_limits *lim, size_t *len)
{
    return run_cuts(arena, doc, n, NULL, 0, lim, len);
}

/* One byte (or `step` bytes) at a time. */
static char *run_steps(struct karena *a, const char *doc, size_t n, size_t step,
                       const struct csv_limits *lim, size_t *len)
{
    size_t ncuts = n ? (n - 1) / step : 0;
    size_t *cuts = malloc((ncuts + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = (i + 1) * step;
    char *out = run_cuts(a, doc, n, cuts, ncuts, lim, len);
    free(cuts);
    return out;
}

/* Fails with both dumps when got[0..got_n) differs from want[0..want_n);
 * frees got and a first, so a failing test leaves nothing for
 * LeakSanitizer. */
static void check_dump(char *got, size_t got_n, const char *want, size_t want_n,
                       struct karena *a, const char *what)
{
    static char report[16384];
    bool same = got_n == want_n && memcmp(got, want, want_n) == 0;
    if (!same)
        snprintf(report, sizeof report, "%s:\n--- got ---\n%s\n--- want ---\n%s", what, got,
                 want);
    free(got);
    karena_free(a);
    if (!same)
        fail_msg("%s", report);
}

static void expect_n(const char *doc, size_t n, const struct csv_limits *lim, const char *want,
                     size_t want_n)
{
    char what[256];
    size_t got_n = 0;
    snprintf(what, sizeof what, "input %.*s", n < 200 ? (int)n : 200, doc);
    char *got = run_whole(doc, n, lim, &got_n);
    check_dump(got, got_n, want, want_n, NULL, what);
}

/* doc and want are string literals (either may hold a NUL) */
#define EXPECT(lit, want) expect_n(lit, sizeof lit - 1, NULL, want, sizeof want - 1)
#define EXPECT_LIM(lit, lim, want) expect_n(lit, sizeof lit - 1, lim, want, sizeof want - 1)

/*
 * The strongest property: doc cut in two at every position k (0..n, so the
 * first or last piece may be empty), in three at every pair (j, k), and fed
 * a byte (and two bytes) at a time, gives exactly the rows, line numbers and
 * outcome of doc read whole -- which must be want.
 */
static void expect_any_cut_n(const char *doc, size_t n, const struct csv_limits *lim,
                             const char *want, size_t want_n)
{
    char what[64];
    size_t got_n = 0;
    expect_n(doc, n, lim, want, want_n);
    for (size_t j = 0; j <= n; j++) {
        for (size_t k = j; k <= n; k++) {
            /* (j, j) is a single cut at j plus an empty piece */
            size_t cuts[2] = {j, k};
            size_t ncuts = k == n ? 1 : 2;
            struct karena *a = karena_new(TEST_ARENA_CEILING);
            assert_non_null(a);
            snprintf(what, sizeof what, "cuts at %zu, %zu", j, k);
            char *got = run_cuts(a, doc, n, cuts, ncuts, lim, &got_n);
            check_dump(got, got_n, want, want_n, a, what);
        }
    }
    for (size_t step = 1; step <= 2; step++) {
        struct karena *a = karena_new(TEST_ARENA_CEILING);
        assert_non_null(a);
        snprintf(what, sizeof what, "%zu byte(s) at a time", step);
        char *got = run_steps(a, doc, n, step, lim, &got_n);
        check_dump(got, got_n, want, want_n, a, what);
    }
}

#define EXPECT_ANY_CUT(lit, want) EXPECT_ANY_CUT_LIM(lit, NULL, want)
#define EXPECT_ANY_CUT_LIM(lit, lim, want)                                                     \
    expect_any_cut_n(lit, sizeof lit - 1, lim, want, sizeof want - 1)

/* ---- tests ---- */

static void test_plain(void **state)
{
    (void)state;
    EXPECT("a,b,c\n1,2,3\n", "1:[a][b][c]\n2:[1][2][3]\nEND");
    EXPECT("x\n", "1:[x]\nEND");
    EXPECT("", "END");
    EXPECT("sepal length (cm),sepal width (cm)\n5.1,3.5\n",
           "1:[sepal length (cm)][sepal width (cm)]\n2:[5.1][3.5]\nEND");
    /* spaces are data, not trimmed */
    EXPECT(" a , b \n", "1:[ a ][ b ]\nEND");
    /* a quote inside an unquoted field is text, as pandas and Python's csv keep it */
    EXPECT("a\"b,c\"\n", "1:[a\"b][c\"]\nEND");
    /* a NUL byte is just a byte */
    EXPECT("a\0b,c\n", "1:[a\0b][c]\nEND");
}

/* The fields are (pointer, length) pairs, borrowed when they can be. */
static void test_field_pointers(void **state)
{
    (void)state;
    static const char doc[] = "ab,\"c,d\",,\"\"\n\"e\"\"f\",g\n";
    struct csv_reader r;
    csv_init(&r, arena, NULL);
    csv_feed(&r, doc, sizeof doc - 1, true);
    const struct csv_field *f;
    size_t nf;
    assert_int_equal(csv_next(&r, &f, &nf), CSV_ROW);
    assert_int_equal(nf, 4);
    assert_int_equal(csv_line(&r), 1);
    /* unquoted and quoted-without-"" fields point into the caller's buffer */
    assert_ptr_equal(f[0].p, doc);
    assert_int_equal(f[0].len, 2);
    assert_false(f[0].quoted);
    assert_ptr_equal(f[1].p, doc + 4);
    assert_int_equal(f[1].len, 3);
    assert_true(f[1].quoted);
    assert_int_equal(f[2].len, 0);
    assert_false(f[2].quoted);
    assert_int_equal(f[3].len, 0);
    assert_true(f[3].quoted);
    /* "" has to be unescaped: a copy (and the fields after it follow) */
    assert_int_equal(csv_next(&r, &f, &nf), CSV_ROW);
    assert_int_equal(nf, 2);
    assert_int_equal(csv_line(&r), 2);
    assert_int_equal(f[0].len, 3);
    assert_memory_equal(f[0].p, "e\"f", 3);
    assert_true(f[0].quoted);
    assert_int_equal(f[1].len, 1);
    assert_memory_equal(f[1].p, "g", 1);
    assert_false(f[1].quoted);
    assert_int_equal(csv_next(&r, &f, &nf), CSV_END);
    assert_int_equal(csv_error(&r), CSV_OK);
}

static void test_quoted(void **state)
{
    (void)state;
    EXPECT("\"a,b\",c\n", "1:{a,b}[c]\nEND");
    EXPECT("\"say \"\"hi\"\"\",x\n", "1:{say \"hi\"}[x]\nEND");
    EXPECT("\"\"\"\"\n", "1:{\"}\nEND");
    EXPECT("\"\"\"a\"\n", "1:{\"a}\nEND");
    EXPECT("\"a\"\"\"\n", "1:{a\"}\nEND");
    EXPECT("\"\"\n", "1:{}\nEND");
    EXPECT("\"\",\"\"\n", "1:{}{}\nEND");
    /* line breaks inside quotes are data; the next row's line counts them */
    EXPECT("\"x\ny\",z\nw\n", "1:{x\ny}[z]\n3:[w]\nEND");
    EXPECT("\"x\r\ny\",z\r\nw\r\n", "1:{x\r\ny}[z]\n3:[w]\nEND");
    EXPECT("\"x\ry\",z\rw\r", "1:{x\ry}[z]\n3:[w]\nEND");
    EXPECT("\"\n\n\"\nw\n", "1:{\n\n}\n4:[w]\nEND");
    /* a CR and an LF separated by "" are two line breaks */
    EXPECT("\"a\r\"\"\nb\"\nw\n", "1:{a\r\"\nb}\n4:[w]\nEND");
    /* quoted field at the very end, without a line break */
    EXPECT("a,\"b\"", "1:[a]{b}\nEND");
    EXPECT("\"a\"\"\"", "1:{a\"}\nEND");
}

static void test_line_ends(void **state)
{
    (void)state;
    EXPECT("a,b\nc,d\n", "1:[a][b]\n2:[c][d]\nEND");
    EXPECT("a,b\r\nc,d\r\n", "1:[a][b]\n2:[c][d]\nEND");
    EXPECT("a,b\rc,d\r", "1:[a][b]\n2:[c][d]\nEND");
    /* mixed, and LF CR is two line breaks (a blank line between) */
    EXPECT("a\r\nb\nc\rd\n\re\n", "1:[a]\n2:[b]\n3:[c]\n4:[d]\n5:\n6:[e]\nEND");
    /* CR CR LF: a row, then a blank line ended by CRLF */
    EXPECT("a\r\r\nb", "1:[a]\n2:\n3:[b]\nEND");
    /* last line without a line break */
    EXPECT("a,b\nc,d", "1:[a][b]\n2:[c][d]\nEND");
    EXPECT("a,b\r\nc", "1:[a][b]\n2:[c]\nEND");
    EXPECT("a", "1:[a]\nEND");
    EXPECT("a\r", "1:[a]\nEND");
}

static void test_blank_lines_and_empty_fields(void **state)
{
    (void)state;
    EXPECT("\n", "1:\nEND");
    EXPECT("\r\n", "1:\nEND");
    EXPECT("a\n\nb\n", "1:[a]\n2:\n3:[b]\nEND");
    EXPECT("a\r\n\r\n\r\nb", "1:[a]\n2:\n3:\n4:[b]\nEND");
    EXPECT("\n\na\n", "1:\n2:\n3:[a]\nEND");
    /* empty fields are fields: ",," is three of them */
    EXPECT(",,\n", "1:[][][]\nEND");
    EXPECT(",\n", "1:[][]\nEND");
    EXPECT("a,,b\n", "1:[a][][b]\nEND");
    EXPECT("a,", "1:[a][]\nEND");
    EXPECT(",", "1:[][]\nEND");
    EXPECT("a,\r\n,b", "1:[a][]\n2:[][b]\nEND");
}

static void test_bom(void **state)
{
    (void)state;
    EXPECT("\xEF\xBB\xBF" "a,b\n1,2\n", "1:[a][b]\n2:[1][2]\nEND");
    EXPECT("\xEF\xBB\xBF", "END");
    EXPECT("\xEF\xBB\xBF\n", "1:\nEND");
    EXPECT("\xEF\xBB\xBF\"a,b\"\n", "1:{a,b}\nEND");
    /* only at the very start */
    EXPECT("a\n\xEF\xBB\xBF" "b\n", "1:[a]\n2:[\xEF\xBB\xBF" "b]\nEND");
    /* two BOMs: the second is data */
    EXPECT("\xEF\xBB\xBF\xEF\xBB\xBF" "a", "1:[\xEF\xBB\xBF" "a]\nEND");
    /* the start of a BOM that is not one is data */
    EXPECT("\xEF", "1:[\xEF]\nEND");
    EXPECT("\xEF\xBB", "1:[\xEF\xBB]\nEND");
    EXPECT("\xEF\xBB" "a,b", "1:[\xEF\xBB" "a][b]\nEND");
    EXPECT("\xEF,b", "1:[\xEF][b]\nEND");
    EXPECT("\xEF\xBB\n", "1:[\xEF\xBB]\nEND");
    EXPECT("\xEF\"q\"", "1:[\xEF\"q\"]\nEND");

    /* the BOM cut into pieces of 1 and 2 bytes, every way */
    static const char bom_doc[] = "\xEF\xBB\xBF" "a,b\r\n1,2";
    size_t n = sizeof bom_doc - 1;
    static const size_t cut_sets[][3] = {{1, 2, 3}, {1, 3, 3}, {2, 3, 3}, {1, 1, 3}, {0, 1, 2}};
    for (size_t i = 0; i < sizeof cut_sets / sizeof *cut_sets; i++) {
        char *got = run_cuts(arena, bom_doc, n, cut_sets[i], 3, NULL, NULL);
        assert_string_equal(got, "1:[a][b]\n2:[1][2]\nEND");
        free(got);
    }
    /* a BOM-like start cut after 1 or 2 bytes that then turns out not to be one */
    static const char not_bom[] = "\xEF\xBBx,\xEF\n";
    static const size_t one[] = {1}, two[] = {2}, both[] = {1, 2};
    char *got = run_cuts(arena, not_bom, sizeof not_bom - 1, one, 1, NULL, NULL);
    assert_string_equal(got, "1:[\xEF\xBBx][\xEF]\nEND");
    free(got);
    got = run_cuts(arena, not_bom, sizeof not_bom - 1, two, 1, NULL, NULL);
    assert_string_equal(got, "1:[\xEF\xBBx][\xEF]\nEND");
    free(got);
    got = run_cuts(arena, not_bom, sizeof not_bom - 1, both, 2, NULL, NULL);
    assert_string_equal(got, "1:[\xEF\xBBx][\xEF]\nEND");
    free(got);
    /* a lone first byte that is the whole (last) input, fed as two pieces */
    got = run_cuts(arena, "\xEF", 1, one, 1, NULL, NULL);
    assert_string_equal(got, "1:[\xEF]\nEND");
    free(got);
}

/* Every cut of documents that exercise every state at a piece boundary. */
static void test_every_cut(void **state)
{
    (void)state;
    EXPECT_ANY_CUT("\xEF\xBB\xBF" "h1,\"h,2\",h3\r\n"
                   "1,\"a \"\"q\"\" b\",\r\n"
                   "\r\n"
                   "\"x\r\ny\",\"\",\"z\rw\"\r"
                   "\"\"\"\",p\"q,\"\n\n\"\n"
                   "last,\"l\"",
                   "1:[h1]{h,2}[h3]\n"
                   "2:[1]{a \"q\" b}[]\n"
                   "3:\n"
                   "4:{x\r\ny}{}{z\rw}\n"
                   "7:{\"}[p\"q]{\n\n}\n"
                   "10:[last]{l}\n"
                   "END");
    EXPECT_ANY_CUT("a\r\r\n\r\nb\r", "1:[a]\n2:\n3:\n4:[b]\nEND");
    EXPECT_ANY_CUT("\xEF\xBB,\"\"", "1:[\xEF\xBB]{}\nEND");
    EXPECT_ANY_CUT("\xEF\n", "1:[\xEF]\nEND");
    EXPECT_ANY_CUT("\xEF\xBB\r\n\r\n", "1:[\xEF\xBB]\n2:\nEND");
    EXPECT_ANY_CUT("\"a\r\"\"\nb\",\r\n,", "1:{a\r\"\nb}[]\n4:[][]\nEND");
    /* errors come out the same at every cut too */
    EXPECT_ANY_CUT("a,b\n\"c\nd", "1:[a][b]\nERR3@2");
    EXPECT_ANY_CUT("a,b\nc,\"d\"e\n", "1:[a][b]\nERR4@2");
}

/* A long document (many rows, fields crossing every boundary) one byte at a
 * time and in odd-sized pieces, against the whole read. */
static void test_piecewise_long(void **state)
{
    (void)state;
    struct dstr d = {0};
    for (int i = 0; i < 300; i++) {
        switch (i % 5) {
        case 0: ds_printf(&d, "%d,\"q,%d\"\r\n", i, i); break;
        case 1: ds_printf(&d, "\"%d\"\"\",\"multi\nline %d\"\n", i, i); break;
        case 2: ds_printf(&d, "\n"); break;
        case 3: ds_printf(&d, "%d,,%d\r", i, i); break;
        default: ds_printf(&d, "\"\",x%d,\"%0200d\"\n", i, i); break;
        }
    }
    size_t whole_n = 0, got_n = 0;
    char *whole = run_whole(d.p, d.len, NULL, &whole_n);
    assert_non_null(strstr(whole, "\n2:"));
    static const size_t steps[] = {1, 2, 3, 7, 64, 255, 4096};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        struct karena *a = karena_new(TEST_ARENA_CEILING);
        char *got = run_steps(a, d.p, d.len, steps[i], NULL, &got_n);
        bool same = got_n == whole_n && memcmp(got, whole, whole_n) == 0;
        free(got);
        karena_free(a);
        if (!same) {
            free(whole);
            free(d.p);
            fail_msg("%zu bytes at a time: the rows differ from the whole read", steps[i]);
        }
    }
    /* memory stays bounded by the largest row, not the document */
    struct karena *a = karena_new(TEST_ARENA_CEILING);
    char *got = run_steps(a, d.p, d.len, 1, NULL, NULL);
    free(got);
    assert_true(karena_used(a) < 64u << 10);
    karena_free(a);
    free(whole);
    free(d.p);
}

static void test_unterminated_quote(void **state)
{
    (void)state;
    /* the line the quote opened on, not where the input ended */
    EXPECT("a\nb,\"c\nd\ne", "1:[a]\nERR3@2");
    EXPECT("\"", "ERR3@1");
    EXPECT("a\r\n\r\n\"x\r\n\r\n", "1:[a]\n2:\nERR3@3");
    /* a closed quote followed by an open one */
    EXPECT("\"a\"\n\"", "1:{a}\nERR3@2");
    /* "" at the end is an escaped quote, so still open */
    EXPECT("\"abc\"\"", "ERR3@1");
    assert_non_null(strstr(csv_strerror(CSV_E_UNTERMINATED), "quoted"));
}

static void test_text_after_closing_quote(void **state)
{
    (void)state;
    EXPECT("\"a\"b,c\n", "ERR4@1");
    EXPECT("x\ny\n\"c\"x\n", "1:[x]\n2:[y]\nERR4@3");
    EXPECT("\"a\" ,c\n", "ERR4@1");
    /* the row began on line 1; the stray text is on line 2 */
    EXPECT("\"a\nb\"x\n", "ERR4@2");
}

static void test_field_too_long(void **state)
{
    (void)state;
    struct csv_limits lim = {.max_field = 4};
    EXPECT_LIM("abcd,\"efgh\",\"ab\"\"c\"\n", &lim, "1:[abcd]{efgh}{ab\"c}\nEND");
    EXPECT_LIM("ok\nabcde\n", &lim, "1:[ok]\nERR1@2");
    EXPECT_LIM("ok\n\"abcde\"\n", &lim, "1:[ok]\nERR1@2");
    EXPECT_LIM("ok\n\"ab\"\"cd\"\n", &lim, "1:[ok]\nERR1@2");
    EXPECT_LIM("ok\n\"abcd\"\"\"\n", &lim, "1:[ok]\nERR1@2");
    EXPECT_LIM("\"\n\n\n\n\n\"", &lim, "ERR1@1");
    /* the same at every cut */
    EXPECT_ANY_CUT_LIM("ok,x\r\nabcd,\"a\"\"bc\"\r\nabcde", &lim,
                       "1:[ok][x]\n2:[abcd]{a\"bc}\nERR1@3");
    EXPECT_ANY_CUT_LIM("ok\n\"ab\"\"cd\"", &lim, "1:[ok]\nERR1@2");
    /* the default is 1 MiB */
    size_t n = CSV_DEFAULT_MAX_FIELD + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\n';
    char *got = run_whole(big, n - 1, NULL, NULL);
    assert_string_equal(got + strlen(got) - 3, "END");
    free(got);
    got = run_whole(big, n + 1, NULL, NULL);
    assert_string_equal(got, "ERR1@1");
    free(got);
    free(big);
}

static void test_too_many_columns(void **state)
{
    (void)state;
    struct csv_limits lim = {.max_cols = 3};
    EXPECT_LIM("a,b,c\n1,2,3\n", &lim, "1:[a][b][c]\n2:[1][2][3]\nEND");
    EXPECT_LIM("a,b,c\n\n1,2,3,4\n", &lim, "1:[a][b][c]\n2:\nERR2@3");
    /* a trailing comma is a fourth (empty) field */
    EXPECT_LIM("a,b,c,", &lim, "ERR2@1");
    EXPECT_LIM("a,b,c,\n", &lim, "ERR2@1");
    EXPECT_ANY_CUT_LIM("a,\"b\",c\r\n1,2,\"3\",\"4\"", &lim, "1:[a]{b}[c]\nERR2@2");
    /* the default */
    struct dstr d = {0};
    for (size_t i = 0; i < CSV_DEFAULT_MAX_COLS; i++)
        ds_add(&d, i ? ",1" : "1", i ? 2 : 1);
    char *got = run_whole(d.p, d.len, NULL, NULL);
    assert_string_equal(got + strlen(got) - 3, "END");
    free(got);
    ds_add(&d, ",", 1);
    got = run_whole(d.p, d.len, NULL, NULL);
    assert_string_equal(got, "ERR2@1");
    free(got);
    free(d.p);
}

/* The fast lane for plain rows keeps the same column ceiling as csv_next():
 * a plain line with more fields than max_cols is not offered, and csv_next()
 * then refuses it. */
static void test_plain_lane_keeps_the_column_ceiling(void **state)
{
    (void)state;
    struct csv_limits lim = {.max_cols = 3};
    static const char doc[] = "a,b,c\n1,2,3\n1,2,3,4\n";
    struct csv_reader r;
    csv_init(&r, arena, &lim);
    csv_feed(&r, doc, sizeof doc - 1, true);
    const struct csv_field *f;
    size_t nf;
    /* the lane starts once the reader stands past its first row (the BOM check) */
    assert_int_equal(csv_next(&r, &f, &nf), CSV_ROW);
    assert_int_equal(nf, 3);
    const char *line;
    size_t len;
    assert_true(csv_peek_plain(&r, &line, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(line, "1,2,3", 5);
    csv_skip_plain(&r, len);
    /* four fields, three allowed: left to csv_next(), which refuses the row */
    assert_false(csv_peek_plain(&r, &line, &len));
    assert_int_equal(csv_next(&r, &f, &nf), CSV_ERROR);
    assert_int_equal(csv_error(&r), CSV_E_TOO_MANY_COLUMNS);
    assert_int_equal(csv_line(&r), 3);
    /* the default ceiling, on a line long enough to be counted */
    struct dstr d = {0};
    ds_add(&d, "h\n", 2);
    for (size_t i = 0; i <= CSV_DEFAULT_MAX_COLS; i++)
        ds_add(&d, i ? "," : "", i ? 1 : 0);
    ds_add(&d, "\n", 1);
    csv_init(&r, arena, NULL);
    csv_feed(&r, d.p, d.len, true);
    assert_int_equal(csv_next(&r, &f, &nf), CSV_ROW);
    assert_false(csv_peek_plain(&r, &line, &len)); /* CSV_DEFAULT_MAX_COLS + 1 fields */
    assert_int_equal(csv_next(&r, &f, &nf), CSV_ERROR);
    assert_int_equal(csv_error(&r), CSV_E_TOO_MANY_COLUMNS);
    /* one comma fewer: exactly the ceiling, offered */
    d.p[d.len - 2] = '\n';
    csv_init(&r, arena, NULL);
    csv_feed(&r, d.p, d.len - 1, true);
    assert_int_equal(csv_next(&r, &f, &nf), CSV_ROW);
    assert_true(csv_peek_plain(&r, &line, &len));
    assert_int_equal(len, CSV_DEFAULT_MAX_COLS - 1);
    free(d.p);
}

/* Rows past the arena's ceiling are refused with CSV_E_NOMEM. */
static void test_arena_ceiling(void **state)
{
    (void)state;
    /* the field array alone does not fit in 64 bytes */
    struct karena *tiny = karena_new(64);
    assert_non_null(tiny);
    char *got = run_cuts(tiny, "a,b\n", 4, NULL, 0, NULL, NULL);
    assert_string_equal(got, "ERR5@1");
    free(got);
    karena_free(tiny);

    /* room for the fields, not for a field that must be copied */
    tiny = karena_new(1024);
    assert_non_null(tiny);
    struct dstr d = {0};
    ds_add(&d, "ok\n\"", 4);
    for (int i = 0; i < 2000; i++)
        ds_add(&d, "\"\"", 2);
    ds_add(&d, "\"\n", 2);
    got = run_cuts(tiny, d.p, d.len, NULL, 0, NULL, NULL);
    assert_string_equal(got, "1:[ok]\nERR5@2");
    free(got);
    karena_free(tiny);

    /* streaming: a long field that straddles pieces has to be copied */
    tiny = karena_new(1024);
    assert_non_null(tiny);
    d.len = 0;
    for (int i = 0; i < 4000; i++)
        ds_add(&d, "x", 1);
    got = run_steps(tiny, d.p, d.len, 100, NULL, NULL);
    assert_string_equal(got, "ERR5@1");
    free(got);
    karena_free(tiny);
    free(d.p);
    assert_string_equal(csv_strerror(CSV_E_NOMEM), "out of memory");
    assert_string_equal(csv_strerror(CSV_OK), "no error");
    assert_string_equal(csv_strerror((enum csv_error)99), "unknown error");
}

/* A field past max_field that is also malformed (text after its closing
 * quote, or never closed) gets CSV_E_FIELD_TOO_LONG wherever the input is
 * cut: the length is checked as bytes are read, not when the field ends. */
static void test_too_long_wins_wherever_cut(void **state)
{
    (void)state;
    struct csv_limits lim = {.max_field = 3};
    EXPECT_ANY_CUT_LIM("\"abcd\"x\n", &lim, "ERR1@1");
    EXPECT_ANY_CUT_LIM("\"abcdef", &lim, "ERR1@1");
    EXPECT_ANY_CUT_LIM("abcdef,x\n", &lim, "ERR1@1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_pointers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quoted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blank_lines_and_empty_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_piecewise_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unterminated_quote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_after_closing_quote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_lane_keeps_the_column_ceiling, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_arena_ceiling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_long_wins_wherever_cut, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
