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

#endif
