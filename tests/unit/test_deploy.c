/*
 * test_deploy.c -- the deployment set (deploy/deploy.c) with a real model
 * from the fixtures: a new deployment answers nothing until it is opened
 * (its log mode and batching set first); every load gets its own
 * generation, which caches of what was loaded key on; a removed deployment
 * is gone, and its name can be loaded again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deploy/deploy.h"
#include "model/model.h"
#include "util/arena.h"
#include "testlib.h"

static const char *iris(void)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/models/xgb-classifier-iris", fixtures());
    return path;
}

static struct deploy_set *new_set(struct keel_ctx *ctx)
{
    struct deploy_set *s = NULL;
    struct deploy_config cfg = {.tracking_uri = "http://127.0.0.1:1", .cache_dir = "/tmp"};
    assert_int_equal(deploy_set_new(&s, &cfg, ctx), KEEL_OK);
    return s;
}

static void test_a_new_deployment_answers_only_once_opened(void **state)
{
    (void)state;
    struct keel_ctx ctx = {.arena = arena};
    struct deploy_set *s = new_set(&ctx);
    assert_int_equal(deploy_load(s, "iris", iris(), &ctx), KEEL_OK);
    struct deploy_state st;
    assert_null(deploy_acquire(s, "iris", &st, &ctx));
    assert_non_null(strstr(ctx.errmsg, "does not exist"));
    deploy_set_log(s, "iris", DEPLOY_LOG_REQUIRED);
    deploy_open(s, "iris");
    struct keel_model *m = deploy_acquire(s, "iris", &st, &ctx);
    assert_non_null(m);
    assert_int_equal(st.log, DEPLOY_LOG_REQUIRED);
    keel_model_unref(m);
    deploy_set_free(s);
}

static void test_each_load_has_its_own_generation(void **state)
{
    (void)state;
    struct keel_ctx ctx = {.arena = arena};
    struct deploy_set *s = new_set(&ctx);
    assert_int_equal(deploy_load(s, "a", iris(), &ctx), KEEL_OK);
    deploy_open(s, "a");
    struct deploy_state first, second;
    struct keel_model *m = deploy_acquire(s, "a", &first, &ctx);
    keel_model_unref(m);
    /* the same URI again: another model, maybe at the same address */
    assert_int_equal(deploy_load(s, "a", iris(), &ctx), KEEL_OK);
    m = deploy_acquire(s, "a", &second, &ctx);
    keel_model_unref(m);
    assert_true(first.generation > 0);
    assert_true(second.generation > first.generation);
    deploy_set_free(s);
}

static void test_a_removed_deployment_is_gone_and_its_name_free(void **state)
{
    (void)state;
    struct keel_ctx ctx = {.arena = arena};
    struct deploy_set *s = new_set(&ctx);
    assert_int_equal(deploy_load(s, "x", iris(), &ctx), KEEL_OK);
    deploy_open(s, "x");
    struct deploy_state st;
    struct keel_model *held = deploy_acquire(s, "x", &st, &ctx);
    assert_non_null(held);
    deploy_remove(s, "x");
    assert_null(deploy_acquire(s, "x", &st, &ctx));
    /* a request that held the model still has it whole */
    assert_non_null(keel_model_columns_json(held));
    keel_model_unref(held);
    assert_int_equal(deploy_load(s, "x", iris(), &ctx), KEEL_OK);
    assert_null(deploy_acquire(s, "x", &st, &ctx)); /* new again: not open yet */
    deploy_open(s, "x");
    struct keel_model *m = deploy_acquire(s, "x", &st, &ctx);
    assert_non_null(m);
    keel_model_unref(m);
    deploy_set_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_new_deployment_answers_only_once_opened, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_each_load_has_its_own_generation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_removed_deployment_is_gone_and_its_name_free,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
