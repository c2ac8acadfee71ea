/*
 * rest.c -- one libcurl handle per client, set up as MLflow's client sets up
 * its requests (environment credentials, TLS settings), and MLflow's error
 * bodies mapped to keel's error codes in one place.
 *
 * The handle is reset before each request, so no option of one request
 * (a POST body, a download's write callback) leaks into the next, while its
 * connection cache survives the reset.
 */
#include "client/rest.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/arena.h"
#include "util/buf.h"
#include "version.h"

#define REST_CONNECT_TIMEOUT_S 10L
#define REST_CALL_TIMEOUT_S 120L /* a whole REST call; downloads set their own */

struct rest_client {
    struct karena *a;                /* the caller's: answers and strings */
    const char *tracking_uri;        /* as given, for messages */
    const char *base;                /* without trailing '/' */
    CURL *curl;                      /* one handle, so connections are reused */
    struct curl_slist *headers;      /* every request */
    struct curl_slist *json_headers; /* requests with a JSON body */
    bool explicit_auth;              /* rest_set_authorization(): no environment creds */
    /* with explicit_auth: the one origin (scheme://host[:port]) it is sent to,
     * and the headers for any other (an artifact URI may name any host) */
    const char *auth_origin;
    struct curl_slist *foreign_json_headers;
    char curl_err[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/* curl_global_init is not thread-safe on every libcurl build: run it once. */
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static enum keel_err nomem(struct keel_ctx *ctx)
{
    return keel_fail(ctx, KEEL_E_NOMEM, "out of memory talking to the tracking server");
}

static bool is_http_url(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

enum keel_err rest_open(const char *tracking_uri, struct karena *a, struct rest_client **out,
                        struct keel_ctx *ctx)
{
    *out = NULL;
    if (!tracking_uri || !is_http_url(tracking_uri))
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Tracking URI '%s' is not an http:// or https:// URL: keel reaches "
                         "tracking servers through their REST API",
                         tracking_uri ? tracking_uri : "");
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return keel_fail(ctx, KEEL_E_INTERNAL, "libcurl could not be initialised: %s",
                         curl_easy_strerror(curl_init_rc));
    struct rest_client *c = calloc(1, sizeof *c);
    if (!c)
        return nomem(ctx);
    size_t n = strlen(tracking_uri);
    while (n > 0 && tracking_uri[n - 1] == '/')
        n--;
    c->a = a;
    c->tracking_uri = karena_strdup(a, tracking_uri);
    c->base = karena_strndup(a, tracking_uri, n);
    c->curl = curl_easy_init();
    struct curl_slist *j = NULL;
    bool ok = c->tracking_uri && c->base && c->curl;
    const char *token = getenv("MLFLOW_TRACKING_TOKEN");
    if (ok && token && *token) {
        const char *h = karena_sprintf(a, "Authorization: Bearer %s", token);
        ok = h && (c->headers = curl_slist_append(NULL, h)) &&
             (c->json_headers = curl_slist_append(NULL, h));
    }
    ok = ok && (j = curl_slist_append(c->json_headers, "Content-Type: application/json"));
    if (!ok) {
        rest_close(c);
        return nomem(ctx);
    }
    c->json_headers = j;
    *out = c;
    return KEEL_OK;
}

enum keel_err rest_set_authorization(struct rest_client *c, const char *authorization,
                                     struct keel_ctx *ctx)
{
    const char *h = karena_sprintf(c->a, "Authorization: %s", authorization);
    struct curl_slist *plain = h ? curl_slist_append(NULL, h) : NULL;
    struct curl_slist *json = plain ? curl_slist_append(NULL, h) : NULL;
    struct curl_slist *json2 = json ? curl_slist_append(json, "Content-Type: application/json")
                                    : NULL;
    if (!json2) {
        curl_slist_free_all(plain);
        curl_slist_free_all(json);
        return nomem(ctx);
    }
    /* the origin of the base: scheme, "://", host and port, no path */
    const char *host = strstr(c->base, "://");
    size_t origin_len = host ? (size_t)(host + 3 - c->base) + strcspn(host + 3, "/")
                             : strlen(c->base);
    const char *origin = karena_strndup(c->a, c->base, origin_len);
    struct curl_slist *foreign = origin ? curl_slist_append(NULL, "Content-Type: application/json")
                                        : NULL;
    if (!foreign) {
        curl_slist_free_all(json2);
        curl_slist_free_all(plain);
        return nomem(ctx);
    }
    curl_slist_free_all(c->headers);
    curl_slist_free_all(c->json_headers);
    curl_slist_free_all(c->foreign_json_headers);
    c->headers = plain;
    c->json_headers = json2;
    c->foreign_json_headers = foreign;
    c->auth_origin = origin;
    c->explicit_auth = true;
    return KEEL_OK;
}

void rest_close(struct rest_client *c)
{
    if (!c)
        return;
    curl_slist_free_all(c->headers);
    curl_slist_free_all(c->json_headers);
    curl_slist_free_all(c->foreign_json_headers);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c);
}

const char *rest_tracking_uri(const struct rest_client *c) { return c->tracking_uri; }
const char *rest_base(const struct rest_client *c) { return c->base; }

CURL *rest_prepare(struct rest_client *c, const char *url, bool json_body)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    c->curl_err[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "keel/" KEEL_VERSION);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM: threads */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, REST_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    /* a redirect must not turn a request into file:// or another protocol */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    /* an explicit credential (keel server's own) goes to its origin only,
     * never to a host an artifact URI or a redirect names */
    size_t on = c->auth_origin ? strlen(c->auth_origin) : 0;
    bool foreign = c->explicit_auth &&
                   (strncmp(url, c->auth_origin, on) != 0 ||
                    (url[on] != '\0' && url[on] != '/' && url[on] != '?'));
    if (foreign)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, json_body ? c->foreign_json_headers : NULL);
    else
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, json_body ? c->json_headers : c->headers);
    const char *user = getenv("MLFLOW_TRACKING_USERNAME");
    const char *pass = getenv("MLFLOW_TRACKING_PASSWORD");
    if (user && *user && pass && !c->explicit_auth) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, pass);
    }
    const char *insecure = getenv("MLFLOW_TRACKING_INSECURE_TLS");
    if (insecure && strcasecmp(insecure, "true") == 0) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    const char *ca = getenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
    if (ca && *ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    return h;
}

enum keel_err rest_transport_error(struct rest_client *c, CURLcode rc, struct keel_ctx *ctx)
{
    return keel_fail(ctx, KEEL_E_IO, "Cannot reach the tracking server at %s: %s",
                     c->tracking_uri, c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc));
}

/* MLflow's error_code strings that have a keel code of their own; the rest
 * (INTERNAL_ERROR, PERMISSION_DENIED, ...) are the server's trouble, KEEL_E_IO. */
static const struct {
    const char *code;
    enum keel_err err;
} mapped_codes[] = {
    {"RESOURCE_DOES_NOT_EXIST", KEEL_E_NOT_FOUND},
    {"RESOURCE_ALREADY_EXISTS", KEEL_E_ALREADY_EXISTS},
    {"INVALID_PARAMETER_VALUE", KEEL_E_INVALID_PARAMETER},
};

enum keel_err rest_http_error(struct rest_client *c, long status, const char *body, size_t len,
                              const char *url, struct keel_ctx *ctx)
{
    const struct jval *v = body && len ? jp_parse(c->a, body, len, NULL) : NULL;
    const char *code = jv_str(jv_get(v, "error_code"));
    const char *msg = jv_str(jv_get(v, "message"));
    enum keel_err e = status == 404 ? KEEL_E_NOT_FOUND : KEEL_E_IO;
    for (size_t i = 0; code && i < sizeof mapped_codes / sizeof *mapped_codes; i++)
        if (strcmp(code, mapped_codes[i].code) == 0)
            e = mapped_codes[i].err;
    /* a mapped code's message stands alone, as the server's own answer would */
    if (msg && e != KEEL_E_IO)
        return keel_fail(ctx, e, "%.*s", REST_MAX_MESSAGE, msg);
    if (msg)
        return keel_fail(ctx, e, "The tracking server at %s answered HTTP %ld: %.*s",
                         c->tracking_uri, status, REST_MAX_MESSAGE, msg);
    return keel_fail(ctx, e, "The tracking server at %s answered HTTP %ld to %s",
                     c->tracking_uri, status, url);
}

struct body_sink {
    struct kbuf b;
    bool overflow;
};

static size_t body_write(char *p, size_t size, size_t n, void *arg)
{
    struct body_sink *s = arg;
    if (kbuf_add(&s->b, p, size * n) != KEEL_OK) {
        s->overflow = true;
        return 0; /* aborts the transfer */
    }
    return size * n;
}

enum keel_err rest_call_url(struct rest_client *c, const char *method, const char *url,
                            const char *json, const struct jval **answer, struct keel_ctx *ctx)
{
    struct body_sink s = {.overflow = false};
    kbuf_init(&s.b, REST_MAX_ANSWER);
    CURL *h = rest_prepare(c, url, json != NULL);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, REST_CALL_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    if (json) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
    }
    if (strcmp(method, "GET") != 0 && (strcmp(method, "POST") != 0 || !json))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    enum keel_err e = KEEL_OK;
    const char *why = NULL;
    if (s.overflow)
        e = keel_fail(ctx, KEEL_E_TOO_LARGE,
                      "The tracking server's answer to %s is larger than %u bytes", url,
                      REST_MAX_ANSWER);
    else if (rc != CURLE_OK)
        e = rest_transport_error(c, rc, ctx);
    else if (status < 200 || status > 299)
        e = rest_http_error(c, status, s.b.data, s.b.len, url, ctx);
    else if (answer && (!s.b.data || !(*answer = jp_parse(c->a, s.b.data, s.b.len, &why))))
        e = keel_fail(ctx, KEEL_E_IO, "The tracking server's answer to %s is not JSON (%s)",
                      url, why ? why : "empty");
    kbuf_free(&s.b);
    return e;
}

enum keel_err rest_call(struct rest_client *c, const char *method, const char *path,
                        const char *json, const struct jval **answer, struct keel_ctx *ctx)
{
    size_t nb = strlen(c->base), np = strlen(path);
    char *url = malloc(nb + np + 1); /* not from the arena: a job makes many calls */
    if (!url)
        return nomem(ctx);
    memcpy(url, c->base, nb);
    memcpy(url + nb, path, np + 1);
    enum keel_err e = rest_call_url(c, method, url, json, answer, ctx);
    free(url);
    return e;
}

char *rest_url_encode(struct karena *a, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = n < SIZE_MAX / 3 ? karena_alloc(a, 3 * n + 1) : NULL;
    if (!out)
        return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~' || (keep_slash && *p == '/')) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return out;
}
