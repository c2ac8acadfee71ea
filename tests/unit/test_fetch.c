/*
 * test_fetch.c -- model_fetch without a tracking server: local directories
 * and file:// URIs are used in place (and refused when they are not MLflow
 * models), malformed and unsupported URIs are refused before any request,
 * and a remote URI without a usable tracking server fails with a message
 * that says what to do -- leaving nothing in the cache. The remote forms
 * against a real server are in tests/api/test_model_fetch.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve/fetch.h"
#include "util/arena.h"

#include "testlib.h"

struct fx {
    char dir[64];       /* scratch directory */
    char model[160];    /* <dir>/my model: a directory with an MLmodel file */
    char cache[160];    /* <dir>/cache: must stay absent */
    struct keel_ctx ctx;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(test_tempdir(f->dir, sizeof f->dir, "fetch"));
    snprintf(f->model, sizeof f->model, "%s/my model", f->dir);
    snprintf(f->cache, sizeof f->cache, "%s/cache", f->dir);
    assert_int_equal(mkdir(f->model, 0755), 0);
    char path[200];
    snprintf(path, sizeof path, "%s/MLmodel", f->model);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("flavors: {}\n", fp);
    fclose(fp);
    f->ctx.arena = karena_new(1 << 20);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    karena_free(f->ctx.arena);
    assert_int_equal(test_rmtree(f->dir), 0);
    free(f);
    return 0;
}

static enum keel_err fetch(struct fx *f, const char *uri, const char *tracking,
                           struct model_fetch_result *r)
{
    struct model_fetch_config cfg = {.tracking_uri = tracking, .cache_dir = f->cache};
    f->ctx.errmsg = NULL;
    return model_fetch(uri, &cfg, r, &f->ctx);
}

static void assert_fails(struct fx *f, const char *uri, const char *tracking, enum keel_err want,
                         const char *in_message)
{
    struct model_fetch_result r;
    assert_int_equal(fetch(f, uri, tracking, &r), want);
    assert_non_null(f->ctx.errmsg);
    if (!strstr(f->ctx.errmsg, in_message))
        fail_msg("'%s': message '%s' lacks '%s'", uri, f->ctx.errmsg, in_message);
    struct stat st;
    assert_int_not_equal(stat(f->cache, &st), 0); /* nothing was cached */
}

static void test_local_directories_are_used_in_place(void **state)
{
    struct fx *f = *state;
    struct model_fetch_result r;
    assert_int_equal(fetch(f, f->model, NULL, &r), KEEL_OK);
    assert_string_equal(r.dir, f->model);
    assert_string_equal(r.digest, "");
    assert_string_equal(r.name, "");
    assert_string_equal(r.version, "");
    assert_string_equal(r.run_id, "");

    char uri[256]; /* file:// URIs are percent-decoded, with or without localhost */
    snprintf(uri, sizeof uri, "file://%s/my%%20model", f->dir);
    assert_int_equal(fetch(f, uri, NULL, &r), KEEL_OK);
    assert_string_equal(r.dir, f->model);
    snprintf(uri, sizeof uri, "file://localhost%s/my%%20model", f->dir);
    assert_int_equal(fetch(f, uri, NULL, &r), KEEL_OK);
    assert_string_equal(r.dir, f->model);
}

static void test_local_non_models_are_refused(void **state)
{
    struct fx *f = *state;
    char path[256];
    assert_fails(f, f->dir, NULL, KEEL_E_NOT_FOUND, "has no MLmodel file");
    snprintf(path, sizeof path, "%s/absent", f->dir);
    assert_fails(f, path, NULL, KEEL_E_NOT_FOUND, "No model directory at");
    snprintf(path, sizeof path, "%s/MLmodel", f->model);
    assert_fails(f, path, NULL, KEEL_E_NOT_FOUND, "is not a directory");
    assert_fails(f, "file://elsewhere/models/m", NULL, KEEL_E_INVALID_PARAMETER,
                 "on another host");
}

static void test_remote_uri_needs_a_tracking_server(void **state)
{
    struct fx *f = *state;
    assert_fails(f, "models:/iris/1", NULL, KEEL_E_INVALID_PARAMETER, "MLFLOW_TRACKING_URI");
    assert_fails(f, "runs:/abc/model", "", KEEL_E_INVALID_PARAMETER, "--tracking-uri");
    assert_fails(f, "models:/iris/1", "sqlite:///mlflow.db", KEEL_E_INVALID_PARAMETER,
                 "is not an http:// or https:// URL");
    /* nothing listens on port 1: the message names the server */
    assert_fails(f, "models:/iris@champion", "http://127.0.0.1:1", KEEL_E_IO,
                 "Cannot reach the tracking server at http://127.0.0.1:1");
}

static void test_malformed_and_unsupported_uris(void **state)
{
    struct fx *f = *state;
    const char *tracking = "http://127.0.0.1:1"; /* never reached: the URI fails first */
    static const char *const malformed[] = {"models:", "models:/", "models:/ /1", "models:/iris/",
                                            "models:/@champion", "models:/iris@",
                                            "models://profile@databricks/iris/1", "runs:",
                                            "runs:/", "runs://abc/model", "runs:/abc/../x"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        struct model_fetch_result r;
        assert_int_equal(fetch(f, malformed[i], tracking, &r), KEEL_E_INVALID_PARAMETER);
        if (!strstr(f->ctx.errmsg, malformed[i]) || strstr(f->ctx.errmsg, "Cannot reach"))
            fail_msg("'%s': %s", malformed[i], f->ctx.errmsg);
    }
    assert_fails(f, "s3://bucket/model", tracking, KEEL_E_NOT_IMPLEMENTED, "s3:");
    assert_fails(f, "https://example.com/model", tracking, KEEL_E_NOT_IMPLEMENTED, "https:");
    assert_fails(f, "", tracking, KEEL_E_INVALID_PARAMETER, "No model URI");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_directories_are_used_in_place, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_local_non_models_are_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_remote_uri_needs_a_tracking_server, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_and_unsupported_uris, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
