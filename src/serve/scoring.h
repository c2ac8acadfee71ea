/*
 * scoring.h -- answering scoring requests for one loaded model over HTTP.
 *
 * Two protocols, side by side on the same model:
 *   - MLflow's scoring server: GET /ping, /health, /version and
 *     POST /invocations, byte for byte as `mlflow models serve` answers
 *     (../shared/fixtures/golden/<model>/wire/exchanges.jsonl);
 *   - KServe v2 / the Open Inference Protocol: GET /v2, /v2/health/live,
 *     /v2/health/ready, /v2/models/<name>[/versions/<v>][/ready] and
 *     POST /v2/models/<name>[/versions/<v>]/infer.
 * `keel models serve` mounts them at its root; deployments inside
 * `keel server` will mount them under their own prefix. Nothing here owns the
 * model: the caller holds a reference for the duration of the call.
 */
#ifndef KEEL_SCORING_H
#define KEEL_SCORING_H

#include <stdbool.h>

#include "http/http.h"
#include "model/model.h"
#include "serve/payload.h"

/* What a scoring request did, for the prediction log: filled by
 * scoring_handle when the target has one. The arrays point into the
 * request's arena. */
struct scoring_capture {
    bool scored;               /* a scoring request (not /ping, metadata, ...) */
    const double *x;           /* the decoded inputs, rows x cols, when decoded */
    const struct payload_text *text; /* their text, when kept (limits.keep_text), or NULL */
    size_t rows, cols;
    struct keel_prediction pred; /* when scored */
    bool predicted;
    const char *error;         /* the refusal's message, when refused */
    int64_t predict_start_us, predict_end_us; /* keel_now_us() around the model call
                                                 (batch wait included), 0 when none */
};

struct scoring_target {
    const struct keel_model *model;
    const char *name;          /* the KServe model name */
    const char *version;       /* the KServe model version; "" when unknown */
    const char *mlflow_version; /* what /version answers */
    struct payload_limits limits;
    struct scoring_capture *capture; /* NULL: nothing captured */
    /* How rows are scored: keel_model_predict when NULL, else this (e.g.
     * server-side batching), with the same contract. */
    enum keel_err (*predict)(void *arg, const struct keel_model *m, const double *x,
                             size_t rows, struct keel_prediction *out, struct keel_ctx *ctx);
    void *predict_arg;
};

/* Appends value i of p as MLflow's scoring server prints it (Python's
 * json.dumps of the numpy value widened by tolist(): int64 as an integer,
 * float32 as the double it widens to, shortest round-trip; NaN, Infinity).
 * Batch output prints predictions the same way. */
void scoring_put_value(struct kbuf *b, const struct keel_prediction *p, size_t i);

/*
 * Answers the request whose path, relative to the mount point, is `path`
 * (starts with '/'). Returns false, leaving resp untouched, when the path is
 * no scoring route, so the caller answers 404 its own way. Wrong methods on a
 * known path get Werkzeug's 405 page, as MLflow's server sends.
 */
bool scoring_handle(const struct scoring_target *t, const char *path, struct keel_ctx *ctx,
                    const struct http_request *req, struct http_response *resp);

#endif
