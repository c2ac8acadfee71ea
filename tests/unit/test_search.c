/*
 * test_search.c -- MLflow's search language: which rows come back, in which
 * order, and the exact error for every malformed filter, order_by or page
 * token.
 *
 * Queries run against an in-memory SQLite store built by store_migrate(), so
 * the compiled SQL is checked by what it selects, not by its text. Expected
 * messages are MLflow 2.12's (those with Python sets in them are compared
 * with the set's elements sorted, since MLflow's own order varies).
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
#include <sqlite3.h>

#include "store/migrations.h"
#include "store/search.h"
#include "util/arena.h"
#include "util/err.h"

/* Run ids (lowercase hex-like, as MLflow's). */
#define R1 "r1000000000000000000000000000001"
#define R2 "r2000000000000000000000000000002"
#define R3 "r3000000000000000000000000000003"
#define R4 "r4000000000000000000000000000004"

static const char *const fixture_sql =
    "INSERT INTO experiments VALUES"
    " (1, 'churn', 'a/1', 'active', 300, 300),"
    " (2, 'fraud-detection', 'a/2', 'active', 200, 250),"
    " (3, 'Fraud-UPPER', 'a/3', 'active', 200, 260);"
    "INSERT INTO experiment_tags VALUES (1, 'team', 'growth'), (2, 'team', 'risk'),"
    " (3, 'owner', 'x');"
    "INSERT INTO runs (run_uuid, name, user_id, status, start_time, end_time, artifact_uri,"
    " experiment_id) VALUES"
    " ('" R1 "', 'baseline', 'alice', 'FINISHED', 1000, 1010, 's3://b/1', 1),"
    " ('" R2 "', 'sweep-1', 'bob', 'RUNNING', 2000, NULL, 's3://b/2', 1),"
    " ('" R3 "', 'sweep_2', 'bob', 'FAILED', 2000, 2100, 's3://b/3', 1),"
    " ('" R4 "', 'parent', 'carol', 'FINISHED', 500, 600, 's3://b/4', 1);"
    /* NaN is stored as value 0 with is_nan = 1, as MLflow does */
    "INSERT INTO latest_metrics VALUES"
    " ('" R1 "', 'acc', 0.82, 1, 0, 0), ('" R2 "', 'acc', 0.91, 1, 0, 0),"
    " ('" R3 "', 'acc', 0.85, 1, 0, 0),"
    " ('" R1 "', 'loss', 0, 1, 0, 1), ('" R2 "', 'loss', 0.5, 1, 0, 0),"
    " ('" R3 "', 'loss', 0.2, 1, 0, 0),"
    " ('" R1 "', 'neg', -5, 1, 0, 0), ('" R2 "', 'neg', 3, 1, 0, 0),"
    " ('" R3 "', 'neg', 0, 1, 0, 1), ('" R4 "', 'neg', -7.5, 1, 0, 0);"
    "INSERT INTO params VALUES ('" R1 "', 'model', 'logreg'),"
    " ('" R2 "', 'model', 'LogReg-Elastic'), ('" R3 "', 'model', 'xgboost');"
    "INSERT INTO tags VALUES"
    " ('" R1 "', 'mlflow.runName', 'baseline'), ('" R2 "', 'mlflow.runName', 'sweep-1'),"
    " ('" R3 "', 'mlflow.runName', 'sweep_2'), ('" R4 "', 'mlflow.runName', 'parent'),"
    " ('" R1 "', 'stage', 'prod'), ('" R3 "', 'stage', 'candidate'),"
    " ('" R2 "', 'mlflow.parentRunId', '" R4 "'),"
    " ('" R4 "', 'note', 'it''s; DROP TABLE runs; --'),"
    " ('" R3 "', 'weird''key;--', 'v'),"
    " ('" R1 "', 'pattern', 'a*b?c[d]'), ('" R2 "', 'pattern', 'axbycxd]');"
    "INSERT INTO datasets VALUES"
    " ('ds1', 1, 'train', 'd1', 'local', 'x', NULL, NULL),"
    " ('ds2', 1, 'eval', 'd2', 'local', 'y', NULL, NULL);"
    "INSERT INTO inputs VALUES ('in1', 'DATASET', 'ds1', 'RUN', '" R1 "'),"
    " ('in2', 'DATASET', 'ds2', 'RUN', '" R3 "');"
    "INSERT INTO input_tags VALUES ('in1', 'mlflow.data.context', 'training'),"
    " ('in2', 'mlflow.data.context', 'eval');"
    /* the rows above name their run by id; the store keys them by run_key */
    "UPDATE latest_metrics SET run_key = (SELECT r.run_key FROM runs r"
    " WHERE r.run_uuid = latest_metrics.run_key);"
    "UPDATE params SET run_key = (SELECT r.run_key FROM runs r WHERE r.run_uuid = params.run_key);"
    "UPDATE tags SET run_key = (SELECT r.run_key FROM runs r WHERE r.run_uuid = tags.run_key);"
    /* the model registry */
    "INSERT INTO registered_models VALUES ('Ranking-Model', 100, 500, NULL),"
    " ('churn-classifier', 200, 300, 'Predicts churn.'), ('fraud-detector', 300, 400, NULL),"
    " ('x*y', 400, 300, NULL), ('xzy', 500, 100, NULL);"
    "INSERT INTO registered_model_tags VALUES ('Ranking-Model', 'team', 'recsys'),"
    " ('churn-classifier', 'team', 'growth'), ('fraud-detector', 'team', 'risk'),"
    " ('fraud-detector', 'pii', 'yes'), ('xzy', 'my key', 'v');"
    "INSERT INTO model_versions (name, version, creation_time, last_updated_time, current_stage,"
    " source, run_id) VALUES"
    " ('churn-classifier', 1, 10, 50, 'Staging', 's3://b/churn/1', '" R1 "'),"
    " ('churn-classifier', 2, 20, 60, 'Archived', 's3://b/churn/2', '" R2 "'),"
    " ('churn-classifier', 3, 30, 40, 'Production', 'S3://B/churn/3', '" R3 "'),"
    " ('fraud-detector', 1, 15, 60, 'Staging', 's3://f/1', NULL),"
    " ('fraud-detector', 2, 25, 70, 'None', 's3://f/2', 'ffffffffffffffffffffffffffffffff'),"
    " ('fraud-detector', 3, 35, 80, 'Deleted_Internal', 's3://f/3', '" R1 "');"
    "INSERT INTO model_version_tags VALUES ('churn-classifier', 1, 'validated', 'true'),"
    " ('churn-classifier', 2, 'validated', 'true'), ('churn-classifier', 2, 'note', 'x'),"
    " ('fraud-detector', 3, 'validated', 'true');";

struct fx {
    sqlite3 *db;
    struct keel_ctx ctx;
    char got[4096];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->ctx.arena = karena_new(64u << 20);
    assert_int_equal(sqlite3_open(":memory:", &f->db), SQLITE_OK);
    assert_int_equal(store_migrate(f->db, &f->ctx), KEEL_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(f->db, fixture_sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("fixture: %s", msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    sqlite3_close(f->db);
    karena_free(f->ctx.arena);
    free(f);
    return 0;
}

static void bind_all(sqlite3_stmt *st, int *idx, const struct search_bind *b, size_t n)
{
    for (size_t i = 0; i < n; i++, (*idx)++) {
        int rc = b[i].kind == SEARCH_BIND_TEXT
                     ? sqlite3_bind_text(st, *idx, b[i].text, -1, SQLITE_TRANSIENT)
                 : b[i].kind == SEARCH_BIND_INT ? sqlite3_bind_int64(st, *idx, b[i].i)
                                                : sqlite3_bind_double(st, *idx, b[i].d);
        assert_int_equal(rc, SQLITE_OK);
    }
}

/* Runs the compiled search; returns the ids (runs: "1,3" for R1,R3;
 * experiments: their ids) in result order. */
static const char *query(struct fx *f, const struct search_sql *q, bool runs)
{
    char sql[1 << 16];
    snprintf(sql, sizeof sql,
             runs ? "SELECT substr(r.run_uuid, 2, 1) FROM runs r WHERE r.experiment_id = 1 AND "
                    "(%s) ORDER BY %s"
                  : "SELECT e.experiment_id FROM experiments e WHERE (%s) ORDER BY %s",
             q->where, q->order_by);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(f->db));
    int idx = 1;
    bind_all(st, &idx, q->where_binds, q->n_where_binds);
    bind_all(st, &idx, q->order_binds, q->n_order_binds);
    assert_int_equal(sqlite3_bind_parameter_count(st), idx - 1);
    f->got[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (f->got[0])
            strcat(f->got, ",");
        strcat(f->got, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return f->got;
}

static const char *runs_n(struct fx *f, const char *filter, const char *const *ob, size_t n)
{
    struct search_sql q;
    enum keel_err e = search_compile_runs(&f->ctx, filter, ob, n, &q);
    if (e)
        fail_msg("compile '%s': %s", filter, f->ctx.errmsg);
    return query(f, &q, true);
}

#define OB(...)                                                                                \
    (const char *const[]){__VA_ARGS__},                                                        \
        sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)
#define RUNS(f, filter) runs_n((f), (filter), NULL, 0)
#define RUNS_OB(f, filter, ...) runs_n((f), (filter), OB(__VA_ARGS__))

static const char *exps_n(struct fx *f, const char *filter, const char *const *ob, size_t n)
{
    struct search_sql q;
    enum keel_err e = search_compile_experiments(&f->ctx, filter, ob, n, &q);
    if (e)
        fail_msg("compile '%s': %s", filter, f->ctx.errmsg);
    return query(f, &q, false);
}

#define EXPS(f, filter) exps_n((f), (filter), NULL, 0)
#define EXPS_OB(f, filter, ...) exps_n((f), (filter), OB(__VA_ARGS__))

/* The registry searches: registered model names, or model versions as the
 * first letter of the name and the version ("c2" for churn-classifier/2). */
static const char *registry_query(struct fx *f, const struct search_sql *q, bool models)
{
    char sql[1 << 16];
    snprintf(sql, sizeof sql,
             models ? "SELECT m.name FROM registered_models m WHERE (%s) ORDER BY %s"
                    : "SELECT substr(v.name, 1, 1) || v.version FROM model_versions v "
                      "WHERE (%s) ORDER BY %s",
             q->where, q->order_by);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(f->db));
    int idx = 1;
    bind_all(st, &idx, q->where_binds, q->n_where_binds);
    bind_all(st, &idx, q->order_binds, q->n_order_binds);
    assert_int_equal(sqlite3_bind_parameter_count(st), idx - 1);
    f->got[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (f->got[0])
            strcat(f->got, ",");
        strcat(f->got, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return f->got;
}

static const char *rms_n(struct fx *f, const char *filter, const char *const *ob, size_t n)
{
    struct search_sql q;
    if (search_compile_registered_models(&f->ctx, filter, ob, n, 0, &q))
        fail_msg("compile '%s': %s", filter, f->ctx.errmsg);
    assert_null(q.where_lookup);
    return registry_query(f, &q, true);
}

static const char *mvs_n(struct fx *f, const char *filter, const char *const *ob, size_t n)
{
    struct search_sql q;
    if (search_compile_model_versions(&f->ctx, filter, ob, n, 0, &q))
        fail_msg("compile '%s': %s", filter, f->ctx.errmsg);
    assert_null(q.where_lookup);
    return registry_query(f, &q, false);
}

#define RMS(f, filter) rms_n((f), (filter), NULL, 0)
#define RMS_OB(f, filter, ...) rms_n((f), (filter), OB(__VA_ARGS__))
#define MVS(f, filter) mvs_n((f), (filter), NULL, 0)
#define MVS_OB(f, filter, ...) mvs_n((f), (filter), OB(__VA_ARGS__))

/* Parses "{'a', 'b'}" at s into items; returns the length or 0 if it is
 * not a set of quoted words. */
static size_t parse_set(const char *s, char items[][64], size_t *n)
{
    size_t i = 1;
    *n = 0;
    if (s[0] != '{')
        return 0;
    for (;;) {
        if (s[i] != '\'' || *n == 32)
            return 0;
        const char *end = strchr(s + i + 1, '\'');
        if (!end || end - (s + i) >= 62)
            return 0;
        snprintf(items[(*n)++], 64, "%.*s", (int)(end - (s + i) + 1), s + i);
        i = (size_t)(end - s) + 1;
        if (s[i] == '}')
            return i + 1;
        if (s[i] != ',' || s[i + 1] != ' ')
            return 0;
        i += 2;
    }
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The message with every "{'a', 'b'}" set's elements sorted. */
static void sort_sets(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < cap;) {
        char items[32][64];
        size_t n, len = parse_set(in + i, items, &n);
        if (!len) {
            out[o++] = in[i++];
            continue;
        }
        qsort(items, n, sizeof items[0], cmp_item);
        for (size_t k = 0; k < n && o + 1 < cap; k++)
            o += (size_t)snprintf(out + o, cap - o, "%s%s", k ? ", " : "{", items[k]);
        if (o + 1 < cap)
            out[o++] = '}';
        i += len;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static void expect_error(struct keel_ctx *ctx, enum keel_err got, enum keel_err want,
                         const char *msg)
{
    char a[8192], b[8192];
    assert_int_equal(got, want);
    assert_non_null(ctx->errmsg);
    sort_sets(ctx->errmsg, a, sizeof a);
    sort_sets(msg, b, sizeof b);
    assert_string_equal(a, b);
}

static void runs_error(struct fx *f, const char *filter, const char *const *ob, size_t n,
                       enum keel_err want, const char *msg)
{
    struct search_sql q;
    expect_error(&f->ctx, search_compile_runs(&f->ctx, filter, ob, n, &q), want, msg);
}

static void exps_error(struct fx *f, const char *filter, const char *const *ob, size_t n,
                       enum keel_err want, const char *msg)
{
    struct search_sql q;
    expect_error(&f->ctx, search_compile_experiments(&f->ctx, filter, ob, n, &q), want, msg);
}

static void rms_error(struct fx *f, const char *filter, const char *const *ob, size_t n,
                      enum keel_err want, const char *msg)
{
    struct search_sql q;
    expect_error(&f->ctx, search_compile_registered_models(&f->ctx, filter, ob, n, 0, &q), want,
                 msg);
}

static void mvs_error(struct fx *f, const char *filter, const char *const *ob, size_t n,
                      enum keel_err want, const char *msg)
{
    struct search_sql q;
    expect_error(&f->ctx, search_compile_model_versions(&f->ctx, filter, ob, n, 0, &q), want, msg);
}

#define IPV KEEL_E_INVALID_PARAMETER
#define ISE KEEL_E_INTERNAL

/* ---- runs: filters */

static void test_runs_default_order(void **state)
{
    struct fx *f = *state;
    /* start_time DESC, then run id ascending for the tie at 2000 */
    assert_string_equal(RUNS(f, NULL), "2,3,1,4");
    assert_string_equal(RUNS(f, ""), "2,3,1,4");
}

static void test_runs_metric_filters(void **state)
{
    struct fx *f = *state;
    assert_string_equal(RUNS(f, "metrics.acc > 0.84"), "2,3");
    assert_string_equal(RUNS(f, "metrics.acc >= 0.85 and metrics.acc < 0.9"), "3");
    /* != needs the metric: run 4 has none */
    assert_string_equal(RUNS(f, "metrics.acc != 0.85"), "2,1");
    assert_string_equal(RUNS(f, "metric.acc <= 0.82"), "1");
    assert_string_equal(RUNS(f, "metrics.`acc` = 0.91"), "2");
    /* MLflow stores NaN as 0: a NaN metric equals 0 */
    assert_string_equal(RUNS(f, "metrics.loss = 0"), "1");
    assert_string_equal(RUNS(f, "metrics.loss > -1e400"), "2,3,1");
    assert_string_equal(RUNS(f, "metrics.acc > 1"), "");
}

static void test_runs_param_tag_filters(void **state)
{
    struct fx *f = *state;
    assert_string_equal(RUNS(f, "params.model = 'logreg'"), "1");
    assert_string_equal(RUNS(f, "params.model = \"xgboost\""), "3");
    /* LIKE is case-sensitive, ILIKE is not; '_' is one character */
    assert_string_equal(RUNS(f, "params.model LIKE 'log%'"), "1");
    assert_string_equal(RUNS(f, "params.model like 'Log%'"), "2");
    assert_string_equal(RUNS(f, "params.model ILIKE 'log%'"), "2,1");
    assert_string_equal(RUNS(f, "params.model LIKE 'LogReg_Elastic'"), "2");
    assert_string_equal(RUNS(f, "params.model LIKE '%g%'"), "2,3,1");
    /* GLOB's own metacharacters are literals in a LIKE pattern */
    assert_string_equal(RUNS(f, "tags.pattern LIKE 'a*b?c[d]'"), "1");
    assert_string_equal(RUNS(f, "tags.pattern LIKE 'a_b_c_d%'"), "2,1");
    assert_string_equal(RUNS(f, "tags.pattern ILIKE 'A*B?C[D]'"), "1");
    /* a tag != only matches runs that have the tag */
    assert_string_equal(RUNS(f, "tags.stage != 'prod'"), "3");
    assert_string_equal(RUNS(f, "tags.mlflow.parentRunId = '" R4 "'"), "2");
    assert_string_equal(RUNS(f, "params.model = 'logreg' and tags.stage = 'prod' AND metrics.acc > 0.8"),
                        "1");
    /* MLflow accepts a missing AND and a dangling one */
    assert_string_equal(RUNS(f, "params.model != 'logreg' tags.stage = 'candidate' AND"), "3");
}

static void test_runs_attribute_filters(void **state)
{
    struct fx *f = *state;
    assert_string_equal(RUNS(f, "attributes.status = 'FINISHED'"), "1,4");
    assert_string_equal(RUNS(f, "status != 'FINISHED'"), "2,3");
    assert_string_equal(RUNS(f, "attr.user_id = 'bob'"), "2,3");
    assert_string_equal(RUNS(f, "run.artifact_uri LIKE 's3://b/_'"), "2,3,1,4");
    assert_string_equal(RUNS(f, "attributes.start_time > 1000"), "2,3");
    assert_string_equal(RUNS(f, "created < 1500"), "1,4");
    assert_string_equal(RUNS(f, "attributes.Created = 2000"), "2,3");
    /* runs without end_time never match */
    assert_string_equal(RUNS(f, "attributes.end_time > 1000"), "3,1");
    assert_string_equal(RUNS(f, "attributes.end_time != 1"), "3,1,4");
    /* run_name is matched on the mlflow.runName tag */
    assert_string_equal(RUNS(f, "attributes.run_name LIKE 'sweep%'"), "2,3");
    assert_string_equal(RUNS(f, "`Run name` = 'parent'"), "4");
    assert_string_equal(RUNS(f, "attributes.\"run name\" ILIKE 'BASE%'"), "1");
}

static void test_runs_run_id_lists(void **state)
{
    struct fx *f = *state;
    assert_string_equal(RUNS(f, "attributes.run_id IN ('" R1 "', '" R3 "')"), "3,1");
    assert_string_equal(RUNS(f, "run_id NOT IN ('" R1 "', '" R3 "')"), "2,4");
    assert_string_equal(RUNS(f, "attributes.run_id = '" R2 "'"), "2");
    assert_string_equal(RUNS(f, "attributes.run_id in ('" R2 "')"), "2");
    /* values with an upper-case letter (and no cased letter) are dropped */
    assert_string_equal(RUNS(f, "run_id IN ('R1000000000000000000000000000001')"), "");
    assert_string_equal(RUNS(f, "run_id NOT IN ('ABC', '123')"), "2,3,1,4");
    /* Python string literal rules: escapes and implicit concatenation */
    assert_string_equal(RUNS(f, "run_id IN ('" R2 "', 'r1000000000000000' '000000000000001', "
                                "'\\x72')"),
                        "2,1");
    /* a list must start with its comma-separated part */
    assert_int_equal(search_compile_runs(&f->ctx, "run_id IN ('a' 'b', 'c')", NULL, 0,
                                         &(struct search_sql){0}),
                     KEEL_E_INVALID_PARAMETER);
}

static void test_runs_dataset_filters(void **state)
{
    struct fx *f = *state;
    assert_string_equal(RUNS(f, "dataset.name = 'train'"), "1");
    assert_string_equal(RUNS(f, "datasets.digest != 'd1'"), "3");
    assert_string_equal(RUNS(f, "dataset.name IN ('train', 'eval')"), "3,1");
    assert_string_equal(RUNS(f, "dataset.digest NOT IN ('d1')"), "3");
    assert_string_equal(RUNS(f, "dataset.context = 'eval'"), "3");
    assert_string_equal(RUNS(f, "dataset.context LIKE 'train%'"), "1");
    assert_string_equal(RUNS(f, "dataset.name LIKE 'TR%'"), "");
    assert_string_equal(RUNS(f, "dataset.name ILIKE 'TR%'"), "1");
}

/* ---- runs: order_by */

static void test_runs_order_by(void **state)
{
    struct fx *f = *state;
    assert_string_equal(RUNS_OB(f, "", "metrics.acc ASC"), "1,3,2,4");
    assert_string_equal(RUNS_OB(f, "", "metrics.acc DESC"), "2,3,1,4");
    /* real values, then NaN, then missing, in both directions */
    assert_string_equal(RUNS_OB(f, "", "metrics.loss"), "3,2,1,4");
    assert_string_equal(RUNS_OB(f, "", "metrics.loss desc"), "2,3,1,4");
    assert_string_equal(RUNS_OB(f, "", "metrics.neg"), "4,1,2,3");
    assert_string_equal(RUNS_OB(f, "", "metrics.neg DESC"), "2,1,4,3");
    assert_string_equal(RUNS_OB(f, "", "metrics.neg DESC", "metrics.acc"), "2,1,4,3");
    assert_string_equal(RUNS_OB(f, "", "metrics.missing", "metrics.acc DESC"), "2,3,1,4");
    /* byte order; missing last */
    assert_string_equal(RUNS_OB(f, "", "params.model DESC"), "3,1,2,4");
    assert_string_equal(RUNS_OB(f, "", "params.model"), "2,1,3,4");
    assert_string_equal(RUNS_OB(f, "", "tags.stage ASC", "start_time ASC"), "3,1,4,2");
    assert_string_equal(RUNS_OB(f, "", "attributes.end_time ASC"), "4,1,3,2");
    assert_string_equal(RUNS_OB(f, "", "attributes.end_time DESC"), "3,1,4,2");
    assert_string_equal(RUNS_OB(f, "", "start_time ASC"), "4,1,2,3");
    assert_string_equal(RUNS_OB(f, "", "created DESC"), "2,3,1,4");
    assert_string_equal(RUNS_OB(f, "", "attributes.run_name"), "1,4,2,3");
    assert_string_equal(RUNS_OB(f, "", "attributes.status DESC", "user_id"), "2,1,4,3");
    assert_string_equal(RUNS_OB(f, "", "metrics.`acc` DESC"), "2,3,1,4");
    assert_string_equal(RUNS_OB(f, "status = 'FINISHED'", "run_id DESC"), "4,1");
}

/* ---- experiments */

static void test_experiments(void **state)
{
    struct fx *f = *state;
    /* default: creation_time DESC, experiment_id ASC */
    assert_string_equal(EXPS(f, ""), "1,2,3");
    assert_string_equal(EXPS_OB(f, "", "name ASC"), "3,1,2");
    /* tie-break on experiment_id is descending, as MLflow appends it */
    assert_string_equal(EXPS_OB(f, "", "creation_time"), "3,2,1");
    assert_string_equal(EXPS_OB(f, "", "creation_time", "experiment_id ASC"), "2,3,1");
    assert_string_equal(EXPS_OB(f, "", "last_update_time DESC"), "1,3,2");
    assert_string_equal(EXPS(f, "name LIKE 'fraud%'"), "2");
    assert_string_equal(EXPS(f, "name LIKE 'FRAUD%'"), "");
    assert_string_equal(EXPS_OB(f, "name ILIKE 'FRAUD%'", "name DESC"), "2,3");
    assert_string_equal(EXPS_OB(f, "name != 'churn'", "experiment_id DESC"), "3,2");
    assert_string_equal(EXPS(f, "creation_time < 250 AND last_update_time >= 255"), "3");
    assert_string_equal(EXPS(f, "tags.team LIKE '%i%' AND name ILIKE 'FRAUD%'"), "2");
    assert_string_equal(EXPS(f, "tags.team != 'risk'"), "1");
    assert_string_equal(EXPS(f, "tag.owner = 'x'"), "3");
    assert_string_equal(EXPS(f, "attribute.name = 'churn'"), "1");
}

/* ---- values are bound, never spliced */

static void test_injection(void **state)
{
    struct fx *f = *state;
    struct search_sql q;
    const char *evil = "params.model = 'x''; DROP TABLE runs; --' AND tags.`a; DROP TABLE runs` "
                       "= \"'); DELETE FROM runs; --\"";
    assert_int_equal(search_compile_runs(&f->ctx, evil, NULL, 0, &q), KEEL_OK);
    assert_null(strstr(q.where, "DROP"));
    assert_null(strstr(q.where, "DELETE"));
    assert_string_equal(query(f, &q, true), "");
    assert_string_equal(RUNS(f, ""), "2,3,1,4"); /* the table is still there */
    /* quotes, semicolons and backticks inside values and keys match literally */
    assert_string_equal(RUNS(f, "tags.note = \"it's; DROP TABLE runs; --\""), "4");
    assert_string_equal(RUNS(f, "tags.note LIKE \"%'s; DROP%\""), "4");
    assert_string_equal(RUNS(f, "tags.`weird'key;--` = 'v'"), "3");
    /* '' stays two quotes (MLflow does not unescape) */
    assert_string_equal(RUNS(f, "tags.note = 'it''s; DROP TABLE runs; --'"), "");
    assert_int_equal(search_compile_runs(&f->ctx, "", OB("metrics.`x); DROP TABLE runs; --`"), &q),
                     KEEL_OK);
    assert_null(strstr(q.order_by, "DROP"));
    assert_string_equal(query(f, &q, true), "2,3,1,4");
    assert_int_equal(search_compile_experiments(&f->ctx, "tags.`'` = ''';--'", NULL, 0, &q),
                     KEEL_OK);
    assert_null(strstr(q.where, "--"));
    assert_string_equal(query(f, &q, false), "");
}

/* ---- errors: MLflow's messages and codes */

static void test_filter_errors(void **state)
{
    struct fx *f = *state;
    runs_error(f, "metrics.accuracy > 0.9 OR params.model_family = 'xgboost'", NULL, 0, IPV,
               "Invalid clause(s) in filter string: 'OR'");
    exps_error(f, "name = ", NULL, 0, IPV, "Invalid clause(s) in filter string: name, =");
    runs_error(f, "name = ", NULL, 0, IPV, "Invalid clause(s) in filter string: 'name', '='");
    runs_error(f, "attributes.status IS NULL", NULL, 0, IPV,
               "Invalid clause(s) in filter string: 'attributes.status', 'IS', 'NULL'");
    runs_error(f, "(metrics.a > 1)", NULL, 0, IPV,
               "Invalid clause(s) in filter string: '(metrics.a > 1)'");
    /* "params.from = 'x'" is accepted on purpose (docs/decisions/0007); the API
     * tests search by it */
    runs_error(f, "attributes.status = 'x'; params.a = 'b'", NULL, 0, IPV,
               "Search filter contained multiple expression 'attributes.status = 'x'; params.a = "
               "'b''. Provide AND-ed expression list.");
    runs_error(f, "   ", NULL, 0, IPV, "Invalid filter '   '. Could not be parsed.");
    runs_error(f, "params.model_family IN ('logreg', 'xgboost')", NULL, 0, IPV,
               "Expected a quoted string value for parameter (e.g. 'my-value'). Got value "
               "('logreg', 'xgboost')");
    runs_error(f, "tags.t = 1", NULL, 0, IPV,
               "Expected a quoted string value for tag (e.g. 'my-value'). Got value 1");
    exps_error(f, "name IN ('churn-prediction', 'recsys-ranking')", NULL, 0, IPV,
               "Only the 'run_id' attribute supports comparison with a list of quoted string "
               "values.");
    runs_error(f, "params.a = x", NULL, 0, IPV,
               "Parameter value is either not quoted or unidentified quote types used for string "
               "value x. Use either single or double quotes.");
    runs_error(f, "metrics.a = 'x'", NULL, 0, IPV,
               "Expected numeric value type for metric. Found 'x'");
    runs_error(f, "attributes.start_time = 'x'", NULL, 0, IPV,
               "Expected numeric value type for numeric attribute: start_time. Found 'x'");
    runs_error(f, "status = 5", NULL, 0, IPV,
               "Expected a quoted string value for attributes. Got value 5");
    runs_error(f, "dataset.name = 5", NULL, 0, IPV,
               "Expected a quoted string value for dataset attributes. Got value 5");
    runs_error(f, "foo.bar = 'x'", NULL, 0, IPV,
               "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', "
               "'attribute', 'dataset']");
    exps_error(f, "attributes.name = 'x'", NULL, 0, IPV,
               "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', "
               "'tags')");
    runs_error(f, "attributes.color = 'red'", NULL, 0, IPV,
               "Invalid attribute key 'color' specified. Valid keys are '{'Created', 'Run Name', "
               "'Run name', 'artifact_uri', 'created', 'end_time', 'run name', 'run_id', "
               "'run_name', 'start_time', 'status', 'user_id'}'");
    runs_error(f, "attributes.lifecycle_stage = 'active'", NULL, 0, IPV,
               "Invalid attribute key 'lifecycle_stage' specified. Valid keys are '{'Created', "
               "'Run Name', 'Run name', 'artifact_uri', 'created', 'end_time', 'run name', "
               "'run_id', 'run_name', 'start_time', 'status', 'user_id'}'");
    exps_error(f, "experiment_id = 1", NULL, 0, IPV,
               "Invalid attribute key 'experiment_id' specified. Valid keys are "
               "'{'creation_time', 'last_update_time', 'name'}'");
    runs_error(f, "dataset.foo = 'x'", NULL, 0, IPV,
               "Invalid dataset key 'foo' specified. Valid keys are '{'context', 'digest', "
               "'name'}'");
    runs_error(f, "params.a-b = 'x'", NULL, 0, IPV,
               "Invalid comparison clause. Expected 'Identifier' found 'params.a-b'");
}

static void test_list_errors(void **state)
{
    struct fx *f = *state;
    runs_error(f, "run_id IN ()", NULL, 0, IPV,
               "While parsing a list in the query, expected a non-empty list of string values, "
               "but got empty list");
    runs_error(f, "run_id IN (\"a\", \"b\")", NULL, 0, IPV,
               "While parsing a list in the query, expected string value, punctuation, or "
               "whitespace, but got different type in list: (\"a\", \"b\")");
    runs_error(f, "run_id IN ('a' )", NULL, 0, IPV,
               "While parsing a list in the query, expected a non-empty list of string values, "
               "but got ill-formed list.");
    runs_error(f, "run_id IN ('a\\x4')", NULL, 0, IPV,
               "While parsing a list in the query, expected a non-empty list of string values, "
               "but got ill-formed list.");
}

static void test_comparator_errors(void **state)
{
    struct fx *f = *state;
    /* 400, no closing quote (MLflow's own message) */
    runs_error(f, "metrics.accuracy >> 0.5", NULL, 0, IPV,
               "Invalid comparator '>>' not one of '{'!=', '<', '<=', '=', '>', '>='}");
    runs_error(f, "params.a NOT LIKE 'x'", NULL, 0, IPV,
               "Invalid comparator 'NOT LIKE' not one of '{'!=', '=', 'ILIKE', 'LIKE'}'");
    /* these MLflow raises without an error code: 500 INTERNAL_ERROR */
    runs_error(f, "tags.a > 'x'", NULL, 0, ISE,
               "Invalid comparator '>' not one of '{'!=', '=', 'ILIKE', 'LIKE'}");
    runs_error(f, "attributes.status > 'x'", NULL, 0, ISE,
               "Invalid comparator '>' not one of '{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}'");
    runs_error(f, "attributes.start_time LIKE 1", NULL, 0, ISE,
               "Invalid comparator 'LIKE' not one of '{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}");
    runs_error(f, "dataset.name > 'x'", NULL, 0, ISE,
               "Invalid comparator '>' not one of '{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}");
    exps_error(f, "name > 'a'", NULL, 0, ISE,
               "Invalid comparator '>' not one of '{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}'");
    /* experiments take the comparator as written */
    exps_error(f, "name like 'a'", NULL, 0, ISE,
               "Invalid comparator 'like' not one of '{'!=', '=', 'ILIKE', 'IN', 'LIKE', "
               "'NOT IN'}'");
    exps_error(f, "tags.x like 'a'", NULL, 0, IPV, "Invalid comparator for tag: like");
    exps_error(f, "tags.x > 'a'", NULL, 0, IPV, "Invalid comparator for tag: >");
    exps_error(f, "creation_time LIKE 5", NULL, 0, ISE,
               "Invalid comparator 'LIKE' not one of '{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}");
    /* the filter is read before order_by, order_by before comparators */
    runs_error(f, "tags.a > 'x'", OB("dataset.name"), IPV, "Invalid identifier type 'dataset'");
    runs_error(f, "foo.a = 'x'", OB("dataset.name"), IPV,
               "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', "
               "'attribute', 'dataset']");
}

static void test_order_by_errors(void **state)
{
    struct fx *f = *state;
    runs_error(f, "", OB("metrics.accuracy DESC", "metrics.accuracy ASC"), ISE,
               "`order_by` contains duplicate fields: ['metrics.accuracy DESC', "
               "'metrics.accuracy ASC']");
    runs_error(f, "", OB("created", "start_time DESC"), ISE,
               "`order_by` contains duplicate fields: ['created', 'start_time DESC']");
    runs_error(f, "", OB(" start_time"), IPV,
               "Invalid order_by clause ' start_time'. Could not be parsed.");
    runs_error(f, "", OB("metrics.a ASC DESC"), IPV,
               "Invalid order_by clause 'metrics.a ASC DESC'. Could not be parsed.");
    runs_error(f, "", OB(""), IPV, "Invalid order_by clause ''. Could not be parsed.");
    runs_error(f, "", OB("start_time DESCENDING"), IPV,
               "Invalid ordering key in order_by clause 'start_time DESCENDING'.");
    runs_error(f, "", OB("dataset.name"), IPV, "Invalid identifier type 'dataset'");
    runs_error(f, "", OB("timestamp"), IPV,
               "Invalid attribute key 'timestamp' specified. Valid keys are '{'Created', "
               "'artifact_uri', 'created', 'end_time', 'run_id', 'run_name', 'start_time', "
               "'status', 'user_id'}'");
    exps_error(f, "", OB("tags.x"), IPV, "Invalid order_by entity: tag");
    /* bytes that are not UTF-8 (a query string) are read as U+FFFD */
    runs_error(f, "", OB("start_time\xff"), IPV,
               "Invalid order_by clause 'start_time\xEF\xBF\xBD'. Could not be parsed.");
    runs_error(f, "params.a = '\xc3' \xc3", NULL, 0, IPV,
               "Invalid clause(s) in filter string: '\xEF\xBF\xBD'");
    exps_error(f, "", OB("lifecycle_stage"), IPV,
               "Invalid attribute key 'lifecycle_stage' specified. Valid keys are "
               "'{'creation_time', 'experiment_id', 'last_update_time', 'name'}'");
}

static void test_limits(void **state)
{
    struct fx *f = *state;
    struct search_sql q;
    size_t n = SEARCH_MAX_FILTER_LEN + 1;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    memcpy(big, "params.a = 'x'", 14);
    assert_int_equal(search_compile_runs(&f->ctx, big, NULL, 0, &q), IPV);
    assert_non_null(strstr(f->ctx.errmsg, "too long"));
    free(big);

    char *many = malloc(32 * (SEARCH_MAX_CLAUSES + 2));
    many[0] = '\0';
    for (int i = 0; i <= SEARCH_MAX_CLAUSES; i++)
        strcat(many, i ? " AND metrics.m > 1" : "metrics.m > 1");
    assert_int_equal(search_compile_runs(&f->ctx, many, NULL, 0, &q), IPV);
    assert_non_null(strstr(f->ctx.errmsg, "too many clauses"));
    /* at the ceiling it still works */
    strstr(many, " AND metrics.m > 1")[0] = '\0';
    many[0] = '\0';
    for (int i = 0; i < SEARCH_MAX_CLAUSES; i++)
        strcat(many, i ? " AND metrics.acc > 0" : "metrics.acc > 0");
    assert_string_equal(runs_n(f, many, NULL, 0), "2,3,1");
    free(many);

    /* sqlparse's nesting guard: MLflow reports an unparseable filter */
    char deep[512], want[600];
    int o = snprintf(deep, sizeof deep, "%s", "");
    for (int i = 0; i < 99; i++)
        o += snprintf(deep + o, sizeof deep - (size_t)o, "(");
    o += snprintf(deep + o, sizeof deep - (size_t)o, "metrics.a > 1");
    for (int i = 0; i < 99; i++)
        o += snprintf(deep + o, sizeof deep - (size_t)o, ")");
    assert_int_equal(search_compile_runs(&f->ctx, deep, NULL, 0, &q), IPV);
    snprintf(want, sizeof want, "Error on parsing filter '%s'", deep);
    assert_string_equal(f->ctx.errmsg, want);
    /* one level less is parsed, and refused as a clause */
    assert_int_equal(search_compile_runs(&f->ctx, deep + 1, NULL, 0, &q), IPV);
    assert_non_null(strstr(f->ctx.errmsg, "Invalid clause(s) in filter string: '(("));
}

/* ---- page tokens */

static void test_page_tokens(void **state)
{
    struct fx *f = *state;
    struct keel_ctx *ctx = &f->ctx;
    int64_t off = -1;
    assert_string_equal(search_page_token_encode(ctx, 3), "eyJvZmZzZXQiOiAzfQ==");
    assert_int_equal(search_page_token_decode(ctx, "eyJvZmZzZXQiOiAzfQ==", &off), KEEL_OK);
    assert_int_equal(off, 3);
    assert_int_equal(search_page_token_decode(ctx, search_page_token_encode(ctx, 123456), &off),
                     KEEL_OK);
    assert_int_equal(off, 123456);
    assert_int_equal(search_page_token_decode(ctx, NULL, &off), KEEL_OK);
    assert_int_equal(off, 0);
    assert_int_equal(search_page_token_decode(ctx, "", &off), KEEL_OK);
    assert_int_equal(off, 0);
    /* non-alphabet characters are skipped, as Python's b64decode does */
    assert_int_equal(search_page_token_decode(ctx, "eyJvZmZz\nZXQiOiAzfQ==", &off), KEEL_OK);
    assert_int_equal(off, 3);
    /* {"offset": "12"} : int() of a string */
    assert_int_equal(search_page_token_decode(ctx, "eyJvZmZzZXQiOiAiMTIifQ==", &off), KEEL_OK);
    assert_int_equal(off, 12);
    /* {"offset": -5} : SQLite treats a negative offset as 0 */
    assert_int_equal(search_page_token_decode(ctx, "eyJvZmZzZXQiOiAtNX0=", &off), KEEL_OK);
    assert_int_equal(off, 0);
    /* {"offset": 99999999999999999999999} */
    assert_int_equal(search_page_token_decode(
                         ctx, "eyJvZmZzZXQiOiAiOTk5OTk5OTk5OTk5OTk5OTk5OTk5OTkifQ==", &off),
                     KEEL_OK);
    assert_true(off == SEARCH_MAX_PAGE_OFFSET);

    struct {
        const char *token, *msg;
    } bad[] = {
        {"not-a-valid-token", "Invalid page token, could not base64-decode"},
        {"a", "Invalid page token, could not base64-decode"},
        {"bm90IGpzb24=", "Invalid page token, decoded value=b'not json'"},
        {"//4=", "Invalid page token, decoded value=b'\\xff\\xfe'"},
        {"eyJvZmZzZXQiOiAwfQ==", "Invalid page token, parsed value={'offset': 0}"},
        {"eyJhIjogMX0=", "Invalid page token, parsed value={'a': 1}"},
        {"eyJvZmZzZXQiOiAiIiwgImIiOiBbMSwgMi41LCAieCIsIG51bGwsIHRydWVdfQ==",
         "Invalid page token, parsed value={'offset': '', 'b': [1, 2.5, 'x', None, True]}"},
        {"eyJvZmZzZXQiOiAiYWJjIn0=", "Invalid page token, not stringable abc"},
        {"eyJvZmZzZXQiOiAiMV9fMCJ9", "Invalid page token, not stringable 1__0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        off = 77;
        expect_error(ctx, search_page_token_decode(ctx, bad[i].token, &off), IPV, bad[i].msg);
        assert_int_equal(off, 0);
    }
}

/* ---- model registry */

static void test_registered_models(void **state)
{
    struct fx *f = *state;
    /* default: name ASC (binary: upper case first) */
    assert_string_equal(RMS(f, NULL), "Ranking-Model,churn-classifier,fraud-detector,x*y,xzy");
    assert_string_equal(RMS(f, ""), "Ranking-Model,churn-classifier,fraud-detector,x*y,xzy");
    assert_string_equal(RMS(f, "name = 'fraud-detector'"), "fraud-detector");
    assert_string_equal(RMS(f, "attribute.name = \"x*y\""), "x*y");
    assert_string_equal(RMS(f, "name != 'xzy' AND name != 'x*y'"),
                        "Ranking-Model,churn-classifier,fraud-detector");
    /* LIKE is case-sensitive, ILIKE is not; the comparator may be lower case */
    assert_string_equal(RMS(f, "name LIKE 'ranking%'"), "");
    assert_string_equal(RMS(f, "name ILIKE 'ranking%'"), "Ranking-Model");
    assert_string_equal(RMS(f, "name like '%-%'"), "Ranking-Model,churn-classifier,fraud-detector");
    assert_string_equal(RMS(f, "name LIKE 'x_y'"), "x*y,xzy");
    /* Python upper-cases a dotless i to I */
    assert_string_equal(RMS(f, "name \xC4\xB1like 'ranking%'"), "Ranking-Model");
    assert_string_equal(RMS(f, "name LIKE 'x*y'"), "x*y");
    /* tags */
    assert_string_equal(RMS(f, "tags.team = 'growth'"), "churn-classifier");
    assert_string_equal(RMS(f, "tag.team LIKE 'r%'"), "Ranking-Model,fraud-detector");
    assert_string_equal(RMS(f, "tags.team ILIKE 'R%'"), "Ranking-Model,fraud-detector");
    assert_string_equal(RMS(f, "tags.team != 'risk'"), "Ranking-Model,churn-classifier");
    assert_string_equal(RMS(f, "tags.team = 'risk' AND tags.pii = 'yes'"), "fraud-detector");
    assert_string_equal(RMS(f, "tags.team = 'growth' AND tags.pii = 'yes'"), "");
    assert_string_equal(RMS(f, "tags.team LIKE '%' AND tags.team != 'recsys' AND name ILIKE 'C%'"),
                        "churn-classifier");
    assert_string_equal(RMS(f, "tags.`my key` = 'v'"), "xzy");
    assert_string_equal(RMS(f, "tags.\"my key\" = 'v'"), "xzy");
    /* order_by: timestamp and last_updated_timestamp are last_updated_time */
    assert_string_equal(RMS_OB(f, "", "name DESC"),
                        "xzy,x*y,fraud-detector,churn-classifier,Ranking-Model");
    assert_string_equal(RMS_OB(f, "", "timestamp DESC"),
                        "Ranking-Model,fraud-detector,churn-classifier,x*y,xzy");
    assert_string_equal(RMS_OB(f, "", "last_updated_timestamp"),
                        "xzy,churn-classifier,x*y,fraud-detector,Ranking-Model");
    assert_string_equal(RMS_OB(f, "", "timestamp asc", "name DESC"),
                        "xzy,x*y,churn-classifier,fraud-detector,Ranking-Model");
    assert_string_equal(RMS_OB(f, "", "`name` DESC"),
                        "xzy,x*y,fraud-detector,churn-classifier,Ranking-Model");
    assert_string_equal(RMS_OB(f, "tags.team LIKE 'r%'", "timestamp"),
                        "fraud-detector,Ranking-Model");
}

static void test_registered_model_errors(void **state)
{
    struct fx *f = *state;
    /* recorded: rm_search_bad_filter_key, rm_search_bad_filter_unquoted */
    rms_error(f, "version = '1'", NULL, 0, IPV,
              "Invalid clause(s) in filter string: version, =, '1'");
    /* `version` is an SQL keyword to MLflow's tokenizer, so no comparison forms */
    runs_error(f, "version = '1'", NULL, 0, IPV,
               "Invalid clause(s) in filter string: 'version', '=', ''1''");
    mvs_error(f, "", OB("version"), IPV, "Invalid order_by clause 'version'. Could not be parsed.");
    assert_string_equal(MVS(f, "tags.version = 'x'"), "");
    rms_error(f, "name = fraud", NULL, 0, IPV,
              "Parameter value is either not quoted or unidentified quote types used for string "
              "value fraud. Use either single or double quotes.");
    rms_error(f, "name = 'a' OR name = 'b'", NULL, 0, IPV,
              "Invalid clause(s) in filter string: OR");
    rms_error(f, "attributes.name = 'x'", NULL, 0, IPV,
              "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', "
              "'tags')");
    rms_error(f, "params.p = 'x'", NULL, 0, IPV,
              "Invalid entity type 'params'. Valid entity types are ('attribute', 'tag', 'tags')");
    rms_error(f, "description = 'x'", NULL, 0, IPV,
              "Invalid attribute key 'description' specified. Valid keys are '{'name'}'");
    /* the attribute key is checked before its quotes come off */
    rms_error(f, "`name` = 'x'", NULL, 0, IPV,
              "Invalid attribute key '`name`' specified. Valid keys are '{'name'}'");
    rms_error(f, "name = 5", NULL, 0, IPV,
              "Expected a quoted string value or a list of quoted string values for attributes. "
              "Got value 5");
    rms_error(f, "tags.team = 5", NULL, 0, IPV,
              "Expected a quoted string value for tag (e.g. 'my-value'). Got value 5");
    rms_error(f, "name IN ('a', 'b')", NULL, 0, IPV,
              "Only the 'run_id' attribute supports comparison with a list of quoted string "
              "values.");
    rms_error(f, "name > 'a'", NULL, 0, IPV, "Invalid comparator for attribute: >");
    rms_error(f, "name NOT LIKE 'a'", NULL, 0, IPV,
              "Invalid comparator for attribute: NOT LIKE");
    rms_error(f, "tags.team >= 'a'", NULL, 0, IPV, "Invalid comparator for tag: >=");
    /* every clause is read before any comparator is checked */
    rms_error(f, "name > 'a' AND owner = 'b'", NULL, 0, IPV,
              "Invalid attribute key 'owner' specified. Valid keys are '{'name'}'");
    /* comparators before order_by */
    rms_error(f, "name > 'a'", OB("bogus"), IPV, "Invalid comparator for attribute: >");
    /* order_by */
    rms_error(f, "", OB("creation_timestamp DESC"), IPV,
              "Invalid order by key 'creation_timestamp' specified. Valid keys are "
              "'{'name', 'timestamp'}'");
    rms_error(f, "", OB("attribute.name"), IPV,
              "Invalid order by key 'attribute.name' specified. Valid keys are "
              "'{'name', 'timestamp'}'");
    rms_error(f, "", OB("name", "name DESC"), ISE,
              "`order_by` contains duplicate fields: ['name', 'name DESC']");
    rms_error(f, "", OB("timestamp", "last_updated_timestamp DESC"), ISE,
              "`order_by` contains duplicate fields: ['timestamp', 'last_updated_timestamp DESC']");
    rms_error(f, "", OB("name DESCENDING"), IPV,
              "Invalid ordering key in order_by clause 'name DESCENDING'.");
    rms_error(f, "", OB("name", "name ASC DESC"), IPV,
              "Invalid order_by clause 'name ASC DESC'. Could not be parsed.");
}

static void test_model_versions(void **state)
{
    struct fx *f = *state;
    /* default: last_updated_timestamp DESC, name ASC, version_number DESC;
     * a deleted version (fraud-detector 3) is never found */
    assert_string_equal(MVS(f, NULL), "f2,c2,f1,c1,c3");
    assert_string_equal(MVS(f, "name='churn-classifier'"), "c2,c1,c3");
    assert_string_equal(MVS_OB(f, "", "name ASC", "version_number DESC"), "c3,c2,c1,f2,f1");
    assert_string_equal(MVS(f, "run_id = '" R2 "'"), "c2");
    assert_string_equal(MVS(f, "run_id = '" R1 "'"), "c1");
    assert_string_equal(MVS_OB(f, "run_id IN ('" R1 "', '" R3 "')", "version_number ASC"),
                        "c1,c3");
    assert_string_equal(MVS(f, "run_id in ('" R2 "')"), "c2");
    /* upper-case ids are dropped from the list, as MLflow does */
    assert_string_equal(MVS(f, "run_id IN ('R2000000000000000000000000000002')"), "");
    /* != leaves out versions without a run */
    assert_string_equal(MVS(f, "run_id != '" R1 "'"), "f2,c2,c3");
    assert_string_equal(MVS(f, "run_id LIKE 'r%'"), "c2,c1,c3");
    assert_string_equal(MVS_OB(f, "tags.validated = 'true'", "version_number ASC"), "c1,c2");
    assert_string_equal(MVS(f, "tag.validated = 'true' AND tags.note = 'x'"), "c2");
    assert_string_equal(MVS(f, "tags.note != 'y'"), "c2");
    assert_string_equal(MVS_OB(f, "name='churn-classifier' AND version_number >= 2",
                               "version_number ASC"),
                        "c2,c3");
    assert_string_equal(MVS(f, "version_number = 2"), "f2,c2");
    assert_string_equal(MVS(f, "version_number = '2'"), "f2,c2");
    assert_string_equal(MVS(f, "version_number > 1.5 AND version_number != 3"), "f2,c2");
    assert_string_equal(MVS(f, "version_number <= 1"), "f1,c1");
    assert_string_equal(MVS(f, "attribute.version_number < 2"), "f1,c1");
    assert_string_equal(MVS(f, "source_path LIKE 's3://b/%'"), "c2,c1");
    assert_string_equal(MVS(f, "source_path ILIKE 's3://b/%'"), "c2,c1,c3");
    assert_string_equal(MVS(f, "source_path = 's3://f/2'"), "f2");
    assert_string_equal(MVS(f, "name LIKE 'fraud%'"), "f2,f1");
    assert_string_equal(MVS(f, "name ILIKE 'FRAUD%' AND source_path != 's3://f/1'"), "f2");
    /* order_by */
    assert_string_equal(MVS_OB(f, "", "creation_timestamp ASC"), "c1,f1,c2,f2,c3");
    assert_string_equal(MVS_OB(f, "", "last_updated_timestamp"), "c3,c1,c2,f1,f2");
    assert_string_equal(MVS_OB(f, "", "`version_number`"), "c1,f1,c2,f2,c3");
    assert_string_equal(MVS_OB(f, "", "version_number DESC", "name DESC"), "c3,f2,c2,f1,c1");
    assert_string_equal(MVS_OB(f, "", "name DESC"), "f2,f1,c3,c2,c1");
    /* the entity type is read, then ignored */
    assert_string_equal(MVS_OB(f, "", "tags.name DESC"), "f2,f1,c3,c2,c1");
    assert_string_equal(MVS_OB(f, "", "attribute.version_number"), "c1,f1,c2,f2,c3");
}

static void test_model_version_errors(void **state)
{
    struct fx *f = *state;
    /* recorded: mv_search_bad_filter_unquoted, mv_search_bad_filter_key */
    mvs_error(f, "name=churn-classifier", NULL, 0, IPV,
              "Expected a quoted string value or a list of quoted string values for attributes. "
              "Got value churn-classifier");
    mvs_error(f, "stage = 'Production'", NULL, 0, IPV,
              "Invalid attribute key 'stage' specified. Valid keys are "
              "'{'name', 'run_id', 'source_path', 'version_number'}'");
    mvs_error(f, "creation_timestamp > 5", NULL, 0, IPV,
              "Invalid attribute key 'creation_timestamp' specified. Valid keys are "
              "'{'name', 'run_id', 'source_path', 'version_number'}'");
    mvs_error(f, "name = churn", NULL, 0, IPV,
              "Parameter value is either not quoted or unidentified quote types used for string "
              "value churn. Use either single or double quotes.");
    mvs_error(f, "attr.name = 'x'", NULL, 0, IPV,
              "Invalid entity type 'attr'. Valid entity types are ('attribute', 'tag', 'tags')");
    mvs_error(f, "name = 5", NULL, 0, IPV,
              "Only the '{'creation_timestamp', 'last_updated_timestamp', 'version_number'}' "
              "attributes support comparison with numeric values.");
    mvs_error(f, "source_path IN ('a')", NULL, 0, IPV,
              "Only the 'run_id' attribute supports comparison with a list of quoted string "
              "values.");
    mvs_error(f, "tags.x IN ('a')", NULL, 0, IPV,
              "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')");
    mvs_error(f, "run_id IN ()", NULL, 0, IPV,
              "While parsing a list in the query, expected a non-empty list of string values, "
              "but got empty list");
    mvs_error(f, "version_number LIKE '1'", NULL, 0, IPV,
              "Invalid comparator for attribute version_number: LIKE");
    mvs_error(f, "name > 'a'", NULL, 0, IPV, "Invalid comparator for attribute: >");
    mvs_error(f, "run_id NOT IN ('a')", NULL, 0, IPV,
              "Invalid comparator for attribute: NOT IN");
    mvs_error(f, "tags.x IN", NULL, 0, IPV, "Invalid clause(s) in filter string: tags.x, IN");
    mvs_error(f, "tags.x < 'a'", NULL, 0, IPV, "Invalid comparator for tag: <");
    /* order_by */
    mvs_error(f, "", OB("stage"), IPV,
              "Invalid attribute key 'stage' specified. Valid keys are "
              "'{'creation_timestamp', 'last_updated_timestamp', 'name', 'version_number'}'");
    mvs_error(f, "", OB("tags.stage"), IPV,
              "Invalid order by key 'stage' specified. Valid keys are "
              "{'creation_timestamp', 'last_updated_timestamp', 'name', 'version_number'}");
    mvs_error(f, "", OB("params.x"), IPV,
              "Invalid entity type 'params'. Valid entity types are ('attribute', 'tag', 'tags')");
    mvs_error(f, "", OB("version_number", "tags.version_number DESC"), ISE,
              "`order_by` contains duplicate fields: ['version_number', "
              "'tags.version_number DESC']");
    mvs_error(f, "", OB("timestamp"), IPV,
              "Invalid attribute key 'timestamp' specified. Valid keys are "
              "'{'creation_timestamp', 'last_updated_timestamp', 'name', 'version_number'}'");
    /* the filter's errors come first */
    mvs_error(f, "name > 'a'", OB("stage"), IPV, "Invalid comparator for attribute: >");
}

/* ---- logged models (MLflow 3) */

/* The recorded scenario's four models in experiment 1 (default order is
 * creation time, newest first: lightgbm-baseline, scratch-model,
 * sklearn-pipeline, model) and a second `model` in experiment 2. */
static const char *const lm_fixture_sql =
    "INSERT INTO logged_models VALUES"
    " ('m-main', 1, 'model', 'a/1/models/m-main', 1000, 1100, 2, 'active', '', '" R1 "'),"
    " ('m-lgbm', 1, 'lightgbm-baseline', 'a/1/models/m-lgbm', 4000, 4000, 1, 'active', '', ''),"
    " ('m-scratch', 1, 'scratch-model', 'a/1/models/m-scratch', 3000, 3000, 1, 'active', '',"
    " ''),"
    " ('m-norun', 1, 'sklearn-pipeline', 'a/1/models/m-norun', 2000, 2000, 3, 'active',"
    " 'sklearn', ''),"
    " ('m-other', 2, 'model', 'a/2/models/m-other', 5000, 5000, 2, 'active', '', '');"
    "INSERT INTO logged_model_tags VALUES ('m-main', 'stage', 'approved'),"
    " ('m-main', 'mlflow.user', 'alice'), ('m-norun', 'mlflow.modelVersions', '[]');"
    "INSERT INTO logged_model_params VALUES ('m-main', 'lr', '0.1'),"
    " ('m-main', 'max_depth', '3'), ('m-lgbm', 'lr', '0.2');"
    "INSERT INTO logged_model_metrics VALUES"
    " ('m-main', 'loss', 0.69, 1000, 0, 0, '" R1 "', '', ''),"
    " ('m-main', 'eval_auc', 0.93, 1005, 0, 0, '" R1 "', 'churn-eval', '77b0d4aa'),"
    /* acc: latest by timestamp, then step; any logged value matches a filter */
    " ('m-main', 'acc', 0.1, 50, 1, 0, '" R1 "', '', ''),"
    " ('m-main', 'acc', 0.95, 50, 2, 0, '" R1 "', '', ''),"
    " ('m-lgbm', 'acc', 0.5, 10, 0, 0, '" R2 "', '', ''),"
    " ('m-lgbm', 'acc', 0.7, 20, 0, 0, '" R2 "', '', ''),"
    " ('m-scratch', 'acc', 0.9, 5, 0, 0, '" R2 "', 'd1', 'x'),"
    " ('m-norun', 'acc', 0.6, 30, 0, 0, '" R2 "', 'd2', 'y');";

static void lm_fixture(struct fx *f)
{
    char *msg = NULL;
    if (sqlite3_exec(f->db, lm_fixture_sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("lm fixture: %s", msg);
}

/* Runs a compiled logged-model search over the given experiments; returns
 * the names in order (with "@<experiment>" when both experiments are read). */
static const char *lm_query(struct fx *f, const struct search_sql *q, const char *exps)
{
    char sql[1 << 16];
    snprintf(sql, sizeof sql,
             "SELECT lm.name || CASE WHEN ? LIKE '%%,%%' THEN '@' || lm.experiment_id ELSE '' "
             "END FROM logged_models lm WHERE lm.experiment_id IN (%s) AND "
             "lm.lifecycle_stage <> 'deleted' AND (%s) ORDER BY %s",
             exps, q->where, q->order_by);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(f->db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(f->db));
    assert_int_equal(sqlite3_bind_text(st, 1, exps, -1, SQLITE_TRANSIENT), SQLITE_OK);
    int idx = 2;
    bind_all(st, &idx, q->where_binds, q->n_where_binds);
    bind_all(st, &idx, q->order_binds, q->n_order_binds);
    assert_int_equal(sqlite3_bind_parameter_count(st), idx - 1);
    assert_null(q->where_lookup);
    assert_null(q->lead_metric);
    f->got[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (f->got[0])
            strcat(f->got, ",");
        strcat(f->got, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return f->got;
}

static const char *lms_n(struct fx *f, const char *exps, const char *filter,
                         const struct search_lm_dataset *ds, size_t nds,
                         const struct search_lm_order *ob, size_t n)
{
    struct search_sql q;
    if (search_compile_logged_models_datasets(&f->ctx, filter, ds, nds, ob, n, &q))
        fail_msg("compile '%s': %s", filter ? filter : "(null)", f->ctx.errmsg);
    return lm_query(f, &q, exps);
}

#define LOB(...)                                                                               \
    (const struct search_lm_order[]){__VA_ARGS__},                                             \
        sizeof((const struct search_lm_order[]){__VA_ARGS__}) / sizeof(struct search_lm_order)
#define LDS(...)                                                                               \
    (const struct search_lm_dataset[]){__VA_ARGS__},                                           \
        sizeof((const struct search_lm_dataset[]){__VA_ARGS__}) /                              \
            sizeof(struct search_lm_dataset)
#define ASC(field) {.field_name = (field), .ascending = true}
#define DESC(field) {.field_name = (field), .ascending = false}
#define LMS(f, filter) lms_n((f), "1", (filter), NULL, 0, NULL, 0)
#define LMS_OB(f, filter, ...) lms_n((f), "1", (filter), NULL, 0, LOB(__VA_ARGS__))

static void lms_error(struct fx *f, const char *filter, const struct search_lm_dataset *ds,
                      size_t nds, const struct search_lm_order *ob, size_t n, enum keel_err want,
                      const char *msg)
{
    struct search_sql q;
    expect_error(&f->ctx,
                 search_compile_logged_models_datasets(&f->ctx, filter, ds, nds, ob, n, &q), want,
                 msg);
}

static void test_logged_model_filters(void **state)
{
    struct fx *f = *state;
    lm_fixture(f);
    /* the recorded vectors */
    assert_string_equal(LMS(f, NULL), "lightgbm-baseline,scratch-model,sklearn-pipeline,model");
    assert_string_equal(LMS(f, ""), "lightgbm-baseline,scratch-model,sklearn-pipeline,model");
    assert_string_equal(LMS(f, "name = 'model'"), "model");
    assert_string_equal(LMS(f, "params.lr = '0.1'"), "model");
    assert_string_equal(LMS(f, "tags.stage = 'approved'"), "model");
    assert_string_equal(LMS(f, "metrics.eval_auc > 0.9"), "model");
    assert_string_equal(LMS(f, "source_run_id = '" R1 "'"), "model");
    assert_string_equal(LMS(f, "model_type = 'sklearn'"), "sklearn-pipeline");
    assert_string_equal(LMS(f, "name LIKE 'scratch%'"), "scratch-model");
    assert_string_equal(LMS_OB(f, "name IN ('model', 'sklearn-pipeline')", ASC("name")),
                        "model,sklearn-pipeline");
    assert_string_equal(LMS_OB(f, "name != 'model'", ASC("name")),
                        "lightgbm-baseline,scratch-model,sklearn-pipeline");
    assert_string_equal(LMS_OB(f, "creation_time > 0", ASC("name")),
                        "lightgbm-baseline,model,scratch-model,sklearn-pipeline");
    /* status is a number: its name never matches, its number does */
    assert_string_equal(LMS(f, "status = 'LOGGED_MODEL_READY'"), "");
    assert_string_equal(LMS(f, "status = '2'"), "model");
    assert_string_equal(LMS(f, "status IN ('1', '3')"),
                        "lightgbm-baseline,scratch-model,sklearn-pipeline");
    /* AND (any case) between comparisons */
    assert_string_equal(LMS(f, "name = 'model' AND params.lr = '0.1'"), "model");
    assert_string_equal(LMS(f, "tags.stage = 'approved' and metrics.loss <= 0.69"), "model");
    assert_string_equal(LMS(f, "name = 'model' AND params.lr = '0.2'"), "");
    /* as sqlparse groups it, a missing AND still gives two comparisons */
    assert_string_equal(LMS(f, "name = 'model' tags.stage = 'approved'"), "model");
    /* comparators */
    assert_string_equal(LMS(f, "name LIKE 'SCRATCH%'"), "");
    assert_string_equal(LMS(f, "name ILIKE 'SCRATCH%'"), "scratch-model");
    assert_string_equal(LMS(f, "name LIKE '_odel'"), "model");
    assert_string_equal(LMS(f, "name NOT IN ('model', 'scratch-model')"),
                        "lightgbm-baseline,sklearn-pipeline");
    assert_string_equal(LMS(f, "name IN ('model')"), "model");
    assert_string_equal(LMS(f, "name IN ()"), "");
    assert_string_equal(LMS(f, "name NOT IN ()"),
                        "lightgbm-baseline,scratch-model,sklearn-pipeline,model");
    assert_string_equal(LMS(f, "params.lr IN ('0.1', '0.2')"), "lightgbm-baseline,model");
    assert_string_equal(LMS(f, "params.lr NOT IN ('0.1')"), "lightgbm-baseline");
    assert_string_equal(LMS(f, "params.lr != '0.1'"), "lightgbm-baseline");
    assert_string_equal(LMS(f, "params.lr LIKE '0.%'"), "lightgbm-baseline,model");
    assert_string_equal(LMS(f, "tags.stage ILIKE 'APPROVED'"), "model");
    /* a model without the tag never matches, not even != */
    assert_string_equal(LMS(f, "tags.stage != 'x'"), "model");
    assert_string_equal(LMS(f, "tags.`mlflow.user` = 'alice'"), "model");
    assert_string_equal(LMS(f, "attributes.name = 'model'"), "model");
    assert_string_equal(LMS(f, "`name` = 'model'"), "model");
    assert_string_equal(LMS(f, "model_id = 'm-norun'"), "sklearn-pipeline");
    assert_string_equal(LMS(f, "experiment_id = '1' AND lifecycle_stage = 'active'"),
                        "lightgbm-baseline,scratch-model,sklearn-pipeline,model");
    assert_string_equal(LMS(f, "artifact_location LIKE '%/m-main'"), "model");
    assert_string_equal(LMS(f, "status_message = 'x'"), "");
    /* numeric attributes and their aliases */
    assert_string_equal(LMS(f, "creation_timestamp >= 3000"), "lightgbm-baseline,scratch-model");
    assert_string_equal(LMS(f, "creation_timestamp_ms = 2000"), "sklearn-pipeline");
    assert_string_equal(LMS(f, "last_updated_timestamp < 1500"), "model");
    assert_string_equal(LMS(f, "last_updated_timestamp_ms != 1100 AND creation_time <= 3e3"),
                        "scratch-model,sklearn-pipeline");
    assert_string_equal(LMS(f, "attributes.creation_timestamp_ms > 2_500"),
                        "lightgbm-baseline,scratch-model");
    /* metrics: every logged value counts, not only the latest */
    assert_string_equal(LMS(f, "metrics.acc < 0.6"), "lightgbm-baseline,model");
    assert_string_equal(LMS(f, "metrics.eval_auc = 0.93"), "model");
    assert_string_equal(LMS(f, "metrics.acc >= 0.6 AND metrics.acc != 0.5"),
                        "lightgbm-baseline,scratch-model,sklearn-pipeline,model");
    assert_string_equal(LMS(f, "metrics.acc > 0.9"), "model");
    assert_string_equal(LMS(f, "metrics.missing > -1"), "");
    assert_string_equal(LMS(f, "metrics.loss > -1 AND metrics.loss < 1e0"), "model");
    assert_string_equal(LMS(f, "metrics.loss < inf AND metrics.loss != nan"), "");
    /* strings are compared as written: only the single quotes are stripped */
    assert_string_equal(LMS(f, "name = \"model\""), "");
    assert_string_equal(LMS(f, "tags.stage = 'approved'' OR 1=1 --'"), "");
    /* several experiments */
    assert_string_equal(lms_n(f, "1,2", "name = 'model'", NULL, 0, LOB(ASC("experiment_id"))),
                        "model@1,model@2");
    assert_string_equal(lms_n(f, "1,2", "name = 'model'", NULL, 0, LOB(DESC("experiment_id"))),
                        "model@2,model@1");
}

static void test_logged_model_datasets(void **state)
{
    struct fx *f = *state;
    lm_fixture(f);
    assert_string_equal(
        lms_n(f, "1", NULL, LDS({"churn-eval", "77b0d4aa"}), NULL, 0), "model");
    /* no digest: MLflow compares it to NULL, which matches nothing */
    assert_string_equal(lms_n(f, "1", NULL, LDS({"churn-eval", NULL}), NULL, 0), "");
    assert_string_equal(lms_n(f, "1", NULL, LDS({"churn-eval", ""}), NULL, 0), "");
    assert_string_equal(lms_n(f, "1", NULL, LDS({"churn-eval", "other"}), NULL, 0), "");
    assert_string_equal(lms_n(f, "1", NULL, LDS({"d1", "x"}, {"d2", "y"}), NULL, 0),
                        "scratch-model,sklearn-pipeline");
    assert_string_equal(lms_n(f, "1", "name = 'model'", LDS({"churn-eval", "77b0d4aa"}), NULL, 0),
                        "model");
    /* with a metric clause, the metric must be on one of the datasets */
    assert_string_equal(lms_n(f, "1", "metrics.acc > 0", LDS({"d1", "x"}), NULL, 0),
                        "scratch-model");
    assert_string_equal(lms_n(f, "1", "metrics.acc > 0", LDS({"d1", "x"}, {"d2", "y"}), NULL, 0),
                        "scratch-model,sklearn-pipeline");
    assert_string_equal(lms_n(f, "1", "metrics.eval_auc > 0", LDS({"d1", "x"}), NULL, 0), "");
    lms_error(f, NULL, LDS({NULL, "77b0d4aa"}), NULL, 0, IPV,
              "`dataset_name` in the `datasets` clause must be specified.");
    lms_error(f, "name = ", LDS({"d1", "x"}, {"", NULL}), NULL, 0, IPV,
              "`dataset_name` in the `datasets` clause must be specified.");
}

static void test_logged_model_order_by(void **state)
{
    struct fx *f = *state;
    lm_fixture(f);
    assert_string_equal(LMS_OB(f, NULL, ASC("name")),
                        "lightgbm-baseline,model,scratch-model,sklearn-pipeline");
    assert_string_equal(LMS_OB(f, NULL, DESC("name")),
                        "sklearn-pipeline,scratch-model,model,lightgbm-baseline");
    /* models without the metric last, in both directions */
    assert_string_equal(LMS_OB(f, NULL, DESC("metrics.eval_auc"), ASC("name")),
                        "model,lightgbm-baseline,scratch-model,sklearn-pipeline");
    assert_string_equal(LMS_OB(f, NULL, ASC("metrics.eval_auc")),
                        "model,lightgbm-baseline,scratch-model,sklearn-pipeline");
    /* the latest value: by timestamp, then step */
    assert_string_equal(LMS_OB(f, NULL, ASC("metrics.acc")),
                        "sklearn-pipeline,lightgbm-baseline,scratch-model,model");
    assert_string_equal(LMS_OB(f, NULL, DESC("metrics.acc")),
                        "model,scratch-model,lightgbm-baseline,sklearn-pipeline");
    /* restricted to a dataset; the rest by creation time, newest first */
    const struct search_lm_order on_d1[] = {
        {.field_name = "metrics.acc", .ascending = true, .dataset_name = "d1"}};
    assert_string_equal(lms_n(f, "1", NULL, NULL, 0, on_d1, 1),
                        "scratch-model,lightgbm-baseline,sklearn-pipeline,model");
    const struct search_lm_order on_digest[] = {
        {.field_name = "metrics.acc", .ascending = false, .dataset_name = "d2",
         .dataset_digest = "y"}};
    assert_string_equal(lms_n(f, "1", NULL, NULL, 0, on_digest, 1),
                        "sklearn-pipeline,lightgbm-baseline,scratch-model,model");
    const struct search_lm_order wrong_digest[] = {
        {.field_name = "metrics.acc", .ascending = false, .dataset_name = "d2",
         .dataset_digest = "zzz"}};
    assert_string_equal(lms_n(f, "1", NULL, NULL, 0, wrong_digest, 1),
                        "lightgbm-baseline,scratch-model,sklearn-pipeline,model");
    const struct search_lm_order empty_ds[] = {
        {.field_name = "metrics.acc", .ascending = true, .dataset_name = "",
         .dataset_digest = ""}};
    assert_string_equal(lms_n(f, "1", NULL, NULL, 0, empty_ds, 1),
                        "sklearn-pipeline,lightgbm-baseline,scratch-model,model");
    /* attributes and aliases; no extra creation-time key once ordered on it */
    assert_string_equal(LMS_OB(f, NULL, ASC("creation_time")),
                        "model,sklearn-pipeline,scratch-model,lightgbm-baseline");
    assert_string_equal(LMS_OB(f, NULL, ASC("creation_timestamp")),
                        "model,sklearn-pipeline,scratch-model,lightgbm-baseline");
    assert_string_equal(LMS_OB(f, NULL, DESC("last_updated_timestamp")),
                        "lightgbm-baseline,scratch-model,sklearn-pipeline,model");
    assert_string_equal(LMS_OB(f, NULL, ASC("status")),
                        "lightgbm-baseline,scratch-model,model,sklearn-pipeline");
    assert_string_equal(LMS_OB(f, NULL, DESC("model_type"), ASC("name")),
                        "sklearn-pipeline,lightgbm-baseline,model,scratch-model");
    assert_string_equal(LMS_OB(f, NULL, ASC("model_id")),
                        "lightgbm-baseline,model,sklearn-pipeline,scratch-model");
    assert_string_equal(LMS_OB(f, NULL, ASC("status_message")),
                        "lightgbm-baseline,scratch-model,sklearn-pipeline,model");
    assert_string_equal(LMS_OB(f, "metrics.acc > 0", DESC("metrics.acc"), ASC("name")),
                        "model,scratch-model,lightgbm-baseline,sklearn-pipeline");
}

static void test_logged_model_errors(void **state)
{
    struct fx *f = *state;
    static const char *const and_list =
        "Expected a list of comparisons separated by 'AND' (e.g. 'metrics.loss > 0.1 AND "
        "params.lr = 0.01').";
    static const char *const ops = "Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN').";
    char msg[1024];
    /* the recorded vectors */
    snprintf(msg, sizeof msg, "Invalid filter string: \"name = 'model' OR name = "
                              "'scratch-model'\". %s", and_list);
    lms_error(f, "name = 'model' OR name = 'scratch-model'", NULL, 0, NULL, 0, IPV, msg);
    snprintf(msg, sizeof msg, "Invalid comparison operator for metrics.eval_auc: 'LIKE'. %s",
             ops);
    lms_error(f, "metrics.eval_auc LIKE '0.9%'", NULL, 0, NULL, 0, IPV, msg);
    lms_error(f, "dataset.name = 'churn-eval'", NULL, 0, NULL, 0, IPV,
              "Invalid entity type: 'dataset'. Expected one of ['attributes', 'metrics', "
              "'params', 'tags'].");
    snprintf(msg, sizeof msg, "Invalid filter string: 'name = '. %s", and_list);
    lms_error(f, "name = ", NULL, 0, NULL, 0, IPV, msg);
    lms_error(f, "color = 'red'", NULL, 0, NULL, 0, ISE,
              "type object 'SqlLoggedModel' has no attribute 'color'");
    lms_error(f, NULL, NULL, 0, LOB(ASC("color")), KEEL_E_NO_ATTRIBUTE, "Invalid order by field name: color");
    lms_error(f, NULL, NULL, 0, LOB(ASC("params.lr")), IPV,
              "Invalid order by field name: params.lr. Only metrics are supported.");
    /* more of the same rules */
    snprintf(msg, sizeof msg, "Invalid filter string: \"name = 'a' AND NOT name = 'b'\". %s",
             and_list);
    lms_error(f, "name = 'a' AND NOT name = 'b'", NULL, 0, NULL, 0, IPV, msg);
    snprintf(msg, sizeof msg, "Invalid filter string: 'name'. %s", and_list);
    lms_error(f, "name", NULL, 0, NULL, 0, IPV, msg);
    lms_error(f, "name = 'a'; name = 'b'", NULL, 0, NULL, 0, IPV,
              "Invalid filter string: \"name = 'a'; name = 'b'\". Expected a single SQL "
              "expression.");
    lms_error(f, "   ", NULL, 0, NULL, 0, IPV,
              "Invalid filter string: '   '. Expected a single SQL expression.");
    snprintf(msg, sizeof msg, "Invalid comparison operator for attributes.name: '>'. %s", ops);
    lms_error(f, "name > 'a'", NULL, 0, NULL, 0, IPV, msg);
    snprintf(msg, sizeof msg, "Invalid comparison operator for attributes.name: 'like'. %s", ops);
    lms_error(f, "name like 'a%'", NULL, 0, NULL, 0, IPV, msg);
    snprintf(msg, sizeof msg, "Invalid comparison operator for attributes.name: 'in'. %s", ops);
    lms_error(f, "name in ('a')", NULL, 0, NULL, 0, IPV, msg);
    snprintf(msg, sizeof msg, "Invalid comparison operator for tags.t: '<'. %s", ops);
    lms_error(f, "tags.t < 'a'", NULL, 0, NULL, 0, IPV, msg);
    snprintf(msg, sizeof msg,
             "Invalid comparison operator for attributes.creation_timestamp_ms: 'IN'. %s", ops);
    lms_error(f, "creation_time IN ('1')", NULL, 0, NULL, 0, IPV, msg);
    snprintf(msg, sizeof msg, "Invalid comparison operator for metrics.m: 'NOT IN'. %s", ops);
    lms_error(f, "metrics.m NOT IN ('1')", NULL, 0, NULL, 0, IPV, msg);
    lms_error(f, "Params.lr = '1'", NULL, 0, NULL, 0, ISE,
              "type object 'SqlLoggedModel' has no attribute 'Params.lr'");
    lms_error(f, "attribute.name = '1'", NULL, 0, NULL, 0, IPV,
              "Invalid entity type: 'attribute'. Expected one of ['attributes', 'metrics', "
              "'params', 'tags'].");
    /* a non-number for a numeric key is Python's float() error, a 500 */
    lms_error(f, "metrics.m > 'a'", NULL, 0, NULL, 0, ISE,
              "could not convert string to float: \"'a'\"");
    lms_error(f, "creation_time > x", NULL, 0, NULL, 0, ISE,
              "could not convert string to float: 'x'");
    /* `attributes.` keys are not aliased: numeric, then unknown */
    lms_error(f, "attributes.creation_time > 0", NULL, 0, NULL, 0, ISE,
              "type object 'SqlLoggedModel' has no attribute 'creation_time'");
    /* every 400 of the filter comes before an unknown attribute's 500,
     * which comes before order_by */
    lms_error(f, "color = 'red' AND dataset.x = 'y'", NULL, 0, NULL, 0, IPV,
              "Invalid entity type: 'dataset'. Expected one of ['attributes', 'metrics', "
              "'params', 'tags'].");
    lms_error(f, "color = 'red' AND size = 'xl'", NULL, 0, LOB(ASC("params.lr")), ISE,
              "type object 'SqlLoggedModel' has no attribute 'color'");
    lms_error(f, NULL, NULL, 0, LOB(ASC("name"), DESC("tags.x"), ASC("color")), IPV,
              "Invalid order by field name: tags.x. Only metrics are supported.");
    lms_error(f, NULL, NULL, 0, LOB(ASC("last_updated_time")), KEEL_E_NO_ATTRIBUTE,
              "Invalid order by field name: last_updated_time");
    lms_error(f, NULL, NULL, 0, LOB(ASC("attributes.name")), IPV,
              "Invalid order by field name: attributes.name. Only metrics are supported.");
    lms_error(f, NULL, NULL, 0, LOB(ASC(NULL)), KEEL_E_NO_ATTRIBUTE,
              "Invalid order by field name: ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runs_default_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_metric_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_param_tag_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_attribute_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_run_id_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_dataset_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_order_by, setup, teardown),
        cmocka_unit_test_setup_teardown(test_experiments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comparator_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_by_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registered_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registered_model_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_version_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logged_model_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logged_model_datasets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logged_model_order_by, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logged_model_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
