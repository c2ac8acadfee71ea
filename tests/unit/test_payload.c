/*
 * test_payload.c -- scoring request bodies into the signature-ordered matrix.
 *
 * First the recordings: every /invocations exchange of two golden models
 * (xgb-classifier-iris, xgb-booster-binary) sent as JSON or CSV is decoded
 * and checked against input.csv (200s: every value, and the documented
 * variants) or against MLflow 2.12's error (400s: the code, and the message
 * -- exactly, or piece by piece where MLflow embeds a pandas repr). Then the
 * edges: CSV quoting, BOM, NA spellings and ragged rows; every JSON form and
 * its refusals; integer and unsupported column types; signature-less models;
 * a 5,000-column signature; the row limit; and Python's json error positions
 * (each text checked against /usr/bin/python3's json module).
 *
 * Fixtures: $KEEL_FIXTURES, else ../shared/fixtures beside the repository.
 */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "model/model.h"
#include "serve/payload.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/jparse.h"

#define TEST_ARENA_CEILING (256u << 20)
#include "testlib.h"

#define MANY_ROWS ((size_t)1 << 20)

/* The context of the last decode(): its error message. */
static struct keel_ctx ctx;

/* ---- fixtures ---- */

/* A golden model's input.csv: its header and its values (plain CSV). */
struct table {
    size_t rows, cols;
    const char **names;
    double *x;
};

static size_t split_commas(char *line, char **out, size_t max)
{
    size_t n = 0;
    for (char *p = line;; p++) {
        char *comma = strchr(p, ',');
        assert_true(n < max);
        out[n++] = p;
        if (!comma)
            return n;
        *comma = '\0';
        p = comma;
    }
}

static void load_table(const char *model, struct table *t)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/golden/%s/input.csv", fixtures(), model);
    size_t n;
    char *text = test_slurp(path, &n);
    char *save = NULL;
    char *line = strtok_r(text, "\r\n", &save);
    assert_non_null(line);
    char *fields[64];
    t->cols = split_commas(line, fields, 64);
    t->names = karena_alloc(arena, t->cols * sizeof *t->names);
    assert_non_null(t->names);
    for (size_t c = 0; c < t->cols; c++)
        t->names[c] = fields[c];
    t->x = karena_alloc(arena, 1000 * t->cols * sizeof *t->x);
    assert_non_null(t->x);
    t->rows = 0;
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        assert_int_equal(split_commas(line, fields, 64), t->cols);
        for (size_t c = 0; c < t->cols; c++) {
            char *end;
            t->x[t->rows * t->cols + c] = strtod(fields[c], &end);
            assert_true(*end == '\0' && end != fields[c]);
        }
        t->rows++;
        assert_true(t->rows < 1000);
    }
}

/* ---- signatures ---- */

static struct keel_signature make_sig(const char *const *names, size_t n, enum keel_dtype type)
{
    struct keel_colspec *cs = karena_calloc(arena, n ? n : 1, sizeof *cs);
    assert_non_null(cs);
    for (size_t i = 0; i < n; i++)
        cs[i] = (struct keel_colspec){.name = names[i], .type = type, .required = 1};
    return (struct keel_signature){.has_inputs = 1, .inputs = cs, .n_inputs = n};
}

static const char *const iris_names[] = {"sepal length (cm)", "sepal width (cm)",
                                         "petal length (cm)", "petal width (cm)"};

static struct keel_signature iris_sig(void) { return make_sig(iris_names, 4, KEEL_DT_DOUBLE); }

static const char *const ab_names[] = {"a", "b"};

static struct keel_signature ab_sig(void) { return make_sig(ab_names, 2, KEEL_DT_DOUBLE); }

/* ---- decoding ---- */

/* Decodes a copy of body in a block of exactly len bytes (so AddressSanitizer
 * sees a read past the body) into out; ctx holds the error. */
static enum keel_err decode_n(enum payload_format fmt, const char *body, size_t len,
                              const struct keel_signature *sig, size_t n_features,
                              size_t max_rows, struct payload_frame *out)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, body, len);
    ctx = (struct keel_ctx){.arena = arena};
    struct payload_limits lim = {.max_rows = max_rows};
    memset(out, 0, sizeof *out);
    enum keel_err e = payload_decode(fmt, copy, len, sig, n_features, &lim, out, &ctx);
    free(copy);
    if (e == KEEL_OK) {
        assert_non_null(out->x);
        assert_int_equal(out->cols, sig->has_inputs ? sig->n_inputs : n_features);
    } else {
        assert_int_equal(ctx.err, e);
        assert_non_null(ctx.errmsg);
    }
    return e;
}

static enum keel_err decode(enum payload_format fmt, const char *body,
                            const struct keel_signature *sig, struct payload_frame *out)
{
    return decode_n(fmt, body, strlen(body), sig, sig->n_inputs, MANY_ROWS, out);
}

/* {"dataframe_split": {"columns": ["a", "b"], "data": <data>}} */
#define AB_SPLIT(data) "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": " data "}}"

#define JSON PAYLOAD_JSON
#define CSV PAYLOAD_CSV

/* Decodes and checks rows x cols values (NAN where NaN is wanted). */
static void expect_frame(enum payload_format fmt, const char *body,
                         const struct keel_signature *sig, size_t rows, const double *want)
{
    struct payload_frame f;
    enum keel_err e = decode(fmt, body, sig, &f);
    if (e != KEEL_OK)
        fail_msg("%s\nrefused (%d): %s", body, (int)e, ctx.errmsg);
    assert_int_equal(f.rows, rows);
    for (size_t i = 0; i < rows * f.cols; i++) {
        bool ok = isnan(want[i]) ? isnan(f.x[i]) : f.x[i] == want[i];
        if (!ok)
            fail_msg("%s\ncell [%zu][%zu]: got %.17g, want %.17g", body, i / f.cols, i % f.cols,
                     f.x[i], want[i]);
    }
}

static void expect_fail(enum payload_format fmt, const char *body,
                        const struct keel_signature *sig, enum keel_err code, const char *msg)
{
    struct payload_frame f;
    enum keel_err e = decode(fmt, body, sig, &f);
    if (e != code)
        fail_msg("%s\ngot code %d (%s), want %d", body, (int)e, e ? ctx.errmsg : "ok",
                 (int)code);
    if (msg && strcmp(ctx.errmsg, msg) != 0)
        fail_msg("%s\n--- got ---\n%s\n--- want ---\n%s", body, ctx.errmsg, msg);
}

static void expect_fail_prefix(enum payload_format fmt, const char *body,
                               const struct keel_signature *sig, enum keel_err code,
                               const char *prefix)
{
    expect_fail(fmt, body, sig, code, NULL);
    if (strncmp(ctx.errmsg, prefix, strlen(prefix)) != 0)
        fail_msg("%s\n--- got ---\n%s\n--- want a start of ---\n%s", body, ctx.errmsg, prefix);
}

/* ---- messages that embed a pandas repr ---- */

static const char predict_prefix[] = "Failed to predict data '";

/* From the last "'. Error: " on: MLflow's final clause. */
static const char *final_clause(const char *m)
{
    const char *last = NULL;
    for (const char *p = m; (p = strstr(p, "'. Error: ")) != NULL; p++)
        last = p;
    return last;
}

/* MLflow's schema repr: between " with schema '" and the final clause. */
static void schema_part(const char *m, const char **s, size_t *n)
{
    const char *start = strstr(m, " with schema '");
    const char *end = final_clause(m);
    assert_non_null(start);
    assert_non_null(end);
    start += strlen(" with schema '");
    assert_true(start <= end);
    *s = start;
    *n = (size_t)(end - start);
}

/* got matches want where MLflow's text is reproducible: the text before the
 * first quote, the schema repr and the final clause. */
static void expect_predict_message(const char *got, const char *want)
{
    assert_memory_equal(got, predict_prefix, strlen(predict_prefix));
    assert_memory_equal(want, predict_prefix, strlen(predict_prefix));
    assert_non_null(strstr(got, "'. \nError: Failed to enforce schema of data '"));
    const char *gs, *ws;
    size_t gn, wn;
    schema_part(got, &gs, &gn);
    schema_part(want, &ws, &wn);
    if (gn != wn || memcmp(gs, ws, gn) != 0)
        fail_msg("schema: got\n%.*s\nwant\n%.*s", (int)gn, gs, (int)wn, ws);
    assert_string_equal(final_clause(got), final_clause(want));
}

/* Monotonic seconds, for a coarse guard against quadratic name matching. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the recorded exchanges ---- */

static void expect_table_rows(const struct payload_frame *f, const struct table *t, size_t first,
                              size_t n, const char *name)
{
    assert_int_equal(f->cols, t->cols);
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < t->cols; c++)
            if (f->x[r * f->cols + c] != t->x[(first + r) * t->cols + c])
                fail_msg("%s: [%zu][%zu] got %.17g, want %.17g", name, r, c,
                         f->x[r * f->cols + c], t->x[(first + r) * t->cols + c]);
}

/* The frame a 200 exchange must decode to, by its name (fixtures README §3). */
static void check_accepted(const char *name, const struct payload_frame *f, const struct table *t)
{
    if (!strcmp(name, "dataframe_split_single_row")) {
        assert_int_equal(f->rows, 1);
        expect_table_rows(f, t, 0, 1, name);
    } else if (!strcmp(name, "dataframe_split_integer_values")) {
        /* the first 3 rows, each value rounded (Python's round: half to even) */
        assert_int_equal(f->rows, 3);
        for (size_t i = 0; i < 3 * t->cols; i++)
            if (f->x[i] != nearbyint(t->x[i]))
                fail_msg("%s: cell %zu got %.17g, want %.17g", name, i, f->x[i],
                         nearbyint(t->x[i]));
    } else if (!strcmp(name, "dataframe_split_null_value")) {
        assert_int_equal(f->rows, t->rows);
        assert_true(isnan(f->x[0]));
        for (size_t i = 1; i < t->rows * t->cols; i++)
            assert_true(f->x[i] == t->x[i]);
    } else if (!strcmp(name, "dataframe_split_all_null_row")) {
        assert_int_equal(f->rows, 3);
        for (size_t c = 0; c < t->cols; c++)
            assert_true(isnan(f->x[c]));
        for (size_t i = t->cols; i < 3 * t->cols; i++)
            assert_true(f->x[i] == t->x[i]);
    } else if (!strcmp(name, "dataframe_records_one_record_missing_column")) {
        assert_int_equal(f->rows, t->rows);
        for (size_t i = 0; i < t->rows * t->cols; i++)
            assert_true(i == 1 ? isnan(f->x[i]) : f->x[i] == t->x[i]);
    } else {
        /* the 20 rows as they are: every other form, CSV, reordered columns,
         * params, and the extra column (ignored) */
        assert_int_equal(f->rows, t->rows);
        expect_table_rows(f, t, 0, t->rows, name);
    }
}

static const char *jstr(const struct jval *obj, const char *key)
{
    const struct jval *v = jv_get(obj, key);
    return jv_is_string(v) ? v->u.s : NULL;
}

static void check_refused(const char *name, enum keel_err e, const struct jval *ex)
{
    const struct jval *resp_body = jv_get(ex, "response_body");
    assert_true(jv_is_string(resp_body));
    const char *perr = NULL;
    const struct jval *resp = jp_parse(arena, resp_body->u.s, resp_body->n, &perr);
    assert_non_null(resp);
    const char *code = jstr(resp, "error_code");
    const char *want = jstr(resp, "message");
    assert_non_null(code);
    assert_non_null(want);
    enum keel_err want_e = !strcmp(code, "BAD_REQUEST")               ? KEEL_E_BAD_REQUEST
                           : !strcmp(code, "INVALID_PARAMETER_VALUE") ? KEEL_E_INVALID_PARAMETER
                                                                      : KEEL_E__COUNT;
    if (e != want_e)
        fail_msg("%s: got code %d (%s), want %s", name, (int)e, e ? ctx.errmsg : "ok", code);
    if (!strncmp(want, predict_prefix, strlen(predict_prefix)))
        expect_predict_message(ctx.errmsg, want);
    else if (strcmp(ctx.errmsg, want) != 0)
        fail_msg("%s: message\n--- got ---\n%s\n--- want ---\n%s", name, ctx.errmsg, want);
}

/* Media type -> format; false for what the decoder is never handed. */
static bool format_of(const char *ct, enum payload_format *fmt)
{
    if (!ct)
        return false;
    if (!strcmp(ct, "application/json") || !strcmp(ct, "application/json; charset=utf-8")) {
        *fmt = PAYLOAD_JSON;
        return true;
    }
    if (!strcmp(ct, "text/csv") || !strcmp(ct, "text/csv; charset=utf-8")) {
        *fmt = PAYLOAD_CSV;
        return true;
    }
    return false;
}

static void check_exchanges(const char *model)
{
    struct table t;
    load_table(model, &t);
    struct keel_signature sig = make_sig(t.names, t.cols, KEEL_DT_DOUBLE);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/golden/%s/wire/exchanges.jsonl", fixtures(), model);
    size_t n;
    char *text = test_slurp(path, &n);
    size_t accepted = 0, refused = 0;
    bool seen_variant[6] = {0};
    static const char *const variants[6] = {
        "dataframe_split_columns_reordered", "dataframe_split_single_row",
        "dataframe_split_integer_values",    "dataframe_split_null_value",
        "dataframe_split_all_null_row",      "dataframe_records_one_record_missing_column",
    };
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            nl = line + strlen(line) - 1;
        size_t len = (size_t)(nl - line) + (*nl != '\n');
        if (len == 0)
            continue;
        const char *perr = NULL;
        const struct jval *ex = jp_parse(arena, line, len, &perr);
        if (!ex)
            fail_msg("%s: a line is not JSON: %s", model, perr);
        const char *name = jstr(ex, "name");
        const char *xpath = jstr(ex, "path");
        assert_non_null(name);
        enum payload_format fmt;
        if (!xpath || strcmp(xpath, "/invocations") != 0 ||
            !format_of(jstr(jv_get(ex, "request_headers"), "Content-Type"), &fmt))
            continue;
        const struct jval *body = jv_get(ex, "request_body");
        const struct jval *status = jv_get(ex, "status");
        assert_true(jv_is_string(body));
        assert_true(jv_is_int(status));
        struct payload_frame f;
        enum keel_err e = decode_n(fmt, body->u.s, body->n, &sig, t.cols, MANY_ROWS, &f);
        if (status->u.i == 200) {
            if (e != KEEL_OK)
                fail_msg("%s/%s refused (%d): %s", model, name, (int)e, ctx.errmsg);
            check_accepted(name, &f, &t);
            for (size_t v = 0; v < 6; v++)
                seen_variant[v] |= !strcmp(name, variants[v]);
            accepted++;
        } else {
            assert_int_equal(status->u.i, 400);
            check_refused(name, e, ex);
            refused++;
        }
    }
    /* every JSON or CSV /invocations exchange of the table in the README */
    assert_int_equal(accepted, 17);
    assert_int_equal(refused, 11);
    for (size_t v = 0; v < 6; v++)
        if (!seen_variant[v])
            fail_msg("%s: no exchange %s", model, variants[v]);
}

static void test_exchanges_iris(void **state)
{
    (void)state;
    /* the signature built from input.csv's header is iris's */
    struct table t;
    load_table("xgb-classifier-iris", &t);
    struct keel_signature iris = iris_sig();
    assert_int_equal(t.cols, iris.n_inputs);
    for (size_t c = 0; c < t.cols; c++)
        assert_string_equal(t.names[c], iris.inputs[c].name);
    assert_int_equal(t.rows, 20);
    check_exchanges("xgb-classifier-iris");
}

static void test_exchanges_booster(void **state)
{
    (void)state;
    struct table t;
    load_table("xgb-booster-binary", &t);
    assert_int_equal(t.cols, 30);
    check_exchanges("xgb-booster-binary");
}

/* ---- CSV ---- */

static const char csv_failed[] =
    "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid "
    "CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. "
    "Error: '";

static void test_csv_forms(void **state)
{
    (void)state;
    struct keel_signature ab = ab_sig();
    /* columns by name, in any order; unknown columns ignored */
    expect_frame(CSV, "b,a\n1,2\n3,4\n", &ab, 2, (double[]){2, 1, 4, 3});
    expect_frame(CSV, "x,a,y,b\nfoo,1,bar,2\n", &ab, 1, (double[]){1, 2});
    /* BOM, CRLF, no final line break, blank lines skipped */
    expect_frame(CSV, "\xEF\xBB\xBF" "a,b\r\n1.5,-2\r\n\r\n3e2,0.25", &ab, 2,
                 (double[]){1.5, -2, 300, 0.25});
    expect_frame(CSV, "\n\na,b\n\n1,2\n\n", &ab, 1, (double[]){1, 2});
    /* quoted header names, one holding a comma; quoted values */
    static const char *const comma_names[] = {"x, y", "z \"q\""};
    struct keel_signature comma = make_sig(comma_names, 2, KEEL_DT_DOUBLE);
    expect_frame(CSV, "\"z \"\"q\"\"\",\"x, y\"\n\"1\",2\n", &comma, 1, (double[]){2, 1});
    /* header only: no rows, not an error */
    struct payload_frame f;
    assert_int_equal(decode(CSV, "a,b\n", &ab, &f), KEEL_OK);
    assert_int_equal(f.rows, 0);
    assert_int_equal(f.cols, 2);
    /* fewer fields than the header: NaN */
    expect_frame(CSV, "a,b\n1\n2,3\n", &ab, 2, (double[]){1, NAN, 2, 3});
    expect_frame(CSV, "a,b\n1,\n", &ab, 1, (double[]){1, NAN});
    /* pandas' NA spellings, quoted or not */
    expect_frame(CSV,
                 "a,b\nNA,null\n,1\n\"\",N/A\nNaN,nan\n#N/A,NULL\nNone,<NA>\n-nan,n/a\n", &ab, 7,
                 (double[]){NAN, NAN, NAN, 1, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN});
    /* Python float() spellings: inf, white space, signs, exponents */
    expect_frame(CSV, "a,b\ninf,-Infinity\n +1.5 ,1E-3\n", &ab, 2,
                 (double[]){INFINITY, -INFINITY, 1.5, 1e-3});
}

static void test_csv_refusals(void **state)
{
    (void)state;
    struct keel_signature ab = ab_sig();
    char want[1024];
    /* nothing to read */
    snprintf(want, sizeof want, "%sNo columns to parse from file'", csv_failed);
    expect_fail(CSV, "", &ab, KEEL_E_BAD_REQUEST, want);
    expect_fail(CSV, "\n\r\n\n", &ab, KEEL_E_BAD_REQUEST, want);
    /* more fields than the header (pandas' C tokenizer message, with its \n) */
    snprintf(want, sizeof want,
             "%sError tokenizing data. C error: Expected 2 fields in line 3, saw 3\n'",
             csv_failed);
    expect_fail(CSV, "a,b\n1,2\n1,2,3\n", &ab, KEEL_E_BAD_REQUEST, want);
    /* a value that is not a number: read_csv's text, the bare exception */
    snprintf(want, sizeof want, "%scould not convert string to float: 'abc''", csv_failed);
    expect_fail(CSV, "a,b\n1,2\n3,abc\n", &ab, KEEL_E_BAD_REQUEST, want);
    snprintf(want, sizeof want, "%scould not convert string to float: '0x10''", csv_failed);
    expect_fail(CSV, "a,b\n0x10,2\n", &ab, KEEL_E_BAD_REQUEST, want);
    /* a non-numeric value in a column the model does not take is fine */
    expect_frame(CSV, "a,b,name\n1,2,abc\n", &ab, 1, (double[]){1, 2});
    /* malformed CSV */
    expect_fail_prefix(CSV, "a,b\n\"1,2\n", &ab, KEEL_E_BAD_REQUEST, csv_failed);
    expect_fail_prefix(CSV, "a,b\n\"1\"x,2\n", &ab, KEEL_E_BAD_REQUEST, csv_failed);
    /* a missing column: MLflow's schema-enforcement message */
    expect_fail(CSV, "a\n1\n", &ab, KEEL_E_INVALID_PARAMETER, NULL);
    assert_string_equal(final_clause(ctx.errmsg), "'. Error: Model is missing inputs ['b'].");
}

/* ---- JSON forms ---- */

static void test_json_forms(void **state)
{
    (void)state;
    struct keel_signature ab = ab_sig();
    const double want[] = {1, 2, 3, 4};
    expect_frame(JSON, AB_SPLIT("[[1, 2], [3, 4]]"),
                 &ab, 2, want);
    expect_frame(JSON,
                 "{\"dataframe_split\": {\"columns\": [\"b\", \"a\"], \"data\": [[2, 1], [4, 3]], "
                       "\"index\": [7, 8]}}",
                 &ab, 2, want);
    expect_frame(JSON, "{\"dataframe_records\": [{\"a\": 1, \"b\": 2}, {\"b\": 4, \"a\": 3}]}", &ab,
                 2, want);
    /* instances / inputs as a list of records and as a dict of columns */
    expect_frame(JSON, "{\"instances\": [{\"a\": 1, \"b\": 2}, {\"b\": 4, \"a\": 3}]}", &ab, 2,
                 want);
    expect_frame(JSON, "{\"inputs\": [{\"a\": 1, \"b\": 2}, {\"a\": 3, \"b\": 4}]}", &ab, 2, want);
    expect_frame(JSON, "{\"inputs\": {\"b\": [2, 4], \"a\": [1, 3]}}", &ab, 2, want);
    expect_frame(JSON, "{\"instances\": {\"a\": [1, 3], \"b\": [2, 4]}}", &ab, 2, want);
    /* params beside the input are ignored; white space anywhere */
    expect_frame(JSON, " \r\n\t{\"params\": {\"x\": 1}, \"inputs\" :{\"a\":[1,3],\"b\":[2,4]}}\n ",
                 &ab, 2, want);
    /* numeric strings, booleans, null, reals and big integers into doubles */
    expect_frame(JSON,
                 "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": "
                 "[[\"1.5\", true], [false, null], [\" -2e3 \", \"inf\"], "
                 "[9007199254740993, -0.0]]}}",
                 &ab, 4, (double[]){1.5, 1, 0, NAN, -2000, INFINITY, 9007199254740992.0, -0.0});
    /* empty lists: no rows, not an error */
    struct payload_frame f;
    assert_int_equal(decode(JSON, AB_SPLIT("[]"),
                            &ab, &f),
                     KEEL_OK);
    assert_int_equal(f.rows, 0);
    /* a key given twice: the last value, as Python keeps it */
    expect_frame(JSON,
                 "{\"inputs\": {\"a\": [9], \"b\": [9]}, \"inputs\": {\"a\": [1], \"b\": [2]}}",
                 &ab, 1, (double[]){1, 2});
}

static void test_json_cell_refusals(void **state)
{
    (void)state;
    struct keel_signature ab = ab_sig();
    expect_fail(JSON, AB_SPLIT("[[1, \"abc\"]]"),
                &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Data is not compatible with model signature. Failed to convert "
                "column b to type 'float64'. Error: 'ValueError(\"could not convert string to "
                "float: 'abc'\")'");
    /* a nested list in a cell */
    expect_fail(JSON, AB_SPLIT("[[[1, 2], 3]]"),
                &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Data is not compatible with model signature. Failed to convert "
                "column a to type 'float64'. Error: 'TypeError(\"float() argument must be a "
                "string or a real number, not 'list'\")'");
    expect_fail(JSON, "{\"dataframe_records\": [{\"a\": 1, \"b\": {\"x\": 1}}]}", &ab,
                KEEL_E_BAD_REQUEST,
                "Invalid input. Data is not compatible with model signature. Failed to convert "
                "column b to type 'float64'. Error: 'TypeError(\"float() argument must be a "
                "string or a real number, not 'dict'\")'");
    /* the first failing column in signature order is the one reported, even
     * when a later column fails in an earlier row */
    expect_fail(JSON,
                "{\"dataframe_split\": {\"columns\": [\"b\", \"a\"], "
                "\"data\": [[\"x\", 1], [2, \"y\"]]}}",
                &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Data is not compatible with model signature. Failed to convert "
                "column a to type 'float64'. Error: 'ValueError(\"could not convert string to "
                "float: 'y'\")'");
    /* a cell in a column the model does not take is never converted */
    expect_frame(JSON, "{\"dataframe_records\": [{\"a\": 1, \"b\": 2, \"note\": [\"x\"]}]}", &ab, 1,
                 (double[]){1, 2});
}

static void test_json_shape_refusals(void **state)
{
    (void)state;
    struct keel_signature ab = ab_sig();
    static const char required[] =
        "The input must be a JSON dictionary with exactly one of the input fields "
        "{'dataframe_records', 'dataframe_split', 'instances', 'inputs'}";
    char want[4096];
    /* top-level scalar and list */
    snprintf(want, sizeof want, "Invalid input. %s. Received unexpected input type '<class 'int'>.",
             required);
    expect_fail(JSON, "5", &ab, KEEL_E_BAD_REQUEST, want);
    snprintf(want, sizeof want,
             "Invalid input. %s. Received unexpected input type '<class 'str'>.", required);
    expect_fail(JSON, "\"dataframe_split\"", &ab, KEEL_E_BAD_REQUEST, want);
    snprintf(want, sizeof want, "Invalid input. %s. Received a list.", required);
    expect_fail(JSON, "[{\"a\": 1, \"b\": 2}]", &ab, KEEL_E_BAD_REQUEST, want);
    /* two accepted keys: listed in document order, both ways round */
    snprintf(want, sizeof want, "%s. Received dictionary with input fields: ['inputs', "
             "'dataframe_records']. %s", required, payload_protocol_change_info);
    expect_fail(JSON, "{\"inputs\": {}, \"params\": {}, \"dataframe_records\": []}", &ab,
                KEEL_E_BAD_REQUEST, want);
    snprintf(want, sizeof want, "%s. Received dictionary with input fields: ['dataframe_records', "
             "'inputs']. %s", required, payload_protocol_change_info);
    expect_fail(JSON, "{\"dataframe_records\": [], \"inputs\": {}}", &ab, KEEL_E_BAD_REQUEST, want);
    snprintf(want, sizeof want, "%s. Received dictionary with input fields: []. %s", required,
             payload_protocol_change_info);
    expect_fail(JSON, "{}", &ab, KEEL_E_BAD_REQUEST, want);
    /* dataframe_split: not a dict, extra keys, no data */
    expect_fail(JSON, "{\"dataframe_split\": [[1, 2]]}", &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Dataframe split format must be a dictionary. Got list.");
    expect_fail(JSON, "{\"dataframe_split\": 3}", &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Dataframe split format must be a dictionary. Got type "
                "<class 'int'>.");
    /* MLflow prints the keys as a Python set, and ends with a stray quote */
    expect_fail(JSON, "{\"dataframe_split\": {\"dtype\": 1}}", &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Dataframe split format must have 'data' field and optionally "
                "'columns' and 'index' fields. Got {'dtype'}.'");
    expect_fail_prefix(JSON,
                       "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1, 2]], "
                       "\"orient\": \"split\"}}",
                       &ab, KEEL_E_BAD_REQUEST,
                       "Invalid input. Dataframe split format must have 'data' field and "
                       "optionally 'columns' and 'index' fields. Got {");
    assert_non_null(strstr(ctx.errmsg, "'orient'"));
    assert_non_null(strstr(ctx.errmsg, "'data'"));
    assert_non_null(strstr(ctx.errmsg, "'columns'"));
    assert_string_equal(ctx.errmsg + strlen(ctx.errmsg) - 3, "}.'");
    /* split data rows of the wrong width */
    expect_fail(JSON, AB_SPLIT("[[1, 2], [3]]"),
                &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Provided dataframe_split field is not a valid dataframe "
                "representation in 'split' format. Error: '2 columns passed, passed data had 1 "
                "columns'");
    /* dataframe_records given a dict, or a scalar */
    expect_fail(JSON, "{\"dataframe_records\": {\"a\": [1], \"b\": [2]}}", &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Dataframe records format must be a list of records. Got "
                "dictionary.");
    expect_fail(JSON, "{\"dataframe_records\": \"x\"}", &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Dataframe records format must be a list of records. Got type "
                "<class 'str'>.");
    /* ragged instances: records without the same keys, columns of different lengths */
    static const char ragged[] = "Invalid input. The length of values for each input/column name "
                                 "are not the same";
    expect_fail(JSON, "{\"instances\": [{\"a\": 1, \"b\": 2}, {\"a\": 3}]}", &ab,
                KEEL_E_BAD_REQUEST, ragged);
    expect_fail(JSON, "{\"instances\": {\"a\": [1, 3], \"b\": [2]}}", &ab, KEEL_E_BAD_REQUEST,
                ragged);
    /* instances / inputs that are neither list nor dict */
    expect_fail(JSON, "{\"inputs\": 3}", &ab, KEEL_E_BAD_REQUEST,
                "Invalid input. Failed to parse input data: 'inputs' must be a list or a "
                "dictionary, got <class 'int'>.");
    /* missing columns: MLflow's schema enforcement, extra inputs noted */
    expect_fail(JSON, "{\"inputs\": {\"a\": [1], \"c\": [2]}}", &ab, KEEL_E_INVALID_PARAMETER,
                NULL);
    assert_string_equal(final_clause(ctx.errmsg),
                        "'. Error: Model is missing inputs ['b']. Note that there were extra "
                        "inputs: ['c']");
    expect_fail(JSON, "{\"inputs\": [[1, 2]]}", &ab, KEEL_E_INVALID_PARAMETER, NULL);
    assert_string_equal(final_clause(ctx.errmsg),
                        "'. Error: Model is missing inputs ['a', 'b']. Note that there were extra "
                        "inputs: [0, 1]");
    expect_predict_message(ctx.errmsg,
                           "Failed to predict data 'x'. \nError: Failed to enforce schema of data "
                           "'x' with schema '['a': double (required), 'b': double (required)]'. "
                           "Error: Model is missing inputs ['a', 'b']. Note that there were extra "
                           "inputs: [0, 1]");
}

/* Python accepts NaN, Infinity and -Infinity literals; keel's parser does
 * not, and says so with its own reason (payload.c: only keel refuses them). */
static void test_json_non_finite_literals(void **state)
{
    (void)state;
    struct keel_signature ab = ab_sig();
    static const char *const bodies[] = {
        "{\"inputs\": {\"a\": [NaN], \"b\": [1]}}",
        "{\"inputs\": {\"a\": [Infinity], \"b\": [1]}}",
        "{\"inputs\": {\"a\": [-Infinity], \"b\": [1]}}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        expect_fail_prefix(JSON, bodies[i], &ab, KEEL_E_BAD_REQUEST,
                           "Invalid input. Ensure that input is a valid JSON formatted string. "
                           "Error: 'ValueError(");
        /* the body is echoed after the reason, as for Python's own errors */
        char tail[256];
        snprintf(tail, sizeof tail, ")'\nInput: \n%s\n", bodies[i]);
        assert_string_equal(ctx.errmsg + strlen(ctx.errmsg) - strlen(tail), tail);
    }
    /* as strings they are numbers (Python's float()) */
    expect_frame(JSON, "{\"inputs\": {\"a\": [\"NaN\"], \"b\": [\"-Infinity\"]}}", &ab, 1,
                 (double[]){NAN, -INFINITY});
}

/* ---- Python's json error positions ---- */

/* Python's repr of a str without control characters: '...' unless it holds
 * a ' and no ", backslashes doubled. */
static void py_repr(char *out, size_t cap, const char *s)
{
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    size_t n = 0;
    out[n++] = q;
    for (; *s; s++) {
        if (*s == '\\' || *s == q)
            out[n++] = '\\';
        out[n++] = *s;
        assert_true(n + 2 < cap);
    }
    out[n++] = q;
    out[n] = '\0';
}

/* MLflow's message for a body Python's json module refuses with pymsg. */
static void expect_json_error_n(const char *body, size_t len, const char *pymsg)
{
    char repr[512], want[4096];
    py_repr(repr, sizeof repr, pymsg);
    snprintf(want, sizeof want,
             "Invalid input. Ensure that input is a valid JSON formatted string. Error: "
             "'JSONDecodeError(%s)'\nInput: \n%.*s\n",
             repr, (int)len, body);
    struct keel_signature ab = ab_sig();
    struct payload_frame f;
    enum keel_err e = decode_n(JSON, body, len, &ab, 2, MANY_ROWS, &f);
    assert_int_equal(e, KEEL_E_BAD_REQUEST);
    if (strcmp(ctx.errmsg, want) != 0)
        fail_msg("--- got ---\n%s\n--- want ---\n%s", ctx.errmsg, want);
}

#define EXPECT_JSON_ERROR(lit, pymsg) expect_json_error_n(lit, sizeof lit - 1, pymsg)

/* Every text below is what /usr/bin/python3 (3.11) prints for
 * json.loads(body) -- checked one by one. */
static void test_json_syntax_positions(void **state)
{
    (void)state;
    EXPECT_JSON_ERROR("", "Expecting value: line 1 column 1 (char 0)");
    EXPECT_JSON_ERROR("  ", "Expecting value: line 1 column 3 (char 2)");
    EXPECT_JSON_ERROR("{\"a\": 1", "Expecting ',' delimiter: line 1 column 8 (char 7)");
    EXPECT_JSON_ERROR("{\"a\" 1}", "Expecting ':' delimiter: line 1 column 6 (char 5)");
    EXPECT_JSON_ERROR("{\"a\": 1,}", "Expecting property name enclosed in double quotes: line 1 "
                                    "column 9 (char 8)");
    EXPECT_JSON_ERROR("{", "Expecting property name enclosed in double quotes: line 1 column 2 "
                           "(char 1)");
    EXPECT_JSON_ERROR("[1] x", "Extra data: line 1 column 5 (char 4)");
    EXPECT_JSON_ERROR("[1,]", "Expecting value: line 1 column 4 (char 3)");
    EXPECT_JSON_ERROR("{\"a\": }", "Expecting value: line 1 column 7 (char 6)");
    EXPECT_JSON_ERROR("{\"a\": -}", "Expecting value: line 1 column 7 (char 6)");
    EXPECT_JSON_ERROR("nul", "Expecting value: line 1 column 1 (char 0)");
    EXPECT_JSON_ERROR("01", "Extra data: line 1 column 2 (char 1)");
    EXPECT_JSON_ERROR("1.", "Extra data: line 1 column 2 (char 1)");
    EXPECT_JSON_ERROR("{\"a\": 1} {\"b\": 2}", "Extra data: line 1 column 10 (char 9)");
    EXPECT_JSON_ERROR("\"abc", "Unterminated string starting at: line 1 column 1 (char 0)");
    EXPECT_JSON_ERROR("\"abc\\", "Unterminated string starting at: line 1 column 1 (char 0)");
    EXPECT_JSON_ERROR("{\"a\tb\": 1}", "Invalid control character at: line 1 column 4 (char 3)");
    EXPECT_JSON_ERROR("\"\\x\"", "Invalid \\escape: line 1 column 2 (char 1)");
    /* MLflow's recorded body: dataframe_split with its final } removed */
    EXPECT_JSON_ERROR("{\"inputs\": {\"a\": [1]}", "Expecting ',' delimiter: line 1 column 22 "
                                                    "(char 21)");
    EXPECT_JSON_ERROR("{\"dataframe_split\": {\"data\": [[1, 2]], \"columns\": [\"a\", \"b\"]}}}",
                      "Extra data: line 1 column 63 (char 62)");
    /* several lines: line and column count \n only; char counts everything */
    EXPECT_JSON_ERROR("\n\n  {\"a\":\n   [1, 2,\n  }",
                      "Expecting value: line 5 column 3 (char 22)");
    EXPECT_JSON_ERROR("[1,\n2,,3]", "Expecting value: line 2 column 3 (char 6)");
    EXPECT_JSON_ERROR("{\"a\":1}\n\n x", "Extra data: line 3 column 2 (char 10)");
    EXPECT_JSON_ERROR("{\r\n\"a\" 1}", "Expecting ':' delimiter: line 2 column 5 (char 7)");
    /* non-ASCII before the error: Python counts characters, not bytes */
    EXPECT_JSON_ERROR("{\"\xC3\xA9\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\": [1 2]}",
                      "Expecting ',' delimiter: line 1 column 13 (char 12)");
    EXPECT_JSON_ERROR("{\"\xC3\xA9\": 1,\n \"\xE2\x82\xAC\" 2}",
                      "Expecting ':' delimiter: line 2 column 6 (char 14)");
}

/* Python reports a bad u-escape at the 'u', not at the backslash. */
static void test_regression_json_u_escape_position(void **state)
{
    (void)state;
    EXPECT_JSON_ERROR("\"\\u12\"", "Invalid \\uXXXX escape: line 1 column 3 (char 2)");
    EXPECT_JSON_ERROR("{\"a\": \"\\u12x4\"}", "Invalid \\uXXXX escape: line 1 column 9 (char 8)");
}

/* MLflow decodes the body to a str first; json.loads then refuses a BOM. */
static void test_regression_json_bom(void **state)
{
    (void)state;
    EXPECT_JSON_ERROR("\xEF\xBB\xBF{}",
                      "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)");
}

/* ---- column types ---- */

static void test_integer_columns(void **state)
{
    (void)state;
    struct keel_colspec cs[] = {
        {.name = "n", .type = KEEL_DT_LONG, .required = 1},
        {.name = "i", .type = KEEL_DT_INTEGER, .required = 1},
        {.name = "x", .type = KEEL_DT_DOUBLE, .required = 1},
    };
    struct keel_signature sig = {.has_inputs = 1, .inputs = cs, .n_inputs = 3};
    /* integers, integral strings and reals (astype truncates) */
    expect_frame(JSON,
                 "{\"dataframe_split\": {\"columns\": [\"n\", \"i\", \"x\"], \"data\": "
                 "[[3, -7, 0.5], [\"12\", 1.9, 1], [-2.7, true, 2]]}}",
                 &sig, 3, (double[]){3, -7, 0.5, 12, 1, 1, -2, 1, 2});
    /* null refused in an integer column */
    expect_fail(JSON, "{\"dataframe_split\": {\"columns\": [\"n\", \"i\", \"x\"], \"data\": "
                      "[[1, 2, 3], [null, 2, 3]]}}",
                &sig, KEEL_E_BAD_REQUEST,
                "Invalid input. Data is not compatible with model signature. Failed to convert "
                "column n to type 'int64'. Error: 'IntCastingNaNError('Cannot convert non-finite "
                "values (NA or inf) to integer')'");
    expect_fail(JSON,
                "{\"dataframe_records\": [{\"n\": 1, \"i\": 2, \"x\": 3}, {\"n\": 1, \"i\": null, "
                "\"x\": 3}]}",
                &sig, KEEL_E_BAD_REQUEST,
                "Invalid input. Data is not compatible with model signature. Failed to convert "
                "column i to type 'int32'. Error: 'IntCastingNaNError('Cannot convert non-finite "
                "values (NA or inf) to integer')'");
    /* a non-integral string */
    expect_fail(JSON, "{\"dataframe_records\": [{\"n\": \"1.5\", \"i\": 1, \"x\": 3}]}", &sig,
                KEEL_E_BAD_REQUEST,
                "Invalid input. Data is not compatible with model signature. Failed to convert "
                "column n to type 'int64'. Error: 'ValueError(\"invalid literal for int() with "
                "base 10: '1.5'\")'");
    /* CSV: integers accepted */
    expect_frame(CSV, "x,i,n\n0.5,2,3\n", &sig, 1, (double[]){3, 2, 0.5});
}

/* With keep_text, a cell keeps the client's text exactly where that text is
 * the cell's value; otherwise (and for CSV, and without keep_text) none. */
static void test_number_text(void **state)
{
    (void)state;
    struct keel_colspec cs[] = {
        {.name = "n", .type = KEEL_DT_LONG, .required = 1},
        {.name = "x", .type = KEEL_DT_DOUBLE, .required = 1},
    };
    struct keel_signature sig = {.has_inputs = 1, .inputs = cs, .n_inputs = 2};
    static const char body[] = "{\"dataframe_split\": {\"columns\": [\"x\", \"n\"], \"data\": "
                               "[[0.10, 3], [1e2, 1.9], [\"2.5\", 9007199254740993], "
                               "[null, true], [-0.0, -9007199254740992]]}}";
    struct payload_limits lim = {.max_rows = MANY_ROWS, .keep_text = true};
    struct payload_frame f;
    ctx = (struct keel_ctx){.arena = arena};
    assert_int_equal(payload_decode(PAYLOAD_JSON, body, sizeof body - 1, &sig, 2, &lim, &f, &ctx),
                     KEEL_OK);
    assert_int_equal(f.rows, 5);
    assert_non_null(f.text);
    /* signature order: n, x */
    static const char *const want[] = {"3", "0.10", NULL, "1e2", NULL, NULL,
                                       NULL, NULL, "-9007199254740992", "-0.0"};
    for (size_t i = 0; i < 10; i++) {
        if (!want[i]) {
            assert_null(f.text[i].s);
            continue;
        }
        assert_non_null(f.text[i].s);
        assert_int_equal(f.text[i].n, strlen(want[i]));
        assert_memory_equal(f.text[i].s, want[i], f.text[i].n);
        assert_true(f.text[i].s > body && f.text[i].s < body + sizeof body);
        /* the text reads back as the cell's value, bit for bit */
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.*s", (int)f.text[i].n, f.text[i].s);
        double d = strtod(tmp, NULL);
        assert_memory_equal(&d, &f.x[i], sizeof d);
    }
    lim.keep_text = false;
    assert_int_equal(payload_decode(PAYLOAD_JSON, body, sizeof body - 1, &sig, 2, &lim, &f, &ctx),
                     KEEL_OK);
    assert_null(f.text);
    lim.keep_text = true;
    /* enough rows for the plain-row reader to take most of them */
    struct kbuf csv;
    kbuf_init(&csv, 1u << 20);
    kbuf_adds(&csv, "x,n\n");
    for (int r = 0; r < 100; r++)
        kbuf_printf(&csv, "0.%d,%d\n", r, r);
    /* rows the plain reader takes get no text either (none left from before) */
    assert_int_equal(payload_decode(PAYLOAD_CSV, csv.data, csv.len, &sig, 2, &lim, &f, &ctx),
                     KEEL_OK);
    assert_int_equal(f.rows, 100);
    for (size_t i = 0; i < 200; i++)
        assert_null(f.text[i].s);
    kbuf_free(&csv);
}

/* A missing integer cell is refused as an explicit null is: a record
 * without the key (pandas builds the column [1.0, NaN] and astype raises
 * IntCastingNaNError), and in CSV an empty cell, an NA spelling or a short
 * row (read_csv with an int64 dtype: "Integer column has NA values in
 * column 0"). */
static void test_regression_missing_integer_cell(void **state)
{
    (void)state;
    struct keel_colspec cs[] = {
        {.name = "n", .type = KEEL_DT_LONG, .required = 1},
        {.name = "x", .type = KEEL_DT_DOUBLE, .required = 1},
    };
    struct keel_signature sig = {.has_inputs = 1, .inputs = cs, .n_inputs = 2};
    expect_fail(JSON, "{\"dataframe_records\": [{\"n\": 1, \"x\": 2}, {\"x\": 3}]}", &sig,
                KEEL_E_BAD_REQUEST,
                "Invalid input. Data is not compatible with model signature. Failed to convert "
                "column n to type 'int64'. Error: 'IntCastingNaNError('Cannot convert non-finite "
                "values (NA or inf) to integer')'");
    expect_fail_prefix(CSV, "n,x\n,1.5\n", &sig, KEEL_E_BAD_REQUEST, csv_failed);
    expect_fail_prefix(CSV, "n,x\nNA,1.5\n", &sig, KEEL_E_BAD_REQUEST, csv_failed);
    expect_fail_prefix(CSV, "x,n\n1.5\n", &sig, KEEL_E_BAD_REQUEST, csv_failed);
}

/* read_csv(dtype={'b': 'bool'}) reads True/False in the cases pandas knows. */
static void test_regression_csv_boolean_words(void **state)
{
    (void)state;
    struct keel_colspec cs[] = {{.name = "b", .type = KEEL_DT_BOOLEAN, .required = 1}};
    struct keel_signature sig = {.has_inputs = 1, .inputs = cs, .n_inputs = 1};
    expect_frame(CSV, "b\nTrue\nFalse\ntrue\nfalse\n", &sig, 4, (double[]){1, 0, 1, 0});
}

/* Record keys are matched through the signature in constant time, so wide
 * dataframe_records cost what dataframe_split does (looking back through the
 * columns seen so far took rows x columns^2). 25 records of 10,000 columns,
 * against the same values as dataframe_split. */
static void test_regression_records_quadratic(void **state)
{
    (void)state;
    enum { COLS = 10000, ROWS = 25 };
    const char **names = karena_alloc(arena, COLS * sizeof *names);
    assert_non_null(names);
    for (size_t c = 0; c < COLS; c++)
        names[c] = karena_sprintf(arena, "feature %zu", c);
    struct keel_signature sig = make_sig(names, COLS, KEEL_DT_DOUBLE);
    size_t cap = 64u << 20, ns = 0, nr = 0;
    char *split = malloc(cap), *records = malloc(cap);
    assert_non_null(split);
    assert_non_null(records);
    ns += (size_t)snprintf(split + ns, cap - ns, "{\"dataframe_split\": {\"columns\": [");
    for (size_t c = 0; c < COLS; c++)
        ns += (size_t)snprintf(split + ns, cap - ns, "%s\"%s\"", c ? ", " : "", names[c]);
    ns += (size_t)snprintf(split + ns, cap - ns, "], \"data\": [");
    nr += (size_t)snprintf(records + nr, cap - nr, "{\"dataframe_records\": [");
    for (size_t r = 0; r < ROWS; r++) {
        ns += (size_t)snprintf(split + ns, cap - ns, "%s[", r ? ", " : "");
        nr += (size_t)snprintf(records + nr, cap - nr, "%s{", r ? ", " : "");
        for (size_t c = 0; c < COLS; c++) {
            ns += (size_t)snprintf(split + ns, cap - ns, "%s%zu", c ? ", " : "", c);
            nr += (size_t)snprintf(records + nr, cap - nr, "%s\"%s\": %zu", c ? ", " : "",
                                   names[c], c);
        }
        ns += (size_t)snprintf(split + ns, cap - ns, "]");
        nr += (size_t)snprintf(records + nr, cap - nr, "}");
    }
    ns += (size_t)snprintf(split + ns, cap - ns, "]}}");
    nr += (size_t)snprintf(records + nr, cap - nr, "]}");
    struct payload_frame f;
    double t0 = now();
    assert_int_equal(decode_n(JSON, split, ns, &sig, COLS, MANY_ROWS, &f), KEEL_OK);
    double t_split = now() - t0;
    t0 = now();
    assert_int_equal(decode_n(JSON, records, nr, &sig, COLS, MANY_ROWS, &f), KEEL_OK);
    double t_records = now() - t0;
    free(split);
    free(records);
    /* the records body is ~1.7x the bytes; allow 4x the time (the quadratic
     * look-back makes it ~10x) */
    if (t_records > 4 * t_split + 0.2)
        fail_msg("dataframe_records %.2f s, dataframe_split %.2f s", t_records, t_split);
}

static void test_unsupported_types(void **state)
{
    (void)state;
    struct keel_colspec cs[] = {
        {.name = "a", .type = KEEL_DT_DOUBLE, .required = 1},
        {.name = "label", .type = KEEL_DT_STRING, .required = 1},
    };
    struct keel_signature sig = {.has_inputs = 1, .inputs = cs, .n_inputs = 2};
    expect_fail(JSON, "{\"inputs\": {\"a\": [1], \"label\": [\"x\"]}}", &sig,
                KEEL_E_NOT_IMPLEMENTED, NULL);
    assert_non_null(strstr(ctx.errmsg, "label"));
    expect_fail(CSV, "a,label\n1,x\n", &sig, KEEL_E_NOT_IMPLEMENTED, NULL);
    cs[1].type = KEEL_DT_BINARY;
    expect_fail(JSON, "{}", &sig, KEEL_E_NOT_IMPLEMENTED, NULL);
    cs[1].type = KEEL_DT_DATETIME;
    expect_fail(JSON, "{}", &sig, KEEL_E_NOT_IMPLEMENTED, NULL);
}

/* An optional column may be absent (NaN); a required one may not. */
static void test_optional_columns(void **state)
{
    (void)state;
    struct keel_colspec cs[] = {
        {.name = "a", .type = KEEL_DT_DOUBLE, .required = 1},
        {.name = "b", .type = KEEL_DT_DOUBLE, .required = 0},
    };
    struct keel_signature sig = {.has_inputs = 1, .inputs = cs, .n_inputs = 2};
    expect_frame(JSON, "{\"inputs\": {\"a\": [1, 2]}}", &sig, 2, (double[]){1, NAN, 2, NAN});
    expect_frame(CSV, "a\n1\n", &sig, 1, (double[]){1, NAN});
    expect_fail(JSON, "{\"inputs\": {\"b\": [1]}}", &sig, KEEL_E_INVALID_PARAMETER, NULL);
    assert_non_null(strstr(ctx.errmsg, "with schema '['a': double (required), 'b': double "
                                       "(optional)]'. Error: Model is missing inputs ['a']."));
}

/* ---- a model without a signature: columns by position ---- */

static void test_no_signature(void **state)
{
    (void)state;
    struct keel_signature none = {.has_inputs = 0, .inputs = NULL, .n_inputs = 3};
    struct payload_frame f;
    const double want[] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(decode_n(JSON, "{\"inputs\": [[1, 2, 3], [4, 5, 6]]}", 34, &none, 3, MANY_ROWS,
                              &f),
                     KEEL_OK);
    assert_int_equal(f.rows, 2);
    assert_int_equal(f.cols, 3);
    assert_memory_equal(f.x, want, sizeof want);
    static const char split[] = "{\"dataframe_split\": {\"data\": [[1, 2, 3], [4, 5, 6]]}}";
    assert_int_equal(decode_n(JSON, split, sizeof split - 1, &none, 3, MANY_ROWS, &f), KEEL_OK);
    assert_int_equal(f.rows, 2);
    assert_memory_equal(f.x, want, sizeof want);
    /* the width must be the model's feature count */
    static const char narrow[] = "{\"instances\": [[1, 2], [3, 4]]}";
    assert_int_equal(decode_n(JSON, narrow, sizeof narrow - 1, &none, 3, MANY_ROWS, &f),
                     KEEL_E_BAD_REQUEST);
    assert_string_equal(ctx.errmsg,
                        "Invalid input. The model takes 3 features; the input has 2 columns.");
    static const char wide[] = "{\"inputs\": [[1, 2, 3, 4]]}";
    assert_int_equal(decode_n(JSON, wide, sizeof wide - 1, &none, 3, MANY_ROWS, &f),
                     KEEL_E_BAD_REQUEST);
    assert_string_equal(ctx.errmsg,
                        "Invalid input. The model takes 3 features; the input has 4 columns.");
}

/* Without a signature named columns go to the model by position, in input
 * order, as MLflow hands the DataFrame over: CSV, dataframe_split with
 * "columns", records and a dict of columns. */
static void test_regression_no_signature_named_columns(void **state)
{
    (void)state;
    struct keel_signature none = {.has_inputs = 0, .inputs = NULL, .n_inputs = 3};
    struct payload_frame f;
    const double want[] = {1, 2, 3};
    static const char *const bodies[][2] = {
        {"J", "{\"dataframe_split\": {\"columns\": [\"a\", \"b\", \"c\"], \"data\": [[1, 2, 3]]}}"},
        {"J", "{\"dataframe_records\": [{\"a\": 1, \"b\": 2, \"c\": 3}]}"},
        {"J", "{\"inputs\": {\"a\": [1], \"b\": [2], \"c\": [3]}}"},
        {"J", "{\"instances\": [{\"a\": 1, \"b\": 2, \"c\": 3}]}"},
        {"C", "a,b,c\n1,2,3\n"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        enum payload_format fmt = bodies[i][0][0] == 'C' ? CSV : JSON;
        enum keel_err e =
            decode_n(fmt, bodies[i][1], strlen(bodies[i][1]), &none, 3, MANY_ROWS, &f);
        if (e != KEEL_OK)
            fail_msg("%s: refused: %s", bodies[i][1], ctx.errmsg);
        assert_int_equal(f.rows, 1);
        if (memcmp(f.x, want, sizeof want) != 0)
            fail_msg("%s: got [%g, %g, %g], want [1, 2, 3]", bodies[i][1], f.x[0], f.x[1],
                     f.x[2]);
    }
}

/* MLflow turns instances records into columns and compares the columns'
 * lengths: records with the same number of different keys are refused. */
static void test_regression_instances_different_keys(void **state)
{
    (void)state;
    struct keel_signature ab = ab_sig();
    expect_fail(JSON, "{\"instances\": [{\"a\": 1, \"b\": 2}, {\"a\": 3, \"c\": 4}]}", &ab,
                KEEL_E_BAD_REQUEST,
                "Invalid input. The length of values for each input/column name are not the "
                "same");
}

/* ---- size ---- */

static void test_row_limit(void **state)
{
    (void)state;
    struct keel_signature ab = ab_sig();
    struct payload_frame f;
    static const char *const bodies[][2] = {
        {"J", AB_SPLIT("[[1, 2], [3, 4], [5, 6]]")},
        {"J", "{\"dataframe_records\": [{\"a\": 1, \"b\": 2}, {\"a\": 3, \"b\": 4}, "
              "{\"a\": 5, \"b\": 6}]}"},
        {"J", "{\"inputs\": {\"a\": [1, 3, 5], \"b\": [2, 4, 6]}}"},
        {"J", "{\"instances\": [{\"a\": 1, \"b\": 2}, {\"a\": 3, \"b\": 4}, "
              "{\"a\": 5, \"b\": 6}]}"},
        {"C", "a,b\n1,2\n3,4\n5,6\n"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        enum payload_format fmt = bodies[i][0][0] == 'C' ? CSV : JSON;
        const char *body = bodies[i][1];
        assert_int_equal(decode_n(fmt, body, strlen(body), &ab, 2, 3, &f), KEEL_OK);
        assert_int_equal(f.rows, 3);
        assert_true(f.x[4] == 5 && f.x[5] == 6);
        assert_int_equal(decode_n(fmt, body, strlen(body), &ab, 2, 2, &f), KEEL_E_TOO_LARGE);
        assert_string_equal(ctx.errmsg,
                            "The request has more than 2 rows, the most scored in one request.");
    }
}

static void test_wide_signature(void **state)
{
    (void)state;
    enum { COLS = 5000, ROWS = 3 };
    const char **names = karena_alloc(arena, COLS * sizeof *names);
    assert_non_null(names);
    for (size_t c = 0; c < COLS; c++)
        names[c] = karena_sprintf(arena, "feature %zu", c);
    struct keel_signature sig = make_sig(names, COLS, KEEL_DT_DOUBLE);
    /* columns in reverse order; the value of signature column c in row r is
     * r * COLS + c */
    size_t cap = 64u << 20;
    char *split = malloc(cap), *records = malloc(cap), *csv = malloc(cap);
    assert_non_null(split);
    assert_non_null(records);
    assert_non_null(csv);
    size_t ns = 0, nr = 0, nc = 0;
    ns += (size_t)snprintf(split + ns, cap - ns, "{\"dataframe_split\": {\"columns\": [");
    for (size_t k = 0; k < COLS; k++) {
        size_t c = COLS - 1 - k;
        ns += (size_t)snprintf(split + ns, cap - ns, "%s\"%s\"", k ? ", " : "", names[c]);
        nc += (size_t)snprintf(csv + nc, cap - nc, "%s%s", k ? "," : "", names[c]);
    }
    ns += (size_t)snprintf(split + ns, cap - ns, "], \"data\": [");
    nr += (size_t)snprintf(records + nr, cap - nr, "{\"dataframe_records\": [");
    for (size_t r = 0; r < ROWS; r++) {
        ns += (size_t)snprintf(split + ns, cap - ns, "%s[", r ? ", " : "");
        nr += (size_t)snprintf(records + nr, cap - nr, "%s{", r ? ", " : "");
        nc += (size_t)snprintf(csv + nc, cap - nc, "\n");
        for (size_t k = 0; k < COLS; k++) {
            size_t c = COLS - 1 - k, v = r * COLS + c;
            ns += (size_t)snprintf(split + ns, cap - ns, "%s%zu", k ? ", " : "", v);
            nr += (size_t)snprintf(records + nr, cap - nr, "%s\"%s\": %zu", k ? ", " : "",
                                   names[c], v);
            nc += (size_t)snprintf(csv + nc, cap - nc, "%s%zu", k ? "," : "", v);
        }
        ns += (size_t)snprintf(split + ns, cap - ns, "]");
        nr += (size_t)snprintf(records + nr, cap - nr, "}");
    }
    ns += (size_t)snprintf(split + ns, cap - ns, "]}}");
    nr += (size_t)snprintf(records + nr, cap - nr, "]}");
    const char *bodies[] = {split, records, csv};
    const size_t lens[] = {ns, nr, nc};
    const enum payload_format fmts[] = {JSON, JSON, CSV};
    for (size_t i = 0; i < 3; i++) {
        struct payload_frame f;
        double t0 = now();
        enum keel_err e = decode_n(fmts[i], bodies[i], lens[i], &sig, COLS, MANY_ROWS, &f);
        double took = now() - t0;
        if (e != KEEL_OK)
            fail_msg("form %zu refused: %.200s", i, ctx.errmsg);
        assert_int_equal(f.rows, ROWS);
        assert_int_equal(f.cols, COLS);
        for (size_t j = 0; j < (size_t)ROWS * COLS; j++)
            if (f.x[j] != (double)j)
                fail_msg("form %zu: cell %zu holds %g", i, j, f.x[j]);
        /* linear matching takes milliseconds; a quadratic one, 3 x 12.5M
         * name comparisons under the sanitizers, far longer */
        if (took > 10.0)
            fail_msg("form %zu took %.1f s for %d x %d", i, took, ROWS, COLS);
    }
    free(split);
    free(records);
    free(csv);
}

/* The plain-row fast lane of the CSV decoder (rows of unquoted decimals read
 * straight into the matrix) decodes exactly what the generic reader does:
 * every random body is decoded as written and with every field quoted (which
 * the fast lane leaves to the generic reader) -- same values bit for bit, or
 * the same error. */
static void test_csv_plain_rows_match_generic(void **state)
{
    (void)state;
    static const char *const cells[] = {
        "1",     "-2.5", "17.99", "0.1184", "1e5",  "1E-3", "+4", ".5",     "5.",   "007",
        "1e400", "",     "NA",    " 3",    "nan",  "inf",  "1e", "0x10",   "1.5",  "-0",
        "123456789012345678901234", "2.2250738585072014e-308",  "abc", "1e22", "9e-23",
    };
    static const char *const names[] = {"a", "b"};
    const size_t n_cells = sizeof cells / sizeof *cells;
    srand(11);
    for (int round = 0; round < 3000; round++) {
        enum keel_dtype t = round % 3 == 0 ? KEEL_DT_LONG : KEEL_DT_DOUBLE;
        struct keel_signature sig = make_sig(names, 2, t);
        char plain[4096], quoted[8192];
        size_t pl = 0, ql = 0;
        pl += (size_t)snprintf(plain + pl, sizeof plain - pl, "a,b,c\n");
        ql += (size_t)snprintf(quoted + ql, sizeof quoted - ql, "a,b,c\n");
        int rows = 1 + rand() % 30;
        for (int r = 0; r < rows; r++) {
            int width = rand() % 10 == 0 ? 1 + rand() % 4 : 3; /* now and then ragged */
            if (rand() % 25 == 0)
                width = 0; /* a blank line */
            for (int c = 0; c < width; c++) {
                /* mostly plain numbers, so whole runs take the fast lane */
                const char *v = rand() % 4 ? cells[rand() % 6] : cells[(size_t)rand() % n_cells];
                if (width == 1 && !*v)
                    v = "2"; /* "" alone is a blank line, "\"\"" a row: not the same body */
                pl += (size_t)snprintf(plain + pl, sizeof plain - pl, "%s%s", c ? "," : "", v);
                ql += (size_t)snprintf(quoted + ql, sizeof quoted - ql, "%s\"%s\"", c ? "," : "",
                                       v);
            }
            const char *eol = rand() % 5 == 0 ? "\r\n" : "\n";
            if (r + 1 == rows && rand() % 3 == 0)
                eol = ""; /* no line end on the last row */
            pl += (size_t)snprintf(plain + pl, sizeof plain - pl, "%s", eol);
            ql += (size_t)snprintf(quoted + ql, sizeof quoted - ql, "%s", eol);
        }
        struct payload_frame fp, fq;
        enum keel_err ep = decode_n(CSV, plain, pl, &sig, 2, MANY_ROWS, &fp);
        char *msg_p = ep ? karena_strdup(arena, ctx.errmsg) : NULL;
        enum keel_err eq = decode_n(CSV, quoted, ql, &sig, 2, MANY_ROWS, &fq);
        if (ep != eq || (ep && strcmp(msg_p, ctx.errmsg) != 0))
            fail_msg("%s\nplain: %d %s\nquoted: %d %s", plain, (int)ep, msg_p ? msg_p : "",
                     (int)eq, eq ? ctx.errmsg : "");
        if (ep)
            continue;
        assert_int_equal(fp.rows, fq.rows);
        if (memcmp(fp.x, fq.x, fp.rows * 2 * sizeof *fp.x) != 0)
            fail_msg("%s\nvalues differ from the generic reader's", plain);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exchanges_iris, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exchanges_booster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_cell_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_shape_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_non_finite_literals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_syntax_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_optional_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wide_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_json_u_escape_position, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_json_bom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_missing_integer_cell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_csv_boolean_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_records_quadratic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_no_signature_named_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regression_instances_different_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_plain_rows_match_generic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_number_text, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
