/*
 * http.h -- keel's HTTP front: libmicrohttpd underneath, one handler above.
 *
 * The server reads a whole request (its body bounded by max_body), hands it
 * to the application's handler as a struct http_request, and sends back the
 * struct http_response the handler filled. Each connection is served on its
 * own thread, so a handler may block (e.g. on the store's group commit)
 * without holding up other clients. Nothing here knows about MLflow.
 */
#ifndef KEEL_HTTP_H
#define KEEL_HTTP_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct http_param {
    const char *key;
    const char *value;
};

struct http_request {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* percent-decoded path, no query string */
    const struct http_param *query; /* in request order, repeats kept */
    size_t n_query;
    const char *content_type; /* NULL when absent */
    const char *body;         /* NUL-terminated; "" when there is none */
    size_t body_len;
};

#define HTTP_MAX_HEADERS 4

struct http_response {
    int status;
    const char *content_type; /* static or arena string */
    struct kbuf body;         /* owned by the response; freed by the server */
    const char *header_names[HTTP_MAX_HEADERS];
    const char *header_values[HTTP_MAX_HEADERS];
    int n_headers;
};

/* Called once per request on the connection's thread. ctx->arena lives until
 * the response has been queued. */
typedef void (*http_handler_fn)(void *app, struct keel_ctx *ctx, const struct http_request *req,
                                struct http_response *resp);

struct http_server_config {
    const char *host;
    int port;
    size_t max_body;         /* bytes; larger bodies get 413 */
    size_t arena_ceiling;    /* bytes a single request may allocate */
    unsigned connection_limit;
    unsigned timeout_s;      /* idle connection timeout */
};

struct http_server;

/* Starts listening; on success *out is owned by the caller, who stops it with
 * http_server_stop(). */
enum keel_err http_server_start(struct http_server **out, const struct http_server_config *cfg,
                                http_handler_fn handler, void *app, struct keel_ctx *ctx);
/* Stops accepting, waits for in-flight requests, frees. NULL is safe. */
void http_server_stop(struct http_server *s);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);

void http_response_header(struct http_response *r, const char *name, const char *value);

#endif
