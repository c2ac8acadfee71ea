/*
 * scoring_overhead.c -- what keel adds over the bare XGBoost call, per
 * single-row request, without HTTP in the way.
 *
 * Usage: scoring_overhead MODEL_DIR BODY_JSON_FILE [ITERATIONS]
 * Times, on one thread, (1) XGBoosterPredictFromDense on the body's row with
 * a booster loaded straight from the model file, (2) keel_model_predict on
 * the same row, and (3) the whole MLflow /invocations path (content type,
 * payload decoding, prediction, response formatting) through scoring_handle.
 * Each is timed in 5 rounds, interleaved, and the fastest round kept (the
 * machine's noise only ever adds time). Prints microseconds per call and
 * (3) - (1), the overhead the product spec bounds (<= 50 us).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xgboost/c_api.h>

#include "model/model.h"
#include "serve/scoring.h"
#include "util/arena.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

static BoosterHandle bare_booster(const char *dir)
{
    static const char *const names[] = {"model.xgb", "model.json", "model.ubj"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t n = 0;
        char *buf = slurp(path, &n);
        if (!buf)
            continue;
        BoosterHandle h = NULL;
        int rc = XGBoosterCreate(NULL, 0, &h);
        if (rc == 0)
            rc = XGBoosterLoadModelFromBuffer(h, buf, (bst_ulong)n);
        if (rc == 0) /* as keel runs it: request threads already fill the cores */
            rc = XGBoosterSetParam(h, "nthread", "1");
        free(buf);
        if (rc == 0)
            return h;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR BODY_JSON_FILE [ITERATIONS]\n", argv[0]);
        return 2;
    }
    long iters = argc > 3 ? atol(argv[3]) : 5000;
    size_t body_len = 0;
    char *body = slurp(argv[2], &body_len);
    struct karena *load_arena = karena_new(1 << 20);
    struct keel_ctx lctx = {.arena = load_arena};
    struct keel_model *m = NULL;
    BoosterHandle h = bare_booster(argv[1]);
    if (!body || !h || keel_model_load(argv[1], &m, &lctx) != KEEL_OK) {
        fprintf(stderr, "cannot load %s or %s: %s\n", argv[1], argv[2],
                lctx.errmsg ? lctx.errmsg : "");
        return 1;
    }
    size_t nf = keel_model_n_features(m);
    double row[4096];
    if (nf > sizeof row / sizeof *row)
        return 1;
    /* the body's first row, decoded once by keel itself */
    struct scoring_target t = {.model = m, .name = "model", .version = "",
                               .mlflow_version = "", .limits = {.max_rows = 1000}};
    struct http_request req = {.method = "POST", .path = "/invocations",
                               .content_type = "application/json", .body = body,
                               .body_len = body_len};
    struct karena *a = karena_new(64u << 20);
    struct keel_ctx ctx = {.arena = a};
    struct payload_frame frame;
    if (payload_decode(PAYLOAD_JSON, body, body_len, keel_model_signature(m), nf, &t.limits,
                       &frame, &ctx) != KEEL_OK || frame.rows != 1) {
        fprintf(stderr, "body does not decode to one row: %s\n", ctx.errmsg ? ctx.errmsg : "");
        return 1;
    }
    memcpy(row, frame.x, nf * sizeof *row);

    char iface[256];
    snprintf(iface, sizeof iface,
             "{\"data\": [%llu, true], \"shape\": [1, %zu], \"strides\": [%zu, 8], "
             "\"typestr\": \"<f8\", \"version\": 3}",
             (unsigned long long)(uintptr_t)row, nf, nf * 8);
    const char *config = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                         "\"iteration_end\": 0, \"strict_shape\": false, \"missing\": NaN, "
                         "\"cache_id\": 0}";
    bst_ulong const *shape = NULL;
    bst_ulong dim = 0;
    float const *result = NULL;
    /* one proxy DMatrix for every call, as keel keeps them (without one
     * XGBoost makes a proxy per call, which reads the cgroup's CPU quota) */
    DMatrixHandle proxy = NULL;
    if (XGProxyDMatrixCreate(&proxy) != 0) {
        fprintf(stderr, "xgboost: %s\n", XGBGetLastError());
        return 1;
    }
    double bare = 1e30, predict = 1e30, full = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = now_us();
        for (long i = 0; i < iters; i++) {
            if (XGBoosterPredictFromDense(h, iface, config, proxy, &shape, &dim, &result) != 0) {
                fprintf(stderr, "xgboost: %s\n", XGBGetLastError());
                return 1;
            }
        }
        double us = (now_us() - t0) / (double)iters;
        bare = us < bare ? us : bare;

        t0 = now_us();
        for (long i = 0; i < iters; i++) {
            struct keel_prediction p;
            if (keel_model_predict(m, row, 1, &p, &ctx) != KEEL_OK) {
                fprintf(stderr, "keel_model_predict: %s\n", ctx.errmsg ? ctx.errmsg : "");
                return 1;
            }
            if ((i & 1023) == 0) {
                karena_free(a);
                a = karena_new(64u << 20);
                ctx.arena = a;
            }
        }
        us = (now_us() - t0) / (double)iters;
        predict = us < predict ? us : predict;

        t0 = now_us();
        for (long i = 0; i < iters; i++) {
            struct karena *ra = karena_new(16u << 20);
            struct keel_ctx rctx = {.arena = ra};
            struct http_response resp = {.fd = -1};
            kbuf_init(&resp.body, 64u << 20);
            scoring_handle(&t, "/invocations", &rctx, &req, &resp);
            if (resp.status != 200) {
                fprintf(stderr, "status %d: %.*s\n", resp.status, (int)resp.body.len,
                        resp.body.data);
                return 1;
            }
            kbuf_free(&resp.body);
            karena_free(ra);
        }
        us = (now_us() - t0) / (double)iters;
        full = us < full ? us : full;
    }
    printf("OVERHEAD model=%s bare_xgboost_us=%.2f keel_predict_us=%.2f "
           "invocations_us=%.2f overhead_us=%.2f\n",
           argv[1], bare, predict, full, full - bare);
    XGBoosterFree(h);
    keel_model_unref(m);
    karena_free(a);
    karena_free(load_arena);
    free(body);
    return 0;
}
