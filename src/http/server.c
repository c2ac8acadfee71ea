/*
 * server.c -- libmicrohttpd glue: collect a bounded request (or stream its
 * body to the application), call the application, send its response.
 *
 * States of one request (struct conn_state, libmicrohttpd's *con_cls):
 *   NEW      first callback: headers known. The request's arena and view are
 *            made; the application may claim the body as a stream. A
 *            Content-Length above max_body on a buffered request is refused
 *            with 413 and the body is never kept.
 *   READING  body chunks appended to a kbuf whose ceiling is max_body, or
 *            handed to the stream
 *   DONE     final callback: handler (or stream finish) runs, response
 *            queued; request_completed() frees the state, aborting a stream
 *            that never finished (a cut connection).
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/time.h"

#define HTTP_MAX_QUERY_PARAMS 256
/* A connection's memory pool (headers, read and write buffers). libmicrohttpd
 * zeroes it for every request, so it is kept small: 256 KiB made zeroing a
 * third of a scoring request's CPU time; 64 KiB keeps upload chunks large
 * (uploads ran as fast within the noise) and single-row scoring went 8-29 %
 * faster. */
#define HTTP_CONNECTION_MEMORY (64u << 10)
#define HTTP_STOP_GRACE_MS 30000

struct http_server {
    struct MHD_Daemon *mhd;
    /* requests between their first callback and their completion: a stop
     * waits for them to be answered (graceful shutdown) */
    int active;
    struct http_server_config cfg;
    http_handler_fn handler;
    const struct http_stream_ops *streams;
    void *app;
    int port;
};

struct conn_state {
    struct karena *arena;
    struct keel_ctx ctx;
    struct http_request req;
    struct kbuf body;
    bool too_large;
    void *stream;        /* the application's, while a stream is open */
    bool stream_failed;  /* a write failed: the rest is discarded */
    struct http_response early; /* status != 0: answer without the body */
    int64_t started_us;          /* keel_now_us() at the first callback, for the access log */
};

void http_response_header(struct http_response *r, const char *name, const char *value)
{
    if (r->n_headers < HTTP_MAX_HEADERS) {
        r->header_names[r->n_headers] = name;
        r->header_values[r->n_headers] = value;
        r->n_headers++;
    }
}

const char *http_header(const struct http_request *req, const char *name)
{
    if (req->conn)
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].key, name) == 0)
            return req->headers[i].value;
    return NULL;
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

/* A response source as libmicrohttpd calls it: our -1 becomes its "end
 * with error", which closes the connection rather than send a short body
 * as if it were whole. */
struct source {
    ssize_t (*read)(void *source, uint64_t pos, char *buf, size_t max);
    void (*free)(void *source);
    void *arg;
};

static ssize_t source_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct source *s = cls;
    ssize_t n = s->read(s->arg, pos, buf, max);
    return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void source_free(void *cls)
{
    struct source *s = cls;
    s->free(s->arg);
    free(s);
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct http_response *resp)
{
    struct MHD_Response *r;
    if (resp->source_read) {
        struct source *s = malloc(sizeof *s);
        if (!s)
            return MHD_NO; /* response_free releases the source */
        *s = (struct source){resp->source_read, resp->source_free, resp->source};
        r = MHD_create_response_from_callback(resp->source_len, 64 * 1024, source_read, s,
                                              source_free);
        if (!r) {
            free(s);
            return MHD_NO;
        }
        resp->source_read = NULL; /* libmicrohttpd frees it now */
    } else if (resp->fd >= 0) {
        r = MHD_create_response_from_fd_at_offset64(resp->fd_len, resp->fd,
                                                    (int64_t)resp->fd_offset);
        if (!r) {
            close(resp->fd);
            return MHD_NO;
        }
        resp->fd = -1; /* libmicrohttpd closes it */
    } else if (resp->static_data) {
        r = MHD_create_response_from_buffer(resp->static_len, (void *)resp->static_data,
                                            MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
    } else {
        size_t len = 0;
        char *data = kbuf_take(&resp->body, &len);
        if (!data)
            return MHD_NO;
        r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(data);
            return MHD_NO;
        }
    }
    if (resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (int i = 0; i < resp->n_headers; i++)
        MHD_add_response_header(r, resp->header_names[i], resp->header_values[i]);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void response_init(struct http_response *r, size_t max)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    r->fd = -1;
    kbuf_init(&r->body, max);
}

static void response_free(struct http_response *r)
{
    kbuf_free(&r->body);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    if (r->source_read && r->source_free)
        r->source_free(r->source);
    r->source_read = NULL;
}

/* The q-value of one Accept-Encoding element from just after its coding
 * (";q=0.5", none: 1); -1 when it is not a q-value. */
static double element_q(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != ';')
        return *p == '\0' || *p == ',' ? 1.0 : -1.0;
    p++;
    while (*p == ' ' || *p == '\t')
        p++;
    if ((*p != 'q' && *p != 'Q') || p[1] != '=')
        return -1.0;
    char *end;
    double q = strtod(p + 2, &end);
    return end == p + 2 || q < 0 || q > 1 ? -1.0 : q;
}

bool http_accepts_gzip(const char *ae)
{
    /* elements "coding[;q=v]"; gzip (any case) or * with q > 0 admits it, an
     * explicit gzip;q=0 refuses it whatever * says */
    double gzip_q = -1, star_q = -1;
    for (const char *p = ae; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t len = strcspn(p, " \t;,");
        if (len == 4 && strncasecmp(p, "gzip", 4) == 0)
            gzip_q = element_q(p + len);
        else if (len == 1 && *p == '*')
            star_q = element_q(p + len);
        p += len;
        p += strcspn(p, ","); /* to the next element */
    }
    return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct http_response *resp)
{
    enum MHD_Result ret = queue(conn, resp);
    response_free(resp);
    return ret;
}

static const char *header_of(const struct http_response *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->header_names[i], name) == 0)
            return r->header_values[i];
    return NULL;
}

/* A large text answer (JSON, plain text) goes gzip'd to a client that
 * accepts it: metric histories and searches shrink several times over, at
 * about a millisecond a megabyte (libdeflate, level 1). Files, streams and
 * the UI's own (already compressed) assets are sent as they are. */
#define GZIP_MIN_BYTES 8192

static void maybe_gzip(const struct http_request *req, struct http_response *r)
{
    const char *ct = r->content_type;
    /* two headers to add: without room for both the body must stay plain */
    if (r->n_headers > HTTP_MAX_HEADERS - 2 || r->status != 200 ||
        r->body.len < GZIP_MIN_BYTES || r->fd >= 0 || r->source_read ||
        r->static_data || !ct || header_of(r, "Content-Encoding") ||
        (strncmp(ct, "application/json", 16) != 0 && strncmp(ct, "text/", 5) != 0) ||
        !http_accepts_gzip(http_header(req, "Accept-Encoding")))
        return;
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(1);
    size_t bound = z ? libdeflate_gzip_compress_bound(z, r->body.len) : 0;
    char *out = bound ? malloc(bound) : NULL;
    size_t n = out ? libdeflate_gzip_compress(z, r->body.data, r->body.len, out, bound) : 0;
    libdeflate_free_compressor(z);
    if (n && n < r->body.len) { /* else sent as it is */
        kbuf_reset(&r->body);
        if (kbuf_add(&r->body, out, n) == KEEL_OK) {
            http_response_header(r, "Content-Encoding", "gzip");
            http_response_header(r, "Vary", "Accept-Encoding");
        }
    }
    free(out);
}

/* The access log's line ceiling, and where each string of a line that
 * would pass it is cut: a method, a path and at most HTTP_MAX_HEADERS
 * logged headers, each cut and then escaped (6 bytes a byte at worst) with
 * a short key, fit beside the fixed fields. */
#define ACCESS_LOG_LINE_MAX 16384
#define ACCESS_LOG_CUT 200
#define ACCESS_LOG_CUT_MARK "...[cut]"
_Static_assert(ACCESS_LOG_LINE_MAX >=
                   1024 + (2 + HTTP_MAX_HEADERS) * (6 * (ACCESS_LOG_CUT + 8) + 64),
               "a cut access log line must fit its ceiling");

/* key: v, v cut to ACCESS_LOG_CUT bytes (at a character's start) and marked
 * when cut is set and v is longer; *was_cut then says so. */
static void log_str(struct jw *w, const char *key, const char *v, bool cut, bool *was_cut)
{
    size_t n = strlen(v);
    jw_key(w, key);
    if (!cut || n <= ACCESS_LOG_CUT) {
        jw_strn(w, v, n);
        return;
    }
    char tmp[ACCESS_LOG_CUT + sizeof ACCESS_LOG_CUT_MARK];
    size_t k = ACCESS_LOG_CUT;
    while (k && ((unsigned char)v[k] & 0xC0) == 0x80)
        k--;
    memcpy(tmp, v, k);
    memcpy(tmp + k, ACCESS_LOG_CUT_MARK, sizeof ACCESS_LOG_CUT_MARK - 1);
    jw_strn(w, tmp, k + sizeof ACCESS_LOG_CUT_MARK - 1);
    *was_cut = true;
}

/* The access log line of one answer into line; with cut, long strings are
 * cut and the line says "truncated": true. */
static enum keel_err log_line(const struct http_server *s, const struct conn_state *st,
                              const struct http_response *resp, bool cut, struct kbuf *line)
{
    double ms = (double)(keel_now_us() - st->started_us) / 1e3;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    struct tm tm;
    time_t secs = wall.tv_sec;
    gmtime_r(&secs, &tm);
    char ts[40];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char stamp[64];
    snprintf(stamp, sizeof stamp, "%s.%03ldZ", ts, wall.tv_nsec / 1000000);
    bool was_cut = false;
    kbuf_reset(line);
    struct jw w;
    jw_init(&w, line);
    jw_obj(&w);
    jw_kstr(&w, "time", stamp);
    jw_kstr(&w, "level", resp->status >= 500 ? "error" : resp->status >= 400 ? "warn" : "info");
    jw_kstr(&w, "event", "request");
    log_str(&w, "method", st->req.method ? st->req.method : "", cut, &was_cut);
    log_str(&w, "path", st->req.path ? st->req.path : "", cut, &was_cut);
    jw_kint(&w, "status", resp->status);
    jw_key(&w, "duration_ms");
    jw_double_fast(&w, ms);
    jw_kint(&w, "bytes", (int64_t)(resp->source_read ? resp->source_len
                                   : resp->static_data ? resp->static_len
                                   : resp->fd >= 0   ? resp->fd_len
                                                     : resp->body.len));
    for (const struct http_log_header *h = s->cfg.log_headers; h && h->header; h++) {
        const char *v = header_of(resp, h->header);
        if (v)
            log_str(&w, h->key, v, cut, &was_cut);
    }
    if (was_cut) {
        jw_key(&w, "truncated");
        jw_bool(&w, true);
    }
    jw_obj_end(&w);
    kbuf_addc(line, '\n');
    return w.err != KEEL_OK ? w.err : kbuf_failed(line);
}

/* One JSON line on stderr per answered request (--access-log), early
 * answers (413, a stream's refusal) included. The line is written with one
 * call, so lines of concurrent requests do not interleave; a line past
 * ACCESS_LOG_LINE_MAX is written again with its long strings cut. */
static void access_log(const struct http_server *s, const struct conn_state *st,
                       const struct http_response *resp)
{
    if (!s->cfg.access_log)
        return;
    struct kbuf line;
    kbuf_init(&line, ACCESS_LOG_LINE_MAX);
    if (log_line(s, st, resp, false, &line) == KEEL_OK ||
        log_line(s, st, resp, true, &line) == KEEL_OK)
        fwrite(line.data, 1, line.len, stderr);
    kbuf_free(&line);
}

static enum MHD_Result too_large(struct http_server *s, const struct conn_state *st,
                                 struct MHD_Connection *conn)
{
    struct http_response resp;
    response_init(&resp, 512);
    resp.status = 413;
    resp.content_type = "application/json";
    kbuf_printf(&resp.body,
                "{\"error_code\": \"INVALID_PARAMETER_VALUE\", \"message\": \"Request body "
                "exceeds the limit of %zu bytes.\"}",
                s->cfg.max_body);
    access_log(s, st, &resp);
    return send_response(conn, &resp);
}

/* The request's view (all but the body), in its arena. */
static struct conn_state *state_new(struct http_server *s, struct MHD_Connection *conn,
                                    const char *url, const char *method)
{
    struct conn_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->arena = karena_new(s->cfg.arena_ceiling);
    if (!st->arena) {
        free(st);
        return NULL;
    }
    st->ctx.arena = st->arena;
    st->started_us = keel_now_us();
    kbuf_init(&st->body, s->cfg.max_body);
    struct query_collect q = {
        .arena = st->arena,
        .params = karena_calloc(st->arena, HTTP_MAX_QUERY_PARAMS, sizeof(struct http_param)),
    };
    if (q.params)
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
    st->req = (struct http_request){
        .method = karena_strdup(st->arena, method),
        .path = karena_strdup(st->arena, url),
        .query = q.params,
        .n_query = q.n,
        .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_TYPE),
        .body = "",
        .conn = conn,
    };
    return st;
}

static void state_free(struct http_server *s, struct conn_state *st)
{
    if (st->stream && s->streams)
        s->streams->abort(st->stream);
    response_free(&st->early);
    kbuf_free(&st->body);
    karena_free(st->arena);
    free(st);
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
        if (!(st = state_new(s, conn, url, method)))
            return MHD_NO;
        *con_cls = st;
        __atomic_add_fetch(&s->active, 1, __ATOMIC_ACQ_REL);
        response_init(&st->early, 4096);
        st->early.status = 0;
        if (s->streams)
            st->stream = s->streams->open(s->app, &st->ctx, &st->req, &st->early);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (!st->stream && !st->early.status && cl && strtoull(cl, NULL, 10) > s->cfg.max_body)
            st->too_large = true;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (st->stream) {
            if (!st->stream_failed &&
                s->streams->write(st->stream, upload_data, *upload_data_size) != KEEL_OK)
                st->stream_failed = true;
        } else if (!st->early.status && !st->too_large &&
                   kbuf_add(&st->body, upload_data, *upload_data_size) != KEEL_OK) {
            st->too_large = true;
        }
        *upload_data_size = 0; /* consumed (or dropped) */
        return MHD_YES;
    }
    if (st->early.status) {
        access_log(s, st, &st->early);
        return send_response(conn, &st->early);
    }
    if (st->too_large)
        return too_large(s, st, conn);
    struct http_response resp;
    response_init(&resp, s->cfg.arena_ceiling);
    if (st->stream) {
        void *stream = st->stream;
        st->stream = NULL; /* finish() owns it now, failed or not */
        if (st->stream_failed)
            st->ctx.err = KEEL_E_IO;
        s->streams->finish(stream, &st->ctx, &st->req, &resp);
    } else {
        st->req.body = st->body.data ? st->body.data : "";
        st->req.body_len = st->body.len;
        s->handler(s->app, &st->ctx, &st->req, &resp);
    }
    maybe_gzip(&st->req, &resp);
    access_log(s, st, &resp);
    return send_response(conn, &resp);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)conn, (void)toe;
    struct conn_state *st = *con_cls;
    if (st) {
        state_free(cls, st);
        *con_cls = NULL;
        struct http_server *s = cls;
        __atomic_sub_fetch(&s->active, 1, __ATOMIC_ACQ_REL);
    }
}

/* Percent-decoding of the URL and query values, in place, except "%00":
 * a decoded NUL would silently cut a C string short, so it stays as text
 * for the application's checks to see and refuse. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls, (void)conn;
    char *w = s;
    for (const char *r = s; *r;) {
        int h, l;
        if (r[0] == '%' && (h = keel_hex_digit(r[1])) >= 0 && (l = keel_hex_digit(r[2])) >= 0 &&
            (h | l)) {
            *w++ = (char)(h * 16 + l);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
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
                                http_handler_fn handler, const struct http_stream_ops *streams,
                                void *app, struct keel_ctx *ctx)
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
    s->streams = streams;
    s->app = app;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    flags |= cfg->threads ? MHD_USE_AUTO : MHD_USE_THREAD_PER_CONNECTION;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        cfg->timeout_s, MHD_OPTION_NOTIFY_COMPLETED, request_completed, s,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
        /* a pool only for N > 1 polling threads; otherwise the list ends here */
        cfg->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, cfg->threads,
        MHD_OPTION_END);
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
    /* stop accepting, then let the requests in flight be answered (bounded
     * by HTTP_STOP_GRACE_MS) before the connections are closed */
    MHD_socket listen = MHD_quiesce_daemon(s->mhd);
    for (int waited = 0; waited < HTTP_STOP_GRACE_MS &&
                         __atomic_load_n(&s->active, __ATOMIC_ACQUIRE) > 0;
         waited += 10) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->mhd);
    if (listen != MHD_INVALID_SOCKET)
        close(listen);
    free(s);
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}
