/*
 * test_batcher.c -- server-side batching (deploy/batcher.c) with a real
 * model from the fixtures: concurrent requests scored as one matrix each
 * get exactly their own rows back, even when the batch together is larger
 * than any one request's arena may hold.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deploy/batcher.h"
#include "model/model.h"
#include "util/arena.h"
#include "testlib.h"

enum { REQUESTS = 8, ROWS = 300, FEATURES = 4 };

struct request {
    struct batcher *b;
    const struct keel_model *m;
    double x[ROWS * FEATURES];
    struct keel_prediction got;
    struct karena *arena;
    enum keel_err err;
    pthread_barrier_t *start;
};

static void *send_request(void *arg)
{
    struct request *r = arg;
    /* room for this request's rows and answer, not for the whole batch's */
    struct keel_ctx ctx = {.arena = r->arena};
    pthread_barrier_wait(r->start);
    r->err = batcher_predict(r->b, r->m, r->x, ROWS, &r->got, &ctx);
    return NULL;
}

static void test_each_request_gets_its_own_rows(void **state)
{
    (void)state;
    struct keel_ctx ctx = {.arena = arena};
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/models/xgb-classifier-iris", fixtures());
    struct keel_model *m = NULL;
    assert_int_equal(keel_model_load(dir, &m, &ctx), KEEL_OK);
    assert_int_equal(keel_model_n_features(m), FEATURES);
    struct batcher *b = NULL;
    assert_int_equal(batcher_new(&b, REQUESTS * ROWS, 500000, &ctx), KEEL_OK);
    static struct request req[REQUESTS];
    pthread_t t[REQUESTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, REQUESTS);
    for (int i = 0; i < REQUESTS; i++) {
        req[i] = (struct request){.b = b, .m = m, .start = &start};
        for (int k = 0; k < ROWS * FEATURES; k++) /* iris-like values, different per request */
            req[i].x[k] = 0.5 + (double)((i * 7919 + k * 104729) % 70) / 10.0;
        req[i].arena = karena_new(ROWS * FEATURES * sizeof(double) * 2 + 4096);
        assert_non_null(req[i].arena);
        assert_int_equal(pthread_create(&t[i], NULL, send_request, &req[i]), 0);
    }
    for (int i = 0; i < REQUESTS; i++)
        pthread_join(t[i], NULL);
    struct batcher_sizes sizes;
    batcher_sizes(b, &sizes);
    assert_true(sizes.batches < REQUESTS); /* some of them were scored together */
    for (int i = 0; i < REQUESTS; i++) {
        if (req[i].err != KEEL_OK)
            fail_msg("request %d: %s", i, keel_err_code(req[i].err));
        struct keel_prediction alone;
        assert_int_equal(keel_model_predict(m, req[i].x, ROWS, &alone, &ctx), KEEL_OK);
        assert_int_equal(req[i].got.rows, ROWS);
        assert_int_equal(req[i].got.kind, alone.kind);
        size_t n = ROWS * (alone.cols ? alone.cols : 1);
        if (alone.kind == KEEL_PRED_INT64)
            assert_memory_equal(req[i].got.i64, alone.i64, n * sizeof *alone.i64);
        else
            assert_memory_equal(req[i].got.f32, alone.f32, n * sizeof *alone.f32);
        karena_free(req[i].arena);
    }
    pthread_barrier_destroy(&start);
    batcher_free(b);
    keel_model_unref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_request_gets_its_own_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
