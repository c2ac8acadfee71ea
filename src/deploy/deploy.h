/*
 * deploy.h -- the models keel server serves, by deployment name.
 *
 * A deployment is a name and a model URI (kept in the store). The set holds,
 * per deployment, the model loaded for it now. Loading happens outside the
 * set's lock (fetching and parsing a model takes time); only the pointer
 * swap is under it. Requests take a reference to the model they score with
 * (deploy_acquire / deploy_release), so a swap or a delete never frees a
 * model a request still uses: the old model goes when its last request ends.
 * A model that fails to load never replaces a working one.
 */
#ifndef KEEL_DEPLOY_H
#define KEEL_DEPLOY_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "util/buf.h"
#include "util/err.h"

struct deploy_set;

/* What the prediction log keeps of a deployment's requests. */
enum deploy_log {
    DEPLOY_LOG_BEST_EFFORT, /* queued; dropped (and counted) when the queue is full */
    DEPLOY_LOG_REQUIRED,    /* a request fails when its record cannot be made durable */
    DEPLOY_LOG_OFF,
};

/* "best-effort", "required", "off" <-> enum; -1 for an unknown name. */
int deploy_log_parse(const char *s);
const char *deploy_log_name(enum deploy_log l);

struct deploy_config {
    const char *tracking_uri; /* this server's own URL, for model URIs */
    const char *cache_dir;    /* where fetched models are kept */
};

/* What a deployment serves now (strings from the caller's arena). */
struct deploy_state {
    const char *name, *model_uri;
    const char *model_name, *model_version, *run_id; /* "" when unknown */
    const char *flavor, *model_class;
    const char *status;   /* "READY", or "FAILED" when nothing could be loaded */
    const char *error;    /* the last load failure, or "" */
    int64_t loaded_at;    /* ms */
    uint64_t generation;  /* unique to each successful load: what caches key on */
    enum deploy_log log;
    struct batcher *batcher;  /* server-side batching, NULL when off; lives as long
                                 as the set */
    size_t max_batch_rows;
    unsigned max_batch_wait_us;
};

struct batcher;

enum keel_err deploy_set_new(struct deploy_set **out, const struct deploy_config *cfg,
                             struct keel_ctx *ctx);
/* Frees the set and drops its references. NULL is safe. */
void deploy_set_free(struct deploy_set *s);
/* Sets the URL the server answers on, once it is known, and the
 * Authorization header value it signs in to itself with (NULL: none). */
void deploy_set_self(struct deploy_set *s, const char *tracking_uri, const char *authorization);

/*
 * Loads model_uri for deployment `name` and makes it the one served (adding
 * the deployment when new). On failure the previous model (if any) stays,
 * the failure is recorded in the deployment's state, and the error returned.
 */
enum keel_err deploy_load(struct deploy_set *s, const char *name, const char *model_uri,
                          struct keel_ctx *ctx);
/* One change of the set's deployments at a time: an API create, update or
 * delete holds this across its load, store write and configuration; the
 * follower holds it for each reload and first checks that the stored
 * deployment is still the one it read. So neither undoes the other (an
 * update of a following deployment to a pinned version, a delete during a
 * reload, two creates of one name). Never held while scoring. */
void deploy_change_lock(struct deploy_set *s);
void deploy_change_unlock(struct deploy_set *s);

/* Lets `name` answer requests. A deployment that deploy_load adds answers
 * none until then: its log mode and batching are set first, so no request
 * is answered (and logged) under defaults it does not have. */
void deploy_open(struct deploy_set *s, const char *name);
/* Sets what the prediction log keeps of `name`'s requests (no-op when absent). */
void deploy_set_log(struct deploy_set *s, const char *name, enum deploy_log log);
/* Turns server-side batching of `name` on (max_rows > 0) or off. */
enum keel_err deploy_set_batching(struct deploy_set *s, const char *name, size_t max_rows,
                                  unsigned max_wait_us, struct keel_ctx *ctx);
/* Stops serving `name`; its model goes when its last request ends. */
void deploy_remove(struct deploy_set *s, const char *name);

/* The deployment's model, with a reference the caller drops with
 * keel_model_unref(); NULL (and KEEL_E_NOT_FOUND in ctx) when the name is
 * not served. *state (may be NULL) describes it. */
struct keel_model *deploy_acquire(struct deploy_set *s, const char *name,
                                  struct deploy_state *state, struct keel_ctx *ctx);
/* Counts one answered scoring request of `name`: HTTP status, total
 * duration, and the part spent in the model call (0 when none was made)
 * and before it (decoding, waiting for a batch). */
void deploy_observe(struct deploy_set *s, const char *name, int status, int64_t latency_us,
                    int64_t before_model_us, int64_t model_us);
/* Appends the deployments' metrics in Prometheus' text format: requests by
 * status class, a latency histogram, load failures, the version served. */
void deploy_write_metrics(struct deploy_set *s, struct kbuf *out);

/* The state of `name`; false when it is not in the set. */
bool deploy_state(struct deploy_set *s, const char *name, struct deploy_state *out,
                  struct keel_ctx *ctx);

#endif
