/*
 * deployments.c -- /api/2.0/keel/deployments/...: models served by keel
 * server under a name, and the scoring routes that answer through them.
 *
 * create/update load the model first and store the deployment only once it
 * serves: a URI that does not load is refused with the reason and changes
 * nothing. Scoring goes to serve/scoring.c with the deployment's model,
 * held by a reference for the request; every answer says which version
 * produced it (X-Model-Version) and which deployment (X-Deployment).
 */
#include <ctype.h>
#include <string.h>

#include "api/api.h"
#include "deploy/deploy.h"
#include "serve/scoring.h"
#include "util/arena.h"

#define DEPLOY_MAX_ROWS 1000000u

static enum keel_err check_name(struct api_call *c, const char *name)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_' ||
             name[i] == '.';
    if (!ok)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Invalid deployment name '%s': 1 to 64 letters, digits, '-', '_' or '.'",
                         name);
    return KEEL_OK;
}

static void write_deployment(struct api_call *c, const struct keel_deployment *d)
{
    struct jw *w = &c->out;
    struct deploy_state st;
    bool live = deploy_state(c->app->deploys, d->name, &st, c->ctx);
    jw_obj(w);
    jw_kstr(w, "name", d->name);
    jw_kstr(w, "model_uri", d->model_uri);
    jw_kint(w, "creation_timestamp", d->creation_time);
    jw_kint(w, "last_updated_timestamp", d->last_updated_time);
    jw_kstr(w, "status", live ? st.status : "FAILED");
    if (live) {
        jw_kstr_opt(w, "model_name", st.model_name);
        jw_kstr_opt(w, "model_version", st.model_version);
        jw_kstr_opt(w, "run_id", st.run_id);
        jw_kstr_opt(w, "flavor", st.flavor);
        jw_kstr_opt(w, "model_class", st.model_class);
        jw_kstr_opt(w, "served_model_uri", st.model_uri);
        jw_kstr_opt(w, "error", st.error);
    }
    jw_obj_end(w);
}

static enum keel_err answer_one(struct api_call *c, const char *name)
{
    struct keel_deployment d;
    enum keel_err e = store_deployment_get(c->app->store, c->ctx, name, &d);
    if (e != KEEL_OK)
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "deployment");
    write_deployment(c, &d);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_put(struct api_call *c, bool update)
{
    const char *name = NULL, *uri = NULL;
    enum keel_err e;
    if ((e = api_arg_str(c, "name", true, &name)) != KEEL_OK ||
        (e = api_arg_str(c, "model_uri", true, &uri)) != KEEL_OK || (e = check_name(c, name)))
        return e;
    struct keel_deployment existing;
    e = store_deployment_get(c->app->store, c->ctx, name, &existing);
    if (!update && e == KEEL_OK)
        return keel_fail(c->ctx, KEEL_E_ALREADY_EXISTS, "Deployment '%s' already exists.", name);
    if (update && e != KEEL_OK)
        return e;
    c->ctx->errmsg = NULL;
    e = deploy_load(c->app->deploys, name, uri, c->ctx);
    if (e != KEEL_OK) {
        if (!update)
            deploy_remove(c->app->deploys, name); /* nothing of a refused create stays */
        return keel_fail(c->ctx, e == KEEL_E_NOMEM ? e : KEEL_E_INVALID_PARAMETER,
                         "Model '%s' could not be loaded for deployment '%s': %s", uri, name,
                         c->ctx->errmsg ? c->ctx->errmsg : "unknown error");
    }
    e = store_deployment_put(c->app->store, c->ctx, name, uri, update);
    if (e != KEEL_OK) {
        if (!update)
            deploy_remove(c->app->deploys, name);
        return e;
    }
    return answer_one(c, name);
}

static enum keel_err h_create(struct api_call *c) { return h_put(c, false); }
static enum keel_err h_update(struct api_call *c) { return h_put(c, true); }

static enum keel_err h_get(struct api_call *c)
{
    const char *name = NULL;
    enum keel_err e = api_arg_str(c, "name", true, &name);
    return e != KEEL_OK ? e : answer_one(c, name);
}

static enum keel_err h_list(struct api_call *c)
{
    struct keel_deployment *d = NULL;
    size_t n = 0;
    enum keel_err e = store_deployment_list(c->app->store, c->ctx, &d, &n);
    if (e != KEEL_OK)
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "deployments");
    jw_arr(&c->out);
    for (size_t i = 0; i < n; i++)
        write_deployment(c, &d[i]);
    jw_arr_end(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_delete(struct api_call *c)
{
    const char *name = NULL;
    enum keel_err e = api_arg_str(c, "name", true, &name);
    if (e == KEEL_OK)
        e = store_deployment_delete(c->app->store, c->ctx, name);
    if (e != KEEL_OK)
        return e;
    deploy_remove(c->app->deploys, name);
    jw_obj(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

const struct api_route api_deployment_routes[] = {
    {"POST", "keel/deployments/create", h_create},
    {"POST", "keel/deployments/update", h_update},
    {"PATCH", "keel/deployments/update", h_update},
    {"GET", "keel/deployments/get", h_get},
    {"GET", "keel/deployments/list", h_list},
    {"POST", "keel/deployments/delete", h_delete},
    {"DELETE", "keel/deployments/delete", h_delete},
    {NULL, NULL, NULL},
};

/* ---- scoring through a deployment ---- */

static void not_served(struct http_response *resp, struct keel_ctx *ctx)
{
    struct jw w;
    resp->status = 404;
    resp->content_type = "application/json";
    kbuf_reset(&resp->body);
    jw_init(&w, &resp->body);
    jw_obj(&w);
    jw_kstr(&w, "error_code", "RESOURCE_DOES_NOT_EXIST");
    jw_kstr(&w, "message", ctx->errmsg ? ctx->errmsg : "No such deployment.");
    jw_obj_end(&w);
}

bool api_deployment_scoring(struct keel_app *app, struct keel_ctx *ctx,
                            const struct http_request *req, struct http_response *resp)
{
    const char *p = req->path, *sub = NULL;
    char name[128];
    if (strncmp(p, "/deployments/", 13) == 0) {
        const char *n = p + 13, *slash = strchr(n, '/');
        if (!slash || (size_t)(slash - n) >= sizeof name || slash == n)
            return false;
        memcpy(name, n, (size_t)(slash - n));
        name[slash - n] = '\0';
        sub = slash;
    } else if (strncmp(p, "/v2/models/", 11) == 0) {
        const char *n = p + 11, *slash = strchr(n, '/');
        size_t len = slash ? (size_t)(slash - n) : strlen(n);
        if (!len || len >= sizeof name)
            return false;
        memcpy(name, n, len);
        name[len] = '\0';
        sub = p; /* KServe paths keep their /v2/models/<name> prefix */
    } else {
        return false;
    }
    struct deploy_state st;
    struct keel_model *m = deploy_acquire(app->deploys, name, &st, ctx);
    if (!m) {
        not_served(resp, ctx);
        return true;
    }
    struct scoring_target t = {.model = m, .name = st.name, .version = st.model_version,
                               .mlflow_version = keel_model_mlflow_version(m),
                               .limits = {.max_rows = DEPLOY_MAX_ROWS}};
    if (!scoring_handle(&t, sub, ctx, req, resp))
        http_respond_page(resp, 404);
    http_response_header(resp, "X-Deployment", st.name);
    http_response_header(resp, "X-Model-Version", *st.model_version ? st.model_version : "none");
    keel_model_unref(m);
    return true;
}
