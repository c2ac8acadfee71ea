/*
 * validate.h -- MLflow's validation of keys, values and limits, shared by the
 * tracking handlers. Limits are named here, once.
 */
#ifndef KEEL_API_VALIDATE_H
#define KEEL_API_VALIDATE_H

#include <stddef.h>

#include "util/err.h"

#define MAX_ENTITY_KEY_LENGTH 250
#define MAX_PARAM_VAL_LENGTH 6000
#define MAX_TAG_VAL_LENGTH 5000
#define MAX_EXPERIMENT_TAG_VAL_LENGTH 5000
#define MAX_METRICS_PER_BATCH 1000
#define MAX_PARAMS_TAGS_PER_BATCH 100
#define MAX_ENTITIES_PER_BATCH 1000
#define MAX_RUNS_SEARCH_RESULTS 50000
#define MAX_EXPERIMENTS_SEARCH_RESULTS 50000

/* kind is "metric", "parameter" or "tag": MLflow's character and path
 * checks on a key. */
enum keel_err validate_key_name(struct keel_ctx *ctx, const char *kind, const char *name);
/* "<entity> '<first 250 chars>' had length N, which exceeded length limit of L" */
enum keel_err validate_length(struct keel_ctx *ctx, const char *entity, const char *value,
                              size_t limit);
/* Truncates (in the arena) values past `limit` characters, as MLflow does
 * with MLFLOW_TRUNCATE_LONG_VALUES on (its default). */
const char *validate_truncate(struct keel_ctx *ctx, const char *value, size_t limit);
/* Number of Unicode code points of a UTF-8 string (Python's len()). */
size_t utf8_len(const char *s);

#endif
