/*
 * policy.c -- who may call what: the one table of (endpoint, resource,
 * permission) and the one place that enforces it.
 *
 * With authentication on (keel server --auth), every request but the
 * liveness and readiness probes must carry credentials (auth/authn.c); then
 * the endpoint's guard from `api_guards` decides. Admins pass every guard,
 * as in MLflow. A guard names the resource an endpoint acts on (an
 * experiment, a run's experiment, a registered model, the model a deployment
 * serves...) and the least permission needed on it, in MLflow's words and
 * with MLflow's mapping: reading needs READ, changing EDIT, deleting and
 * granting MANAGE. A resource without a permission row for the caller gets
 * the server's default permission. When a guard cannot tell the resource
 * (an argument missing, a run that does not exist), the default permission
 * decides, and the handler then gives its usual error -- the same answer as
 * MLflow, and nothing to act on.
 *
 * Every route must have a guard: api_policy_check() refuses to start a
 * server otherwise, and tests/unit/test_policy.c walks this table, proving
 * each endpoint refuses a caller who lacks the permission.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "registry/model_uri.h"
#include "util/arena.h"
#include "util/time.h"

#define R AUTH_READ
#define E AUTH_EDIT
#define M AUTH_MANAGE
#define ONE(kind, need, arg)                                                                   \
    {                                                                                          \
        { kind, need, arg }                                                                    \
    }

const struct api_guard api_guards[] = {
    /* experiments */
    {"POST", "mlflow/experiments/create", ONE(G_SIGNED_IN, R, NULL)},
    {"GET", "mlflow/experiments/get", ONE(G_EXPERIMENT, R, "experiment_id")},
    {"GET", "mlflow/experiments/get-by-name", ONE(G_EXPERIMENT_NAME, R, "experiment_name")},
    {"POST", "mlflow/experiments/search", ONE(G_SIGNED_IN, R, NULL)}, /* filtered */
    {"GET", "mlflow/experiments/search", ONE(G_SIGNED_IN, R, NULL)},
    {"POST", "mlflow/experiments/update", ONE(G_EXPERIMENT, E, "experiment_id")},
    {"POST", "mlflow/experiments/delete", ONE(G_EXPERIMENT, M, "experiment_id")},
    {"POST", "mlflow/experiments/restore", ONE(G_EXPERIMENT, M, "experiment_id")},
    {"POST", "mlflow/experiments/set-experiment-tag", ONE(G_EXPERIMENT, E, "experiment_id")},
    /* runs */
    {"POST", "mlflow/runs/create", ONE(G_EXPERIMENT, E, "experiment_id")},
    {"GET", "mlflow/runs/get", ONE(G_RUN, R, "run_id")},
    {"POST", "mlflow/runs/update", ONE(G_RUN, E, "run_id")},
    {"POST", "mlflow/runs/delete", ONE(G_RUN, M, "run_id")},
    {"POST", "mlflow/runs/restore", ONE(G_RUN, M, "run_id")},
    {"POST", "mlflow/runs/log-metric", ONE(G_RUN, E, "run_id")},
    {"POST", "mlflow/runs/log-parameter", ONE(G_RUN, E, "run_id")},
    {"POST", "mlflow/runs/set-tag", ONE(G_RUN, E, "run_id")},
    {"POST", "mlflow/runs/delete-tag", ONE(G_RUN, E, "run_id")},
    {"POST", "mlflow/runs/log-batch", ONE(G_RUN, E, "run_id")},
    {"POST", "mlflow/runs/log-inputs", ONE(G_RUN, E, "run_id")},
    {"POST", "mlflow/runs/log-model", ONE(G_RUN, E, "run_id")},
    {"POST", "mlflow/runs/outputs", ONE(G_RUN, E, "run_id")},
    {"POST", "mlflow/runs/search", ONE(G_EXPERIMENTS, R, "experiment_ids")},
    /* metrics */
    {"GET", "mlflow/metrics/get-history", ONE(G_RUN, R, "run_id")},
    {"GET", "mlflow/metrics/get-history-bulk", ONE(G_RUNS, R, "run_id")},
    {"GET", "mlflow/metrics/get-history-bulk-interval", ONE(G_RUNS, R, "run_ids")},
    /* artifacts: of a run, and through the proxy (the path starts with the
     * experiment id) */
    {"GET", "mlflow/artifacts/list", ONE(G_RUN, R, "run_id")},
    {"GET", "/get-artifact", ONE(G_RUN, R, "run_id")},
    {"GET", "mlflow-artifacts/artifacts", ONE(G_ARTIFACT_PATH, R, "path")},
    {"GET", "mlflow-artifacts/artifacts/*", ONE(G_ARTIFACT_PATH, R, NULL)},
    {"PUT", "mlflow-artifacts/artifacts/*", ONE(G_ARTIFACT_PATH, E, NULL)},
    {"DELETE", "mlflow-artifacts/artifacts/*", ONE(G_ARTIFACT_PATH, M, NULL)},
    {"POST", "mlflow-artifacts/mpu/create/*", ONE(G_ARTIFACT_PATH, E, NULL)},
    {"POST", "mlflow-artifacts/mpu/complete/*", ONE(G_ARTIFACT_PATH, E, NULL)},
    {"POST", "mlflow-artifacts/mpu/abort/*", ONE(G_ARTIFACT_PATH, E, NULL)},
    {"GET", "keel/artifacts/list", ONE(G_RUN_PATH, R, "path")},
    {"GET", "keel/artifacts/stat", ONE(G_RUN_PATH, R, "path")},
    /* MLflow 3's logged models (the tail is <model_id>[/...] or "search") */
    {"POST", "mlflow/logged-models", ONE(G_EXPERIMENT, E, "experiment_id")},
    {"GET", "mlflow/logged-models/*", ONE(G_LOGGED_MODEL, R, NULL)},
    {"PATCH", "mlflow/logged-models/*", ONE(G_LOGGED_MODEL, E, NULL)},
    {"DELETE", "mlflow/logged-models/*", ONE(G_LOGGED_MODEL, M, NULL)},
    {"POST", "mlflow/logged-models/*", ONE(G_LOGGED_MODEL, E, NULL)},
    /* the model registry */
    {"POST", "mlflow/registered-models/create", ONE(G_SIGNED_IN, R, NULL)},
    {"GET", "mlflow/registered-models/search", ONE(G_SIGNED_IN, R, NULL)}, /* filtered */
    {"GET", "mlflow/model-versions/search", ONE(G_SIGNED_IN, R, NULL)},    /* filtered */
    {"GET", "mlflow/registered-models/get", ONE(G_MODEL, R, "name")},
    {"PATCH", "mlflow/registered-models/update", ONE(G_MODEL, E, "name")},
    {"POST", "mlflow/registered-models/rename", ONE(G_MODEL, E, "name")},
    {"DELETE", "mlflow/registered-models/delete", ONE(G_MODEL, M, "name")},
    {"POST", "mlflow/registered-models/get-latest-versions", ONE(G_MODEL, R, "name")},
    {"GET", "mlflow/registered-models/get-latest-versions", ONE(G_MODEL, R, "name")},
    {"POST", "mlflow/registered-models/set-tag", ONE(G_MODEL, E, "name")},
    {"DELETE", "mlflow/registered-models/delete-tag", ONE(G_MODEL, E, "name")},
    {"POST", "mlflow/registered-models/alias", ONE(G_MODEL, E, "name")},
    {"DELETE", "mlflow/registered-models/alias", ONE(G_MODEL, M, "name")},
    {"GET", "mlflow/registered-models/alias", ONE(G_MODEL, R, "name")},
    /* a version's source is what keel server will load, as itself: the
     * caller must be able to read it */
    {"POST", "mlflow/model-versions/create", {{G_MODEL, E, "name"}, {G_SOURCE, R, "source"}}},
    {"GET", "mlflow/model-versions/get", ONE(G_MODEL, R, "name")},
    {"PATCH", "mlflow/model-versions/update", ONE(G_MODEL, E, "name")},
    {"POST", "mlflow/model-versions/transition-stage", ONE(G_MODEL, E, "name")},
    {"DELETE", "mlflow/model-versions/delete", ONE(G_MODEL, M, "name")},
    {"GET", "mlflow/model-versions/get-download-uri", ONE(G_MODEL, R, "name")},
    {"POST", "mlflow/model-versions/set-tag", ONE(G_MODEL, E, "name")},
    {"DELETE", "mlflow/model-versions/delete-tag", ONE(G_MODEL, M, "name")},
    {"GET", "keel/models/resolve", ONE(G_MODEL_URI, R, "uri")},
    {"GET", "keel/models/history", ONE(G_MODEL, R, "name")},
    /* deployments: what they serve decides; a deployment of a local
     * directory reads the server's files, so only admins make one */
    {"POST", "keel/deployments/create", ONE(G_MODEL_URI, E, "model_uri")},
    {"POST", "keel/deployments/update",
     {{G_DEPLOYMENT, E, "name"}, {G_MODEL_URI, E, "model_uri"}}},
    {"PATCH", "keel/deployments/update",
     {{G_DEPLOYMENT, E, "name"}, {G_MODEL_URI, E, "model_uri"}}},
    {"GET", "keel/deployments/get", ONE(G_DEPLOYMENT, R, "name")},
    {"GET", "keel/deployments/list", ONE(G_SIGNED_IN, R, NULL)}, /* filtered */
    {"POST", "keel/deployments/delete", ONE(G_DEPLOYMENT, M, "name")},
    {"DELETE", "keel/deployments/delete", ONE(G_DEPLOYMENT, M, "name")},
    {"GET", "keel/predictions", ONE(G_DEPLOYMENT, R, "deployment")},
    /* users and permissions: MLflow's rules */
    {"POST", "mlflow/users/create", ONE(G_ADMIN, M, NULL)},
    {"GET", "mlflow/users/get", ONE(G_SELF, R, "username")},
    {"GET", "mlflow/users/list", ONE(G_ADMIN, M, NULL)},
    {"PATCH", "mlflow/users/update-password", ONE(G_SELF, E, "username")},
    {"PATCH", "mlflow/users/update-admin", ONE(G_ADMIN, M, NULL)},
    {"DELETE", "mlflow/users/delete", ONE(G_ADMIN, M, NULL)},
    {"POST", "mlflow/experiments/permissions/create", ONE(G_EXPERIMENT, M, "experiment_id")},
    {"GET", "mlflow/experiments/permissions/get", ONE(G_EXPERIMENT, M, "experiment_id")},
    {"PATCH", "mlflow/experiments/permissions/update", ONE(G_EXPERIMENT, M, "experiment_id")},
    {"DELETE", "mlflow/experiments/permissions/delete", ONE(G_EXPERIMENT, M, "experiment_id")},
    {"POST", "mlflow/registered-models/permissions/create", ONE(G_MODEL, M, "name")},
    {"GET", "mlflow/registered-models/permissions/get", ONE(G_MODEL, M, "name")},
    {"PATCH", "mlflow/registered-models/permissions/update", ONE(G_MODEL, M, "name")},
    {"DELETE", "mlflow/registered-models/permissions/delete", ONE(G_MODEL, M, "name")},
    /* keel's bearer tokens: one's own (admins: anyone's) */
    {"POST", "keel/tokens/create", ONE(G_SELF, E, "username")},
    {"GET", "keel/tokens/list", ONE(G_SELF, R, "username")},
    {"POST", "keel/tokens/revoke", ONE(G_SIGNED_IN, R, NULL)}, /* own tokens only */
    {"DELETE", "keel/tokens/revoke", ONE(G_SIGNED_IN, R, NULL)},
    /* the audit log */
    {"GET", "keel/audit", ONE(G_ADMIN, M, NULL)},
    {"GET", "keel/audit/verify", ONE(G_ADMIN, M, NULL)},
    /* outside the API prefixes: scoring through a deployment (the name is
     * in the path; any method), and the server's own pages */
    {"*", "/deployments/*", ONE(G_DEPLOYMENT, R, NULL)},
    {"*", "/v2/models/*", ONE(G_DEPLOYMENT, R, NULL)},
    {"GET", "/metrics", ONE(G_SIGNED_IN, R, NULL)},
    {"GET", "/version", ONE(G_SIGNED_IN, R, NULL)},
    {NULL, NULL, {{G_NONE, 0, NULL}}},
};

static const char *const kind_names[] = {
    [G_NONE] = "none",
    [G_SIGNED_IN] = "signed-in",
    [G_ADMIN] = "admin",
    [G_SELF] = "self",
    [G_EXPERIMENT] = "experiment",
    [G_EXPERIMENT_NAME] = "experiment-name",
    [G_EXPERIMENTS] = "experiments",
    [G_RUN] = "run",
    [G_RUNS] = "runs",
    [G_LOGGED_MODEL] = "logged-model",
    [G_ARTIFACT_PATH] = "artifact-path",
    [G_MODEL] = "registered-model",
    [G_MODEL_URI] = "model-uri",
    [G_DEPLOYMENT] = "deployment",
    [G_SOURCE] = "model-source",
    [G_RUN_PATH] = "run-or-artifact-path",
};

const char *api_guard_kind_name(enum guard_kind kind)
{
    return kind_names[kind];
}

/* ---- resolving a guard's resource ---- */

/* A request argument as text -- exactly the value the handler will take
 * (api_arg_str): the last of a repeated query parameter, as in Flask; or an
 * integer printed. A guard must never check one value while the handler
 * acts on another. */
/* One value as an id's text: a string, or an integer printed; else NULL. */
static const char *value_text(struct api_call *c, const struct jval *v)
{
    if (jv_is_string(v))
        return v->u.s;
    if (jv_is_int(v))
        return karena_sprintf(c->ctx->arena, "%lld", (long long)v->u.i);
    return NULL;
}

static const char *arg_text(struct api_call *c, const char *name)
{
    const struct jval *v = c->args ? jv_get(c->args, name) : NULL;
    if (jv_is_array(v) && c->from_query && jv_len(v) > 0)
        v = jv_at(v, jv_len(v) - 1);
    return value_text(c, v);
}

const char *api_experiment_key(struct api_call *c, const char *text)
{
    char *end = NULL;
    if (!text || !*text)
        return NULL;
    long long id = strtoll(text, &end, 10);
    if (*end || id < 0)
        return text; /* the handler refuses it; the default decides until then */
    return karena_sprintf(c->ctx->arena, "%lld", id);
}

/* A lookup that found nothing is not a failure here: the default decides. */
static void forget_error(struct api_call *c)
{
    c->ctx->err = KEEL_OK;
    c->ctx->errmsg = NULL;
}

/* The level the caller holds on one resource (NULL: unknown -> default). */
static enum keel_err level_on(struct api_call *c, enum store_resource kind, const char *resource,
                              enum auth_level *out)
{
    *out = auth_default_level(c->app->auth);
    if (!resource)
        return KEEL_OK;
    const char *word = NULL;
    enum keel_err e = store_permission_of(c->app->store, c->ctx, kind, resource,
                                          c->ctx->who->user_id, &word);
    if (e)
        return e;
    if (word && !auth_level_parse(word, out))
        *out = AUTH_NO_PERMISSIONS; /* a word keel does not know grants nothing */
    return KEEL_OK;
}

static enum keel_err experiment_level(struct api_call *c, const char *id_text,
                                      enum auth_level *out)
{
    return level_on(c, STORE_RES_EXPERIMENT, api_experiment_key(c, id_text), out);
}

/* The level on the experiment that run (or logged model) `id` belongs to. */
static enum keel_err owner_level(struct api_call *c, bool logged_model, const char *id,
                                 enum auth_level *out)
{
    int64_t exp = 0;
    enum keel_err e = id ? store_experiment_of(c->app->store, c->ctx, logged_model, id, &exp)
                         : KEEL_E_NOT_FOUND;
    if (e == KEEL_E_NOT_FOUND) {
        forget_error(c);
        return experiment_level(c, NULL, out);
    }
    if (e)
        return e;
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)exp);
    return experiment_level(c, text, out);
}

/* The level on what a model URI names; *out AUTH_NO_PERMISSIONS for a URI
 * only admins may use (a local directory). */
static enum keel_err uri_level(struct api_call *c, const char *uri, enum auth_level *out)
{
    if (!uri)
        return experiment_level(c, NULL, out);
    struct model_ref ref;
    enum keel_err e = model_uri_resolve(c->app->store, c->ctx, uri, &ref);
    if (e == KEEL_E_NOT_FOUND || e == KEEL_E_INVALID_PARAMETER) {
        forget_error(c);
        /* nothing to act on yet: a name that is not registered still
         * belongs to whoever will hold it */
        const char *name = NULL;
        if (strncmp(uri, "models:/", 8) == 0 && !model_uri_logged_model_id(uri)) {
            size_t n = strcspn(uri + 8, "/@");
            name = karena_strndup(c->ctx->arena, uri + 8, n);
        }
        if (name)
            return level_on(c, STORE_RES_REGISTERED_MODEL, name, out);
        bool local = strncmp(uri, "models:/", 8) != 0 && strncmp(uri, "runs:/", 6) != 0;
        if (local) {
            *out = AUTH_NO_PERMISSIONS;
            return KEEL_OK;
        }
        return experiment_level(c, NULL, out);
    }
    if (e)
        return e;
    if (ref.name)
        return level_on(c, STORE_RES_REGISTERED_MODEL, ref.name, out);
    if (ref.model_id)
        return owner_level(c, true, ref.model_id, out);
    if (ref.run_id)
        return owner_level(c, false, ref.run_id, out);
    *out = AUTH_NO_PERMISSIONS; /* a local directory: admins only */
    return KEEL_OK;
}

static enum keel_err deployment_level(struct api_call *c, const char *name,
                                      enum auth_level *out)
{
    struct keel_deployment d;
    enum keel_err e = name ? store_deployment_get(c->app->store, c->ctx, name, &d)
                           : KEEL_E_NOT_FOUND;
    if (e == KEEL_E_NOT_FOUND) {
        forget_error(c);
        /* without a deployment (e.g. the whole prediction log): admins */
        *out = name ? auth_default_level(c->app->auth) : AUTH_NO_PERMISSIONS;
        return KEEL_OK;
    }
    return e ? e : uri_level(c, d.model_uri, out);
}

/* The proxied artifact path's first segment is its experiment id. */
static enum keel_err artifact_level(struct api_call *c, const char *path, enum auth_level *out)
{
    size_t n = path ? strspn(path, "0123456789") : 0;
    if (n == 0 || (path[n] != '/' && path[n] != '\0')) {
        *out = AUTH_NO_PERMISSIONS; /* the root, or outside any experiment: admins */
        return KEEL_OK;
    }
    return experiment_level(c, karena_strndup(c->ctx->arena, path, n), out);
}

/* The least level over what a new model version points at: its source
 * (runs:/, models:/, or an artifact URI of the proxy without a host, under
 * an experiment), and its run_id and model_id when given. Any other source
 * -- a local path, file://, another host -- only an admin may register. */
static enum keel_err source_level(struct api_call *c, const char *source, enum auth_level *out)
{
    static const char proxy[] = "mlflow-artifacts:/";
    enum keel_err e = KEEL_OK;
    *out = AUTH_NO_PERMISSIONS;
    if (!source)
        e = experiment_level(c, NULL, out); /* the handler refuses it */
    else if (strncmp(source, "runs:/", 6) == 0 || strncmp(source, "models:/", 8) == 0)
        e = uri_level(c, source, out);
    else if (strncmp(source, proxy, sizeof proxy - 1) == 0 && source[sizeof proxy - 1] != '/')
        e = artifact_level(c, source + sizeof proxy - 1, out);
    enum auth_level l;
    const char *run = arg_text(c, "run_id"), *model = arg_text(c, "model_id");
    if (!e && run && *run && !(e = owner_level(c, false, run, &l)) && l < *out)
        *out = l;
    if (!e && model && *model && !(e = owner_level(c, true, model, &l)) && l < *out)
        *out = l;
    return e;
}

/* The least level over every id listed in argument `arg`. */
static enum keel_err list_level(struct api_call *c, const char *arg, bool runs,
                                enum auth_level *out)
{
    const struct jval *v = c->args ? jv_get(c->args, arg) : NULL;
    size_t n = jv_is_array(v) ? jv_len(v) : v ? 1 : 0;
    *out = AUTH_MANAGE;
    if (n == 0)
        return runs ? owner_level(c, false, NULL, out) : experiment_level(c, NULL, out);
    for (size_t i = 0; i < n; i++) {
        const char *text = value_text(c, jv_is_array(v) ? jv_at(v, i) : v);
        enum auth_level l;
        enum keel_err e = runs ? owner_level(c, false, text, &l) : experiment_level(c, text, &l);
        if (e)
            return e;
        if (l < *out)
            *out = l;
    }
    return KEEL_OK;
}

static enum keel_err logged_model_level(struct api_call *c, enum auth_level *need,
                                        enum auth_level *out)
{
    const char *tail = c->tail ? c->tail : "";
    if (strcmp(tail, "search") == 0) {
        *need = AUTH_READ;
        return list_level(c, "experiment_ids", false, out);
    }
    /* deleting a tag changes the model; deleting the model needs MANAGE */
    if (*need == AUTH_MANAGE && strstr(tail, "/tags/"))
        *need = AUTH_EDIT;
    const char *id = karena_strndup(c->ctx->arena, tail, strcspn(tail, "/"));
    enum keel_err e = owner_level(c, true, id, out);
    /* finalize and log-params act on the body's model_id (MLflow's rule):
     * the caller needs the permission on that model too */
    const char *body_id = arg_text(c, "model_id");
    enum auth_level other;
    if (!e && body_id && (!id || strcmp(body_id, id) != 0) &&
        !(e = owner_level(c, true, body_id, &other)) && other < *out)
        *out = other;
    return e;
}

static enum keel_err check_one(struct api_call *c, const struct api_check *k, bool *allowed)
{
    const struct keel_principal *who = c->ctx->who;
    enum auth_level need = k->need, have = AUTH_NO_PERMISSIONS;
    const char *username = NULL;
    enum keel_err e = KEEL_OK;
    switch (k->kind) {
    case G_NONE:
    case G_SIGNED_IN:
        *allowed = true;
        return KEEL_OK;
    case G_ADMIN:
        *allowed = false; /* admins never get here */
        return KEEL_OK;
    case G_SELF:
        /* absent: the caller; present, it must name the caller */
        username = arg_text(c, k->arg);
        *allowed = username ? strcmp(username, who->username) == 0
                            : !(c->args && jv_get(c->args, k->arg));
        return KEEL_OK;
    case G_EXPERIMENT:
        e = experiment_level(c, arg_text(c, k->arg), &have);
        break;
    case G_EXPERIMENT_NAME: {
        const char *name = arg_text(c, k->arg);
        struct keel_experiment x;
        enum keel_err f = name ? store_experiment_get_by_name(c->app->store, c->ctx, name, &x)
                               : KEEL_E_NOT_FOUND;
        if (f == KEEL_E_NOT_FOUND) {
            forget_error(c);
            e = experiment_level(c, NULL, &have);
        } else if (!(e = f)) {
            char text[24];
            snprintf(text, sizeof text, "%lld", (long long)x.experiment_id);
            e = experiment_level(c, text, &have);
        }
        break;
    }
    case G_EXPERIMENTS:
        e = list_level(c, k->arg, false, &have);
        break;
    case G_RUN: {
        const char *id = arg_text(c, k->arg);
        e = owner_level(c, false, id && *id ? id : arg_text(c, "run_uuid"), &have);
        break;
    }
    case G_RUNS:
        e = list_level(c, k->arg, true, &have);
        break;
    case G_LOGGED_MODEL:
        e = logged_model_level(c, &need, &have);
        break;
    case G_ARTIFACT_PATH:
        e = artifact_level(c, k->arg ? arg_text(c, k->arg) : c->tail, &have);
        break;
    case G_MODEL:
        e = level_on(c, STORE_RES_REGISTERED_MODEL, arg_text(c, k->arg), &have);
        break;
    case G_MODEL_URI: {
        const char *uri = arg_text(c, k->arg);
        if (!uri && k != &c->guard->check[0]) { /* an optional second check */
            *allowed = true;
            return KEEL_OK;
        }
        e = uri_level(c, uri, &have);
        break;
    }
    case G_DEPLOYMENT:
        e = deployment_level(c, k->arg ? arg_text(c, k->arg) : c->tail, &have);
        break;
    case G_SOURCE:
        e = source_level(c, arg_text(c, k->arg), &have);
        break;
    case G_RUN_PATH: { /* the path is under the run's root when a run is named */
        const char *run = arg_text(c, "run_id");
        e = run && *run ? owner_level(c, false, run, &have)
                        : artifact_level(c, arg_text(c, k->arg), &have);
        break;
    }
    }
    *allowed = have >= need;
    return e;
}

static enum keel_err guard_check(struct api_call *c, const struct api_guard *g, bool *allowed)
{
    *allowed = true;
    if (!c->ctx->who || c->ctx->who->is_admin)
        return KEEL_OK;
    c->guard = g;
    for (size_t i = 0; i < sizeof g->check / sizeof *g->check && *allowed; i++) {
        if (g->check[i].kind == G_NONE)
            continue;
        enum keel_err e = check_one(c, &g->check[i], allowed);
        if (e)
            return e;
    }
    return KEEL_OK;
}

const struct api_guard *api_guard_find(const char *method, const char *path)
{
    for (const struct api_guard *g = api_guards; g->method; g++)
        if (strcmp(g->method, method) == 0 && strcmp(g->path, path) == 0)
            return g;
    return NULL;
}

bool api_may_use_model_uri(struct api_call *c, const char *uri, int need)
{
    if (!c->ctx->who || c->ctx->who->is_admin)
        return true;
    enum auth_level have;
    if (uri_level(c, uri, &have) != KEEL_OK) {
        forget_error(c);
        return false;
    }
    return (int)have >= need;
}

const char *api_policy_gap(void)
{
    static char gap[160];
    const struct api_route *const *tables = api_route_tables();
    for (size_t t = 0; tables[t]; t++)
        for (const struct api_route *r = tables[t]; r->method; r++)
            if (!api_guard_find(r->method, r->path)) {
                snprintf(gap, sizeof gap, "no guard for %s %s", r->method, r->path);
                return gap;
            }
    for (const struct api_guard *g = api_guards; g->method; g++) {
        bool routed = g->path[0] == '/'; /* answered before routing */
        for (size_t t = 0; tables[t] && !routed; t++)
            for (const struct api_route *r = tables[t]; r->method && !routed; r++)
                routed = strcmp(r->method, g->method) == 0 && strcmp(r->path, g->path) == 0;
        if (!routed) {
            snprintf(gap, sizeof gap, "no route for the guard of %s %s", g->method, g->path);
            return gap;
        }
    }
    return NULL;
}

/* ---- the gate ---- */

static const char not_authenticated[] =
    "You are not authenticated. Please see "
    "https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow "
    "on how to authenticate.";

/* Refusals cost a caller nothing and each record is a durable write: at
 * most REFUSALS_PER_S a second are recorded (bursts to REFUSAL_BURST); the
 * next record that is made says how many were not. */
#define REFUSALS_PER_S 50
#define REFUSAL_BURST 200

static pthread_mutex_t refusal_mu = PTHREAD_MUTEX_INITIALIZER;
static double refusal_tokens = REFUSAL_BURST;
static int64_t refusal_at_us;
static uint64_t refusals_unrecorded;

static bool refusal_may_record(uint64_t *unrecorded_before)
{
    pthread_mutex_lock(&refusal_mu);
    int64_t now = keel_now_us();
    if (refusal_at_us)
        refusal_tokens += (double)(now - refusal_at_us) * REFUSALS_PER_S / 1e6;
    if (refusal_tokens > REFUSAL_BURST)
        refusal_tokens = REFUSAL_BURST;
    refusal_at_us = now;
    bool ok = refusal_tokens >= 1;
    if (ok) {
        refusal_tokens -= 1;
        *unrecorded_before = refusals_unrecorded;
        refusals_unrecorded = 0;
    } else {
        refusals_unrecorded++;
    }
    pthread_mutex_unlock(&refusal_mu);
    return ok;
}

/* A refused attempt is an audit record of its own. Nothing to record when
 * no credentials came at all (a client asking what it must send). */
static void record_refusal(struct keel_app *app, struct keel_ctx *ctx,
                           const struct http_request *req, const char *who,
                           const struct api_guard *g, const char *tail, const struct jval *args,
                           const char *outcome)
{
    uint64_t unrecorded = 0;
    if (!refusal_may_record(&unrecorded))
        return;
    if (unrecorded)
        outcome = karena_sprintf(ctx->arena, "%s; %llu refusals before it not recorded (rate "
                                             "limit)",
                                 outcome, (unsigned long long)unrecorded);
    if (!outcome)
        return;
    struct keel_audit *saved = ctx->audit;
    enum keel_err err = ctx->err;
    char *msg = ctx->errmsg;
    ctx->audit = api_audit_new(ctx, who, req->method, req->path, g, args, tail, outcome);
    if (ctx->audit && store_audit_append(app->store, ctx) != KEEL_OK)
        fprintf(stderr, "keel server: cannot record a refused %s %s: %s\n", req->method,
                req->path, ctx->errmsg ? ctx->errmsg : "");
    ctx->audit = saved;
    ctx->err = err;
    ctx->errmsg = msg;
}

static bool authenticate(struct keel_app *app, struct keel_ctx *ctx,
                         const struct http_request *req, struct http_response *resp)
{
    struct keel_principal *who = karena_calloc(ctx->arena, 1, sizeof *who);
    int retry_after = 0;
    enum auth_outcome o =
        who ? auth_authenticate(app->auth, ctx, http_header(req, "Authorization"), who,
                                &retry_after)
            : (keel_fail(ctx, KEEL_E_NOMEM, "out of memory"), AUTH_FAILED);
    switch (o) {
    case AUTH_OK:
        ctx->who = who;
        return true;
    case AUTH_REFUSED:
        record_refusal(app, ctx, req,
                       auth_claimed_user(ctx, http_header(req, "Authorization")), NULL, NULL,
                       NULL, "unauthenticated");
        /* fall through */
    case AUTH_MISSING:
        /* MLflow's answer, which makes clients and browsers ask for
         * credentials; but not for keel's UI (X-Requested-With), whose
         * own sign-in form asks instead of the browser's dialog */
        http_respond_text(resp, 401, "text/html; charset=utf-8", not_authenticated);
        if (!http_header(req, "X-Requested-With"))
            http_response_header(resp, "WWW-Authenticate", "Basic realm=\"mlflow\"");
        return false;
    case AUTH_THROTTLED: {
        record_refusal(app, ctx, req,
                       auth_claimed_user(ctx, http_header(req, "Authorization")), NULL, NULL,
                       NULL, "throttled");
        http_respond_text(resp, 429, "text/plain; charset=utf-8",
                          "Too many failed sign-in attempts for this user; try again later.");
        const char *after = karena_sprintf(ctx->arena, "%d", retry_after);
        if (after)
            http_response_header(resp, "Retry-After", after);
        return false;
    }
    case AUTH_FAILED:
        break;
    }
    api_respond_error(resp, ctx->err ? ctx->err : KEEL_E_INTERNAL, ctx->errmsg, false);
    return false;
}

bool api_gate(struct keel_app *app, struct keel_ctx *ctx, const struct http_request *req,
              const struct api_guard *g, const char *tail, const struct jval *args,
              struct http_response *resp)
{
    if (!app->auth)
        return true;
    if (!ctx->who && !authenticate(app, ctx, req, resp))
        return false;
    if (!g)
        return true;
    struct api_call c = {.app = app, .ctx = ctx, .args = args, .tail = tail, .req = req,
                         .resp = resp, .from_query = strcmp(req->method, "GET") == 0};
    bool allowed = false;
    enum keel_err e = guard_check(&c, g, &allowed);
    if (e) {
        api_respond_error(resp, e, ctx->errmsg, false);
        return false;
    }
    if (!allowed) {
        record_refusal(app, ctx, req, ctx->who->username, g, tail, args, "denied");
        http_respond_text(resp, 403, "text/html; charset=utf-8", "Permission denied");
        return false;
    }
    return true;
}
