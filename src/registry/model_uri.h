/*
 * model_uri.h -- what a model URI points at, resolved inside keel.
 *
 * Serving, batch scoring and the API all resolve model URIs here, once:
 *   models:/<name>/<version>    a registered version
 *   models:/<name>@<alias>      the version an alias names now
 *   models:/<name>/<stage>      the latest version in a stage (Staging, ...)
 *   models:/<name>/latest       the highest version
 *   models:/<model_id>          a logged model (MLflow 3)
 *   runs:/<run_id>/<path>       a path among a run's artifacts
 *   /abs/dir, file:///abs/dir   a local model directory
 * The result is the location of the model's files (an artifact URI or a
 * local directory) and, for registered models, the version it resolved to.
 * Failures say which part could not be resolved.
 */
#ifndef KEEL_MODEL_URI_H
#define KEEL_MODEL_URI_H

#include <stdint.h>

#include "store/store.h"

struct model_ref {
    const char *uri;          /* as given */
    const char *location;     /* where the files are: artifact URI or local directory */
    const char *name;         /* registered model, or NULL */
    int64_t version;          /* its version, or 0 */
    const char *run_id;       /* the run the files belong to, when known */
    const char *model_id;     /* the logged model, for models:/<model_id> */
};

/* The logged model a models:/<model_id> URI names (a pointer into uri), or
 * NULL for any other URI. */
const char *model_uri_logged_model_id(const char *uri);

/* Resolves `uri` (arena results). KEEL_E_INVALID_PARAMETER for a malformed
 * URI, KEEL_E_NOT_FOUND for one naming nothing, each with a message naming
 * the part that failed. */
enum keel_err model_uri_resolve(struct store *st, struct keel_ctx *ctx, const char *uri,
                                struct model_ref *out);

#endif
