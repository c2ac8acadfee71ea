/*
 * server.c -- libmicrohttpd glue: collect a bounded request, call the
 * application handler, send its response.
 *
 * States of one request (struct conn_state, libmicrohttpd's *con_cls):
 *   NEW      first callback: headers known; a Content-Length above max_body
 *            is refused at once with 413 and the body is never read
 *   READING  body chunks appended to a kbuf whose ceiling is max_body
 *   DONE     final callback: handler runs, response queued, state freed in
 *            request_completed()
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/arena.h"

#define HTTP_MAX_QUERY_PARAMS 256

struct http_server {
    struct MHD_Daemon *mhd;
    struct http_server_config cfg;
    http_handler_fn handler;
    void *app;
    int port;
};

struct conn_state {
    struct kbuf body;
    bool too_large;
};

void http_response_header(struct http_response *r, const char *name, const char *value)
{
    if (r->n_headers < HTTP_MAX_HEADERS) {
        r->header_names[r->n_headers] = name;
        r->header_values[r->n_headers] = value;
        r->n_headers++;
    }
}

struct query_collect {
    struct karena *arena;
    struct http_param *params;
    size_t n;
};

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct query_collect *q = cls;
    if (q->n >= HTTP_MAX_QUERY_PARAMS)
        return MHD_NO;
    q->params[q->n].key = karena_strdup(q->arena, key ? key : "");
    q->params[q->n].value = karena_strdup(q->arena, value ? value : "");
    q->n++;
    return MHD_YES;
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct http_response *resp)
{
    size_t len = 0;
    char *data = kbuf_take(&resp->body, &len);
    if (!data)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    if (resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (int i = 0; i < resp->n_headers; i++)
        MHD_add_response_header(r, resp->header_names[i], resp->header_values[i]);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result simple(struct MHD_Connection *conn, int status, const char *type,
                              const char *text)
{
    struct http_response resp = {.status = status, .content_type = type};
    kbuf_init(&resp.body, strlen(text) + 1);
    kbuf_adds(&resp.body, text);
    return queue(conn, &resp);
}

static enum MHD_Result dispatch(struct http_server *s, struct MHD_Connection *conn,
                                const char *url, const char *method, struct conn_state *st)
{
    struct karena *arena = karena_new(s->cfg.arena_ceiling);
    if (!arena)
        return MHD_NO;
    struct keel_ctx ctx = {.arena = arena};
    struct query_collect q = {
        .arena = arena,
        .params = karena_calloc(arena, HTTP_MAX_QUERY_PARAMS, sizeof(struct http_param)),
    };
    if (q.params)
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    struct http_request req = {
        .method = method,
        .path = url,
        .query = q.params,
        .n_query = q.n,
        .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE),
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
    };
    struct http_response resp = {.status = 200};
    kbuf_init(&resp.body, s->cfg.arena_ceiling);
    s->handler(s->app, &ctx, &req, &resp);
    enum MHD_Result ret = queue(conn, &resp);
    kbuf_free(&resp.body);
    karena_free(arena);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct conn_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        kbuf_init(&st->body, s->cfg.max_body);
        *con_cls = st;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body)
            st->too_large = true;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!st->too_large && kbuf_add(&st->body, upload_data, *upload_data_size) != KEEL_OK)
            st->too_large = true;
        *upload_data_size = 0; /* consumed (or dropped once too large) */
        return MHD_YES;
    }
    if (st->too_large) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "{\"error_code\": \"INVALID_PARAMETER_VALUE\", \"message\": \"Request body "
                 "exceeds the limit of %zu bytes.\"}",
                 s->cfg.max_body);
        return simple(conn, 413, "application/json", msg);
    }
    return dispatch(s, conn, url, method, st);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct conn_state *st = *con_cls;
    if (st) {
        kbuf_free(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

static enum keel_err resolve(const char *host, int port, struct sockaddr_storage *ss,
                             struct keel_ctx *ctx)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || !res)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "cannot resolve host '%s': %s", host,
                         gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return KEEL_OK;
}

enum keel_err http_server_start(struct http_server **out, const struct http_server_config *cfg,
                                http_handler_fn handler, void *app, struct keel_ctx *ctx)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    enum keel_err e = resolve(cfg->host, cfg->port, &ss, ctx);
    if (e)
        return e;
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    s->cfg = *cfg;
    s->handler = handler;
    s->app = app;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        cfg->timeout_s, MHD_OPTION_NOTIFY_COMPLETED, request_completed, s,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    if (!s->mhd) {
        free(s);
        return keel_fail(ctx, KEEL_E_IO, "cannot listen on %s:%d (address in use?)", cfg->host,
                         cfg->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    *out = s;
    return KEEL_OK;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->mhd);
    free(s);
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}
