/*
 * search.h -- MLflow's search language, parsed into a tree and compiled to SQL.
 *
 * search_compile_runs() and search_compile_experiments() take the filter
 * string and order_by list a client sent and produce SQL fragments over the
 * store's tables (see store/migrations.c) whose every value is a bound
 * parameter: no client text is ever spliced into SQL. Errors carry MLflow's
 * exact messages and codes.
 *
 * The fragments assume these aliases in the caller's query:
 *   runs        AS r   (search_compile_runs)
 *   experiments AS e   (search_compile_experiments)
 * and are used as
 *   SELECT ... FROM runs r WHERE <caller's conditions> AND (<where>)
 *   ORDER BY <order_by> LIMIT ? OFFSET ?
 * with the binds applied in text order: the caller's own, then where_binds,
 * then order_binds, then the caller's limit/offset.
 *
 * All memory comes from ctx->arena.
 *
 * What the SQL relies on, and why no SQL function has to be registered:
 *   - MLflow runs SQLite with PRAGMA case_sensitive_like = true, so its LIKE
 *     is case-sensitive. keel does not depend on that connection-wide pragma:
 *     a LIKE pattern is translated to the equivalent GLOB pattern ('%' -> '*',
 *     '_' -> '?', a literal '*', '?' or '[' -> "[*]", "[?]", "[[]"; SQLite's
 *     LIKE has no escape character unless one is named, and MLflow names
 *     none) and compiled to `x GLOB ?`, which is case-sensitive, has the same
 *     one-character/any-run semantics over UTF-8, and can use an index.
 *   - ILIKE compiles to `lower(x) GLOB lower(?)`, the same as MLflow's
 *     `lower(x) LIKE lower(?)` (SQLite's lower() folds ASCII only, in both).
 *   - Metric filters compare latest_metrics.value only. MLflow stores a NaN
 *     metric as value 0 with is_nan = 1, so `metrics.m = 0` matches a NaN
 *     metric there; the store must write NaN the same way for keel to match.
 *     Metric ordering puts real values first, then NaN, then runs without the
 *     metric, in both directions (MLflow's rule).
 *   - attributes.run_name filters on the mlflow.runName tag (as MLflow does);
 *     ordering on run_name uses runs.name.
 *
 * Error order: MLflow parses the filter, then the order_by list, then checks
 * each filter clause's comparator, and reads the page token last. Callers
 * that want MLflow's error for a request with several faults should call
 * search_compile_*() before search_page_token_decode().
 */
#ifndef KEEL_STORE_SEARCH_H
#define KEEL_STORE_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Ceilings (MLflow has none; these only keep one request's work bounded).
 * Past them the request fails with INVALID_PARAMETER_VALUE. */
#define SEARCH_MAX_FILTER_LEN 65536   /* bytes of filter text */
#define SEARCH_MAX_CLAUSES 200        /* comparisons in one filter */
#define SEARCH_MAX_LIST_VALUES 10000  /* values in one IN (...) list */
#define SEARCH_MAX_ORDER_BY 100       /* order_by entries */
#define SEARCH_MAX_ORDER_BY_LEN 1024  /* bytes of one order_by entry */

enum search_bind_kind { SEARCH_BIND_TEXT, SEARCH_BIND_DOUBLE, SEARCH_BIND_INT };

struct search_bind {
    enum search_bind_kind kind;
    const char *text; /* SEARCH_BIND_TEXT */
    double d;         /* SEARCH_BIND_DOUBLE */
    int64_t i;        /* SEARCH_BIND_INT */
};

struct search_sql {
    const char *where; /* a boolean SQL expression; "1" when there is no filter */
    const char *order_by; /* full ORDER BY list, tie-breakers included */
    struct search_bind *where_binds;
    size_t n_where_binds;
    struct search_bind *order_binds;
    size_t n_order_binds;
    /* `where` with each metric/param/tag clause as a per-run lookup instead
     * of a set: the same binds, and the better form when the runs come from
     * another index (see lead_metric). Runs only. */
    const char *where_lookup;
    /* Runs ordered first by a metric: its key and direction, and the ORDER
     * BY terms after it (tie-breakers included) with their binds, so a caller
     * can read the runs that have a real value for that metric in the
     * latest_metrics(key, value) index's order and stop at the page's end.
     * NULL when the first order key is not a metric. */
    const char *lead_metric;
    bool lead_metric_asc;
    const char *order_by_rest;
    struct search_bind *order_rest_binds;
    size_t n_order_rest_binds;
};

enum keel_err search_compile_runs(struct keel_ctx *ctx, const char *filter,
                                  const char *const *order_by, size_t n_order_by,
                                  struct search_sql *out);

enum keel_err search_compile_experiments(struct keel_ctx *ctx, const char *filter,
                                         const char *const *order_by, size_t n_order_by,
                                         struct search_sql *out);

/*
 * The model registry's searches (MLflow 2.12's SearchModelUtils /
 * SearchModelVersionUtils read by the SQL store). The fragments assume
 *   registered_models AS m   (search_compile_registered_models)
 *   model_versions    AS v   (search_compile_model_versions)
 * used as `SELECT ... FROM registered_models m WHERE (<where>) ORDER BY
 * <order_by> LIMIT ? OFFSET ?` (likewise FROM model_versions v), binds as
 * above. where_lookup and lead_metric are always NULL here.
 *
 * Registered models: filter keys `name` / `attribute.name` (=, !=, LIKE,
 * ILIKE) and `tag.<k>` / `tags.<k>` (=, !=, LIKE, ILIKE); order_by `name`,
 * `timestamp` or `last_updated_timestamp` (both last_updated_time), ASC or
 * DESC; then `name ASC` unless ordered on. No order_by: `name ASC`.
 *
 * Model versions: filter keys name, source_path (=, !=, LIKE, ILIKE),
 * run_id (those and IN), version_number (=, !=, <, <=, >, >=, numbers or
 * quoted strings) and tags (=, !=, LIKE, ILIKE); order_by name,
 * version_number, creation_timestamp, last_updated_timestamp; then `name
 * ASC`, `version DESC` unless ordered on. No order_by: MLflow's default
 * `last_updated_timestamp DESC, name ASC, version_number DESC`. `where`
 * also leaves out versions whose current_stage is REGISTRY_STAGE_DELETED
 * ("Deleted_Internal"), as MLflow does, so it is never "1".
 *
 * max_results and its limits are the caller's (they differ per endpoint and
 * are checked before the filter: see the conformance README); page tokens
 * are the same as for runs.
 */
/* flags: SEARCH_HIDE_PROMPTS applies MLflow 3's rule: prompts (tagged
 * mlflow.prompt.is_prompt = 'true') are left out unless the filter's first
 * clause on that tag is = 'true' or != 'false'; other clauses on the tag
 * are dropped, so models without it are kept. */
#define SEARCH_HIDE_PROMPTS 1u
enum keel_err search_compile_registered_models(struct keel_ctx *ctx, const char *filter,
                                               const char *const *order_by, size_t n_order_by,
                                               unsigned flags, struct search_sql *out);

enum keel_err search_compile_model_versions(struct keel_ctx *ctx, const char *filter,
                                            const char *const *order_by, size_t n_order_by,
                                            unsigned flags, struct search_sql *out);

/*
 * MLflow 3's logged-model search (POST /logged-models/search), as its SQL
 * store runs it (parse_filter_string() in search_logged_model_utils.py,
 * then SqlAlchemyStore.search_logged_models). The fragments assume
 *   logged_models AS lm
 * used as `SELECT ... FROM logged_models lm WHERE <experiment ids and
 * lifecycle_stage <> 'deleted'> AND (<where>) ORDER BY <order_by> LIMIT ?
 * OFFSET ?`, binds as above; where_lookup and lead_metric are always NULL.
 * The aliases mm, kv, m and m2 are used inside the fragments' subqueries.
 *
 * Filter: comparisons joined by AND (OR, or anything else between them, is
 * a 400). Keys: `<entity>.<key>` with entity attributes, metrics, params or
 * tags (any other lower-case prefix is a 400), or a bare attribute name.
 * Attributes are SqlLoggedModel's columns (name, model_id, experiment_id,
 * model_type, status, source_run_id, lifecycle_stage, artifact_location,
 * creation_timestamp_ms, last_updated_timestamp_ms, status_message; bare
 * creation_time / creation_timestamp / last_updated_timestamp are aliases);
 * anything else is KEEL_E_INTERNAL ("type object 'SqlLoggedModel' has no
 * attribute 'x'", MLflow's 500). Metrics and the two timestamps take
 * < <= > >= = != with a number (a non-number is a 500, Python's float()
 * error); everything else = != LIKE ILIKE IN NOT IN with a string, compared
 * as written, so `status = 'LOGGED_MODEL_READY'` matches nothing (status is
 * stored as a number). A metric clause matches any logged value of the
 * metric, not only the latest (as MLflow joins them).
 *
 * order_by: attribute names (not aliased by `attributes.`; unknown ->
 * KEEL_E_INVALID_PARAMETER "Invalid order by field name: <f>", which MLflow
 * sends with error_class ATTRIBUTE_NOT_FOUND / sqlstate KAM04), or
 * `metrics.<key>`: the model's latest value of the metric (latest timestamp,
 * then step), only over rows on dataset_name / dataset_digest when those are
 * non-empty, models lacking it last in both directions. Any other
 * `<x>.<y>` -> "Invalid order by field name: <f>. Only metrics are
 * supported.". Then creation_timestamp_ms DESC unless ordered on, then
 * (keel's, for stable pages) model_id ASC. A NULL field_name is read as "".
 *
 * datasets (search_compile_logged_models_datasets): each dataset_name must
 * be non-empty ("`dataset_name` in the `datasets` clause must be
 * specified.", checked before the filter; MLflow checks it before the page
 * token too). With datasets, metric clauses only match rows on one of the
 * datasets, and without a metric clause the model must have some metric on
 * one of them. A dataset without a digest (NULL or "") matches nothing, as
 * MLflow's server compares the digest to NULL.
 *
 * Error order (MLflow's): datasets, then the filter clause by clause, then
 * unknown attributes, then order_by entry by entry.
 */
struct search_lm_order {
    const char *field_name;
    bool ascending; /* MLflow's default is true */
    const char *dataset_name;   /* NULL or "" for any */
    const char *dataset_digest; /* NULL or "" for any */
};

struct search_lm_dataset {
    const char *dataset_name;
    const char *dataset_digest; /* NULL or "" when not given */
};

enum keel_err search_compile_logged_models(struct keel_ctx *ctx, const char *filter,
                                           const struct search_lm_order *order_by,
                                           size_t n_order_by, struct search_sql *out);

enum keel_err search_compile_logged_models_datasets(struct keel_ctx *ctx, const char *filter,
                                                    const struct search_lm_dataset *datasets,
                                                    size_t n_datasets,
                                                    const struct search_lm_order *order_by,
                                                    size_t n_order_by, struct search_sql *out);

/* Page tokens: MLflow's base64 of {"offset": N}. Decoding anything a client
 * forged gives KEEL_E_INVALID_PARAMETER with MLflow's message, never a
 * negative or absurd offset. NULL or "" decodes to 0. A negative offset
 * (which MLflow passes to SQLite, where it means 0) decodes to 0; one above
 * SEARCH_MAX_PAGE_OFFSET decodes to SEARCH_MAX_PAGE_OFFSET (an empty page),
 * so offset + max_results cannot overflow. */
#define SEARCH_MAX_PAGE_OFFSET ((int64_t)1 << 53)
enum keel_err search_page_token_decode(struct keel_ctx *ctx, const char *token, int64_t *offset);
/* Arena-allocated token for `offset`. */
const char *search_page_token_encode(struct keel_ctx *ctx, int64_t offset);
/* Standard base64 of n bytes (arena), and Python's lenient decoding of it
 * (arena, NUL-terminated; NULL when it is not base64). Other endpoints'
 * page tokens (logged-model search) are built on these. */
const char *search_b64_encode(struct keel_ctx *ctx, const char *data, size_t n);
char *search_b64_decode(struct keel_ctx *ctx, const char *text, size_t *n);

#endif
