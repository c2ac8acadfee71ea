/*
 * http.h -- keel's HTTP front: libmicrohttpd underneath, one handler above.
 *
 * The server reads a whole request (its body bounded by max_body), hands it
 * to the application's handler as a struct http_request, and sends back the
 * struct http_response the handler filled. A request the application claims
 * as a stream (an artifact upload) is not buffered: its body is handed over
 * chunk by chunk as it arrives. A response body is either bytes or an open
 * file sent as it is (downloads). Each connection is served on its own
 * thread, so a handler may block (e.g. on the store's group commit) without
 * holding up other clients. Nothing here knows about MLflow.
 */
#ifndef KEEL_HTTP_H
#define KEEL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
    void *conn;               /* the server's; for http_header() */
    /* without a connection (a request made in-process, by a test): the
     * headers http_header() answers from */
    const struct http_param *headers;
    size_t n_headers;
};

/* A request header's value, NULL when absent. */
const char *http_header(const struct http_request *req, const char *name);
/* Whether an Accept-Encoding value admits gzip: gzip or * with a q-value
 * above 0 (none means 1); "gzip;q=0" refuses it. */
bool http_accepts_gzip(const char *accept_encoding);

#define HTTP_MAX_HEADERS 8

struct http_response {
    int status;
    const char *content_type; /* static or arena string */
    struct kbuf body;         /* owned by the response; freed by the server */
    /* When fd >= 0 the body is fd's bytes [fd_offset, fd_offset + fd_len)
     * instead; the server closes fd once sent. */
    int fd;
    uint64_t fd_offset, fd_len;
    /* Or, when source_read is set, the body is source_len bytes it produces
     * (pos counts from 0; it returns how many it wrote into buf, or -1 on an
     * error, which cuts the answer short); the server calls source_free
     * once, whatever happens. For content that is not a file as it lies. */
    ssize_t (*source_read)(void *source, uint64_t pos, char *buf, size_t max);
    void (*source_free)(void *source);
    void *source;
    uint64_t source_len;
    /* Or, when static_data is set, the body is these static_len bytes, which
     * live as long as the process (the embedded UI's assets) and are sent
     * without a copy. */
    const void *static_data;
    size_t static_len;
    const char *header_names[HTTP_MAX_HEADERS];
    const char *header_values[HTTP_MAX_HEADERS];
    int n_headers;
};

/* Called once per request on the connection's thread. ctx->arena lives until
 * the response has been queued. */
typedef void (*http_handler_fn)(void *app, struct keel_ctx *ctx, const struct http_request *req,
                                struct http_response *resp);

/*
 * Streamed request bodies. open() sees the request before its body (req->body
 * is empty) and returns the application's stream state to take the body as
 * it arrives, or NULL to have it buffered as usual; it may instead fill
 * *early (status != 0) to answer at once, the body then being discarded.
 * write() takes each chunk (an error makes the stream fail; the rest of the
 * body is discarded); finish() runs once the body is complete and fills the
 * response; abort() runs instead when the connection ends first, and must
 * leave nothing partial behind. The stream's memory is the application's.
 */
struct http_stream_ops {
    void *(*open)(void *app, struct keel_ctx *ctx, const struct http_request *req,
                  struct http_response *early);
    enum keel_err (*write)(void *stream, const char *data, size_t n);
    void (*finish)(void *stream, struct keel_ctx *ctx, const struct http_request *req,
                   struct http_response *resp);
    void (*abort)(void *stream);
};

/* A response header the access log copies into each line, under `key`. */
struct http_log_header {
    const char *header; /* e.g. "X-Request-Id" */
    const char *key;    /* e.g. "request_id" */
};

struct http_server_config {
    const char *host;
    int port;
    size_t max_body;         /* bytes; larger bodies get 413 */
    size_t arena_ceiling;    /* bytes a single request may allocate */
    unsigned connection_limit;
    unsigned timeout_s;      /* idle connection timeout */
    /* 0: a thread per connection (handlers may block for long, e.g. on the
     * store); N: N threads each polling many connections (CPU-bound handlers
     * such as scoring, where thread count should follow the cores) */
    unsigned threads;
    bool access_log; /* one JSON line per answered request on stderr */
    /* the response headers the access log copies, ended by {NULL}; NULL: none */
    const struct http_log_header *log_headers;
};

struct http_server;

/* Starts listening; on success *out is owned by the caller, who stops it with
 * http_server_stop(). */
enum keel_err http_server_start(struct http_server **out, const struct http_server_config *cfg,
                                http_handler_fn handler, const struct http_stream_ops *streams,
                                void *app, struct keel_ctx *ctx);
/* Stops accepting, waits for in-flight requests, frees. NULL is safe. */
void http_server_stop(struct http_server *s);
/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);

void http_response_header(struct http_response *r, const char *name, const char *value);

/* Werkzeug's default 404, 405 and 500 pages (pages.c), which MLflow's servers
 * send and clients key on by status. */
extern const char http_page_404[], http_page_405[], http_page_500[];
/* Replaces resp's body with text, with the given status and content type. */
void http_respond_text(struct http_response *resp, int status, const char *content_type,
                       const char *text);
/* One of Werkzeug's pages: status 404, 405, or anything else as 500. */
void http_respond_page(struct http_response *resp, int status);

#endif
