/*
 * test_model.c -- native scoring of MLflow model directories: every fixture
 * model reproduces MLflow pyfunc's golden predictions bit for bit, the MLflow 3
 * directory loads, flavors keel cannot run and malformed MLmodel files are
 * refused with the right code, signatures read as written, one model scores
 * from many threads at once, and references free the model exactly once.
 *
 * The fixtures are ../shared/fixtures beside the repository (KEEL_FIXTURES
 * overrides); see their README.md.
 */
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <xgboost/c_api.h>

#include "model/model.h"
#include "util/arena.h"
#include "util/jparse.h"

#define TEST_ARENA_CEILING (64u << 20)
#include "testlib.h"

/* ---- fixtures -------------------------------------------------------------- */

static const char *fx_path(const char *fmt, const char *name)
{
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, fmt, name);
    return karena_sprintf(arena, "%s/%s", fixtures(), rel);
}

static void spit(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static struct keel_ctx new_ctx(void) { return (struct keel_ctx){.arena = arena}; }

static struct keel_model *load_ok(const char *dir)
{
    struct keel_ctx ctx = new_ctx();
    struct keel_model *m = NULL;
    enum keel_err e = keel_model_load(dir, &m, &ctx);
    if (e != KEEL_OK)
        fail_msg("load %s: %d %s", dir, e, ctx.errmsg ? ctx.errmsg : "");
    assert_non_null(m);
    return m;
}

static struct keel_model *load_fixture(const char *name)
{
    return load_ok(fx_path("models/%s", name));
}

/* golden/<name>/input.csv as a rows x features matrix in signature order
 * (columns matched by name, as MLflow does). No quoting in these files. */
static double *read_inputs(const struct keel_model *m, const char *name, size_t *rows)
{
    char *text = test_slurp(fx_path("golden/%s/input.csv", name), NULL);
    const struct keel_signature *sig = keel_model_signature(m);
    size_t nf = keel_model_n_features(m);
    assert_true(sig->has_inputs);
    assert_int_equal(sig->n_inputs, nf);
    size_t *where = karena_calloc(arena, nf, sizeof *where); /* csv column -> feature */
    double *x = karena_calloc(arena, 64 * nf, sizeof *x);
    assert_non_null(x);
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    size_t ncsv = 0;
    for (char *p = line, *end; p; p = end ? end + 1 : NULL, ncsv++) {
        end = strchr(p, ',');
        if (end)
            *end = '\0';
        assert_true(ncsv < nf);
        size_t j = 0;
        while (j < nf && strcmp(sig->inputs[j].name, p) != 0)
            j++;
        if (j == nf)
            fail_msg("%s: column '%s' not in the signature", name, p);
        where[ncsv] = j;
    }
    assert_int_equal(ncsv, nf);
    size_t r = 0;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        assert_true(r < 64);
        char *p = line;
        for (size_t c = 0; c < ncsv; c++) {
            char *end;
            x[r * nf + where[c]] = strtod(p, &end);
            assert_true(end != p);
            p = *end == ',' ? end + 1 : end;
        }
        r++;
    }
    *rows = r;
    return x;
}

static const struct jval *golden(const char *name)
{
    size_t len;
    char *text = test_slurp(fx_path("golden/%s/pyfunc_predictions.json", name), &len);
    const struct jval *g = jp_parse(arena, text, len, NULL);
    assert_non_null(g);
    return g;
}

static struct keel_prediction predict_ok(const struct keel_model *m, const double *x, size_t rows)
{
    struct keel_ctx ctx = new_ctx();
    struct keel_prediction p;
    enum keel_err e = keel_model_predict(m, x, rows, &p, &ctx);
    if (e != KEEL_OK)
        fail_msg("predict: %d %s", e, ctx.errmsg ? ctx.errmsg : "");
    return p;
}

/* ---- golden predictions ---------------------------------------------------- */

static const struct {
    const char *model, *golden, *class;
} served[] = {
    {"xgb-booster-binary", "xgb-booster-binary", "xgboost.core.Booster"},
    {"xgb-booster-binary-json", "xgb-booster-binary-json", "xgboost.core.Booster"},
    {"xgb-booster-binary-ubj", "xgb-booster-binary-ubj", "xgboost.core.Booster"},
    /* same trees saved by MLflow 3: pyfunc gives the legacy directory's output */
    {"xgb-booster-binary-mlflow3", "xgb-booster-binary", "xgboost.core.Booster"},
    {"xgb-classifier-iris", "xgb-classifier-iris", "xgboost.sklearn.XGBClassifier"},
    {"xgb-regressor-diabetes", "xgb-regressor-diabetes", "xgboost.sklearn.XGBRegressor"},
};
#define N_SERVED (sizeof served / sizeof served[0])

static const char *const refused[] = {"sklearn-logreg-iris"};

static void check_golden(size_t i)
{
    struct keel_model *m = load_fixture(served[i].model);
    assert_string_equal(keel_model_flavor(m), "xgboost");
    assert_string_equal(keel_model_class(m), served[i].class);
    size_t rows;
    double *x = read_inputs(m, served[i].golden, &rows);
    assert_int_equal(rows, 20);
    struct keel_prediction p = predict_ok(m, x, rows);

    const struct jval *g = golden(served[i].golden);
    const struct jval *want = jv_get(g, "predictions");
    const char *dtype = jv_str(jv_get(g, "dtype"));
    assert_int_equal(jv_len(jv_get(g, "shape")), 1); /* every fixture is 1-D */
    assert_int_equal(p.rows, jv_len(want));
    assert_int_equal(p.cols, 1);
    assert_int_equal(p.flat, 1);
    if (strcmp(dtype, "int64") == 0) {
        assert_int_equal(p.kind, KEEL_PRED_INT64);
        for (size_t r = 0; r < p.rows; r++) {
            assert_true(jv_is_int(jv_at(want, r)));
            if (p.i64[r] != jv_int(jv_at(want, r)))
                fail_msg("%s row %zu: %lld, want %lld", served[i].model, r, (long long)p.i64[r],
                         (long long)jv_int(jv_at(want, r)));
        }
    } else {
        assert_string_equal(dtype, "float32");
        assert_int_equal(p.kind, KEEL_PRED_FLOAT32);
        const struct jval *hex = jv_get(g, "predictions_float32_hex");
        for (size_t r = 0; r < p.rows; r++) {
            float w = (float)jv_number(jv_at(want, r));
            uint32_t got_bits, want_bits = (uint32_t)strtoul(jv_str(jv_at(hex, r)), NULL, 16);
            memcpy(&got_bits, &p.f32[r], sizeof got_bits);
            if (memcmp(&w, &p.f32[r], sizeof w) != 0 || got_bits != want_bits)
                fail_msg("%s row %zu: %.9g (0x%08x), want %.9g (0x%08x)", served[i].model, r,
                         p.f32[r], got_bits, w, want_bits);
        }
    }
    keel_model_unref(m);
}

static void test_golden_predictions(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_SERVED; i++)
        check_golden(i);
}

/* A fixture added later must be added to a table here, or this fails. */
static void test_every_fixture_is_covered(void **state)
{
    (void)state;
    DIR *d = opendir(fx_path("%s", "models"));
    assert_non_null(d);
    size_t seen = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        bool known = false;
        for (size_t i = 0; i < N_SERVED; i++)
            known |= strcmp(served[i].model, e->d_name) == 0;
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
            known |= strcmp(refused[i], e->d_name) == 0;
        if (!known)
            fail_msg("fixture model %s is not tested", e->d_name);
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, N_SERVED + sizeof refused / sizeof refused[0]);
}

static void test_metadata(void **state)
{
    (void)state;
    struct keel_model *m = load_fixture("xgb-booster-binary");
    assert_string_equal(keel_model_mlflow_version(m), "2.12.2.dev0");
    assert_int_equal(keel_model_n_features(m), 30);
    const struct keel_signature *sig = keel_model_signature(m);
    assert_true(sig->has_inputs);
    assert_int_equal(sig->n_inputs, 30);
    assert_string_equal(sig->inputs[0].name, "mean radius");
    assert_string_equal(sig->inputs[7].name, "mean concave points"); /* folded across lines */
    assert_string_equal(sig->inputs[29].name, "worst fractal dimension");
    for (size_t i = 0; i < 30; i++) {
        assert_int_equal(sig->inputs[i].type, KEEL_DT_DOUBLE);
        assert_true(sig->inputs[i].required);
    }
    keel_model_unref(m);

    m = load_fixture("xgb-booster-binary-mlflow3");
    assert_string_equal(keel_model_mlflow_version(m), "3.11.2.dev0");
    assert_int_equal(keel_model_signature(m)->n_inputs, 30);
    keel_model_unref(m);

    m = load_fixture("xgb-classifier-iris");
    assert_int_equal(keel_model_n_features(m), 4);
    assert_string_equal(keel_model_signature(m)->inputs[3].name, "petal width (cm)");
    keel_model_unref(m);
}

/* Zero rows, and rows of missing values (NaN follows each tree's default
 * branch, as MLflow's null does). */
static void test_edge_inputs(void **state)
{
    (void)state;
    struct keel_model *m = load_fixture("xgb-classifier-iris");
    struct keel_prediction p = predict_ok(m, NULL, 0);
    assert_int_equal(p.rows, 0);
    assert_int_equal(p.kind, KEEL_PRED_INT64);
    double x[2 * 4];
    for (size_t i = 0; i < 8; i++)
        x[i] = NAN;
    p = predict_ok(m, x, 2);
    assert_int_equal(p.rows, 2);
    assert_true(p.i64[0] >= 0 && p.i64[0] <= 2);
    assert_true(p.i64[0] == p.i64[1]);
    keel_model_unref(m);

    m = load_fixture("xgb-booster-binary");
    double y[30];
    for (size_t i = 0; i < 30; i++)
        y[i] = NAN;
    p = predict_ok(m, y, 1);
    assert_true(p.f32[0] > 0.0f && p.f32[0] < 1.0f);
    keel_model_unref(m);
}

/* pyfunc scores a Booster through a DMatrix, which refuses values infinite
 * as float32; the scikit-learn wrappers predict in place, which takes them. */
static void test_infinite_inputs(void **state)
{
    (void)state;
    static const double bad[] = {INFINITY, -INFINITY, 1e300, 0x1.ffffffp127};
    struct keel_model *m = load_fixture("xgb-booster-binary");
    double x[30];
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        for (size_t i = 0; i < 30; i++)
            x[i] = i == 7 ? bad[b] : 1.0;
        struct keel_ctx ctx = new_ctx();
        struct keel_prediction p;
        assert_int_equal(keel_model_predict(m, x, 1, &p, &ctx), KEEL_E_BAD_REQUEST);
        assert_non_null(strstr(ctx.errmsg, "infinite"));
    }
    /* at every place of three rows (the check reads eight values a step,
     * then the rest), among missing values */
    double rows3[90];
    for (size_t at = 0; at < 90; at++) {
        for (size_t i = 0; i < 90; i++)
            rows3[i] = i % 5 == 0 ? NAN : -2.5;
        rows3[at] = at % 2 ? -INFINITY : 1e39;
        struct keel_ctx ctx = new_ctx();
        struct keel_prediction p;
        assert_int_equal(keel_model_predict(m, rows3, 3, &p, &ctx), KEEL_E_BAD_REQUEST);
    }
    x[7] = 0x1.fffffep127; /* FLT_MAX itself, and just below the midpoint, are finite */
    predict_ok(m, x, 1);
    x[7] = 0x1.ffffffp127 - 0x1p90;
    predict_ok(m, x, 1);
    keel_model_unref(m);

    m = load_fixture("xgb-classifier-iris");
    double y[4] = {INFINITY, 1.0, -INFINITY, 1.0};
    struct keel_prediction p = predict_ok(m, y, 1);
    assert_int_equal(p.rows, 1);
    keel_model_unref(m);
}

/* ---- refusals -------------------------------------------------------------- */

static void test_refuses_sklearn(void **state)
{
    (void)state;
    struct keel_ctx ctx = new_ctx();
    struct keel_model *m = (struct keel_model *)&ctx; /* must be reset to NULL */
    assert_int_equal(keel_model_load(fx_path("models/%s", "sklearn-logreg-iris"), &m, &ctx),
                     KEEL_E_NOT_IMPLEMENTED);
    assert_null(m);
    assert_int_equal(ctx.err, KEEL_E_NOT_IMPLEMENTED);
    assert_non_null(ctx.errmsg);
    assert_non_null(strstr(ctx.errmsg, "[python_function, sklearn]"));
    assert_non_null(strstr(ctx.errmsg, "keel runs: [xgboost]"));
}

static void test_missing_dir(void **state)
{
    (void)state;
    struct keel_ctx ctx = new_ctx();
    struct keel_model *m = NULL;
    assert_int_equal(keel_model_load("/nonexistent/keel/model", &m, &ctx), KEEL_E_NOT_FOUND);
    assert_null(m);
    assert_non_null(ctx.errmsg);
    /* a directory without an MLmodel file */
    assert_int_equal(keel_model_load(fx_path("%s", "golden"), &m, &ctx), KEEL_E_NOT_FOUND);
    assert_null(m);
}

/* A scratch model directory: mkdtemp'd, removed by its teardown. */
struct tmpmodel {
    char dir[64];
};

static int tmp_setup(void **state)
{
    setup(state);
    /* model files the MLmodel texts below point at; read before the
     * directory exists, so a missing fixture leaves nothing behind */
    size_t iris_len, len;
    char *iris = test_slurp(fx_path("models/%s/model.xgb", "xgb-classifier-iris"), &iris_len);
    char *json = test_slurp(fx_path("models/%s/model.json", "xgb-booster-binary-json"), &len);
    struct tmpmodel *t = calloc(1, sizeof *t);
    assert_non_null(test_tempdir(t->dir, sizeof t->dir, "model"));
    spit(karena_sprintf(arena, "%s/iris.xgb", t->dir), iris, iris_len);
    spit(karena_sprintf(arena, "%s/binary.json", t->dir), json, len);
    char *ws = karena_alloc(arena, len + 2);
    ws[0] = '\n';
    memcpy(ws + 1, json, len);
    spit(karena_sprintf(arena, "%s/white.json", t->dir), ws, len + 1);
    spit(karena_sprintf(arena, "%s/garbage.bin", t->dir), "not a model at all", 18);
    spit(karena_sprintf(arena, "%s/broken.json", t->dir), "{\"learner\": {", 13);
    spit(karena_sprintf(arena, "%s/broken.ubj", t->dir), "{L\0\0\0\0\0\0\0\7learner{", 18);
    spit(karena_sprintf(arena, "%s/broken.binf", t->dir), iris, 400);
    assert_int_equal(mkdir(karena_sprintf(arena, "%s/subdir", t->dir), 0755), 0);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    struct tmpmodel *t = *state;
    assert_int_equal(test_rmtree(t->dir), 0);
    free(t);
    return teardown(state);
}

static void write_mlmodel(const struct tmpmodel *t, const char *text)
{
    spit(karena_sprintf(arena, "%s/MLmodel", t->dir), text, strlen(text));
}

/* Loads t's directory expecting failure e with `needle` in the message. */
static void expect_refusal(const struct tmpmodel *t, const char *text, enum keel_err e,
                           const char *needle)
{
    write_mlmodel(t, text);
    struct keel_ctx ctx = new_ctx();
    struct keel_model *m = NULL;
    enum keel_err got = keel_model_load(t->dir, &m, &ctx);
    if (got != e || !ctx.errmsg || !strstr(ctx.errmsg, needle))
        fail_msg("MLmodel:\n%s\nwant %d with '%s', got %d: %s", text, e, needle, got,
                 ctx.errmsg ? ctx.errmsg : "(no message)");
    assert_null(m);
}

#define IRIS_FLAVOR "flavors:\n  xgboost:\n    data: iris.xgb\n    model_class: "
#define IRIS_SIG                                                                                  \
    "signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"a\"}, {\"type\": \"double\", "    \
    "\"name\": \"b\"}, {\"type\": \"double\", \"name\": \"c\"}, {\"type\": \"double\", \"name\": " \
    "\"d\"}]'\n"

static void test_malformed(void **state)
{
    const struct tmpmodel *t = *state;
    static const struct {
        const char *text;
        enum keel_err e;
        const char *needle;
    } cases[] = {
        {"", KEEL_E_INVALID_PARAMETER, "not a YAML mapping"},
        {"- a\n- b\n", KEEL_E_INVALID_PARAMETER, "not a YAML mapping"},
        {"flavors: [unclosed\n", KEEL_E_INVALID_PARAMETER, "not valid YAML"},
        {"flavors:\n  xgboost: {data: 'x\n", KEEL_E_INVALID_PARAMETER, "not valid YAML"},
        {"\t\"flavors\": 1\n :", KEEL_E_INVALID_PARAMETER, "not valid YAML"},
        {"flavors: [xgboost]\n", KEEL_E_INVALID_PARAMETER, "'flavors' is not a mapping"},
        {"flavors:\n  xgboost: 3\n", KEEL_E_INVALID_PARAMETER, "not a mapping"},
        {"flavors:\n  ? [a]\n  : {}\n", KEEL_E_INVALID_PARAMETER, "flavor name is not a string"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature: [1]\n", KEEL_E_INVALID_PARAMETER,
         "'signature' is not a mapping"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: [1]\n",
         KEEL_E_INVALID_PARAMETER, "not a JSON string"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"type\": \"double\",'\n",
         KEEL_E_INVALID_PARAMETER, "not valid JSON"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '{\"type\": \"double\"}'\n",
         KEEL_E_INVALID_PARAMETER, "not a non-empty JSON list"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[]'\n",
         KEEL_E_INVALID_PARAMETER, "not a non-empty JSON list"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[1]'\n",
         KEEL_E_INVALID_PARAMETER, "not a JSON object"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"name\": \"a\"}]'\n",
         KEEL_E_INVALID_PARAMETER, "has no type"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"name\": 1, \"type\": "
                     "\"double\"}]'\n",
         KEEL_E_INVALID_PARAMETER, "name that is not a string"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"name\": \"a\", \"type\": "
                     "\"double\", \"required\": \"yes\"}]'\n",
         KEEL_E_INVALID_PARAMETER, "not a boolean"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"name\": \"a\", \"type\": "
                     "\"double\"}, {\"type\": \"double\"}]'\n",
         KEEL_E_INVALID_PARAMETER, "mixes named and unnamed"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"name\": \"a\", \"type\": "
                     "\"double\"}, {\"type\": \"tensor\", \"tensor-spec\": {}}]'\n",
         KEEL_E_INVALID_PARAMETER, "mixes tensor and column"},
        /* 4 features, 2 columns */
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"name\": \"a\", \"type\": "
                     "\"double\"}, {\"name\": \"b\", \"type\": \"double\"}]'\n",
         KEEL_E_INVALID_PARAMETER, "signature has 2 inputs but its xgboost model takes 4"},
        /* the xgboost flavor's model file */
        {"flavors:\n  xgboost:\n    model_class: xgboost.core.Booster\n",
         KEEL_E_INVALID_PARAMETER, "names no model file"},
        {"flavors:\n  xgboost:\n    data: null\n", KEEL_E_INVALID_PARAMETER, "names no model file"},
        {"flavors:\n  xgboost:\n    data: absent.xgb\n", KEEL_E_INVALID_PARAMETER, "is missing"},
        {"flavors:\n  xgboost:\n    data: subdir\n", KEEL_E_INVALID_PARAMETER,
         "not a regular file"},
        {"flavors:\n  xgboost:\n    data: ../x/iris.xgb\n", KEEL_E_INVALID_PARAMETER,
         "not a path inside the model directory"},
        {"flavors:\n  xgboost:\n    data: a/../../iris.xgb\n", KEEL_E_INVALID_PARAMETER,
         "not a path inside the model directory"},
        {"flavors:\n  xgboost:\n    data: /etc/passwd\n", KEEL_E_INVALID_PARAMETER,
         "not a path inside the model directory"},
        {"flavors:\n  xgboost:\n    data: garbage.bin\n", KEEL_E_INVALID_PARAMETER,
         "looks like no format XGBoost 1.7 writes"},
        {"flavors:\n  xgboost:\n    data: white.json\n", KEEL_E_INVALID_PARAMETER,
         "white space before its '{'"},
        {"flavors:\n  xgboost:\n    data: broken.json\n", KEEL_E_INVALID_PARAMETER,
         "looks like JSON"},
        {"flavors:\n  xgboost:\n    data: broken.ubj\n", KEEL_E_INVALID_PARAMETER,
         "looks like UBJSON"},
        {"flavors:\n  xgboost:\n    data: broken.binf\n", KEEL_E_INVALID_PARAMETER,
         "looks like XGBoost's legacy binary format"},
        /* flavors keel does not run, and classes it does not know */
        {"flavors:\n  python_function: {loader_module: x}\n  onnx: {}\n", KEEL_E_NOT_IMPLEMENTED,
         "its flavors are [python_function, onnx]; keel runs: [xgboost]"},
        {"flavors: {}\n", KEEL_E_NOT_IMPLEMENTED, "its flavors are []"},
        {"mlflow_version: 2.0\n", KEEL_E_NOT_IMPLEMENTED, "its flavors are []"},
        {IRIS_FLAVOR "xgboost.sklearn.XGBModel\n", KEEL_E_NOT_IMPLEMENTED,
         "xgboost model class xgboost.sklearn.XGBModel"},
        {IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"name\": \"a\", \"type\": "
                     "\"array\", \"items\": {\"type\": \"double\"}}]'\n",
         KEEL_E_NOT_IMPLEMENTED, "has type 'array'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_refusal(t, cases[i].text, cases[i].e, cases[i].needle);
}

/* The ceilings: MLmodel size and signature columns. */
static void test_limits(void **state)
{
    const struct tmpmodel *t = *state;
    size_t n = (1u << 20) + 1;
    char *big = karena_alloc(arena, n + 1);
    memset(big, '#', n); /* one long YAML comment */
    big[n] = '\0';
    expect_refusal(t, big, KEEL_E_INVALID_PARAMETER, "keel reads at most 1048576");

    /* 65537 columns in far less than 1 MiB: the count is checked first */
    size_t cols = (1u << 16) + 1;
    char *many = karena_alloc(arena, 3 * cols + 256);
    int k = sprintf(many, "%s", IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[");
    for (size_t i = 0; i < cols; i++)
        k += sprintf(many + k, "%s0", i ? "," : "");
    sprintf(many + k, "]'\n");
    expect_refusal(t, many, KEEL_E_INVALID_PARAMETER, "keel takes at most 65536");
}

/* ---- signatures and unknown keys ------------------------------------------ */

static void test_signature_parsing(void **state)
{
    const struct tmpmodel *t = *state;
    write_mlmodel(t, "artifact_path: model\n"
                     "flavors:\n"
                     "  python_function:\n"
                     "    env: {conda: conda.yaml, virtualenv: python_env.yaml}\n"
                     "    loader_module: mlflow.xgboost\n"
                     "  xgboost:\n"
                     "    code: null\n"
                     "    data: iris.xgb\n"
                     "    model_class: xgboost.sklearn.XGBClassifier\n"
                     "    model_format: xgb\n"
                     "    future_key: {nested: [1, 2]}\n"
                     "    xgb_version: 1.7.4\n"
                     "future_top_level: [a, b]\n"
                     "model_id: null\n"
                     "prompts: null\n"
                     "signature:\n"
                     "  future_signature_key: 1\n"
                     "  inputs: '[{\"type\": \"double\", \"name\": \"sepal length\",\n"
                     "    \"required\": true, \"future\": {}}, {\"type\": \"float\", \"name\":\n"
                     "    \"b\", \"required\": false},\n"
                     "    {\"type\": \"long\", \"name\": \"c \\u00e9\"}, {\"type\": \"integer\", "
                     "\"name\": \"\", \"required\": false}]'\n"
                     "  outputs: null\n"
                     "  params: null\n");
    struct keel_model *m = load_ok(t->dir);
    const struct keel_signature *sig = keel_model_signature(m);
    assert_true(sig->has_inputs);
    assert_int_equal(sig->n_inputs, 4);
    assert_string_equal(sig->inputs[0].name, "sepal length");
    assert_int_equal(sig->inputs[0].type, KEEL_DT_DOUBLE);
    assert_true(sig->inputs[0].required);
    assert_string_equal(sig->inputs[1].name, "b");
    assert_int_equal(sig->inputs[1].type, KEEL_DT_FLOAT);
    assert_false(sig->inputs[1].required);
    assert_string_equal(sig->inputs[2].name, "c \xc3\xa9");
    assert_int_equal(sig->inputs[2].type, KEEL_DT_LONG);
    assert_true(sig->inputs[2].required); /* absent: true */
    assert_string_equal(sig->inputs[3].name, "");
    assert_int_equal(sig->inputs[3].type, KEEL_DT_INTEGER);
    assert_false(sig->inputs[3].required);
    assert_string_equal(keel_model_mlflow_version(m), "");
    assert_string_equal(keel_model_class(m), "xgboost.sklearn.XGBClassifier");
    keel_model_unref(m);

    /* A tensor signature, no signature, and unnamed columns all take inputs
     * by position: has_inputs 0, n_inputs the model's feature count. */
    static const char *const positional[] = {
        IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"type\": \"tensor\", "
                    "\"tensor-spec\": {\"dtype\": \"float64\", \"shape\": [-1, 4]}}]'\n",
        IRIS_FLAVOR "xgboost.core.Booster\n",
        IRIS_FLAVOR "xgboost.core.Booster\nsignature: null\n",
        IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  outputs: '[]'\n",
        IRIS_FLAVOR "xgboost.core.Booster\nsignature:\n  inputs: '[{\"type\": \"double\"}, "
                    "{\"type\": \"double\"}]'\n",
    };
    for (size_t i = 0; i < sizeof positional / sizeof positional[0]; i++) {
        write_mlmodel(t, positional[i]);
        m = load_ok(t->dir);
        sig = keel_model_signature(m);
        assert_false(sig->has_inputs);
        assert_int_equal(sig->n_inputs, 4);
        assert_int_equal(keel_model_n_features(m), 4);
        keel_model_unref(m);
    }

    /* No model_class: MLflow before 1.22, a Booster. Repeated keys: the last. */
    write_mlmodel(t, "mlflow_version: '1.20'\nflavors:\n  xgboost:\n    data: garbage.bin\n"
                     "    data: iris.xgb\n" IRIS_SIG);
    m = load_ok(t->dir);
    assert_string_equal(keel_model_class(m), "xgboost.core.Booster");
    assert_string_equal(keel_model_mlflow_version(m), "1.20");
    keel_model_unref(m);
}

static void test_dtype_names(void **state)
{
    (void)state;
    static const char *const names[] = {"double", "float",  "long",   "integer",
                                        "boolean", "string", "binary", "datetime"};
    for (int t = KEEL_DT_DOUBLE; t <= KEEL_DT_DATETIME; t++)
        assert_string_equal(keel_dtype_name((enum keel_dtype)t), names[t]);
    assert_string_equal(keel_dtype_name((enum keel_dtype)99), "unknown");
}

/* A Booster saved as JSON by a classifier fixture's trees under a wrapper
 * class: the same probabilities through XGBClassifier's rules give labels. */
static void test_booster_json_as_classifier(void **state)
{
    const struct tmpmodel *t = *state;
    write_mlmodel(t, "flavors:\n  xgboost:\n    data: binary.json\n"
                     "    model_class: xgboost.sklearn.XGBClassifier\n");
    struct keel_model *m = load_ok(t->dir);
    struct keel_model *raw = load_fixture("xgb-booster-binary-json");
    size_t rows;
    double *x = read_inputs(raw, "xgb-booster-binary", &rows);
    struct keel_prediction labels = predict_ok(m, x, rows);
    struct keel_prediction probs = predict_ok(raw, x, rows);
    assert_int_equal(labels.kind, KEEL_PRED_INT64);
    for (size_t r = 0; r < rows; r++)
        assert_int_equal(labels.i64[r], probs.f32[r] > 0.5f ? 1 : 0);
    keel_model_unref(m);
    keel_model_unref(raw);
}

/* ---- the scikit-learn wrappers' rules ---------------------------------------- */

/* Fixture `src`'s booster saved as JSON to <dir>/<name> after setting
 * attributes and parameters ({key, value} pairs; a NULL value deletes an
 * attribute): models the fixtures lack, made with libxgboost itself. */
static void derive(const struct tmpmodel *t, const char *src, const char *name,
                   const char *const attrs[][2], size_t n_attrs, const char *const params[][2],
                   size_t n_params)
{
    size_t len;
    char *buf = test_slurp(fx_path("models/%s", src), &len);
    BoosterHandle h;
    assert_int_equal(XGBoosterCreate(NULL, 0, &h), 0);
    assert_int_equal(XGBoosterLoadModelFromBuffer(h, buf, len), 0);
    for (size_t i = 0; i < n_attrs; i++)
        assert_int_equal(XGBoosterSetAttr(h, attrs[i][0], attrs[i][1]), 0);
    for (size_t i = 0; i < n_params; i++)
        assert_int_equal(XGBoosterSetParam(h, params[i][0], params[i][1]), 0);
    bst_ulong n;
    const char *out;
    /* saving the config applies the parameters to the model first */
    assert_int_equal(XGBoosterSaveJsonConfig(h, &n, &out), 0);
    assert_int_equal(XGBoosterSaveModelToBuffer(h, "{\"format\": \"json\"}", &n, &out), 0);
    spit(karena_sprintf(arena, "%s/%s", t->dir, name), out, n);
    XGBoosterFree(h);
}

static struct keel_model *load_derived(const struct tmpmodel *t, const char *data,
                                       const char *class)
{
    write_mlmodel(t, karena_sprintf(arena, "flavors:\n  xgboost:\n    data: %s\n"
                                           "    model_class: %s\n",
                                    data, class));
    return load_ok(t->dir);
}

/* A wrapper predicts with the rounds up to best_iteration and the `missing`
 * value it was saved with; a Booster with every round and NaN. */
static void test_sklearn_rounds_and_missing(void **state)
{
    const struct tmpmodel *t = *state;
    const char *const early[][2] = {{"best_iteration", "9"}};
    derive(t, "xgb-regressor-diabetes/model.xgb", "early.json", early, 1, NULL, 0);
    struct keel_model *wrapped = load_derived(t, "early.json", "xgboost.sklearn.XGBRegressor");
    struct keel_model *booster = load_derived(t, "early.json", "xgboost.core.Booster");
    struct keel_model *full = load_fixture("xgb-regressor-diabetes");
    size_t rows;
    double *x = read_inputs(full, "xgb-regressor-diabetes", &rows);
    struct keel_prediction w = predict_ok(wrapped, x, rows), b = predict_ok(booster, x, rows),
                           f = predict_ok(full, x, rows);
    assert_memory_equal(b.f32, f.f32, rows * sizeof *f.f32); /* a Booster ignores it */
    size_t differ = 0;
    for (size_t r = 0; r < rows; r++)
        differ += w.f32[r] != f.f32[r];
    assert_true(differ > rows / 2); /* 10 rounds of 50 */

    /* the rounds are XGBoost's own: compare with its prediction of 10 */
    BoosterHandle h;
    size_t len;
    char *buf = test_slurp(karena_sprintf(arena, "%s/early.json", t->dir), &len);
    assert_int_equal(XGBoosterCreate(NULL, 0, &h), 0);
    assert_int_equal(XGBoosterLoadModelFromBuffer(h, buf, len), 0);
    char iface[200];
    snprintf(iface, sizeof iface,
             "{\"data\": [%" PRIuPTR ", true], \"shape\": [%zu, 10], \"strides\": null, "
             "\"typestr\": \"<f8\", \"version\": 3}",
             (uintptr_t)x, rows);
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    assert_int_equal(XGBoosterPredictFromDense(h,
                                               iface,
                                               "{\"type\": 0, \"training\": false, "
                                               "\"iteration_begin\": 0, \"iteration_end\": 10, "
                                               "\"strict_shape\": false, \"cache_id\": 0, "
                                               "\"missing\": NaN}",
                                               NULL, &shape, &dim, &res),
                     0);
    assert_memory_equal(w.f32, res, rows * sizeof *res);
    XGBoosterFree(h);
    keel_model_unref(wrapped);
    keel_model_unref(booster);

    /* missing: 0.0 saved with the wrapper -- a 0 is then a missing value */
    const char *const zero[][2] = {{"scikit_learn", "{\"missing\": 0.0, \"n_jobs\": 1, "
                                                    "\"_estimator_type\": \"regressor\"}"}};
    derive(t, "xgb-regressor-diabetes/model.xgb", "zero.json", zero, 1, NULL, 0);
    wrapped = load_derived(t, "zero.json", "xgboost.sklearn.XGBRegressor");
    size_t zero_matters = 0;
    for (size_t c = 0; c < 10; c++) {
        double row[10], nan_row[10];
        memcpy(row, x, sizeof row);
        memcpy(nan_row, x, sizeof row);
        row[c] = 0.0;
        nan_row[c] = NAN;
        struct keel_prediction z = predict_ok(wrapped, row, 1), n = predict_ok(full, nan_row, 1);
        assert_memory_equal(z.f32, n.f32, sizeof *z.f32);
        zero_matters += predict_ok(full, row, 1).f32[0] != n.f32[0];
    }
    assert_true(zero_matters > 0); /* else the loop above proves nothing */
    keel_model_unref(wrapped);
    keel_model_unref(full);
}

/* XGBClassifier.predict's branches: argmax (covered by the iris fixture),
 * multi:softmax's class indices, and the cases keel refuses. */
static void test_classifier_rules(void **state)
{
    const struct tmpmodel *t = *state;
    struct keel_model *iris = load_fixture("xgb-classifier-iris");
    size_t rows;
    double *x = read_inputs(iris, "xgb-classifier-iris", &rows);
    struct keel_prediction want = predict_ok(iris, x, rows);
    keel_model_unref(iris);

    const char *const softmax_meta[][2] = {
        {"scikit_learn", "{\"objective\": \"multi:softmax\", \"n_classes_\": 3, "
                         "\"missing\": NaN, \"_estimator_type\": \"classifier\"}"}};
    const char *const softmax[][2] = {{"objective", "multi:softmax"}};
    derive(t, "xgb-classifier-iris/model.xgb", "softmax.json", softmax_meta, 1, softmax, 1);
    assert_non_null(strstr(test_slurp(karena_sprintf(arena, "%s/softmax.json", t->dir), NULL),
                           "\"name\":\"multi:softmax\""));
    struct keel_model *m = load_derived(t, "softmax.json", "xgboost.sklearn.XGBClassifier");
    struct keel_prediction got = predict_ok(m, x, rows);
    assert_int_equal(got.kind, KEEL_PRED_INT64);
    assert_memory_equal(got.i64, want.i64, rows * sizeof *got.i64);
    keel_model_unref(m);

    static const struct {
        const char *meta, *needle;
    } refusals[] = {
        {"{\"_le\": {\"classes_\": [\"a\", \"b\", \"c\"]}, \"n_classes_\": 3}",
         "label encoder"},
        {"{\"objective\": \"multi:softprob\"}", "saved no n_classes_"},
        {"{\"n_classes_\": 2}", "multi-label"},
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const char *const attrs[][2] = {{"scikit_learn", refusals[i].meta}};
        derive(t, "xgb-classifier-iris/model.xgb", "refused.json", attrs, 1, NULL, 0);
        expect_refusal(t, "flavors:\n  xgboost:\n    data: refused.json\n"
                          "    model_class: xgboost.sklearn.XGBClassifier\n",
                       KEEL_E_NOT_IMPLEMENTED, refusals[i].needle);
    }

    /* gblinear boosters cannot predict in place: one trained here */
    DMatrixHandle d;
    BoosterHandle h;
    float data[8] = {1, 2, 3, 4, 2, 3, 4, 5}, label[2] = {0, 1};
    assert_int_equal(XGDMatrixCreateFromMat(data, 2, 4, NAN, &d), 0);
    assert_int_equal(XGDMatrixSetFloatInfo(d, "label", label, 2), 0);
    assert_int_equal(XGBoosterCreate(&d, 1, &h), 0);
    assert_int_equal(XGBoosterSetParam(h, "booster", "gblinear"), 0);
    assert_int_equal(XGBoosterUpdateOneIter(h, 0, d), 0);
    bst_ulong n;
    const char *out;
    assert_int_equal(XGBoosterSaveModelToBuffer(h, "{\"format\": \"json\"}", &n, &out), 0);
    spit(karena_sprintf(arena, "%s/linear.json", t->dir), out, n);
    XGBoosterFree(h);
    XGDMatrixFree(d);
    expect_refusal(t, "flavors:\n  xgboost:\n    data: linear.json\n", KEEL_E_NOT_IMPLEMENTED,
                   "booster is gblinear");
}

/* ---- threads and references ----------------------------------------------- */

struct worker {
    const struct keel_model *m;
    const double *x;
    size_t rows;
    const struct keel_prediction *want;
    int mismatches, errors;
};

static void *predict_many(void *arg)
{
    struct worker *w = arg;
    for (int it = 0; it < 200; it++) {
        struct karena *a = karena_new(16u << 20);
        struct keel_ctx ctx = {.arena = a};
        struct keel_prediction p;
        if (keel_model_predict(w->m, w->x, w->rows, &p, &ctx) != KEEL_OK)
            w->errors++;
        else if (p.rows != w->want->rows || p.kind != w->want->kind ||
                 (p.kind == KEEL_PRED_FLOAT32
                      ? memcmp(p.f32, w->want->f32, p.rows * p.cols * sizeof *p.f32)
                      : memcmp(p.i64, w->want->i64, p.rows * sizeof *p.i64)) != 0)
            w->mismatches++;
        karena_free(a);
    }
    return NULL;
}

/* Rows from the golden inputs, each nudged a little, so threads score
 * different values through every branch of the trees. */
static double *many_rows(const double *x, size_t rows, size_t nf, size_t n)
{
    double *big = karena_alloc(arena, n * nf * sizeof *big);
    assert_non_null(big);
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < nf; c++)
            big[r * nf + c] = x[(r % rows) * nf + c] * (1.0 + (double)(r % 97) / 1000.0);
    return big;
}

static void test_concurrent_predictions(void **state)
{
    (void)state;
    static const char *const names[] = {"xgb-booster-binary", "xgb-classifier-iris"};
    for (size_t k = 0; k < 2; k++) {
        struct keel_model *m = load_fixture(names[k]);
        size_t rows, nf = keel_model_n_features(m), n = 1000;
        double *golden_x = read_inputs(m, names[k], &rows);
        double *x = many_rows(golden_x, rows, nf, n);
        struct keel_prediction want = predict_ok(m, x, n);
        pthread_t th[4];
        struct worker w[4];
        for (int i = 0; i < 4; i++) {
            w[i] = (struct worker){.m = m, .x = x, .rows = n, .want = &want};
            assert_int_equal(pthread_create(&th[i], NULL, predict_many, &w[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            assert_int_equal(pthread_join(th[i], NULL), 0);
            assert_int_equal(w[i].errors, 0);
            assert_int_equal(w[i].mismatches, 0);
        }
        keel_model_unref(m);
    }
}

static void *ref_unref(void *arg)
{
    struct keel_model *m = arg;
    for (int i = 0; i < 10000; i++)
        keel_model_unref(keel_model_ref(m));
    return NULL;
}

/* The last unref frees the model, once: ASan reports a double free or a
 * use after free, LeakSanitizer a model never freed. */
static void test_refcount(void **state)
{
    (void)state;
    keel_model_unref(NULL);
    struct keel_model *m = load_fixture("xgb-regressor-diabetes");
    assert_ptr_equal(keel_model_ref(m), m);
    assert_ptr_equal(keel_model_ref(m), m);
    keel_model_unref(m);
    keel_model_unref(m);
    /* still ours: usable */
    assert_int_equal(keel_model_n_features(m), 10);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, ref_unref, m), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_string_equal(keel_model_flavor(m), "xgboost");
    keel_model_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_golden_predictions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_fixture_is_covered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edge_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_infinite_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_sklearn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_limits, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_signature_parsing, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_booster_json_as_classifier, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_sklearn_rounds_and_missing, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_classifier_rules, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_dtype_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_predictions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refcount, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
