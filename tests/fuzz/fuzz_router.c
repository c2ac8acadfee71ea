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
 *
 * Each input then goes twice more to a second app with authentication on
 * (api/policy.c): without credentials it must be refused (401) wherever it
 * goes but the probes; with a non-admin user's bearer token it goes through
 * the guards. At exit that app's audit chain must verify whole.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "auth/auth.h"
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

static struct keel_app app, guarded;
static char dir[] = "/tmp/keel-fuzz-router-XXXXXX";
static char guarded_dir[] = "/tmp/keel-fuzz-router-auth-XXXXXX";
static char bearer[128];

static void teardown(void)
{
    struct karena *a = karena_new(64u << 20);
    struct keel_ctx ctx = {.arena = a};
    struct keel_audit_verdict v;
    if (a && (store_audit_verify(guarded.store, &ctx, &v) != KEEL_OK || !v.ok)) {
        fprintf(stderr, "fuzz_router: the audit chain does not verify: %s\n",
                v.reason ? v.reason : ctx.errmsg);
        abort();
    }
    karena_free(a);
    predlog_close(app.predlog);
    auth_close(guarded.auth);
    keel_rmtree(dir);
    keel_rmtree(guarded_dir);
}

static void setup(void)
{
    /* OpenSSL's own exit handler would run before teardown's chain check */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
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
    /* the guarded app: one non-admin user, signed in by a token */
    struct keel_user u;
    const char *token = NULL;
    struct keel_token t;
    if (!mkdtemp(guarded_dir) || harness_app_open(&guarded, guarded_dir) != 0 ||
        auth_open(&guarded.auth, guarded.store, AUTH_READ, &ctx) != KEEL_OK ||
        store_user_create(guarded.store, &ctx, "fuzzer", "scrypt$15$8$1$none$none", false,
                          &u) != KEEL_OK ||
        auth_token_issue(guarded.auth, &ctx, u.id, "fuzz", 0, &token, &t) != KEEL_OK)
        abort();
    snprintf(bearer, sizeof bearer, "Bearer %s", token);
    karena_free(a);
}

static bool probe(const char *path)
{
    return strcmp(path, "/health") == 0 || strcmp(path, "/ready") == 0 ||
           strcmp(path, "/ping") == 0;
}

/* One request to an app; the checks every answer must pass. Its status. */
static int answer(struct keel_app *to, struct karena *a, struct http_request *req)
{
    struct keel_ctx ctx = {.arena = a};
    struct http_response resp = {.fd = -1};
    kbuf_init(&resp.body, 256u << 20);
    api_handle(to, &ctx, req, &resp);
    if (resp.status < 200 || resp.status > 599)
        __builtin_trap();
    if (resp.fd >= 0)
        close(resp.fd);
    else if (resp.content_type && strstr(resp.content_type, "json") && resp.body.len &&
             !jp_parse(a, resp.body.data, resp.body.len, NULL))
        __builtin_trap(); /* a JSON answer that is not JSON */
    kbuf_free(&resp.body);
    return resp.status;
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
    answer(&app, a, &req);
    guarded.mlflow3 = app.mlflow3;
    int status = answer(&guarded, a, &req); /* no credentials */
    if (status != (probe(target) ? 200 : 401))
        __builtin_trap(); /* reached something without signing in */
    struct http_param auth_header = {"Authorization", bearer};
    req.headers = &auth_header;
    req.n_headers = 1;
    answer(&guarded, a, &req);
    karena_free(a);
    return 0;
}
