/*
 * api.h -- the REST layer: route table, request decoding, MLflow-shaped
 * validation and responses. A handler reads its arguments from c->args (the
 * JSON body, or the query string turned into the same shape), validates them
 * with the api_arg_* helpers (which produce MLflow's exact messages), calls
 * the store, and writes its answer with c->out.
 */
#ifndef KEEL_API_H
#define KEEL_API_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"
#include "store/store.h"
#include "util/json.h"

struct blobstore;
struct deploy_set;
struct predlog;

struct keel_app {
    struct store *store;
    const char *artifacts_destination; /* absolute directory of proxied artifacts */
    struct blobstore *blobs;           /* the proxied artifacts' content */
    struct deploy_set *deploys;        /* the models served by deployment name */
    struct predlog *predlog;           /* the deployments' prediction log */
    /* readiness: set once the stored deployments have been loaded at start
     * (GET /ready answers 503 before, 200 after; /health is liveness) */
    volatile int ready;
    bool serve_artifacts;              /* the mlflow-artifacts API is on */
    /* Which MLflow server keel answers as where 2.x and 3.x differ on the
     * same endpoint (error envelope, run shapes, messages): false = 2.x */
    bool mlflow3;
};

struct api_call {
    struct keel_app *app;
    struct keel_ctx *ctx;
    const struct jval *args; /* the request's arguments: an object, in the arena */
    bool from_query; /* GET: every value is a string */
    struct jw out;
    const char *tail; /* what a wildcard route matched, percent-decoded */
    const struct http_request *req;
    struct http_response *resp;
    bool raw_response; /* the handler filled resp itself (a download) */
    /* Where MLflow's server fails with an unhandled exception it answers
     * with an HTML error page; clients depend on the status only. A handler
     * reproducing such a case sets this and returns KEEL_E_INTERNAL. */
    bool html_error_page;
    /* Answer as MLflow 3 (app->mlflow3, or an endpoint or parameter only
     * MLflow 3 has): errors also carry sqlstate and error_class, type
     * errors use MLflow 3's wording, runs carry inputs and outputs */
    bool mlflow3;
};

typedef enum keel_err (*api_handler)(struct api_call *c);

struct api_route {
    const char *method;
    /* after the /api/2.0/ or /ajax-api/2.0/ prefix; a trailing slash-star matches
     * any non-empty rest (a wildcard), handed to the handler as c->tail */
    const char *path;
    api_handler handler;
};

/* Answers {root_uri, files} for the artifacts under `path` (already
 * checked, may be NULL) of the artifact root `root_uri`. */
enum keel_err api_write_artifact_listing(struct api_call *c, const char *root_uri,
                                         const char *path);

/* A wildcard route's handler that finds its path is not one MLflow routes:
 * answered with the same HTML 404 page as an unknown path. */
enum keel_err api_not_routed(struct api_call *c);

/* Scoring through a deployment: /deployments/<name>/<scoring path> and the
 * KServe v2 routes at the root with the deployment as model name. False
 * when the path is neither. (api/deployments.c) */
bool api_deployment_scoring(struct keel_app *app, struct keel_ctx *ctx,
                            const struct http_request *req, struct http_response *resp);

/* GET /metrics: Prometheus' text format. (api/deployments.c) */
void api_write_metrics(struct keel_app *app, struct http_response *resp);

/* The HTTP handler for the whole application (http_handler_fn). */
void api_handle(void *app, struct keel_ctx *ctx, const struct http_request *req,
                struct http_response *resp);

/* Route tables of each API family, terminated by a {NULL} entry. */
extern const struct api_route api_experiment_routes[];
extern const struct api_route api_run_routes[];
extern const struct api_route api_metric_routes[];
extern const struct api_route api_artifact_routes[];
extern const struct api_route api_artifact_proxy_routes[];
extern const struct api_route api_keel_artifact_routes[];
extern const struct api_route api_registry_routes[];
extern const struct api_route api_deployment_routes[];
extern const struct api_route api_keel_model_routes[];
extern const struct api_route api_logged_model_routes[];

/* The streamed artifact upload (PUT mlflow-artifacts/artifacts/<path>). */
extern const struct http_stream_ops api_stream_ops;

/* The response headers --access-log copies into its lines: what a deployment
 * answered with (api/deployments.c), ended by {NULL}. */
extern const struct http_log_header api_log_headers[];

/* ViewType from its name or number; anything else means ACTIVE_ONLY. */
enum store_view api_view_type(const struct jval *v);

/* ---- argument access with MLflow's validation messages ---- */
enum keel_err api_fail_missing(struct api_call *c, const char *name);
enum keel_err api_fail_invalid(struct api_call *c, const char *name, const struct jval *value);

/* String argument. Missing or "" with `required` -> missing-value error;
 * a non-string -> invalid-value error. *out is NULL when absent. */
enum keel_err api_arg_str(struct api_call *c, const char *name, bool required, const char **out);
/* Integer argument (JSON integer, or a string of digits as protobuf's JSON
 * mapping allows). *present tells whether it was given. */
enum keel_err api_arg_int(struct api_call *c, const char *name, bool required, int64_t *out,
                          bool *present);
/* A list of strings: a JSON array of strings or (from a query string) a
 * single string. Arena-allocated. */
enum keel_err api_arg_str_list(struct api_call *c, const char *name, const char ***out,
                               size_t *n);
/* A list of {"key", "value"} objects (tags, params) under `name`; absent or
 * null is an empty list. strict: an entry that is not an object, or a key or
 * value that is not a string, makes the whole list invalid (MLflow's
 * message); otherwise such a key or value reads as "". Arena-allocated. */
enum keel_err api_arg_kv_list(struct api_call *c, const char *name, bool strict,
                              struct keel_tag **out, size_t *n);
/* run_id, or the deprecated run_uuid, required. */
enum keel_err api_arg_run_id(struct api_call *c, const char **out);
/* An experiment id given as string (or int), parsed as MLflow's int ids. */
enum keel_err api_parse_experiment_id(struct api_call *c, const char *text, int64_t *out);

/* ---- rendering of entities ---- */
void api_write_experiment(struct jw *w, const struct keel_experiment *e);
void api_write_run_info(struct jw *w, const struct keel_run_info *i);
/* What a run answer carries besides info and data: which depends on the
 * endpoint and on the MLflow dialect (decision 0009). */
enum run_parts {
    RUN_INPUTS = 1,       /* "inputs" with dataset_inputs */
    RUN_MODEL_INPUTS = 2, /* inputs.model_inputs (MLflow 3, runs/get only) */
    RUN_OUTPUTS = 4,      /* "outputs" with model_outputs (MLflow 3) */
};
void api_write_run(struct jw *w, const struct keel_run *r, unsigned parts);
/* run_id: written too when not NULL (the bulk history forms) */
void api_write_metric(struct jw *w, const struct keel_metric *m, const char *run_id);
void api_write_tags(struct jw *w, const char *key, const struct keel_tag *t, size_t n);

#endif
