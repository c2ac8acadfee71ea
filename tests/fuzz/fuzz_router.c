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

#include "../harness/app.h"

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
    static char preds[128];
    snprintf(preds, sizeof preds, "%s/predictions", dir);
    struct karena *a = karena_new(1u << 20);
    struct keel_ctx ctx = {.arena = a};
    struct predlog_config pc = {.dir = preds};
    if (harness_app_open(&app, dir) != 0 || predlog_open(&app.predlog, &pc, &ctx) != KEEL_OK)
        abort();
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
        np = harness_split_query(q, params, 64);
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
