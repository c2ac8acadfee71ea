/*
 * router.c -- from an HTTP request to an API handler and back.
 *
 * The route tables of the API families are data; this file walks them.
 * Requests outside any route get the same HTML pages MLflow's server gives
 * (404, 405), because clients already handle those; everything a handler
 * reports goes out as MLflow's JSON error {"error_code", "message"} with the
 * status from the one error table (util/err.c).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "ui/ui.h"
#include "util/arena.h"
#include "version.h"

static const struct api_route *const route_tables[] = {
    api_experiment_routes,
    api_run_routes,
    api_metric_routes,
    api_artifact_routes,
    api_artifact_proxy_routes,
    api_keel_artifact_routes,
    api_registry_routes,
    api_keel_model_routes,
    api_logged_model_routes,
    api_deployment_routes,
    api_user_routes,
    api_audit_routes,
    api_history_routes,
    NULL,
};

const struct api_route *const *api_route_tables(void)
{
    return route_tables;
}

static const char *const api_prefixes[] = {"/api/2.0/", "/ajax-api/2.0/"};

void api_respond_error(struct http_response *resp, enum keel_err e, const char *msg,
                       bool mlflow3)
{
    struct jw w;
    kbuf_reset(&resp->body);
    jw_init(&w, &resp->body);
    jw_obj(&w);
    jw_kstr(&w, "error_code", keel_err_code(e));
    jw_kstr(&w, "message", msg ? msg : keel_err_code(e));
    if (mlflow3) {
        jw_kstr(&w, "sqlstate", keel_err_sqlstate(e));
        jw_kstr(&w, "error_class", keel_err_class(e));
    }
    jw_obj_end(&w);
    resp->status = keel_err_http_status(e);
    resp->content_type = "application/json";
}

/* Query string -> {"k": "v", "repeated": ["a", "b"]}, in the arena. A value
 * that is not UTF-8 is left out, as if it had not been sent. */
static const struct jval *args_from_query(struct karena *a, const struct http_request *req)
{
    struct jmember *m = karena_calloc(a, req->n_query ? req->n_query : 1, sizeof *m);
    struct jval *obj = karena_calloc(a, 1, sizeof *obj);
    if (!m || !obj)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < req->n_query; i++) {
        const struct http_param *p = &req->query[i];
        size_t len = strlen(p->value);
        const struct jval *s = jp_utf8_valid(p->value, len) ? jv_new_string(a, p->value, len)
                                                             : NULL;
        if (!s)
            continue;
        struct jmember *old = NULL;
        for (size_t k = 0; k < n && !old; k++)
            if (strcmp(m[k].key, p->key) == 0)
                old = &m[k];
        if (!old) {
            m[n].key = p->key;
            m[n].key_len = strlen(p->key);
            m[n++].val = *s;
            continue;
        }
        /* a repeated key becomes a list of its values, in order */
        size_t have = old->val.type == J_ARRAY ? old->val.n : 1;
        struct jval *items = karena_alloc(a, (have + 1) * sizeof *items);
        if (!items)
            return NULL;
        if (old->val.type == J_ARRAY)
            memcpy(items, old->val.u.items, have * sizeof *items);
        else
            items[0] = old->val;
        items[have] = *s;
        old->val = (struct jval){.type = J_ARRAY, .n = have + 1, .u.items = items};
    }
    *obj = (struct jval){.type = J_OBJECT, .n = n, .u.members = m};
    return obj;
}

/* Body -> object. MLflow treats an unparsable body as {} and decodes a JSON
 * string holding JSON a second time. */
static const struct jval *args_from_body(struct karena *a, const struct http_request *req)
{
    static const struct jval empty = {.type = J_OBJECT};
    const struct jval *v = jp_parse(a, req->body, req->body_len, NULL);
    if (jv_is_string(v))
        v = jp_parse(a, v->u.s, v->n, NULL);
    return jv_is_object(v) ? v : &empty;
}

/* NULL when the request may proceed, else the message of the 400. */
static const char *content_type_problem(const struct http_request *req)
{
    if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0)
        return NULL;
    if (!req->content_type)
        return "Bad Request. Content-Type header is missing.";
    size_t n = strcspn(req->content_type, ";");
    while (n && req->content_type[n - 1] == ' ')
        n--;
    if (n == strlen("application/json") &&
        strncasecmp(req->content_type, "application/json", n) == 0)
        return NULL;
    return "Bad Request. Content-Type must be one of ['application/json'].";
}

/* Whether `path` matches the route's; *tail gets what a wildcard matched. */
static bool path_matches(const char *pattern, const char *path, const char **tail)
{
    size_t n = strlen(pattern);
    if (n >= 2 && strcmp(pattern + n - 2, "/*") == 0) {
        if (strncmp(pattern, path, n - 1) != 0 || !path[n - 1])
            return false;
        *tail = path + n - 1;
        return true;
    }
    *tail = NULL;
    return strcmp(pattern, path) == 0;
}

static const struct api_route *find_route(const char *path, const char *method,
                                          bool *path_known, const char **tail)
{
    *path_known = false;
    for (size_t t = 0; route_tables[t]; t++) {
        for (const struct api_route *r = route_tables[t]; r->method; r++) {
            if (!path_matches(r->path, path, tail))
                continue;
            *path_known = true;
            if (strcmp(r->method, method) == 0)
                return r;
        }
    }
    return NULL;
}

/* Which MLflow the client is (decision 0009): MLflow 3 clients send
 * X-MLflow-Client-Version, every MLflow Python client a User-Agent of
 * mlflow-python-client/<version>. Other clients get the server's default. */
static bool client_is_mlflow3(const struct keel_app *a, const struct http_request *req)
{
    static const char ua_prefix[] = "mlflow-python-client/";
    const char *v = http_header(req, "X-MLflow-Client-Version");
    if (!v) {
        const char *ua = http_header(req, "User-Agent");
        if (ua && strncmp(ua, ua_prefix, sizeof ua_prefix - 1) == 0)
            v = ua + sizeof ua_prefix - 1;
    }
    if (!v || !isdigit((unsigned char)*v))
        return a->mlflow3;
    return strtol(v, NULL, 10) >= 3;
}

/* Each route's guard, found once: route_guards[t][i] for route_tables[t][i]. */
static const struct api_guard **route_guards[sizeof route_tables / sizeof *route_tables];
static pthread_once_t guards_once = PTHREAD_ONCE_INIT;

static void find_guards(void)
{
    for (size_t t = 0; route_tables[t]; t++) {
        size_t n = 0;
        while (route_tables[t][n].method)
            n++;
        route_guards[t] = calloc(n ? n : 1, sizeof *route_guards[t]);
        for (size_t i = 0; route_guards[t] && i < n; i++)
            route_guards[t][i] = api_guard_find(route_tables[t][i].method,
                                                route_tables[t][i].path);
    }
}

/* A route without a guard (which api_policy_gap() keeps from starting) or
 * whose guard table could not be built is refused to all but admins. */
static const struct api_guard *guard_of(const struct api_route *route)
{
    static const struct api_guard admins = {"", "", {{G_ADMIN, 0, NULL}}};
    pthread_once(&guards_once, find_guards);
    for (size_t t = 0; route_tables[t]; t++) {
        size_t n = 0;
        while (route_tables[t][n].method)
            n++;
        if (route >= route_tables[t] && route < route_tables[t] + n)
            return route_guards[t] && route_guards[t][route - route_tables[t]]
                       ? route_guards[t][route - route_tables[t]]
                       : &admins;
    }
    return &admins;
}

enum keel_err api_not_routed(struct api_call *c)
{
    c->html_error_page = true;
    return keel_fail(c->ctx, KEEL_E_NO_ENDPOINT, "No endpoint at %s", c->tail ? c->tail : "");
}

void api_handle(void *app, struct keel_ctx *ctx, const struct http_request *req,
                struct http_response *resp)
{
    const struct keel_app *a = app;
    /* browsers must not guess types from content (MLflow 3 sends this too) */
    http_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (strcmp(req->path, "/health") == 0 || strcmp(req->path, "/ping") == 0) {
        http_respond_text(resp, 200, "text/plain; charset=utf-8", "OK");
        return;
    }
    if (strcmp(req->path, "/ready") == 0) {
        bool ready = __atomic_load_n(&a->ready, __ATOMIC_ACQUIRE);
        http_respond_text(resp, ready ? 200 : 503, "text/plain; charset=utf-8",
                          ready ? "OK" : "loading deployments");
        return;
    }
    /* the web UI's files hold no data: served to anyone (src/ui/ui.c) */
    if (ui_serve(a->ui_dir, ctx, req, resp))
        return;
    /* everything below needs credentials when authentication is on */
    if (!api_gate(app, ctx, req, NULL, NULL, NULL, resp))
        return;
    if (strcmp(req->path, "/version") == 0) {
        http_respond_text(resp, 200, "text/plain; charset=utf-8", KEEL_VERSION);
        return;
    }
    if (strcmp(req->path, "/metrics") == 0 && strcmp(req->method, "GET") == 0) {
        api_write_metrics(app, resp);
        return;
    }
    if (a->deploys && api_deployment_scoring(app, ctx, req, resp))
        return;
    const char *rest = NULL;
    for (size_t i = 0; !rest && i < sizeof api_prefixes / sizeof *api_prefixes; i++)
        if (strncmp(req->path, api_prefixes[i], strlen(api_prefixes[i])) == 0)
            rest = req->path + strlen(api_prefixes[i]);
    /* MLflow serves /get-artifact beside its API (routed as "/get-artifact") */
    if (!rest && strcmp(req->path, "/get-artifact") == 0)
        rest = req->path;
    bool path_known = false;
    const char *tail = NULL;
    const struct api_route *route =
        rest ? find_route(rest, req->method, &path_known, &tail) : NULL;
    if (route && !a->auth && api_route_needs_auth(route)) {
        route = NULL;
        path_known = false;
    }
    if (!route) {
        if (path_known)
            http_respond_page(resp, 405);
        else
            http_respond_page(resp, 404);
        return;
    }
    const char *ct = content_type_problem(req);
    if (ct) {
        api_respond_error(resp, KEEL_E_INVALID_PARAMETER, ct, client_is_mlflow3(a, req));
        return;
    }
    struct api_call c = {
        .app = app,
        .ctx = ctx,
        .tail = tail,
        .req = req,
        .resp = resp,
        .from_query = strcmp(req->method, "GET") == 0,
        .mlflow3 = client_is_mlflow3(a, req),
    };
    c.args = c.from_query ? args_from_query(ctx->arena, req) : args_from_body(ctx->arena, req);
    if (!c.args) {
        api_respond_error(resp, KEEL_E_NOMEM, "out of memory", c.mlflow3);
        return;
    }
    const struct api_guard *guard = guard_of(route);
    if (!api_gate(app, ctx, req, guard, tail, c.args, resp))
        return;
    /* what changes, the store records with the change (store/audit_sql.c) */
    if (strcmp(req->method, "GET") != 0 &&
        !(ctx->audit = api_audit_new(ctx, ctx->who ? ctx->who->username : NULL, req->method,
                                     req->path, guard, c.args, tail, "ok"))) {
        /* no change without its record */
        api_respond_error(resp, KEEL_E_NOMEM, "the change could not be recorded", c.mlflow3);
        return;
    }
    jw_init(&c.out, &resp->body);
    enum keel_err e = route->handler(&c);
    if (e == KEEL_OK && c.out.err != KEEL_OK)
        e = keel_fail(ctx, c.out.err, "response too large");
    if (e == KEEL_OK && c.raw_response)
        return;
    if (e != KEEL_OK && c.html_error_page) {
        if (e == KEEL_E_NO_ENDPOINT)
            http_respond_page(resp, 404);
        else
            http_respond_page(resp, 500);
        return;
    }
    if (e != KEEL_OK) {
        api_respond_error(resp, e, ctx->errmsg, c.mlflow3);
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
}
