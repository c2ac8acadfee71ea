/*
 * fetch.c -- model URIs resolved through a tracking server's REST API and
 * downloaded through its artifact proxy into a content-addressed cache.
 *
 * Resolution follows MLflow's client (store/artifact/utils/models.py and
 * runs_artifact_repo.py): each URI form becomes a REST call or two that end
 * in an artifact URI. An artifact URI that is itself runs:/ or models:/ (a
 * version registered from runs:/...) is resolved again, at most
 * FETCH_MAX_HOPS times. A local artifact URI (a server on this machine
 * running with --no-serve-artifacts) is used in place; mlflow-artifacts:/
 * trees are listed and downloaded; other schemes are refused by name.
 *
 * The cache (design note):
 *   <cache_dir>/.fetch-XXXXXX   one fetch's download in progress
 *   <cache_dir>/<digest>        a complete model, never written again
 * Invariants: a <digest> directory appears only by rename(2) of a complete,
 * fsynced temporary directory whose files hash to <digest>; every failure
 * removes the temporary directory, so nothing partial is ever used. Two
 * fetches of one model race harmlessly: the later rename finds the digest
 * taken, and that fetch deletes its copy and uses the one in place. (A
 * process killed mid-download leaves its .fetch-* directory behind; no one
 * reads it.)
 *
 * Tree digest: SHA-256 over the model's files in byte order of their
 * relative paths, each contributing its path, a NUL and the 32-byte SHA-256
 * of its content. Empty directories do not count.
 */
#include "serve/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/rest.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/hex.h"
#include "util/jparse.h"
#include "util/json.h"
#include "util/uri.h"

#define FETCH_MAX_REQUEST (64u << 10)      /* one JSON request body keel sends */
#define FETCH_MAX_ERROR_BODY 4096u         /* what is kept of a failed download's answer */
#define FETCH_SCRATCH_CEILING (512u << 20) /* parse trees, URLs and the file list of one fetch */
#define FETCH_MAX_ENTRIES 100000u          /* files and directories in one model */
#define FETCH_MAX_DEPTH 32                 /* directory levels below the model's root */
#define FETCH_MAX_HOPS 4                   /* runs:/ and models:/ URIs resolved in a row */
#define FETCH_STALL_S 60L /* a download that moves no byte for this long fails */

/* ---- the tracking server's REST API (client/rest.h) ---- */

struct fetch_client {
    struct keel_ctx *ctx;
    struct karena *scratch;   /* everything of one fetch; freed at its end */
    bool malformed;           /* the failure is the URI's own form, said in full */
    struct rest_client *rest; /* answers parsed into scratch */
};

static enum keel_err nomem(struct keel_ctx *ctx)
{
    return keel_fail(ctx, KEEL_E_NOMEM, "out of memory while fetching the model");
}

static const char *errmsg(const struct keel_ctx *ctx)
{
    return ctx->errmsg ? ctx->errmsg : keel_err_code(ctx->err);
}

/* A call to the tracking server's own REST API: a GET, or a POST of `json`
 * when it is not NULL. */
static enum keel_err api_call(struct fetch_client *c, const char *path, const char *json,
                              const struct jval **out)
{
    return rest_call(c->rest, json ? "POST" : "GET", path, json, out, c->ctx);
}

/* GET base + fmt (base: the tracking server's own when NULL), fmt's "%s"
 * (at most two) filled with a and b percent-encoded: how every name,
 * version, id and path goes into a URL here. */
static enum keel_err get_encoded(struct fetch_client *c, const char *base, const char *fmt,
                                 const char *a, const char *b, const struct jval **out)
{
    const char *ea = rest_url_encode(c->scratch, a ? a : "", false);
    const char *eb = rest_url_encode(c->scratch, b ? b : "", false);
    const char *q = ea && eb ? karena_sprintf(c->scratch, fmt, ea, eb) : NULL;
    if (q && !base)
        return api_call(c, q, NULL, out);
    const char *url = q ? karena_sprintf(c->scratch, "%s%s", base, q) : NULL;
    if (!url)
        return nomem(c->ctx);
    return rest_call_url(c->rest, "GET", url, NULL, out, c->ctx);
}

/* A string field, or an integer one as text (a server may send versions
 * either way); NULL when absent. */
static const char *jv_text(struct karena *a, const struct jval *v)
{
    if (jv_is_string(v))
        return jv_str(v);
    return jv_is_int(v) ? karena_sprintf(a, "%lld", (long long)jv_int(v)) : NULL;
}

/* ---- model URIs ---- */

/* What a resolution found; scratch strings, NULL when unknown. */
struct fetch_target {
    const char *artifact_uri;
    const char *name, *version, *run_id;
};

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && (s[i] < '\t' || s[i] > '\r'))
            return false;
    return true;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static enum keel_err bad_models_uri(struct fetch_client *c, const char *uri)
{
    c->malformed = true;
    return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                     "Not a proper models:/ URI: '%s'. Models URIs must be of the form "
                     "'models:/<name>/<version>', 'models:/<name>/<stage>', "
                     "'models:/<name>@<alias>' or 'models:/<model_id>'",
                     uri);
}

/* Fills the artifact URI of registered version `version` of `name`. */
static enum keel_err version_download_uri(struct fetch_client *c, const char *name,
                                          const char *version, struct fetch_target *t)
{
    const struct jval *v;
    enum keel_err e = get_encoded(c, NULL,
                                  REST_API "/model-versions/get-download-uri?name=%s&version=%s",
                                  name, version, &v);
    if (e)
        return e;
    if (!(t->artifact_uri = jv_str(jv_get(v, "artifact_uri"))) || !*t->artifact_uri)
        return keel_fail(c->ctx, KEEL_E_IO,
                         "The tracking server gave no artifact_uri for version %s of '%s'",
                         version, name);
    t->name = name;
    t->version = version;
    return KEEL_OK;
}

static const char *const stages[] = {"None", "Staging", "Production", "Archived"};

/* models:/<name>/<stage> and models:/<name>/latest: the highest version in
 * the stage (any stage when stage is NULL), as MLflow's client picks it. */
static enum keel_err resolve_latest(struct fetch_client *c, const char *name, const char *stage,
                                    struct fetch_target *t)
{
    for (size_t i = 0; stage && i < sizeof stages / sizeof *stages; i++)
        if (strcasecmp(stage, stages[i]) == 0)
            stage = stages[i]; /* MLflow's canonical spelling */
    struct kbuf b;
    struct jw w;
    kbuf_init(&b, FETCH_MAX_REQUEST);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "name", name);
    if (stage) {
        jw_key(&w, "stages");
        jw_arr(&w);
        jw_str(&w, stage);
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    const struct jval *v = NULL;
    const char *path = karena_sprintf(c->scratch, "%s/registered-models/get-latest-versions",
                                      REST_API);
    enum keel_err e = w.err ? keel_fail(c->ctx, w.err, "model name too long")
                      : !path ? nomem(c->ctx)
                              : api_call(c, path, b.data, &v);
    kbuf_free(&b);
    if (e)
        return e;
    const struct jval *list = jv_get(v, "model_versions");
    const struct jval *best = NULL;
    long long best_n = -1;
    for (size_t i = 0; i < jv_len(list); i++) {
        const struct jval *mv = jv_at(list, i);
        const char *ver = jv_text(c->scratch, jv_get(mv, "version"));
        long long n = ver && all_digits(ver) ? strtoll(ver, NULL, 10) : -1;
        if (n > best_n) {
            best_n = n;
            best = mv;
        }
    }
    if (!best)
        return stage ? keel_fail(c->ctx, KEEL_E_NOT_FOUND,
                                 "No versions of model with name '%s' and stage '%s' found", name,
                                 stage)
                     : keel_fail(c->ctx, KEEL_E_NOT_FOUND,
                                 "No versions of model with name '%s' found", name);
    t->run_id = jv_str(jv_get(best, "run_id"));
    return version_download_uri(c, name, jv_text(c->scratch, jv_get(best, "version")), t);
}

/* models:/<model_id>: an MLflow 3 logged model. */
static enum keel_err resolve_logged_model(struct fetch_client *c, const char *id,
                                          struct fetch_target *t)
{
    const struct jval *v;
    enum keel_err e = get_encoded(c, NULL, REST_API "/logged-models/%s", id, NULL, &v);
    if (e)
        return e;
    const struct jval *info = jv_get(jv_get(v, "model"), "info");
    if (!(t->artifact_uri = jv_str(jv_get(info, "artifact_uri"))) || !*t->artifact_uri)
        return keel_fail(c->ctx, KEEL_E_IO,
                         "The tracking server gave no artifact_uri for logged model '%s'", id);
    t->run_id = jv_str(jv_get(info, "source_run_id"));
    return KEEL_OK;
}

/* models:/... as MLflow's _parse_model_uri reads it: the path after the
 * leading slashes splits once at '/' into name and suffix (digits: a version;
 * "latest": the highest; else a stage); without '/', name@alias, or else a
 * logged model's id. */
static enum keel_err resolve_models(struct fetch_client *c, const char *uri,
                                    struct fetch_target *t)
{
    const char *path = uri + strlen("models:");
    if (path[0] != '/' || path[1] == '/' || !path[1])
        return bad_models_uri(c, uri); /* models://<profile>@databricks is Databricks' */
    const char *p = path + 1;
    const char *slash = strchr(p, '/');
    struct karena *a = c->scratch;
    const struct jval *v;
    enum keel_err e;
    if (slash) {
        const char *suffix = slash + 1;
        if (blank(p, (size_t)(slash - p)) || blank(suffix, strlen(suffix)))
            return bad_models_uri(c, uri);
        char *name = karena_strndup(a, p, (size_t)(slash - p));
        if (!name)
            return nomem(c->ctx);
        if (strcasecmp(suffix, "latest") == 0)
            return resolve_latest(c, name, NULL, t);
        if (!all_digits(suffix))
            return resolve_latest(c, name, suffix, t);
        if ((e = get_encoded(c, NULL, REST_API "/model-versions/get?name=%s&version=%s", name,
                             suffix, &v)))
            return e;
        t->run_id = jv_str(jv_get(jv_get(v, "model_version"), "run_id"));
        return version_download_uri(c, name, suffix, t);
    }
    const char *at = strrchr(p, '@');
    if (!at) {
        if (blank(p, strlen(p)))
            return bad_models_uri(c, uri);
        return resolve_logged_model(c, p, t);
    }
    if (at == p || blank(at + 1, strlen(at + 1)))
        return bad_models_uri(c, uri);
    char *name = karena_strndup(a, p, (size_t)(at - p));
    if (!name)
        return nomem(c->ctx);
    if ((e = get_encoded(c, NULL, REST_API "/registered-models/alias?name=%s&alias=%s", name,
                         at + 1, &v)))
        /* MLflow answers a missing alias with INVALID_PARAMETER_VALUE */
        return e == KEEL_E_INVALID_PARAMETER ? keel_fail(c->ctx, KEEL_E_NOT_FOUND, "%s",
                                                         errmsg(c->ctx))
                                             : e;
    const struct jval *mv = jv_get(v, "model_version");
    const char *version = jv_text(a, jv_get(mv, "version"));
    if (!version)
        return keel_fail(c->ctx, KEEL_E_IO, "The tracking server gave no version for alias '%s'",
                         at + 1);
    t->run_id = jv_str(jv_get(mv, "run_id"));
    return version_download_uri(c, name, version, t);
}

/* ---- artifact URIs ---- */

enum artifact_kind { ART_LOCAL, ART_PROXY, ART_MODEL_URI, ART_OTHER };

static enum artifact_kind artifact_kind(const char *uri)
{
    size_t s = uri_scheme_len(uri);
    if (s == 0 || (s == 5 && strncasecmp(uri, "file:", 5) == 0))
        return ART_LOCAL;
    if (s == 17 && strncasecmp(uri, "mlflow-artifacts:", 17) == 0)
        return ART_PROXY;
    if ((s == 5 && strncasecmp(uri, "runs:", 5) == 0) ||
        (s == 7 && strncasecmp(uri, "models:", 7) == 0))
        return ART_MODEL_URI;
    return ART_OTHER;
}

/* The local path of a path or file: URI (file:///p, file://localhost/p,
 * file:/p, file:p; percent-decoded once, as url2pathname does). NULL with a
 * message for another host or a decoded NUL. */
static const char *local_path(struct karena *a, struct keel_ctx *ctx, const char *uri)
{
    if (uri_scheme_len(uri) == 0)
        return karena_strdup(a, uri);
    const char *p = uri + 5;
    if (strncmp(p, "//", 2) == 0) {
        p += 2;
        if (strncasecmp(p, "localhost/", 10) == 0)
            p += 9;
        else if (*p != '/') {
            keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "'%s' names a file on another host", uri);
            return NULL;
        }
    }
    size_t n = strlen(p);
    char *out = karena_alloc(a, n + 1);
    if (!out) {
        nomem(ctx);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (p[i] == '%' && (h = keel_hex_digit(p[i + 1])) >= 0 &&
            (l = keel_hex_digit(p[i + 2])) >= 0) {
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    out[o] = '\0';
    if (strlen(out) != o) {
        keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "'%s' holds an encoded NUL", uri);
        return NULL;
    }
    return out;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A local model directory: a directory with an MLmodel file in it. */
static enum keel_err check_model_dir(struct keel_ctx *ctx, const char *dir, const char *uri)
{
    struct stat st;
    char mlmodel[PATH_MAX];
    const char *what = strcmp(dir, uri) == 0 ? "" : karena_sprintf(ctx->arena, " (from '%s')", uri);
    if (!what)
        return nomem(ctx);
    if (stat(dir, &st) != 0)
        return keel_fail(ctx, KEEL_E_NOT_FOUND,
                         "No model directory at '%s'%s: expected a directory holding an MLmodel "
                         "file",
                         dir, what);
    if (!S_ISDIR(st.st_mode))
        return keel_fail(ctx, KEEL_E_NOT_FOUND,
                         "'%s'%s is not a directory: expected a directory holding an MLmodel "
                         "file",
                         dir, what);
    if (snprintf(mlmodel, sizeof mlmodel, "%s/MLmodel", dir) >= (int)sizeof mlmodel)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "Model path '%s' is too long", dir);
    if (stat(mlmodel, &st) != 0 || !S_ISREG(st.st_mode))
        return keel_fail(ctx, KEEL_E_NOT_FOUND,
                         "'%s'%s has no MLmodel file: it is not an MLflow model directory", dir,
                         what);
    return KEEL_OK;
}

/* Where an mlflow-artifacts URI's files are served: its host when it names
 * one, else the tracking server's, under the tracking URI's path, as
 * MLflow's MlflowArtifactsRepository.resolve_uri forms it. *path gets the
 * artifact path, without leading or trailing '/'. Scratch strings. */
static enum keel_err proxy_location(struct fetch_client *c, const char *uri, const char **base,
                                    const char **path)
{
    const char *p = uri + strlen("mlflow-artifacts:");
    const char *tracking = rest_base(c->rest);
    *base = tracking;
    if (strncmp(p, "//", 2) == 0) {
        const char *host = p + 2;
        size_t host_len = strcspn(host, "/?#");
        p = host + host_len;
        if (host_len) {
            const char *scheme_end = strstr(tracking, "://") + 3;
            const char *prefix = scheme_end + strcspn(scheme_end, "/");
            *base = karena_sprintf(c->scratch, "%.*s%.*s%s", (int)(scheme_end - tracking),
                                   tracking, (int)host_len, host, prefix);
        }
    }
    while (*p == '/')
        p++;
    size_t n = strcspn(p, "?#");
    while (n > 0 && p[n - 1] == '/')
        n--;
    *path = karena_strndup(c->scratch, p, n);
    return *base && *path ? KEEL_OK : nomem(c->ctx);
}

/* The entries of one directory of the artifact proxy ("files" is absent
 * for an empty or missing directory). */
static enum keel_err proxy_list(struct fetch_client *c, const char *base, const char *path,
                                const struct jval **files)
{
    const struct jval *v;
    enum keel_err e = get_encoded(c, base, REST_ARTIFACTS "?path=%s", path, NULL, &v);
    if (e)
        return e;
    *files = jv_get(v, "files");
    if (*files && !jv_is_array(*files))
        return keel_fail(c->ctx, KEEL_E_IO, "The artifact listing of '%s' is malformed", path);
    return KEEL_OK;
}

/* Whether an artifact URI names nothing: no files under it in the proxy, or
 * no such local directory. Other schemes are assumed to exist (the download
 * then says it cannot read them). */
static enum keel_err artifact_missing(struct fetch_client *c, const char *uri, bool *missing)
{
    *missing = false;
    switch (artifact_kind(uri)) {
    case ART_LOCAL: {
        const char *p = local_path(c->scratch, c->ctx, uri);
        if (!p)
            return c->ctx->err;
        *missing = !is_dir(p);
        return KEEL_OK;
    }
    case ART_PROXY: {
        const char *base, *path;
        const struct jval *files = NULL;
        enum keel_err e = proxy_location(c, uri, &base, &path);
        if (!e)
            e = proxy_list(c, base, path, &files);
        *missing = jv_len(files) == 0;
        return e;
    }
    case ART_MODEL_URI:
    case ART_OTHER:
        break;
    }
    return KEEL_OK;
}

/* MLflow 3's fallback for runs:/<run>/<name> when the run has no artifacts
 * there: the logged model called <name> that the run produced. */
static enum keel_err run_logged_model(struct fetch_client *c, const char *run_id,
                                      const char *experiment_id, const char *name,
                                      const char **artifact_uri)
{
    *artifact_uri = NULL;
    if (!experiment_id || strchr(name, '\'') || strchr(run_id, '\''))
        return KEEL_OK; /* nothing the filter language can name */
    struct kbuf b;
    struct jw w;
    kbuf_init(&b, FETCH_MAX_REQUEST);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, "experiment_ids");
    jw_arr(&w);
    jw_str(&w, experiment_id);
    jw_arr_end(&w);
    const char *filter = karena_sprintf(c->scratch, "source_run_id = '%s' AND name = '%s'",
                                        run_id, name);
    jw_kstr(&w, "filter", filter ? filter : "");
    jw_obj_end(&w);
    const struct jval *v = NULL;
    const char *path = karena_sprintf(c->scratch, "%s/logged-models/search", REST_API);
    enum keel_err e = w.err ? keel_fail(c->ctx, w.err, "artifact path too long")
                      : !path || !filter ? nomem(c->ctx)
                                         : api_call(c, path, b.data, &v);
    kbuf_free(&b);
    if (e == KEEL_E_NOT_FOUND) /* a server without logged models */
        return KEEL_OK;
    if (e)
        return e;
    const struct jval *models = jv_get(v, "models");
    for (size_t i = 0; i < jv_len(models); i++) {
        const struct jval *info = jv_get(jv_at(models, i), "info");
        const char *src = jv_str(jv_get(info, "source_run_id"));
        const char *uri = jv_str(jv_get(info, "artifact_uri"));
        if (src && strcmp(src, run_id) == 0 && uri && *uri) {
            *artifact_uri = uri;
            return KEEL_OK;
        }
    }
    return KEEL_OK;
}

/* runs:/<run_id>/<path>: the run's artifact URI joined with path, or the
 * run's logged model named path when the run has no such artifacts. */
static enum keel_err resolve_runs(struct fetch_client *c, const char *uri, struct fetch_target *t)
{
    const char *p = uri + strlen("runs:");
    if (p[0] != '/' || p[1] == '/' || !p[1]) {
        c->malformed = true;
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Not a proper runs:/ URI: '%s'. Runs URIs must be of the form "
                         "'runs:/<run_id>/run-relative/path/to/artifact'",
                         uri);
    }
    p++;
    size_t id_len = strcspn(p, "/");
    const char *rel = p[id_len] ? p + id_len + 1 : "";
    for (const char *s = rel; *s;) { /* no way out of the run's artifacts */
        size_t n = strcspn(s, "/");
        if (n == 2 && strncmp(s, "..", 2) == 0) {
            c->malformed = true;
            return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                             "Invalid runs:/ URI '%s': '..' in the artifact path", uri);
        }
        s += n + (s[n] == '/');
    }
    char *run_id = karena_strndup(c->scratch, p, id_len);
    const struct jval *v;
    if (!run_id)
        return nomem(c->ctx);
    enum keel_err e = get_encoded(c, NULL, REST_API "/runs/get?run_id=%s", run_id, NULL, &v);
    if (e)
        return e;
    const struct jval *info = jv_get(jv_get(v, "run"), "info");
    const char *root = jv_str(jv_get(info, "artifact_uri"));
    if (!root || !*root)
        return keel_fail(c->ctx, KEEL_E_IO, "The tracking server gave no artifact_uri for run %s",
                         run_id);
    t->run_id = run_id;
    t->artifact_uri = *rel ? uri_append(c->scratch, root, rel) : root;
    if (!t->artifact_uri)
        return nomem(c->ctx);
    bool missing = false;
    if (!*rel || (e = artifact_missing(c, t->artifact_uri, &missing)) || !missing)
        return e;
    const char *lm = NULL;
    if ((e = run_logged_model(c, run_id, jv_text(c->scratch, jv_get(info, "experiment_id")), rel,
                              &lm)))
        return e;
    if (!lm)
        return keel_fail(c->ctx, KEEL_E_NOT_FOUND,
                         "Run '%s' has no artifacts at '%s' and no logged model named '%s'",
                         run_id, rel, rel);
    t->artifact_uri = lm;
    return KEEL_OK;
}

/* ---- the download ---- */

struct fetched_file {
    const char *path; /* relative to the model's root */
    unsigned char sha[32];
};

struct tree {
    struct fetch_client *c;
    const char *base;     /* the server the proxy paths are on */
    const char *root;     /* the model's path in the proxy */
    char dir[PATH_MAX];   /* the temporary directory */
    struct fetched_file *files;
    size_t n_files, cap_files, n_entries;
};

struct file_sink {
    CURL *curl;
    int fd;
    EVP_MD_CTX *md;
    uint64_t bytes;
    long status; /* -1 until the first byte */
    int werr;    /* errno of a failed write */
    struct kbuf err; /* the start of an error answer */
};

static size_t file_write(char *p, size_t size, size_t n, void *arg)
{
    struct file_sink *s = arg;
    size_t len = size * n;
    if (s->status < 0)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status != 200) { /* an error page: keep its start for the message */
        size_t room = s->err.max > s->err.len + 1 ? s->err.max - s->err.len - 1 : 0;
        kbuf_add(&s->err, p, len < room ? len : room);
        return len;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(s->fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->werr = w < 0 ? errno : EIO;
            return 0; /* aborts the transfer */
        }
        done += (size_t)w;
    }
    EVP_DigestUpdate(s->md, p, len);
    s->bytes += len;
    return len;
}

static enum keel_err add_file(struct tree *t, const char *rel, struct fetched_file **out)
{
    if (t->n_files == t->cap_files) {
        size_t cap = t->cap_files ? 2 * t->cap_files : 64;
        void *p = karena_realloc(t->c->scratch, t->files, t->cap_files * sizeof *t->files,
                                 cap * sizeof *t->files);
        if (!p)
            return nomem(t->c->ctx);
        t->files = p;
        t->cap_files = cap;
    }
    *out = &t->files[t->n_files++];
    (*out)->path = rel;
    return KEEL_OK;
}

/* Downloads one file to <tmp>/<rel>, streaming: its SHA-256 is taken on the
 * way and its length checked against the listing's (size < 0: unknown). */
static enum keel_err download_file(struct tree *t, const char *rel, int64_t size)
{
    struct fetch_client *c = t->c;
    char local[PATH_MAX];
    if (snprintf(local, sizeof local, "%s/%s", t->dir, rel) >= (int)sizeof local)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "Artifact path '%s' is too long", rel);
    const char *full = *t->root ? karena_sprintf(c->scratch, "%s/%s", t->root, rel) : rel;
    const char *enc = full ? rest_url_encode(c->scratch, full, true) : NULL;
    const char *url = enc ? karena_sprintf(c->scratch, "%s%s/%s", t->base, REST_ARTIFACTS, enc)
                          : NULL;
    struct fetched_file *f = NULL;
    enum keel_err e = url ? add_file(t, rel, &f) : nomem(c->ctx);
    if (e)
        return e;
    struct file_sink s = {.status = -1, .werr = 0};
    kbuf_init(&s.err, FETCH_MAX_ERROR_BODY);
    s.fd = open(local, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (s.fd < 0)
        return keel_fail(c->ctx, KEEL_E_IO, "Cannot create %s: %s", local, strerror(errno));
    s.md = EVP_MD_CTX_new();
    if (!s.md || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
        e = nomem(c->ctx);
        goto done;
    }
    s.curl = rest_prepare(c->rest, url, false);
    /* no overall timeout (models can be GBs), only one for a stalled transfer */
    curl_easy_setopt(s.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(s.curl, CURLOPT_LOW_SPEED_TIME, FETCH_STALL_S);
    curl_easy_setopt(s.curl, CURLOPT_WRITEFUNCTION, file_write);
    curl_easy_setopt(s.curl, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(s.curl);
    long status = 0;
    curl_easy_getinfo(s.curl, CURLINFO_RESPONSE_CODE, &status);
    unsigned md_len = 0;
    if (s.werr)
        e = keel_fail(c->ctx, KEEL_E_IO, "Cannot write %s: %s", local, strerror(s.werr));
    else if (rc != CURLE_OK)
        e = rest_transport_error(c->rest, rc, c->ctx);
    else if (status != 200) {
        rest_http_error(c->rest, status, s.err.data, s.err.len, url, c->ctx);
        e = keel_fail(c->ctx, KEEL_E_IO, "Cannot download '%s': %s", full, errmsg(c->ctx));
    } else if (size >= 0 && s.bytes != (uint64_t)size)
        e = keel_fail(c->ctx, KEEL_E_IO, "'%s' came with %llu bytes; the listing said %lld",
                      full, (unsigned long long)s.bytes, (long long)size);
    else if (EVP_DigestFinal_ex(s.md, f->sha, &md_len) != 1 || md_len != sizeof f->sha)
        e = keel_fail(c->ctx, KEEL_E_INTERNAL, "SHA-256 failed");
    else if (fsync(s.fd) != 0)
        e = keel_fail(c->ctx, KEEL_E_IO, "Cannot write %s: %s", local, strerror(errno));
done:
    if (close(s.fd) != 0 && !e)
        e = keel_fail(c->ctx, KEEL_E_IO, "Cannot write %s: %s", local, strerror(errno));
    EVP_MD_CTX_free(s.md);
    kbuf_free(&s.err);
    return e;
}

/* A listed name is one path component that cannot leave the directory. */
static bool safe_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= NAME_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

/* Lists <root>/<rel> and fetches what it holds, depth directories down. */
static enum keel_err walk(struct tree *t, const char *rel, int depth)
{
    struct fetch_client *c = t->c;
    struct karena *a = c->scratch;
    if (depth > FETCH_MAX_DEPTH)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE,
                         "The model is nested deeper than %d directories (at '%s')",
                         FETCH_MAX_DEPTH, rel);
    const char *path = !*rel ? t->root
                       : *t->root ? karena_sprintf(a, "%s/%s", t->root, rel)
                                  : rel;
    const struct jval *files = NULL;
    enum keel_err e = path ? proxy_list(c, t->base, path, &files) : nomem(c->ctx);
    if (e)
        return e;
    if (!*rel) { /* the root: refuse a non-model before downloading anything */
        bool mlmodel = false;
        for (size_t i = 0; i < jv_len(files); i++) {
            const struct jval *f = jv_at(files, i);
            const char *name = jv_str(jv_get(f, "path"));
            mlmodel |= name && strcmp(name, "MLmodel") == 0 && !jv_is_true(jv_get(f, "is_dir"));
        }
        if (!jv_len(files))
            return keel_fail(c->ctx, KEEL_E_NOT_FOUND, "No artifacts at '%s'", t->root);
        if (!mlmodel)
            return keel_fail(c->ctx, KEEL_E_NOT_FOUND,
                             "The artifacts at '%s' have no MLmodel file: they are not an "
                             "MLflow model",
                             t->root);
    }
    for (size_t i = 0; i < jv_len(files); i++) { /* the whole listing, before any download */
        const char *name = jv_str(jv_get(jv_at(files, i), "path"));
        if (!name || !safe_name(name))
            return keel_fail(c->ctx, KEEL_E_IO,
                             "The artifact listing of '%s' holds an unusable name '%s'", path,
                             name ? name : "(none)");
        if (++t->n_entries > FETCH_MAX_ENTRIES)
            return keel_fail(c->ctx, KEEL_E_TOO_LARGE,
                             "The model holds more than %u files and directories",
                             FETCH_MAX_ENTRIES);
    }
    for (size_t i = 0; i < jv_len(files); i++) {
        const struct jval *f = jv_at(files, i);
        const char *name = jv_str(jv_get(f, "path"));
        const char *child = *rel ? karena_sprintf(a, "%s/%s", rel, name) : name;
        if (!child)
            return nomem(c->ctx);
        if (!jv_is_true(jv_get(f, "is_dir"))) {
            /* a number, or protobuf's int64-as-string; absent when unknown (or 0, to keel) */
            const char *size = jv_text(a, jv_get(f, "file_size"));
            if ((e = download_file(t, child, size && all_digits(size) ? strtoll(size, NULL, 10)
                                                                      : -1)))
                return e;
            continue;
        }
        const char *local = karena_sprintf(a, "%s/%s", t->dir, child); /* small stack frames */
        if (!local)
            return nomem(c->ctx);
        if (strlen(local) >= PATH_MAX)
            return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "Artifact path '%s' is too long", child);
        if (mkdir(local, 0755) != 0)
            return keel_fail(c->ctx, KEEL_E_IO, "Cannot create %s: %s", local, strerror(errno));
        if ((e = walk(t, child, depth + 1)))
            return e;
        if (!keel_fsync_dir(local))
            return keel_fail(c->ctx, KEEL_E_IO, "Cannot sync %s: %s", local, strerror(errno));
    }
    return KEEL_OK;
}

static int by_path(const void *x, const void *y)
{
    return strcmp(((const struct fetched_file *)x)->path, ((const struct fetched_file *)y)->path);
}

/* The tree digest described at the top of this file, as 64 hex digits. */
static enum keel_err tree_digest(struct tree *t, char hex[65])
{
    qsort(t->files, t->n_files, sizeof *t->files, by_path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < t->n_files; i++)
        ok = EVP_DigestUpdate(md, t->files[i].path, strlen(t->files[i].path) + 1) == 1 &&
             EVP_DigestUpdate(md, t->files[i].sha, sizeof t->files[i].sha) == 1;
    ok = ok && EVP_DigestFinal_ex(md, d, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    if (!ok)
        return keel_fail(t->c->ctx, KEEL_E_INTERNAL, "SHA-256 failed");
    keel_hex_encode(d, 32, hex);
    return KEEL_OK;
}


/* Downloads the proxy tree at `uri` into <cache_dir>/<digest>. */
static enum keel_err fetch_proxy_tree(struct fetch_client *c, const char *uri,
                                      const char *cache_dir, const char **dir,
                                      const char **digest)
{
    struct tree t = {.c = c};
    enum keel_err e = proxy_location(c, uri, &t.base, &t.root);
    if (e)
        return e;
    if (keel_mkdirs(cache_dir) != 0)
        return keel_fail(c->ctx, KEEL_E_IO, "Cannot create the model cache %s: %s", cache_dir,
                         strerror(errno));
    if (snprintf(t.dir, sizeof t.dir, "%s/.fetch-XXXXXX", cache_dir) >= (int)sizeof t.dir)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER, "Cache path '%s' is too long",
                         cache_dir);
    if (!mkdtemp(t.dir))
        return keel_fail(c->ctx, KEEL_E_IO, "Cannot create a directory in %s: %s", cache_dir,
                         strerror(errno));
    char hex[65];
    char final[PATH_MAX];
    if (!(e = walk(&t, "", 0)) && !(e = tree_digest(&t, hex)) &&
        snprintf(final, sizeof final, "%s/%s", cache_dir, hex) >= (int)sizeof final)
        e = keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER, "Cache path '%s' is too long", cache_dir);
    if (!e && chmod(t.dir, 0755) != 0) /* mkdtemp made it private */
        e = keel_fail(c->ctx, KEEL_E_IO, "Cannot chmod %s: %s", t.dir, strerror(errno));
    if (!e && !keel_fsync_dir(t.dir))
        e = keel_fail(c->ctx, KEEL_E_IO, "Cannot sync %s: %s", t.dir, strerror(errno));
    if (!e) {
        if (rename(t.dir, final) == 0) {
            if (!keel_fsync_dir(cache_dir)) /* in place, but its name not known durable */
                e = keel_fail(c->ctx, KEEL_E_IO, "Cannot sync %s: %s", cache_dir,
                              strerror(errno));
        } else if ((errno == EEXIST || errno == ENOTEMPTY) && is_dir(final)) {
            keel_rmtree(t.dir); /* the same model, already cached */
        } else {
            e = keel_fail(c->ctx, KEEL_E_IO, "Cannot rename %s to %s: %s", t.dir, final,
                          strerror(errno));
        }
    }
    if (e) {
        keel_rmtree(t.dir);
        return e;
    }
    *dir = karena_strdup(c->scratch, final);
    *digest = karena_strdup(c->scratch, hex);
    return *dir && *digest ? KEEL_OK : nomem(c->ctx);
}

/* ---- the entry point ---- */

static const char *arena_copy(struct karena *a, const char *s)
{
    return s ? karena_strdup(a, s) : "";
}

/* A remote URI from resolution to a local directory; strings in c->scratch. */
static enum keel_err fetch_remote(struct fetch_client *c, const char *uri, const char *cache_dir,
                                  struct fetch_target *t, const char **dir, const char **digest)
{
    const char *cur = uri;
    enum keel_err e;
    for (int hop = 0; artifact_kind(cur) == ART_MODEL_URI; hop++) {
        if (hop == FETCH_MAX_HOPS)
            return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                             "Cannot resolve '%s': more than %d runs:/ and models:/ URIs in a row",
                             uri, FETCH_MAX_HOPS);
        struct fetch_target next = {NULL, NULL, NULL, NULL};
        e = strncasecmp(cur, "runs:", 5) == 0 ? resolve_runs(c, cur, &next)
                                              : resolve_models(c, cur, &next);
        if (e && c->malformed)
            return e;
        if (e)
            return keel_fail(c->ctx, e, "Cannot resolve '%s': %s", uri, errmsg(c->ctx));
        /* the first URI says most about the model: later hops only fill gaps */
        t->name = t->name ? t->name : next.name;
        t->version = t->version ? t->version : next.version;
        t->run_id = t->run_id && *t->run_id ? t->run_id : next.run_id;
        cur = t->artifact_uri = next.artifact_uri;
    }
    size_t s = uri_scheme_len(cur);
    switch (artifact_kind(cur)) {
    case ART_LOCAL:
        if (!(*dir = local_path(c->scratch, c->ctx, cur)))
            return c->ctx->err;
        *digest = "";
        return check_model_dir(c->ctx, *dir, uri);
    case ART_PROXY:
        if ((e = fetch_proxy_tree(c, cur, cache_dir, dir, digest)) && cur == uri)
            return keel_fail(c->ctx, e, "Cannot fetch '%s': %s", uri, errmsg(c->ctx));
        if (e)
            return keel_fail(c->ctx, e, "Cannot fetch '%s' (%s): %s", uri, cur, errmsg(c->ctx));
        return KEEL_OK;
    case ART_MODEL_URI:
    case ART_OTHER:
        break;
    }
    return keel_fail(c->ctx, KEEL_E_NOT_IMPLEMENTED,
                     "Cannot fetch '%s': its artifacts are at '%s', and keel downloads only "
                     "through a tracking server's artifact proxy (mlflow-artifacts:), not from "
                     "%.*s URIs",
                     uri, cur, (int)s, cur);
}

enum keel_err model_fetch(const char *uri, const struct model_fetch_config *cfg,
                          struct model_fetch_result *out, struct keel_ctx *ctx)
{
    *out = (struct model_fetch_result){.dir = "", .digest = "", .name = "", .version = "",
                                       .run_id = ""};
    if (!uri || !*uri)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "No model URI given");
    enum artifact_kind kind = artifact_kind(uri);
    if (kind == ART_LOCAL) {
        const char *dir = local_path(ctx->arena, ctx, uri);
        if (!dir)
            return ctx->err;
        enum keel_err e = check_model_dir(ctx, dir, uri);
        if (!e)
            out->dir = dir;
        return e;
    }
    if (kind == ART_OTHER) {
        size_t s = uri_scheme_len(uri);
        return keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                         "Cannot fetch '%s': keel does not read %.*s URIs; it takes a local "
                         "directory, file://, runs:/, models:/ or mlflow-artifacts:/ URI",
                         uri, (int)s, uri);
    }
    const char *tracking = cfg ? cfg->tracking_uri : NULL;
    if (!tracking || !*tracking)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "'%s' is resolved through a tracking server: pass --tracking-uri or "
                         "set MLFLOW_TRACKING_URI",
                         uri);
    if (!cfg->cache_dir || !*cfg->cache_dir)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "'%s' is downloaded into a model cache, and none was given", uri);
    struct fetch_client c = {.ctx = ctx, .scratch = karena_new(FETCH_SCRATCH_CEILING)};
    if (!c.scratch)
        return nomem(ctx);
    struct fetch_target t = {NULL, NULL, NULL, NULL};
    const char *dir = NULL, *digest = NULL;
    enum keel_err e = rest_open(tracking, c.scratch, &c.rest, ctx);
    if (!e && cfg->authorization)
        e = rest_set_authorization(c.rest, cfg->authorization, ctx);
    if (!e)
        e = fetch_remote(&c, uri, cfg->cache_dir, &t, &dir, &digest);
    if (!e) {
        struct model_fetch_result r = {
            .dir = arena_copy(ctx->arena, dir),
            .digest = arena_copy(ctx->arena, digest),
            .name = arena_copy(ctx->arena, t.name),
            .version = arena_copy(ctx->arena, t.version),
            .run_id = arena_copy(ctx->arena, t.run_id),
        };
        if (!r.dir || !r.digest || !r.name || !r.version || !r.run_id)
            e = nomem(ctx);
        else
            *out = r;
    }
    rest_close(c.rest);
    karena_free(c.scratch);
    return e;
}
