/*
 * store.h -- keel's metadata store: experiments, runs and their data.
 *
 * One interface, backed today by SQLite (store/sqlite.c). Reads run on a
 * pool of read-only connections, concurrently (WAL). Every write is a
 * `store_write_fn` executed by the single writer thread, which groups the
 * writes queued at the same moment into one transaction (group commit): each
 * write runs inside its own SAVEPOINT, so one failing write is rolled back
 * alone, and every caller is answered only after the COMMIT that made its
 * write durable (synchronous=FULL). A write that was acknowledged survives
 * kill -9.
 *
 * All returned entities live in ctx->arena; nothing here needs freeing by
 * the caller except the store itself (store_close).
 */
#ifndef KEEL_STORE_H
#define KEEL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct keel_tag {
    const char *key;
    const char *value;
};

struct keel_experiment {
    int64_t experiment_id;
    const char *name;
    const char *artifact_location;
    const char *lifecycle_stage;
    int64_t creation_time;
    int64_t last_update_time;
    struct keel_tag *tags;
    size_t n_tags;
};

struct keel_metric {
    const char *key;
    double value; /* NaN and infinities as logged (infinities clamped) */
    int64_t timestamp;
    int64_t step;
    /* MLflow 3: the logged model (and dataset) a value is about; NULL when not */
    const char *model_id, *dataset_name, *dataset_digest;
    const char *run_id; /* in a logged model's metrics: the run that logged it */
};

struct keel_dataset {
    const char *name, *digest, *source_type, *source, *schema, *profile;
};

struct keel_dataset_input {
    struct keel_tag *tags;
    size_t n_tags;
    struct keel_dataset dataset;
};

struct keel_run_info {
    int64_t run_key; /* the store's internal key */
    const char *run_id;
    int64_t experiment_id;
    const char *run_name;
    const char *user_id;
    const char *status;
    int64_t start_time;
    int64_t end_time;
    bool has_end_time;
    const char *artifact_uri;
    const char *lifecycle_stage;
};

struct keel_model_output {
    const char *model_id;
    int64_t step;
};

struct keel_run {
    struct keel_run_info info;
    struct keel_metric *metrics; /* latest value per key */
    size_t n_metrics;
    struct keel_tag *params;
    size_t n_params;
    struct keel_tag *tags;
    size_t n_tags;
    struct keel_dataset_input *inputs;
    size_t n_inputs;
    /* MLflow 3: the logged models the run produced and used, by model id */
    struct keel_model_output *model_outputs;
    size_t n_model_outputs;
    const char **model_inputs;
    size_t n_model_inputs;
};

enum store_view { STORE_VIEW_ACTIVE = 1, STORE_VIEW_DELETED = 2, STORE_VIEW_ALL = 3 };

struct store;

struct store_config {
    const char *path;               /* SQLite file */
    const char *default_artifact_root; /* experiments get <root>/<id> */
    unsigned readers;               /* read connections in the pool */
};

/* Opens (creating and migrating as needed) the store; makes the Default
 * experiment when the store is new. *out is freed with store_close(). */
enum keel_err store_open(struct store **out, const struct store_config *cfg,
                         struct keel_ctx *ctx);
/* Drains queued writes, stops the writer, closes connections. NULL is safe. */
void store_close(struct store *st);

/* ---- experiments ---- */
enum keel_err store_experiment_create(struct store *st, struct keel_ctx *ctx, const char *name,
                                      const char *artifact_location, const struct keel_tag *tags,
                                      size_t n_tags, int64_t *out_id);
enum keel_err store_experiment_get(struct store *st, struct keel_ctx *ctx, int64_t id,
                                   struct keel_experiment *out);
enum keel_err store_experiment_get_by_name(struct store *st, struct keel_ctx *ctx,
                                           const char *name, struct keel_experiment *out);
enum keel_err store_experiment_rename(struct store *st, struct keel_ctx *ctx, int64_t id,
                                      const char *new_name);
/* delete: active -> deleted; restore: deleted -> active. Runs follow. */
enum keel_err store_experiment_set_lifecycle(struct store *st, struct keel_ctx *ctx, int64_t id,
                                             bool deleted);
enum keel_err store_experiment_set_tag(struct store *st, struct keel_ctx *ctx, int64_t id,
                                       const char *key, const char *value);

struct store_page {
    int64_t max_results;    /* rows wanted on this page; negative: all */
    const char *page_token; /* from the previous page; NULL or "" for the first */
};

/* Experiments matching the filter, one page; *next_token is NULL on the last
 * page. Errors from the filter, order_by or token carry MLflow's messages and
 * come in MLflow's order (filter, order_by, token). */
enum keel_err store_experiment_search(struct store *st, struct keel_ctx *ctx,
                                      enum store_view view, const char *filter,
                                      const char *const *order_by, size_t n_order_by,
                                      struct store_page page, struct keel_experiment **out,
                                      size_t *n_out, const char **next_token);

/* ---- runs ---- */
struct store_run_create {
    int64_t experiment_id;
    const char *user_id;
    const char *run_name; /* already reconciled with the mlflow.runName tag */
    int64_t start_time;
    const struct keel_tag *tags;
    size_t n_tags;
};

enum keel_err store_run_create(struct store *st, struct keel_ctx *ctx,
                               const struct store_run_create *in, struct keel_run *out);
enum keel_err store_run_get(struct store *st, struct keel_ctx *ctx, const char *run_id,
                            struct keel_run *out);

struct store_run_update {
    const char *status;   /* NULL: unchanged */
    bool has_end_time;
    int64_t end_time;
    const char *run_name; /* NULL: unchanged */
};
enum keel_err store_run_update(struct store *st, struct keel_ctx *ctx, const char *run_id,
                               const struct store_run_update *in, struct keel_run_info *out);
enum keel_err store_run_set_lifecycle(struct store *st, struct keel_ctx *ctx, const char *run_id,
                                      bool deleted);

/* One write for metrics, params and tags of a run (log-metric,
 * log-parameter, set-tag and log-batch all come here). */
struct store_log_batch {
    const char *run_id;
    const struct keel_metric *metrics;
    size_t n_metrics;
    const struct keel_tag *params;
    size_t n_params;
    const struct keel_tag *tags;
    size_t n_tags;
    bool single_param; /* log-parameter: MLflow's single-param message */
};
enum keel_err store_log_batch(struct store *st, struct keel_ctx *ctx,
                              const struct store_log_batch *in);
enum keel_err store_run_delete_tag(struct store *st, struct keel_ctx *ctx, const char *run_id,
                                   const char *key);
enum keel_err store_log_inputs(struct store *st, struct keel_ctx *ctx, const char *run_id,
                               const struct keel_dataset_input *inputs, size_t n_inputs,
                               const char *const *model_ids, size_t n_models);
/* Appends model_json to the run's mlflow.log-model.history tag (a JSON list). */
enum keel_err store_log_model(struct store *st, struct keel_ctx *ctx, const char *run_id,
                              const char *model_json);

/* The logged values of one metric, in logging order: `limit` of them (0:
 * all) from the offset-th on. An unknown run or key gives an empty list. */
enum keel_err store_metric_history(struct store *st, struct keel_ctx *ctx, const char *run_id,
                                   const char *key, size_t offset, size_t limit,
                                   struct keel_metric **out, size_t *n_out);

enum keel_err store_run_search(struct store *st, struct keel_ctx *ctx,
                               const int64_t *experiment_ids, size_t n_experiment_ids,
                               enum store_view view, const char *filter,
                               const char *const *order_by, size_t n_order_by,
                               struct store_page page, struct keel_run **out, size_t *n_out,
                               const char **next_token);

/* Permanently removes deleted runs and everything recorded for them (MLflow's
 * `gc`): those deleted before `deleted_before_ms`, or, when run_ids is given,
 * exactly those runs, each of which must be deleted. *artifact_uris (arena)
 * gets the removed runs' artifact URIs, for their artifacts to go too. */
enum keel_err store_runs_purge(struct store *st, struct keel_ctx *ctx, int64_t deleted_before_ms,
                               const char *const *run_ids, size_t n_run_ids,
                               const char ***artifact_uris, size_t *n_purged);

/* ---- model registry ---- */
#define REGISTRY_STAGE_DELETED "Deleted_Internal"

struct keel_model_version {
    const char *name;
    int64_t version;
    int64_t creation_time, last_updated_time;
    const char *description, *user_id, *current_stage, *source, *run_id, *run_link;
    const char *status, *status_message, *storage_location;
    struct keel_tag *tags;
    size_t n_tags;
    const char **aliases;
    size_t n_aliases;
};

struct keel_alias {
    const char *alias;
    int64_t version;
};

struct keel_registered_model {
    const char *name;
    int64_t creation_time, last_updated_time;
    const char *description;
    struct keel_model_version *latest; /* highest version per stage */
    size_t n_latest;
    struct keel_tag *tags;
    size_t n_tags;
    struct keel_alias *aliases;
    size_t n_aliases;
};

enum keel_err store_rm_create(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *description, const struct keel_tag *tags, size_t n_tags,
                              struct keel_registered_model *out);
enum keel_err store_rm_get(struct store *st, struct keel_ctx *ctx, const char *name,
                           struct keel_registered_model *out);
/* description NULL clears it */
enum keel_err store_rm_update(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *description, struct keel_registered_model *out);
enum keel_err store_rm_rename(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *new_name, struct keel_registered_model *out);
enum keel_err store_rm_delete(struct store *st, struct keel_ctx *ctx, const char *name);
enum keel_err store_rm_set_tag(struct store *st, struct keel_ctx *ctx, const char *name,
                               const char *key, const char *value);
enum keel_err store_rm_delete_tag(struct store *st, struct keel_ctx *ctx, const char *name,
                                  const char *key);

struct store_mv_create {
    const char *name, *source, *run_id, *run_link, *description, *storage_location;
    const char *model_id; /* the logged model it is made from, or NULL */
    const struct keel_tag *tags;
    size_t n_tags;
};
enum keel_err store_mv_create(struct store *st, struct keel_ctx *ctx,
                              const struct store_mv_create *in, struct keel_model_version *out);
enum keel_err store_mv_get(struct store *st, struct keel_ctx *ctx, const char *name,
                           int64_t version, struct keel_model_version *out);
enum keel_err store_mv_update(struct store *st, struct keel_ctx *ctx, const char *name,
                              int64_t version, bool set_description, const char *description,
                              struct keel_model_version *out);
/* stage is canonical; archive_existing moves the other versions in that stage
 * to Archived */
enum keel_err store_mv_transition(struct store *st, struct keel_ctx *ctx, const char *name,
                                  int64_t version, const char *stage, bool archive_existing,
                                  struct keel_model_version *out);
enum keel_err store_mv_delete(struct store *st, struct keel_ctx *ctx, const char *name,
                              int64_t version);
enum keel_err store_mv_set_tag(struct store *st, struct keel_ctx *ctx, const char *name,
                               int64_t version, const char *key, const char *value);
enum keel_err store_mv_delete_tag(struct store *st, struct keel_ctx *ctx, const char *name,
                                  int64_t version, const char *key);
enum keel_err store_alias_set(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *alias, int64_t version);
enum keel_err store_alias_delete(struct store *st, struct keel_ctx *ctx, const char *name,
                                 const char *alias);
enum keel_err store_alias_get(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *alias, struct keel_model_version *out);

/* Registry searches: filter and order_by in MLflow's language, one page
 * (max_results rows; 0 gives only a token), *next_token when more follow.
 * hide_prompts: MLflow 3's rule that prompts are found only when asked for
 * (SEARCH_HIDE_PROMPTS in store/search.h). */
enum keel_err store_rm_search(struct store *st, struct keel_ctx *ctx, const char *filter,
                              const char *const *order_by, size_t n_order_by,
                              struct store_page page, bool hide_prompts,
                              struct keel_registered_model **out, size_t *n_out,
                              const char **next_token);
enum keel_err store_mv_search(struct store *st, struct keel_ctx *ctx, const char *filter,
                              const char *const *order_by, size_t n_order_by,
                              struct store_page page, bool hide_prompts,
                              struct keel_model_version **out, size_t *n_out,
                              const char **next_token);

/* ---- logged models (MLflow 3) ---- */
enum keel_lm_status {
    LM_STATUS_UNSPECIFIED = 0,
    LM_STATUS_PENDING = 1,
    LM_STATUS_READY = 2,
    LM_STATUS_UPLOAD_FAILED = 3,
};

struct keel_logged_model {
    const char *model_id;
    int64_t experiment_id;
    const char *name, *artifact_uri, *model_type, *source_run_id;
    int64_t creation_time, last_updated_time;
    int status;
    struct keel_tag *tags;
    size_t n_tags;
    struct keel_tag *params;
    size_t n_params;
    struct keel_metric *metrics; /* every value logged with this model_id */
    size_t n_metrics;
};

struct store_lm_create {
    int64_t experiment_id;
    const char *name, *model_type, *source_run_id;
    const struct keel_tag *tags, *params;
    size_t n_tags, n_params;
};
enum keel_err store_lm_create(struct store *st, struct keel_ctx *ctx,
                              const struct store_lm_create *in, struct keel_logged_model *out);
/* allow_deleted: a deleted model is found too */
enum keel_err store_lm_get(struct store *st, struct keel_ctx *ctx, const char *model_id,
                           bool allow_deleted, struct keel_logged_model *out);
enum keel_err store_lm_finalize(struct store *st, struct keel_ctx *ctx, const char *model_id,
                                int status, struct keel_logged_model *out);
enum keel_err store_lm_delete(struct store *st, struct keel_ctx *ctx, const char *model_id);
enum keel_err store_lm_set_tags(struct store *st, struct keel_ctx *ctx, const char *model_id,
                                const struct keel_tag *tags, size_t n);
enum keel_err store_lm_delete_tag(struct store *st, struct keel_ctx *ctx, const char *model_id,
                                  const char *key);
/* params are write-once: any key already logged fails the whole request */
enum keel_err store_lm_log_params(struct store *st, struct keel_ctx *ctx, const char *model_id,
                                  const struct keel_tag *params, size_t n);

/* Logged-model search (MLflow 3): experiment ids, filter, datasets and
 * order_by as store/search.h reads them; max_results rows from offset.
 * *more: rows remain past this page (an exactly full page has none). A
 * negative max_results returns no rows and says more. */
struct search_lm_dataset;
struct search_lm_order;
struct store_lm_search {
    const int64_t *experiment_ids;
    size_t n_experiment_ids;
    const char *filter;
    const struct search_lm_dataset *datasets;
    size_t n_datasets;
    const struct search_lm_order *order_by;
    size_t n_order_by;
    int64_t max_results, offset;
};
enum keel_err store_lm_search(struct store *st, struct keel_ctx *ctx,
                              const struct store_lm_search *q, struct keel_logged_model **out,
                              size_t *n_out, bool *more);

/* Records models a run produced; a model the run already output fails. */
enum keel_err store_run_log_outputs(struct store *st, struct keel_ctx *ctx, const char *run_id,
                                    const struct keel_model_output *outputs, size_t n);

/* ---- artifact index (paths relative to the artifact destination) ---- */
struct keel_artifact {
    const char *path; /* in listings: the name within the listed directory */
    bool is_dir;
    int64_t size;       /* files */
    const char *digest; /* files: SHA-256 hex of the content */
};

/* Points `path` at a stored content. Refuses a path that is a directory, or
 * that has a file among its parents. */
enum keel_err store_artifact_put(struct store *st, struct keel_ctx *ctx, const char *path,
                                 const char *digest, int64_t size);
/* The file at `path`; KEEL_E_NOT_FOUND when there is none (out->is_dir tells
 * whether `path` is a directory instead). */
enum keel_err store_artifact_get(struct store *st, struct keel_ctx *ctx, const char *path,
                                 struct keel_artifact *out);
/* The entries directly inside directory `dir` ("" for the root), sorted by
 * name; nothing for a missing directory or a file. At most `max` entries. */
enum keel_err store_artifact_list(struct store *st, struct keel_ctx *ctx, const char *dir,
                                  size_t max, struct keel_artifact **out, size_t *n);
/* Removes every file under directory `dir`. *n_removed counts them. */
enum keel_err store_artifact_delete_dir(struct store *st, struct keel_ctx *ctx, const char *dir,
                                        int64_t *n_removed);
/* Whether any artifact points at `digest`. */
enum keel_err store_artifact_digest_used(struct store *st, struct keel_ctx *ctx,
                                         const char *digest, bool *used);

/* ---- deployments (deployments_sql.c) ---- */

struct keel_deployment {
    const char *name, *model_uri;
    const char *prediction_log; /* "off", "best-effort" or "required" */
    int64_t max_batch_rows;     /* server-side batching; 0: off */
    int64_t max_batch_wait_us;
    int64_t creation_time, last_updated_time;
};

/* Creates (KEEL_E_ALREADY_EXISTS when the name is taken) or, with update,
 * changes (KEEL_E_NOT_FOUND when missing) deployment d->name: its model URI,
 * prediction log and batching. The times are the store's. */
enum keel_err store_deployment_put(struct store *st, struct keel_ctx *ctx,
                                   const struct keel_deployment *d, bool update);
enum keel_err store_deployment_get(struct store *st, struct keel_ctx *ctx, const char *name,
                                   struct keel_deployment *out);
/* Every deployment, by name. */
enum keel_err store_deployment_list(struct store *st, struct keel_ctx *ctx,
                                    struct keel_deployment **out, size_t *n);
enum keel_err store_deployment_delete(struct store *st, struct keel_ctx *ctx, const char *name);

/* ---- users, permissions and tokens (auth_sql.c) ----
 * The tables of MLflow's authentication: a user's password is stored only as
 * the hash auth/ made of it, a token only as the SHA-256 of its secret.
 * Permissions are MLflow's words ("READ", "EDIT", "MANAGE",
 * "NO_PERMISSIONS"), checked by the caller. Messages are MLflow's. */

struct keel_user {
    int64_t id;
    const char *username;
    const char *password_hash;
    bool is_admin;
};

enum store_resource { STORE_RES_EXPERIMENT, STORE_RES_REGISTERED_MODEL };

struct keel_permission {
    const char *resource; /* the experiment id or the registered model's name */
    int64_t user_id;
    const char *permission;
};

struct keel_token {
    const char *id, *name;
    int64_t user_id;
    const char *username;
    bool is_admin;
    const unsigned char *secret_hash; /* 32 bytes */
    int64_t creation_time, expiration_time; /* ms; expiration 0: never */
};

enum keel_err store_user_count(struct store *st, struct keel_ctx *ctx, int64_t *n);
enum keel_err store_user_create(struct store *st, struct keel_ctx *ctx, const char *username,
                                const char *password_hash, bool is_admin, struct keel_user *out);
/* KEEL_E_NOT_FOUND with MLflow's message when there is no such user. */
enum keel_err store_user_get(struct store *st, struct keel_ctx *ctx, const char *username,
                             struct keel_user *out);
enum keel_err store_user_list(struct store *st, struct keel_ctx *ctx, struct keel_user **out,
                              size_t *n);
/* Changes what is given: password_hash when not NULL, is_admin when >= 0. */
enum keel_err store_user_update(struct store *st, struct keel_ctx *ctx, const char *username,
                                const char *password_hash, int is_admin);
/* Deletes the user with their permissions and tokens. */
enum keel_err store_user_delete(struct store *st, struct keel_ctx *ctx, const char *username);

enum keel_err store_permission_create(struct store *st, struct keel_ctx *ctx,
                                      enum store_resource kind, const char *resource,
                                      const char *username, const char *permission,
                                      struct keel_permission *out);
enum keel_err store_permission_get(struct store *st, struct keel_ctx *ctx,
                                   enum store_resource kind, const char *resource,
                                   const char *username, struct keel_permission *out);
enum keel_err store_permission_update(struct store *st, struct keel_ctx *ctx,
                                      enum store_resource kind, const char *resource,
                                      const char *username, const char *permission);
enum keel_err store_permission_delete(struct store *st, struct keel_ctx *ctx,
                                      enum store_resource kind, const char *resource,
                                      const char *username);
/* A user's permissions of one kind, by resource. */
enum keel_err store_permission_list(struct store *st, struct keel_ctx *ctx,
                                    enum store_resource kind, int64_t user_id,
                                    struct keel_permission **out, size_t *n);
/* The permission user_id holds on a resource; *permission NULL when none
 * (the server's default then applies). The hot path of every check. */
enum keel_err store_permission_of(struct store *st, struct keel_ctx *ctx,
                                  enum store_resource kind, const char *resource,
                                  int64_t user_id, const char **permission);

/* The experiment a run (or, with logged_model, a logged model) belongs to;
 * KEEL_E_NOT_FOUND when there is none. What permission checks ask. */
enum keel_err store_experiment_of(struct store *st, struct keel_ctx *ctx, bool logged_model,
                                  const char *id, int64_t *experiment_id);

/* ---- the audit log (audit_sql.c) ----
 * Every change made through the API is recorded with the change itself: the
 * request leaves a keel_audit in its ctx, and the writer stores it with the
 * request's first successful write, inside that write's savepoint -- no
 * change without its record, no record without its change. Records are
 * numbered 1, 2, 3... and chained: each holds the SHA-256 of the one before,
 * and its own hash covers that and its text. audit_head holds the last
 * number and hash, so removing records from the end shows too. */

struct keel_audit {
    /* a JSON object: what happened, by whom, to what; the writer adds
     * "seq" and "time" in front */
    const char *fields;
    /* its "action" ("POST /api/2.0/mlflow/..."), also kept in a column of
     * its own so that reading one kind of record needs no JSON; may be NULL */
    const char *action;
    bool stored; /* set by the writer once the record is in the transaction */
};

struct keel_audit_record {
    int64_t seq;
    const char *record;             /* the JSON text the hash covers */
    unsigned char prev_hash[32], hash[32];
};

/* Stores ctx->audit on its own (a refused attempt changes nothing else). */
enum keel_err store_audit_append(struct store *st, struct keel_ctx *ctx);
/* Up to max records from seq `from` on; newest_first: from seq `from` back. */
enum keel_err store_audit_list(struct store *st, struct keel_ctx *ctx, int64_t from, size_t max,
                               bool newest_first, struct keel_audit_record **out, size_t *n);

struct keel_audit_verdict {
    bool ok;
    int64_t records;     /* how many were checked */
    int64_t first_bad;   /* the first record that is not what the chain says (0: none) */
    const char *reason;  /* why, in words */
    unsigned char head[32]; /* the last hash: keep it elsewhere to anchor the chain */
};
/* Walks the whole chain: numbering, links, hashes, and the head. */
enum keel_err store_audit_verify(struct store *st, struct keel_ctx *ctx,
                                 struct keel_audit_verdict *out);

/* What the audit log says happened to registered models' aliases and
 * stages, in order: the successful changes that move them. */
enum registry_event_kind {
    REG_ALIAS_SET, REG_ALIAS_DELETE, REG_TRANSITION, REG_VERSION_DELETE, REG_RENAME,
    REG_MODEL_DELETE, REG_MODEL_CREATE
};
struct keel_registry_event {
    int64_t seq, time;
    const char *principal;
    enum registry_event_kind kind;
    const char *name, *new_name, *alias, *stage; /* NULL when the kind has none */
    int64_t version;                             /* 0 when the kind has none */
    bool archive_existing;                       /* a transition's flag */
};
enum keel_err store_registry_events(struct store *st, struct keel_ctx *ctx,
                                    struct keel_registry_event **out, size_t *n);

enum keel_err store_token_create(struct store *st, struct keel_ctx *ctx,
                                 const struct keel_token *t);
/* The token with that id and its user; KEEL_E_NOT_FOUND when none. */
enum keel_err store_token_get(struct store *st, struct keel_ctx *ctx, const char *id,
                              struct keel_token *out);
/* A user's tokens (every user's when user_id is 0), newest first. */
enum keel_err store_token_list(struct store *st, struct keel_ctx *ctx, int64_t user_id,
                               struct keel_token **out, size_t *n);
/* Revokes token `id`; only a token of user_id unless user_id is 0. */
enum keel_err store_token_delete(struct store *st, struct keel_ctx *ctx, const char *id,
                                 int64_t user_id);

#endif
