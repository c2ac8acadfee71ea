/*
 * artifacts_proxy.c -- the MLflow artifact proxy (mlflow-artifacts/...):
 * upload (streamed into the blob store), download (streamed from it, with
 * Range), list, delete, and multipart upload answered as MLflow answers for
 * a store without it. Paths are relative to the artifact destination and are
 * checked before anything is touched.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "artifacts/artifacts.h"
#include "artifacts/blobstore.h"
#include "util/arena.h"

#define MAX_LISTED_ENTRIES 100000

static const char upload_prefix[] = "mlflow-artifacts/artifacts/";
static const char *const api_prefixes[] = {"/api/2.0/", "/ajax-api/2.0/"};

/* The answer MLflow gives when artifact serving is off. */
static enum keel_err serving_disabled(struct api_call *c)
{
    return keel_fail(c->ctx, KEEL_E_NOT_IMPLEMENTED,
                     "Endpoint disabled due to the keel server running with "
                     "`--no-serve-artifacts`. To enable artifacts server functionality, run "
                     "`keel server` with `--serve-artifacts`");
}

/* MLflow's _guess_mime_type: text-like names are text/plain, then the usual
 * types by extension, else binary. */
static const char *guess_mime_type(const char *path)
{
    static const char *const text_ext[] = {
        "txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop",
        "hocon", "toml", "yaml", "yml", "xml", "json", "js", "py", "py3", "csv", "tsv", "md",
        "rst", "MLmodel", "MLproject",
    };
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"png", "image/png"},         {"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},         {"svg", "image/svg+xml"},     {"bmp", "image/bmp"},
        {"tif", "image/tiff"},        {"tiff", "image/tiff"},       {"ico", "image/vnd.microsoft.icon"},
        {"webp", "image/webp"},       {"html", "text/html"},        {"htm", "text/html"},
        {"css", "text/css"},          {"pdf", "application/pdf"},   {"zip", "application/zip"},
        {"gz", "application/gzip"},   {"tar", "application/x-tar"}, {"mp4", "video/mp4"},
        {"wav", "audio/x-wav"},       {"mp3", "audio/mpeg"},        {"pkl", "application/octet-stream"},
    };
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    const char *ext = dot && dot != base ? dot + 1 : base;
    for (size_t i = 0; i < sizeof text_ext / sizeof *text_ext; i++)
        if (strcmp(ext, text_ext[i]) == 0)
            return "text/plain";
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcasecmp(ext, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static enum keel_err empty_object(struct api_call *c)
{
    jw_obj(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_list(struct api_call *c)
{
    const char *path;
    struct keel_artifact *v;
    size_t n;
    if (!c->app->serve_artifacts)
        return serving_disabled(c);
    enum keel_err e = api_arg_str(c, "path", false, &path);
    if (!e && path && *path)
        e = artifact_check_path(c->ctx, path, &path);
    if (!e)
        e = store_artifact_list(c->app->store, c->ctx, path ? path : "", MAX_LISTED_ENTRIES, &v,
                                &n);
    if (e)
        return e;
    jw_obj(&c->out);
    if (n) {
        jw_key(&c->out, "files");
        jw_arr(&c->out);
        for (size_t i = 0; i < n; i++) {
            jw_obj(&c->out);
            jw_kstr(&c->out, "path", v[i].path);
            jw_key(&c->out, "is_dir");
            jw_bool(&c->out, v[i].is_dir);
            if (v[i].size)
                jw_kint(&c->out, "file_size", v[i].size);
            jw_obj_end(&c->out);
        }
        jw_arr_end(&c->out);
    }
    jw_obj_end(&c->out);
    return KEEL_OK;
}

/* "bytes=a-b", "bytes=a-", "bytes=-n" over a file of `size` bytes. Returns
 * false for anything unsatisfiable (the caller answers 416). */
static bool parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *len)
{
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return false;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (end == p + 1 || *end || n == 0 || size == 0)
            return false;
        *len = n > size ? size : n;
        *from = size - *len;
        return true;
    }
    unsigned long long a = strtoull(p, &end, 10);
    if (end == p || *end != '-' || a >= size)
        return false;
    p = end + 1;
    unsigned long long b = size - 1;
    if (*p) {
        b = strtoull(p, &end, 10);
        if (*end || b < a)
            return false;
        if (b >= size)
            b = size - 1;
    }
    *from = a;
    *len = b - a + 1;
    return true;
}

/* A sealed blob's bytes [from, from + len), decrypted as they are sent. */
struct sealed_range {
    struct blob_reader *blob;
    uint64_t from;
};

static ssize_t sealed_range_read(void *arg, uint64_t pos, char *buf, size_t max)
{
    struct sealed_range *s = arg;
    return blob_reader_read(s->blob, s->from + pos, buf, max);
}

static void sealed_range_free(void *arg)
{
    struct sealed_range *s = arg;
    blob_reader_close(s->blob);
    free(s);
}

static enum keel_err h_download(struct api_call *c)
{
    const char *path;
    struct keel_artifact a;
    if (!c->app->serve_artifacts)
        return serving_disabled(c);
    enum keel_err e = artifact_check_path(c->ctx, c->tail, &path);
    if (e)
        return e;
    if ((e = store_artifact_get(c->app->store, c->ctx, path, &a))) {
        if (e != KEEL_E_NOT_FOUND)
            return e;
        if (a.is_dir) {
            c->html_error_page = true; /* MLflow fails reading a directory as a file */
            return keel_fail(c->ctx, KEEL_E_INTERNAL, "%s is a directory", path);
        }
        if (c->mlflow3)
            return keel_fail(c->ctx, KEEL_E_NOT_FOUND,
                             "The following failures occurred while downloading one or more "
                             "artifacts from %s:\n##### File %s #####\nNo such artifact: '%s'",
                             c->app->artifacts_destination, path, path);
        /* MLflow 2's answer for a missing artifact (a 500, not a 404) */
        return keel_fail(c->ctx, KEEL_E_INTERNAL,
                         "The following failures occurred while downloading one or more "
                         "artifacts from %s:\n##### File %s #####\n[Errno 2] No such file or "
                         "directory: '%s/%s'",
                         c->app->artifacts_destination, path, c->app->artifacts_destination,
                         path);
    }
    return api_send_stored_artifact(c, path, &a);
}

void api_artifact_answer(struct api_call *c, const char *path)
{
    struct http_response *r = c->resp;
    const char *base = strrchr(path, '/');
    kbuf_reset(&r->body);
    r->status = 200;
    r->content_type = guess_mime_type(path);
    r->n_headers = 0;
    http_response_header(r, "Content-Disposition",
                         karena_sprintf(c->ctx->arena, "attachment; filename=%s",
                                        base ? base + 1 : path));
    http_response_header(r, "X-Content-Type-Options", "nosniff");
}

/* Sends the stored artifact at `path` (under the artifact destination) from
 * the blob store: plain blobs from their file, sealed ones decrypted as they
 * go; a Range header is honoured. */
enum keel_err api_send_stored_artifact(struct api_call *c, const char *path,
                                       const struct keel_artifact *a)
{
    struct blob_reader *blob = NULL;
    uint64_t size;
    enum keel_err e;
    if ((e = blob_reader_open(c->app->blobs, c->ctx, a->digest, &blob, &size)))
        return e == KEEL_E_NOT_FOUND
                   ? keel_fail(c->ctx, KEEL_E_INTERNAL, "the content of %s is missing", path)
                   : e;
    struct http_response *r = c->resp;
    api_artifact_answer(c, path);
    http_response_header(r, "Accept-Ranges", "bytes");
    uint64_t from = 0, len = size;
    const char *range = http_header(c->req, "Range");
    if (range) {
        if (!parse_range(range, size, &from, &len)) {
            blob_reader_close(blob);
            r->status = 416;
            http_response_header(r, "Content-Range",
                                 karena_sprintf(c->ctx->arena, "bytes */%" PRIu64, size));
            c->raw_response = true;
            return KEEL_OK;
        }
        r->status = 206;
        http_response_header(r, "Content-Range",
                             karena_sprintf(c->ctx->arena, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
                                            from, from + len - 1, size));
    }
    c->raw_response = true;
    int fd = blob_reader_take_fd(blob);
    if (fd >= 0) { /* a plain blob: sent from its file as it lies */
        blob_reader_close(blob);
        r->fd = fd;
        r->fd_offset = from;
        r->fd_len = len;
        return KEEL_OK;
    }
    /* the first chunk is opened now, so content that does not authenticate
     * gets a clear error rather than an answer cut short (later chunks can
     * only cut it short: the status is sent by then) */
    char probe;
    if (len && blob_reader_read(blob, from, &probe, 1) != 1) {
        blob_reader_close(blob);
        c->raw_response = false;
        return keel_fail(c->ctx, KEEL_E_INTERNAL,
                         "the stored content of %s does not authenticate: it was changed "
                         "on disk",
                         path);
    }
    struct sealed_range *s = malloc(sizeof *s); /* lives until the body is sent */
    if (!s) {
        blob_reader_close(blob);
        c->raw_response = false;
        return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
    }
    *s = (struct sealed_range){blob, from};
    r->source_read = sealed_range_read;
    r->source_free = sealed_range_free;
    r->source = s;
    r->source_len = len;
    return KEEL_OK;
}

static enum keel_err h_delete(struct api_call *c)
{
    const char *path;
    struct keel_artifact a;
    int64_t removed;
    if (!c->app->serve_artifacts)
        return serving_disabled(c);
    enum keel_err e = artifact_check_path(c->ctx, c->tail, &path);
    if (e)
        return e;
    if (store_artifact_get(c->app->store, c->ctx, path, &a) == KEEL_OK) {
        /* MLflow's local store deletes directories only: a file stays, and the
         * request fails with its crash page */
        c->html_error_page = true;
        return keel_fail(c->ctx, KEEL_E_INTERNAL, "%s is a file", path);
    }
    e = store_artifact_delete_dir(c->app->store, c->ctx, path, &removed);
    return e ? e : empty_object(c);
}

static enum keel_err h_mpu(struct api_call *c)
{
    const char *path;
    if (!c->app->serve_artifacts)
        return serving_disabled(c);
    enum keel_err e = artifact_check_path(c->ctx, c->tail, &path);
    if (e)
        return e;
    return keel_fail(c->ctx, KEEL_E_NOT_IMPLEMENTED,
                     "Multipart upload is not supported for the current artifact repository");
}

/* Only reached if the upload was not taken as a stream. */
static enum keel_err h_put(struct api_call *c)
{
    return keel_fail(c->ctx, KEEL_E_INTERNAL, "artifact upload was not streamed");
}

const struct api_route api_artifact_proxy_routes[] = {
    {"GET", "mlflow-artifacts/artifacts", h_list},
    {"GET", "mlflow-artifacts/artifacts/*", h_download},
    {"PUT", "mlflow-artifacts/artifacts/*", h_put},
    {"DELETE", "mlflow-artifacts/artifacts/*", h_delete},
    {"POST", "mlflow-artifacts/mpu/create/*", h_mpu},
    {"POST", "mlflow-artifacts/mpu/complete/*", h_mpu},
    {"POST", "mlflow-artifacts/mpu/abort/*", h_mpu},
    {NULL, NULL, NULL},
};

/* ---- the streamed upload ---- */

struct upload {
    struct keel_app *app;
    struct blob_upload *blob;
    const char *path; /* arena */
    enum keel_err err;
};

static void json_error(struct http_response *r, struct keel_ctx *ctx, enum keel_err e)
{
    struct jw w;
    kbuf_reset(&r->body);
    jw_init(&w, &r->body);
    jw_obj(&w);
    jw_kstr(&w, "error_code", keel_err_code(e));
    jw_kstr(&w, "message", ctx->errmsg ? ctx->errmsg : keel_err_code(e));
    jw_obj_end(&w);
    r->status = keel_err_http_status(e);
    r->content_type = "application/json";
    r->n_headers = 0;
    http_response_header(r, "X-Content-Type-Options", "nosniff");
}

static void *stream_open(void *appv, struct keel_ctx *ctx, const struct http_request *req,
                         struct http_response *early)
{
    struct keel_app *app = appv;
    if (strcmp(req->method, "PUT") != 0)
        return NULL;
    const char *rest = NULL;
    for (size_t i = 0; !rest && i < sizeof api_prefixes / sizeof *api_prefixes; i++) {
        size_t n = strlen(api_prefixes[i]);
        if (strncmp(req->path, api_prefixes[i], n) == 0 &&
            strncmp(req->path + n, upload_prefix, sizeof upload_prefix - 1) == 0 &&
            req->path[n + sizeof upload_prefix - 1])
            rest = req->path + n + sizeof upload_prefix - 1;
    }
    if (!rest)
        return NULL;
    static const struct api_guard *guard;
    if (!guard) /* the table is constant: a race stores the same pointer */
        guard = api_guard_find("PUT", "mlflow-artifacts/artifacts/*");
    if (!api_gate(app, ctx, req, guard, rest, NULL, early))
        return NULL;
    if (!(ctx->audit = api_audit_new(ctx, ctx->who ? ctx->who->username : NULL, req->method,
                                     req->path, guard, NULL, rest, "ok"))) {
        keel_fail(ctx, KEEL_E_NOMEM, "the upload could not be recorded");
        json_error(early, ctx, KEEL_E_NOMEM); /* no change without its record */
        return NULL;
    }
    struct upload *u = karena_calloc(ctx->arena, 1, sizeof *u);
    const char *path;
    enum keel_err e;
    if (!u)
        e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    else if (!app->serve_artifacts)
        e = keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                      "Endpoint disabled due to the keel server running with "
                      "`--no-serve-artifacts`");
    else if (!(e = artifact_check_path(ctx, rest, &path)))
        e = blob_upload_begin(app->blobs, ctx, &u->blob);
    if (e) {
        json_error(early, ctx, e);
        return NULL;
    }
    u->app = app;
    u->path = path;
    return u;
}

static enum keel_err stream_write(void *s, const char *data, size_t n)
{
    struct upload *u = s;
    enum keel_err e = blob_upload_write(u->blob, data, n);
    if (e && !u->err)
        u->err = e;
    return e;
}

static void stream_finish(void *s, struct keel_ctx *ctx, const struct http_request *req,
                          struct http_response *resp)
{
    (void)req;
    struct upload *u = s;
    char digest[BLOB_DIGEST_HEX + 1];
    uint64_t size = 0;
    enum keel_err e = KEEL_OK;
    if (u->err) {
        blob_upload_abort(u->blob);
        e = u->err == KEEL_E_TOO_LARGE
                ? keel_fail(ctx, KEEL_E_TOO_LARGE, "The artifact is larger than this server accepts")
                : keel_fail(ctx, KEEL_E_IO, "The artifact could not be written");
    } else {
        e = blob_upload_commit(u->blob, ctx, digest, &size);
    }
    u->blob = NULL;
    if (!e)
        e = store_artifact_put(u->app->store, ctx, u->path, digest, (int64_t)size);
    if (e) {
        json_error(resp, ctx, e);
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
    http_response_header(resp, "X-Content-Type-Options", "nosniff");
    kbuf_reset(&resp->body);
    kbuf_adds(&resp->body, "{}");
}

static void stream_abort(void *s)
{
    struct upload *u = s;
    blob_upload_abort(u->blob);
    u->blob = NULL;
}

const struct http_stream_ops api_stream_ops = {
    .open = stream_open,
    .write = stream_write,
    .finish = stream_finish,
    .abort = stream_abort,
};

/* ---- keel's own view: digests and sizes ---- */

/* The path under the artifact destination named by ?path= and, with
 * ?run_id=, relative to that run's (proxied) artifact root. */
static enum keel_err keel_artifact_path(struct api_call *c, const char **out)
{
    const char *path, *run_id;
    enum keel_err e = api_arg_str(c, "path", false, &path);
    if (!e)
        e = api_arg_str(c, "run_id", false, &run_id);
    if (!e && path && *path)
        e = artifact_check_path(c->ctx, path, &path);
    if (e)
        return e;
    if (!path)
        path = "";
    if (!run_id || !*run_id) {
        *out = path;
        return KEEL_OK;
    }
    struct keel_run run;
    if ((e = store_run_get(c->app->store, c->ctx, run_id, &run)))
        return e;
    const char *root = artifact_proxied_path(c->ctx, run.info.artifact_uri);
    if (!root)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Run %s keeps its artifacts outside keel's artifact store (%s)", run_id,
                         run.info.artifact_uri);
    *out = *path ? karena_sprintf(c->ctx->arena, "%s/%s", root, path) : root;
    return *out ? KEEL_OK : keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
}

static void write_entry(struct jw *w, const char *path, const struct keel_artifact *a)
{
    jw_obj(w);
    jw_kstr(w, "path", path);
    jw_key(w, "is_dir");
    jw_bool(w, a->is_dir);
    if (!a->is_dir) {
        jw_kint(w, "size", a->size);
        jw_kstr(w, "digest", a->digest);
        jw_kstr(w, "digest_algorithm", "sha256");
    }
    jw_obj_end(w);
}

/* GET keel/artifacts/list?path=|run_id=: like the proxy listing, with every
 * file's size and SHA-256 digest. */
static enum keel_err h_keel_list(struct api_call *c)
{
    const char *dir;
    struct keel_artifact *v;
    size_t n;
    enum keel_err e = keel_artifact_path(c, &dir);
    if (!e)
        e = store_artifact_list(c->app->store, c->ctx, dir, MAX_LISTED_ENTRIES, &v, &n);
    if (e)
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "files");
    jw_arr(&c->out);
    for (size_t i = 0; i < n; i++)
        write_entry(&c->out, v[i].path, &v[i]);
    jw_arr_end(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

/* GET keel/artifacts/stat?path=|run_id=: one file's size and digest. */
static enum keel_err h_keel_stat(struct api_call *c)
{
    const char *path;
    struct keel_artifact a;
    enum keel_err e = keel_artifact_path(c, &path);
    if (!e)
        e = store_artifact_get(c->app->store, c->ctx, path, &a);
    if (e)
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "file");
    write_entry(&c->out, path, &a);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

const struct api_route api_keel_artifact_routes[] = {
    {"GET", "keel/artifacts/list", h_keel_list},
    {"GET", "keel/artifacts/stat", h_keel_stat},
    {NULL, NULL, NULL},
};
