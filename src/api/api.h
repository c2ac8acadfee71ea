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

struct auth;
struct blobstore;
struct deploy_set;
struct predlog;

struct keel_app {
    struct store *store;
    const char *artifacts_destination; /* absolute directory of proxied artifacts */
    struct blobstore *blobs;           /* the proxied artifacts' content */
    struct deploy_set *deploys;        /* the models served by deployment name */
    struct predlog *predlog;           /* the deployments' prediction log */
    struct auth *auth;                 /* NULL: authentication off (policy.c) */
    /* readiness: set once the stored deployments have been loaded at start
     * (GET /ready answers 503 before, 200 after; /health is liveness) */
    volatile int ready;
    bool serve_artifacts;              /* the mlflow-artifacts API is on */
    /* Which MLflow server keel answers as where 2.x and 3.x differ on the
     * same endpoint (error envelope, run shapes, messages): false = 2.x */
    bool mlflow3;
    /* KEEL_UI_DIR: serve the web UI from this built directory instead of
     * the copy embedded in the binary (for working on the UI) */
    const char *ui_dir;
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
    const struct api_guard *guard; /* the endpoint's, while policy.c checks it */
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
/* Starts the answer of one artifact file as MLflow sends it: 200, the type
 * guessed from its name (MLflow's _guess_mime_type; text-like names as
 * text/plain), an attachment -- never a page of keel's origin -- and no
 * sniffing; the caller sets the body. */
void api_artifact_answer(struct api_call *c, const char *path);
struct keel_artifact;
/* Answers with the stored artifact `path` (its index entry `a`) from the
 * blob store, Range honoured: the proxy's download and /get-artifact. */
enum keel_err api_send_stored_artifact(struct api_call *c, const char *path,
                                       const struct keel_artifact *a);

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

extern const struct api_route api_user_routes[];
/* Whether a route exists only with authentication on (the user, permission
 * and token endpoints: unknown paths otherwise, as on MLflow). */
bool api_route_needs_auth(const struct api_route *r);
extern const struct api_route api_audit_routes[];
extern const struct api_route api_history_routes[];
/* Every route table, NULL-terminated. */
const struct api_route *const *api_route_tables(void);

/* ---- who may call what (policy.c) ---- */

/* What an endpoint acts on, for its permission check. */
enum guard_kind {
    G_NONE,            /* no check (the unused second slot) */
    G_SIGNED_IN,       /* any signed-in user (creations; searches show what they may read) */
    G_ADMIN,           /* admins only */
    G_SELF,            /* the argument names the caller (or is absent); admins: anyone */
    G_EXPERIMENT,      /* the experiment whose id is the argument */
    G_EXPERIMENT_NAME, /* the experiment the argument names */
    G_EXPERIMENTS,     /* every experiment whose id the argument lists */
    G_RUN,             /* the experiment of the run the argument (or run_uuid) names */
    G_RUNS,            /* the experiments of every run the argument lists */
    G_LOGGED_MODEL,    /* the experiment of the logged model the path's tail starts with */
    G_ARTIFACT_PATH,   /* the experiment a proxied artifact path (tail or argument) starts with */
    G_MODEL,           /* the registered model the argument names */
    G_MODEL_URI,       /* what the model URI in the argument names */
    G_DEPLOYMENT,      /* what the deployment the argument names serves */
    G_SOURCE,          /* what a model version's "source", "run_id" and "model_id" name */
    G_RUN_PATH,        /* with "run_id": that run's experiment; else the artifact path argument */
};

struct api_check {
    enum guard_kind kind;
    int need;        /* enum auth_level: the least permission on the resource */
    const char *arg; /* the request argument naming the resource */
};

struct api_guard {
    const char *method, *path; /* as in the route tables */
    struct api_check check[2]; /* every check must pass */
};

/* The table, terminated by a {NULL} entry. */
extern const struct api_guard api_guards[];
/* What a guard kind is called in `keel policy` ("experiment", "run"...). */
const char *api_guard_kind_name(enum guard_kind kind);
/* The guard of a route (NULL: none -- a server refuses to start). */
const struct api_guard *api_guard_find(const char *method, const char *path);
/* Whether every route has a guard and every guard a route; NULL when so,
 * else the first offender ("GET mlflow/..."), in static storage. */
const char *api_policy_gap(void);
/* Authentication (when app->auth is set and ctx->who not yet) and then,
 * when g is not NULL, g's checks against the request's arguments and tail.
 * True when the request may proceed; otherwise resp holds the refusal: 401
 * (asking for credentials), 403, 429, or an error. */
bool api_gate(struct keel_app *app, struct keel_ctx *ctx, const struct http_request *req,
              const struct api_guard *g, const char *tail, const struct jval *args,
              struct http_response *resp);
/* Whether the caller holds `need` (an enum auth_level) on what a model URI
 * names: deployment lists show only those. */
bool api_may_use_model_uri(struct api_call *c, const char *uri, int need);
/* An experiment id as permission rows key it (decimal, no leading zeros). */
const char *api_experiment_key(struct api_call *c, const char *text);
/* A request's audit record (api/audit.c): who (NULL: nobody signed in),
 * "METHOD path", the guard's resources, the essential arguments and the
 * outcome. NULL when out of memory. */
struct keel_audit *api_audit_new(struct keel_ctx *ctx, const char *who, const char *method,
                                 const char *path, const struct api_guard *g,
                                 const struct jval *args, const char *tail, const char *outcome);
/* MLflow's JSON error answer. */
void api_respond_error(struct http_response *resp, enum keel_err e, const char *msg,
                       bool mlflow3);

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
