/*
 * test_store.c -- the SQLite store below the API: schema and migrations, the
 * Default experiment, lifecycle rules, the latest-metric rule, write-once
 * params, metric history, and the group-commit writer under concurrent
 * callers (every acknowledged write visible, failures isolated).
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"
#include "util/arena.h"

#include "testlib.h"

/* a metric value without MLflow 3 model or dataset */
#define M(k, v, ts, st) ((struct keel_metric){.key = (k), .value = (v), .timestamp = (ts), .step = (st)})

struct fx {
    char dir[64];
    char path[96];
    struct store *st;
    struct keel_ctx ctx;
};

static struct store *open_store(struct fx *f)
{
    struct store *st = NULL;
    struct store_config cfg = {.path = f->path, .default_artifact_root = "mlflow-artifacts:/",
                               .readers = 2};
    assert_int_equal(store_open(&st, &cfg, &f->ctx), KEEL_OK);
    return st;
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(test_tempdir(f->dir, sizeof f->dir, "store"));
    snprintf(f->path, sizeof f->path, "%s/keel.db", f->dir);
    f->ctx.arena = karena_new(64u << 20);
    f->st = open_store(f);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    karena_free(f->ctx.arena);
    assert_int_equal(test_rmtree(f->dir), 0);
    free(f);
    return 0;
}

static const char *new_run(struct fx *f, int64_t exp)
{
    struct keel_tag tag = {"mlflow.runName", "r"};
    struct store_run_create in = {exp, "u", "r", 1700000000000, &tag, 1};
    struct keel_run run;
    assert_int_equal(store_run_create(f->st, &f->ctx, &in, &run), KEEL_OK);
    return run.info.run_id;
}

static void test_default_experiment_and_reopen(void **state)
{
    struct fx *f = *state;
    struct keel_experiment e;
    assert_int_equal(store_experiment_get(f->st, &f->ctx, 0, &e), KEEL_OK);
    assert_string_equal(e.name, "Default");
    assert_string_equal(e.artifact_location, "mlflow-artifacts:/0");
    int64_t id;
    assert_int_equal(store_experiment_create(f->st, &f->ctx, "x", NULL, NULL, 0, &id), KEEL_OK);
    assert_int_equal(id, 1);
    /* reopening applies no migration twice and keeps the data */
    store_close(f->st);
    f->st = open_store(f);
    assert_int_equal(store_experiment_get(f->st, &f->ctx, 1, &e), KEEL_OK);
    assert_string_equal(e.artifact_location, "mlflow-artifacts:/1");
    assert_int_equal(store_experiment_create(f->st, &f->ctx, "x", NULL, NULL, 0, &id),
                     KEEL_E_ALREADY_EXISTS);
}

static void test_lifecycle(void **state)
{
    struct fx *f = *state;
    int64_t id;
    assert_int_equal(store_experiment_create(f->st, &f->ctx, "life", NULL, NULL, 0, &id), KEEL_OK);
    const char *run = new_run(f, id);
    assert_int_equal(store_experiment_set_lifecycle(f->st, &f->ctx, id, true), KEEL_OK);
    assert_int_equal(store_experiment_set_lifecycle(f->st, &f->ctx, id, true), KEEL_E_NOT_FOUND);
    struct keel_run r;
    assert_int_equal(store_run_get(f->st, &f->ctx, run, &r), KEEL_OK);
    assert_string_equal(r.info.lifecycle_stage, "deleted");
    struct keel_metric m = M("loss", 1.0, 1, 0);
    struct store_log_batch b = {.run_id = run, .metrics = &m, .n_metrics = 1};
    assert_int_equal(store_log_batch(f->st, &f->ctx, &b), KEEL_E_INVALID_PARAMETER);
    assert_non_null(strstr(f->ctx.errmsg, "must be in the 'active' state"));
    assert_int_equal(store_experiment_rename(f->st, &f->ctx, id, "other"), KEEL_E_INVALID_STATE);
    assert_int_equal(store_experiment_set_lifecycle(f->st, &f->ctx, id, false), KEEL_OK);
    assert_int_equal(store_log_batch(f->st, &f->ctx, &b), KEEL_OK);
}

static void test_latest_metric_and_history(void **state)
{
    struct fx *f = *state;
    const char *run = new_run(f, 0);
    /* (step, timestamp, value) decides the latest, not the logging order */
    struct keel_metric ms[] = {
        M("loss", 0.5, 100, 2), M("loss", 0.9, 50, 1), M("loss", 0.4, 90, 2), M("loss", NAN, 10, 0),
        M("loss", 0.5, 100, 2) /* identical duplicate: stored once */,
    };
    struct store_log_batch b = {.run_id = run, .metrics = ms, .n_metrics = 5};
    assert_int_equal(store_log_batch(f->st, &f->ctx, &b), KEEL_OK);
    struct keel_metric late = M("loss", INFINITY, 1, 1);
    struct store_log_batch b2 = {.run_id = run, .metrics = &late, .n_metrics = 1};
    assert_int_equal(store_log_batch(f->st, &f->ctx, &b2), KEEL_OK);
    struct keel_run r;
    assert_int_equal(store_run_get(f->st, &f->ctx, run, &r), KEEL_OK);
    assert_int_equal(r.n_metrics, 1);
    assert_true(r.metrics[0].value == 0.5 && r.metrics[0].step == 2 &&
                r.metrics[0].timestamp == 100);
    struct keel_metric *h;
    size_t n;
    assert_int_equal(store_metric_history(f->st, &f->ctx, run, "loss", 0, 0, &h, &n), KEEL_OK);
    assert_int_equal(n, 5);
    /* by timestamp: NaN (10), inf clamped (1 -> first), ... */
    assert_true(h[0].timestamp == 1 && h[0].value == 1.7976931348623157e308);
    assert_true(isnan(h[1].value));
    /* a page of it: the same values from the offset on */
    struct keel_metric *page;
    size_t np;
    assert_int_equal(store_metric_history(f->st, &f->ctx, run, "loss", 1, 3, &page, &np),
                     KEEL_OK);
    assert_int_equal(np, 3);
    assert_true(isnan(page[0].value) && page[1].timestamp == h[2].timestamp &&
                page[2].value == h[3].value);
    assert_int_equal(store_metric_history(f->st, &f->ctx, run, "loss", 5, 3, &page, &np),
                     KEEL_OK);
    assert_int_equal(np, 0);
    assert_int_equal(store_metric_history(f->st, &f->ctx, "nope", "loss", 0, 0, &h, &n), KEEL_OK);
    assert_int_equal(n, 0);
}

static void test_params_are_write_once(void **state)
{
    struct fx *f = *state;
    const char *run = new_run(f, 0);
    struct keel_tag p = {"lr", "0.1"};
    struct store_log_batch b = {.run_id = run, .params = &p, .n_params = 1, .single_param = true};
    assert_int_equal(store_log_batch(f->st, &f->ctx, &b), KEEL_OK);
    assert_int_equal(store_log_batch(f->st, &f->ctx, &b), KEEL_OK); /* same value again */
    struct keel_tag p2 = {"lr", "0.2"};
    struct keel_metric m = M("acc", 1.0, 1, 0);
    /* the failing write changes nothing, the metric in it included */
    struct store_log_batch bad = {.run_id = run, .params = &p2, .n_params = 1,
                                  .metrics = &m, .n_metrics = 1, .single_param = true};
    assert_int_equal(store_log_batch(f->st, &f->ctx, &bad), KEEL_E_INVALID_PARAMETER);
    assert_non_null(strstr(f->ctx.errmsg, "Changing param values is not allowed"));
    struct keel_run r;
    assert_int_equal(store_run_get(f->st, &f->ctx, run, &r), KEEL_OK);
    assert_int_equal(r.n_params, 1);
    assert_string_equal(r.params[0].value, "0.1");
    assert_int_equal(r.n_metrics, 0);
}

struct writer_arg {
    struct store *st;
    const char *run;
    int thread;
    int ok;
};

#define WRITERS 8
#define WRITES 50

static void *writer(void *p)
{
    struct writer_arg *w = p;
    for (int i = 0; i < WRITES; i++) {
        struct keel_ctx ctx = {.arena = karena_new(1 << 20)};
        char key[32];
        snprintf(key, sizeof key, "t%d-%d", w->thread, i);
        struct keel_tag t = {key, "v"};
        /* every fifth write is bad: an unknown run */
        struct store_log_batch b = {.run_id = i % 5 == 4 ? "missing" : w->run, .tags = &t,
                                    .n_tags = 1};
        if (store_log_batch(w->st, &ctx, &b) == KEEL_OK)
            w->ok++;
        karena_free(ctx.arena);
    }
    return NULL;
}

static void test_group_commit_under_concurrency(void **state)
{
    struct fx *f = *state;
    const char *run = new_run(f, 0);
    pthread_t th[WRITERS];
    struct writer_arg args[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        args[i] = (struct writer_arg){f->st, run, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    assert_int_equal(ok, WRITERS * WRITES * 4 / 5);
    struct keel_run r;
    assert_int_equal(store_run_get(f->st, &f->ctx, run, &r), KEEL_OK);
    assert_int_equal(r.n_tags, (size_t)ok + 1); /* + mlflow.runName */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_experiment_and_reopen, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_latest_metric_and_history, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_params_are_write_once, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_under_concurrency, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
