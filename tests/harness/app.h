/*
 * app.h -- keel server's application without the HTTP server, for test
 * programs that drive api_handle directly (tests/fuzz/fuzz_router.c,
 * tests/fault/torture.c): a real SQLite store, blob store and deployment
 * set in a directory, and a query string split as the server splits it.
 */
#ifndef KEEL_TEST_HARNESS_APP_H
#define KEEL_TEST_HARNESS_APP_H

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "artifacts/blobstore.h"
#include "deploy/deploy.h"
#include "http/http.h"
#include "store/store.h"
#include "util/arena.h"

/* Opens (creating) the store, blob store and deployment set of an app in
 * dir (which must exist and outlive the app); 0, or -1 with a message. */
static inline int harness_app_open(struct keel_app *app, const char *dir)
{
    static char db[4200], blobs[4200];
    snprintf(db, sizeof db, "%s/keel.db", dir);
    snprintf(blobs, sizeof blobs, "%s/artifacts", dir);
    mkdir(blobs, 0700);
    memset(app, 0, sizeof *app);
    struct karena *a = karena_new(1u << 20);
    struct keel_ctx ctx = {.arena = a};
    struct store_config sc = {.path = db, .default_artifact_root = "mlflow-artifacts:/",
                              .readers = 1};
    struct deploy_config dc = {.tracking_uri = "http://127.0.0.1:1", .cache_dir = dir};
    int rc = a && store_open(&app->store, &sc, &ctx) == KEEL_OK &&
                     blobstore_open(&app->blobs, blobs, 1u << 20, &ctx) == KEEL_OK &&
                     deploy_set_new(&app->deploys, &dc, &ctx) == KEEL_OK
                 ? 0
                 : -1;
    if (rc)
        fprintf(stderr, "harness: cannot open an app in %s: %s\n", dir,
                ctx.errmsg ? ctx.errmsg : "out of memory");
    app->artifacts_destination = blobs;
    app->serve_artifacts = true;
    app->ready = 1;
    karena_free(a);
    return rc;
}

static inline void harness_app_close(struct keel_app *app)
{
    deploy_set_free(app->deploys);
    blobstore_close(app->blobs);
    store_close(app->store);
}

/* Splits q ("a=1&b=2", modified in place) into at most max params. */
static inline size_t harness_split_query(char *q, struct http_param *params, size_t max)
{
    size_t n = 0;
    for (char *p = q; p && *p && n < max;) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp++ = '\0';
        char *eq = strchr(p, '=');
        if (eq)
            *eq++ = '\0';
        params[n++] = (struct http_param){.key = p, .value = eq ? eq : ""};
        p = amp;
    }
    return n;
}

#endif
