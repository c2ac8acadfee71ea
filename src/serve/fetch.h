/*
 * fetch.h -- from a model URI to a local MLflow model directory.
 *
 * `keel models serve` and `keel models predict` take what MLflow's tools
 * take: a local directory (or file:// URI), `runs:/<run_id>/<path>`,
 * `models:/<name>/<version>`, `models:/<name>/<stage>`, `models:/<name>@<alias>`
 * and `models:/<model_id>` (an MLflow 3 logged model). Remote forms are
 * resolved through a tracking server's REST API (keel's or MLflow's) and
 * their artifacts downloaded through its artifact proxy into a local cache,
 * keyed by the SHA-256 digest of the model's files, so the same model
 * fetched twice is stored once and a half-finished download is never used.
 */
#ifndef KEEL_FETCH_H
#define KEEL_FETCH_H

#include "util/err.h"

struct model_fetch_config {
    const char *tracking_uri; /* http(s)://host:port; NULL: only local URIs work */
    const char *cache_dir;    /* where fetched models are kept */
    /* an Authorization header value for the tracking server instead of the
     * environment's credentials (keel server fetching from itself); NULL:
     * those */
    const char *authorization;
};

struct model_fetch_result {
    const char *dir;         /* the local model directory (arena string) */
    const char *digest;      /* hex SHA-256 of the fetched tree; "" for local URIs */
    const char *name;        /* registered model name, or "" */
    const char *version;     /* registered model version, or "" */
    const char *run_id;      /* the source run when known, or "" */
};

/*
 * Resolves uri to a local model directory, downloading it when it is remote.
 * Strings in *out come from ctx->arena ("" in every field on failure);
 * models:/<one segment> is looked up as a logged-model id, as MLflow 3 does.
 * Errors: KEEL_E_INVALID_PARAMETER (unknown URI form, or a remote URI
 * without a tracking URI), KEEL_E_NOT_FOUND (the server has no such
 * run/model/version/alias), KEEL_E_NOT_IMPLEMENTED (an artifact scheme keel
 * cannot download, e.g. s3:), KEEL_E_TOO_LARGE (past the answer, file-count
 * or depth limits), KEEL_E_NOMEM, KEEL_E_IO (the server could not be reached
 * or a download failed). Nothing partial is ever left in the cache.
 */
enum keel_err model_fetch(const char *uri, const struct model_fetch_config *cfg,
                          struct model_fetch_result *out, struct keel_ctx *ctx);

#endif
