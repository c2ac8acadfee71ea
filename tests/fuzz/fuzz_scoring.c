/*
 * fuzz_scoring.c -- a scoring request, decoded, scored and answered.
 *
 * The whole path `keel models serve` and deployments take for a request
 * body (serve/scoring.c: content type, serve/payload.c: MLflow's JSON and
 * CSV forms and KServe v2 tensors, the model call, the response text), on
 * two real fixture models. The first byte picks the model and the route:
 *   bit 0     iris classifier (4 named double columns) / breast-cancer
 *             booster (30 columns)
 *   bits 1-2  /invocations as application/json, as text/csv, with the
 *             content type taken from the body's first line, or KServe
 *             /v2/models/m/infer
 * Every answer must be a status with a body; 200s must be JSON.
 *
 * Fixtures: $KEEL_FIXTURES, else ../shared/fixtures (make runs from the
 * repository root).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "model/model.h"
#include "serve/scoring.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/jparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keel_model *models[2];

static void load_models(void)
{
    const char *fx = getenv("KEEL_FIXTURES");
    static const char *const names[] = {"xgb-classifier-iris", "xgb-booster-binary"};
    for (int i = 0; i < 2; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/models/%s", fx && *fx ? fx : "../shared/fixtures",
                 names[i]);
        struct karena *a = karena_new(16u << 20);
        struct keel_ctx ctx = {.arena = a};
        if (keel_model_load(dir, &models[i], &ctx) != KEEL_OK) {
            fprintf(stderr, "fuzz_scoring: cannot load %s: %s\n", dir,
                    ctx.errmsg ? ctx.errmsg : "");
            abort();
        }
        karena_free(a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!models[0])
        load_models();
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    struct keel_model *m = models[sel & 1];
    struct karena *a = karena_new(64u << 20);
    if (!a)
        return 0;
    struct keel_ctx ctx = {.arena = a};
    /* the body, NUL-terminated as the server hands it over */
    size_t n = size - 1;
    char *body = karena_alloc(a, n + 1);
    memcpy(body, data + 1, n);
    body[n] = '\0';
    const char *path = "/invocations", *ctype = "application/json";
    switch ((sel >> 1) & 3) {
    case 1: ctype = "text/csv"; break;
    case 2: { /* the first line is the content type */
        char *nl = memchr(body, '\n', n);
        size_t cn = nl ? (size_t)(nl - body) : n;
        ctype = karena_strndup(a, body, cn);
        body = nl ? nl + 1 : body + n;
        n -= nl ? cn + 1 : cn;
        break;
    }
    case 3: path = "/v2/models/m/infer"; break;
    }
    struct scoring_target t = {.model = m, .name = "m", .version = "1", .mlflow_version = "2.12.0",
                               .limits = {.max_rows = 10000}};
    struct http_request req = {.method = "POST", .path = path, .content_type = ctype,
                               .body = body, .body_len = n};
    struct http_response resp = {.fd = -1};
    kbuf_init(&resp.body, 64u << 20);
    if (!scoring_handle(&t, path, &ctx, &req, &resp) || resp.status < 200 || resp.status > 599 ||
        !resp.body.data)
        __builtin_trap();
    if (resp.status == 200 && !jp_parse(a, resp.body.data, resp.body.len, NULL))
        __builtin_trap(); /* a 200 that is not JSON */
    kbuf_free(&resp.body);
    karena_free(a);
    return 0;
}
