/*
 * rest.h -- keel as a client of a tracking server's REST API (keel's own or
 * MLflow's).
 *
 * Model fetching (serve/fetch.c) and job recording (client/tracking.c) talk
 * to the same servers the same way MLflow's client does: credentials and TLS
 * settings from the MLflow environment variables, JSON answers under a
 * ceiling, and MLflow's error bodies turned into keel's error codes with the
 * server's own message. This module is that shared part; what is peculiar to
 * one caller (streaming a download to disk) stays with the caller, which
 * borrows the client's prepared handle for it.
 */
#ifndef KEEL_REST_H
#define KEEL_REST_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "util/jparse.h"

struct karena;

#define REST_API "/api/2.0/mlflow"                            /* MLflow's REST API */
#define REST_ARTIFACTS "/api/2.0/mlflow-artifacts/artifacts"  /* its artifact proxy */
#define REST_MAX_ANSWER (16u << 20) /* one JSON answer; larger is KEEL_E_TOO_LARGE */
#define REST_MAX_MESSAGE 2000       /* what is quoted of a server's error message */

struct rest_client;

/*
 * A client of the server at tracking_uri (http(s)://host[:port][/prefix]),
 * reading MLFLOW_TRACKING_TOKEN (a bearer token), MLFLOW_TRACKING_USERNAME
 * and _PASSWORD (basic auth), MLFLOW_TRACKING_INSECURE_TLS=true and
 * MLFLOW_TRACKING_SERVER_CERT_PATH as MLflow's client does. Parsed answers
 * (and error bodies, to read their message) and the client's copies of the
 * URI are allocated from `a`, which must outlive the client. On success *out is the caller's, closed
 * with rest_close(); one client serves one thread at a time (it keeps one
 * curl handle so connections are reused). Errors: KEEL_E_INVALID_PARAMETER
 * (not an http(s) URL), KEEL_E_INTERNAL (libcurl would not start),
 * KEEL_E_NOMEM.
 */
enum keel_err rest_open(const char *tracking_uri, struct karena *a, struct rest_client **out,
                        struct keel_ctx *ctx);
/* Frees the client. NULL is safe. */
void rest_close(struct rest_client *c);
/* Sends `authorization` (a whole Authorization header value, e.g. "Bearer
 * ...", copied) with every request instead of the environment's
 * credentials: keel server calling itself. */
enum keel_err rest_set_authorization(struct rest_client *c, const char *authorization,
                                     struct keel_ctx *ctx);

/* The tracking URI as given (for messages), and without its trailing '/'s
 * (what paths are appended to). Valid until rest_close(). */
const char *rest_tracking_uri(const struct rest_client *c);
const char *rest_base(const struct rest_client *c);

/*
 * One call of <base><path> (path starts with '/' and holds any query):
 * method is "GET", "POST", "PATCH" or "DELETE"; json, when not NULL, is sent
 * as the body with Content-Type: application/json. When answer is not NULL a
 * 2xx answer must be JSON and is parsed into *answer (client's arena); when
 * it is NULL the answer's body is not looked at.
 * Errors: the server's, mapped from MLflow's error_code --
 * RESOURCE_DOES_NOT_EXIST (or HTTP 404) KEEL_E_NOT_FOUND,
 * RESOURCE_ALREADY_EXISTS KEEL_E_ALREADY_EXISTS, INVALID_PARAMETER_VALUE
 * KEEL_E_INVALID_PARAMETER, with the server's message alone; anything else
 * KEEL_E_IO, its message naming the server and the HTTP status. KEEL_E_IO
 * naming the tracking URI when it cannot be reached; KEEL_E_TOO_LARGE past
 * REST_MAX_ANSWER; KEEL_E_IO for a 2xx answer that is not JSON.
 */
enum keel_err rest_call(struct rest_client *c, const char *method, const char *path,
                        const char *json, const struct jval **answer, struct keel_ctx *ctx);
/* rest_call() of a whole URL (an artifact proxy on another host). */
enum keel_err rest_call_url(struct rest_client *c, const char *method, const char *url,
                            const char *json, const struct jval **answer,
                            struct keel_ctx *ctx);

/*
 * For requests rest_call() does not fit (a download streamed to a file):
 * the client's handle, reset and set up for a GET of url (a POST's
 * Content-Type when json_body) with everything every request shares --
 * credentials, TLS, redirects within http(s), connect timeout, user agent,
 * error buffer -- and no overall timeout. The caller adds its write callback
 * and runs curl_easy_perform(); the handle stays the client's, valid until
 * the next rest_* call on it.
 */
CURL *rest_prepare(struct rest_client *c, const char *url, bool json_body);
/* The failure of a request made on the prepared handle, as rest_call()
 * reports it: rc != CURLE_OK (unreachable), and a non-2xx answer with
 * (the start of) its body. Both return the code they recorded in ctx. */
enum keel_err rest_transport_error(struct rest_client *c, CURLcode rc, struct keel_ctx *ctx);
enum keel_err rest_http_error(struct rest_client *c, long status, const char *body, size_t len,
                              const char *url, struct keel_ctx *ctx);

/* Percent-encodes s for a URL: RFC 3986's unreserved characters stay, and
 * '/' too when keep_slash (artifact paths). Arena string; NULL when out of
 * memory. */
char *rest_url_encode(struct karena *a, const char *s, bool keep_slash);

#endif
