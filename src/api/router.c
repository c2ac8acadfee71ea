/*
 * router.c -- from an HTTP request to an API handler and back.
 *
 * The route tables of the API families are data; this file walks them.
 * Requests outside any route get the same HTML pages MLflow's server gives
 * (404, 405), because clients already handle those; everything a handler
 * reports goes out as MLflow's JSON error {"error_code", "message"} with the
 * status from the one error table (util/err.c).
 */
#include <string.h>

#include "api/api.h"
#include "util/arena.h"
#include "util/json_alloc.h"
#include "version.h"

static const char html_404[] =
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.</p>\n";
static const char html_405[] =
    "<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n"
    "<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n";

static const struct api_route *const route_tables[] = {
    api_experiment_routes,
    api_run_routes,
    api_metric_routes,
    api_artifact_routes,
};

static const char html_500[] =
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable "
    "to complete your request. Either the server is overloaded or there is an error in the "
    "application.</p>\n";

static const char *const api_prefixes[] = {"/api/2.0/", "/ajax-api/2.0/"};

static void respond_text(struct http_response *resp, int status, const char *type,
                         const char *text)
{
    resp->status = status;
    resp->content_type = type;
    kbuf_reset(&resp->body);
    kbuf_adds(&resp->body, text);
}

static void respond_error(struct http_response *resp, enum keel_err e, const char *msg)
{
    struct jw w;
    kbuf_reset(&resp->body);
    jw_init(&w, &resp->body);
    jw_obj(&w);
    jw_kstr(&w, "error_code", keel_err_code(e));
    jw_kstr(&w, "message", msg ? msg : keel_err_code(e));
    jw_obj_end(&w);
    resp->status = keel_err_http_status(e);
    resp->content_type = "application/json";
}

/* Query string -> {"k": "v", "repeated": ["a", "b"]} */
static json_t *args_from_query(const struct http_request *req)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < req->n_query; i++) {
        const struct http_param *p = &req->query[i];
        json_t *old = json_object_get(o, p->key);
        json_t *v = json_string(p->value);
        if (!v)
            continue; /* not UTF-8: as if absent */
        if (!old) {
            json_object_set_new(o, p->key, v);
        } else if (json_is_array(old)) {
            json_array_append_new(old, v);
        } else {
            json_t *a = json_array();
            json_array_append(a, old);
            json_array_append_new(a, v);
            json_object_set_new(o, p->key, a);
        }
    }
    return o;
}

/* Body -> object. MLflow treats an unparsable body as {} and decodes a JSON
 * string holding JSON a second time. */
static json_t *args_from_body(const struct http_request *req)
{
    json_t *v = json_loadb(req->body, req->body_len, JSON_DECODE_ANY, NULL);
    if (json_is_string(v)) {
        json_t *inner = json_loadb(json_string_value(v), json_string_length(v), 0, NULL);
        json_decref(v);
        v = inner;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        v = json_object();
    }
    return v;
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

static const struct api_route *find_route(const char *path, const char *method,
                                          bool *path_known)
{
    *path_known = false;
    for (size_t t = 0; t < sizeof route_tables / sizeof *route_tables; t++) {
        for (const struct api_route *r = route_tables[t]; r->method; r++) {
            if (strcmp(r->path, path) != 0)
                continue;
            *path_known = true;
            if (strcmp(r->method, method) == 0)
                return r;
        }
    }
    return NULL;
}

void api_handle(void *app, struct keel_ctx *ctx, const struct http_request *req,
                struct http_response *resp)
{
    if (strcmp(req->path, "/health") == 0 || strcmp(req->path, "/ping") == 0) {
        respond_text(resp, 200, "text/plain; charset=utf-8", "OK");
        return;
    }
    if (strcmp(req->path, "/version") == 0) {
        respond_text(resp, 200, "text/plain; charset=utf-8", KEEL_VERSION);
        return;
    }
    const char *rest = NULL;
    for (size_t i = 0; !rest && i < sizeof api_prefixes / sizeof *api_prefixes; i++)
        if (strncmp(req->path, api_prefixes[i], strlen(api_prefixes[i])) == 0)
            rest = req->path + strlen(api_prefixes[i]);
    bool path_known = false;
    const struct api_route *route = rest ? find_route(rest, req->method, &path_known) : NULL;
    if (!route) {
        if (path_known)
            respond_text(resp, 405, "text/html; charset=utf-8", html_405);
        else
            respond_text(resp, 404, "text/html; charset=utf-8", html_404);
        return;
    }
    const char *ct = content_type_problem(req);
    if (ct) {
        respond_error(resp, KEEL_E_INVALID_PARAMETER, ct);
        return;
    }
    json_alloc_use_arena(ctx->arena); /* request JSON dies with the request */
    struct api_call c = {
        .app = app,
        .ctx = ctx,
        .from_query = strcmp(req->method, "GET") == 0,
    };
    c.args = c.from_query ? args_from_query(req) : args_from_body(req);
    if (!c.args) {
        json_alloc_use_arena(NULL);
        respond_error(resp, KEEL_E_NOMEM, "out of memory");
        return;
    }
    jw_init(&c.out, &resp->body);
    enum keel_err e = route->handler(&c);
    json_decref(c.args);
    json_alloc_use_arena(NULL);
    if (e == KEEL_OK && c.out.err != KEEL_OK)
        e = keel_fail(ctx, c.out.err, "response too large");
    if (e != KEEL_OK && c.html_error_page) {
        respond_text(resp, 500, "text/html; charset=utf-8", html_500);
        return;
    }
    if (e != KEEL_OK) {
        respond_error(resp, e, ctx->errmsg);
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
}
