/*
 * fuzz_router.c -- any request through keel server's router (api/router.c)
 * and every handler behind it, on a real SQLite store, blob store,
 * deployment set and prediction log in a temporary directory.
 *
 * Input: byte 0 picks the method (GET, POST, DELETE, PATCH, PUT) and, in
 * bit 7, the MLflow 3 dialect; then the path with its query string up to a
 * newline; the rest is the body (JSON for POSTs). Every answer must be a
 * status between 200 and 599; JSON answers must parse. The store keeps what
 * earlier inputs created, so later ones find experiments, runs and models.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "artifacts/blobstore.h"
#include "deploy/deploy.h"
#include "deploy/predlog.h"
#include "http/http.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/jparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keel_app app;
static char dir[] = "/tmp/keel-fuzz-router-XXXXXX";

static void teardown(void)
{
    predlog_close(app.predlog);
    keel_rmtree(dir);
}

static void setup(void)
{
    if (!mkdtemp(dir))
        abort();
    atexit(teardown);
    static char db[512], blobs[512], preds[512];
    snprintf(db, sizeof db, "%s/keel.db", dir);
    snprintf(blobs, sizeof blobs, "%s/artifacts", dir);
    snprintf(preds, sizeof preds, "%s/predictions", dir);
    mkdir(blobs, 0700);
    struct karena *a = karena_new(1u << 20);
    struct keel_ctx ctx = {.arena = a};
    struct store_config sc = {.path = db, .default_artifact_root = "mlflow-artifacts:/",
                              .readers = 1};
    struct deploy_config dc = {.tracking_uri = "http://127.0.0.1:1", .cache_dir = dir};
    struct predlog_config pc = {.dir = preds};
    if (store_open(&app.store, &sc, &ctx) != KEEL_OK ||
        blobstore_open(&app.blobs, blobs, 1u << 20, &ctx) != KEEL_OK ||
        deploy_set_new(&app.deploys, &dc, &ctx) != KEEL_OK ||
        predlog_open(&app.predlog, &pc, &ctx) != KEEL_OK) {
        fprintf(stderr, "fuzz_router: setup: %s\n", ctx.errmsg ? ctx.errmsg : "");
        abort();
    }
    app.artifacts_destination = blobs;
    app.serve_artifacts = true;
    app.ready = 1;
    karena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "DELETE", "PATCH", "PUT"};
    if (!app.store)
        setup();
    if (size < 2)
        return 0;
    struct karena *a = karena_new(64u << 20);
    if (!a)
        return 0;
    struct keel_ctx ctx = {.arena = a};
    app.mlflow3 = (data[0] & 0x80) != 0;
    const char *method = methods[(data[0] & 0x7f) % 5];
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(rest, '\n', n);
    size_t line = nl ? (size_t)(nl - rest) : n;
    char *target = karena_strndup(a, rest, line);
    const char *body_start = nl ? nl + 1 : rest + n;
    size_t body_len = (size_t)(rest + n - body_start);
    char *body = karena_alloc(a, body_len + 1);
    memcpy(body, body_start, body_len);
    body[body_len] = '\0';
    /* the query string, split as the server does (no percent-decoding here) */
    struct http_param params[64];
    size_t np = 0;
    char *q = strchr(target, '?');
    if (q) {
        *q++ = '\0';
        for (char *p = q; p && *p && np < 64;) {
            char *amp = strchr(p, '&');
            if (amp)
                *amp++ = '\0';
            char *eq = strchr(p, '=');
            if (eq)
                *eq++ = '\0';
            params[np++] = (struct http_param){.key = p, .value = eq ? eq : ""};
            p = amp;
        }
    }
    struct http_request req = {.method = method, .path = target, .query = params, .n_query = np,
                               .content_type = "application/json", .body = body,
                               .body_len = body_len};
    struct http_response resp = {.fd = -1};
    kbuf_init(&resp.body, 256u << 20);
    api_handle(&app, &ctx, &req, &resp);
    if (resp.status < 200 || resp.status > 599)
        __builtin_trap();
    if (resp.fd >= 0)
        close(resp.fd);
    else if (resp.content_type && strstr(resp.content_type, "json") && resp.body.len &&
             !jp_parse(a, resp.body.data, resp.body.len, NULL))
        __builtin_trap(); /* a JSON answer that is not JSON */
    kbuf_free(&resp.body);
    karena_free(a);
    return 0;
}
