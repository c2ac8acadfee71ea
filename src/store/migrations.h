/*
 * migrations.h -- bring a SQLite metadata store to the current schema.
 */
#ifndef KEEL_STORE_MIGRATIONS_H
#define KEEL_STORE_MIGRATIONS_H

#include <sqlite3.h>

#include "util/err.h"

/* Applies every migration above the store's PRAGMA user_version. */
enum keel_err store_migrate(sqlite3 *db, struct keel_ctx *ctx);
int store_schema_version_latest(void);

/* The audit records that can change the registry, as the partial index
 * audit_log_registry (migration 9) and store_registry_events' query both
 * spell it: SQLite uses the index only for a query repeating its terms. */
#define AUDIT_REGISTRY_ACTIONS                                                                   \
    "(action LIKE '%/mlflow/registered-models/%' OR action LIKE '%/mlflow/model-versions/%')"

#endif
