/*
 * migrations.c -- the versioned SQLite schema of keel's metadata store.
 *
 * The schema version lives in PRAGMA user_version. Each entry of `migrations`
 * moves the store from version i to i+1 inside one transaction; a store is
 * opened by applying every migration above its version, so a database
 * written by any earlier keel is brought forward on start. Entries are never
 * edited once released: a change is a new entry.
 *
 * Tables mirror MLflow's SQL store (names and meaning) so that its filter and
 * ordering semantics carry over one to one.
 */
#include "store/migrations.h"

#include <sqlite3.h>
#include <stdio.h>

static const char *const migrations[] = {
    /* 1: tracking */
    "CREATE TABLE experiments ("
    "  experiment_id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  artifact_location TEXT NOT NULL,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active',"
    "  creation_time INTEGER,"
    "  last_update_time INTEGER);"
    "CREATE TABLE experiment_tags ("
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    "  key TEXT NOT NULL, value TEXT,"
    "  PRIMARY KEY (experiment_id, key));"
    /* run_key: a compact, stable key by which every per-run table refers to
     * its run (integer comparisons, small indexes); run_uuid is the id
     * clients see */
    "CREATE TABLE runs ("
    "  run_key INTEGER PRIMARY KEY,"
    "  run_uuid TEXT NOT NULL UNIQUE,"
    "  name TEXT,"
    "  source_type TEXT, source_name TEXT, entry_point_name TEXT,"
    "  user_id TEXT,"
    "  status TEXT NOT NULL,"
    "  start_time INTEGER, end_time INTEGER, deleted_time INTEGER,"
    "  source_version TEXT,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active',"
    "  artifact_uri TEXT,"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id));"
    "CREATE INDEX runs_experiment ON runs(experiment_id, start_time DESC, run_uuid);"
    /* Metric history: every logged value, its key interned in metric_keys
     * (integers make the history's B-tree smaller and its comparisons
     * cheaper). The primary key makes an identical re-log a no-op, as in
     * MLflow. */
    "CREATE TABLE metric_keys ("
    "  key_id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);"
    "CREATE TABLE metrics ("
    "  run_key INTEGER NOT NULL REFERENCES runs(run_key),"
    "  key_id INTEGER NOT NULL REFERENCES metric_keys(key_id),"
    "  value REAL NOT NULL, timestamp INTEGER NOT NULL, step INTEGER NOT NULL,"
    "  is_nan INTEGER NOT NULL,"
    "  PRIMARY KEY (run_key, key_id, timestamp, step, value, is_nan)) WITHOUT ROWID;"
    /* One row per (run, key): the largest (step, timestamp, value). */
    "CREATE TABLE latest_metrics ("
    "  run_key INTEGER NOT NULL REFERENCES runs(run_key), key TEXT NOT NULL,"
    "  value REAL NOT NULL, timestamp INTEGER NOT NULL, step INTEGER NOT NULL,"
    "  is_nan INTEGER NOT NULL,"
    "  PRIMARY KEY (run_key, key)) WITHOUT ROWID;"
    "CREATE INDEX latest_metrics_key_value ON latest_metrics(key, value);"
    "CREATE TABLE params ("
    "  run_key INTEGER NOT NULL REFERENCES runs(run_key), key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (run_key, key)) WITHOUT ROWID;"
    "CREATE INDEX params_key_value ON params(key, value);"
    "CREATE TABLE tags ("
    "  run_key INTEGER NOT NULL REFERENCES runs(run_key), key TEXT NOT NULL, value TEXT,"
    "  PRIMARY KEY (run_key, key)) WITHOUT ROWID;"
    "CREATE INDEX tags_key_value ON tags(key, value);"
    "CREATE TABLE datasets ("
    "  dataset_uuid TEXT NOT NULL UNIQUE,"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    "  name TEXT NOT NULL, digest TEXT NOT NULL,"
    "  dataset_source_type TEXT NOT NULL, dataset_source TEXT NOT NULL,"
    "  dataset_schema TEXT, dataset_profile TEXT,"
    "  PRIMARY KEY (experiment_id, name, digest));"
    "CREATE TABLE inputs ("
    "  input_uuid TEXT NOT NULL UNIQUE,"
    "  source_type TEXT NOT NULL, source_id TEXT NOT NULL,"
    "  destination_type TEXT NOT NULL, destination_id TEXT NOT NULL,"
    "  PRIMARY KEY (source_type, source_id, destination_type, destination_id));"
    "CREATE INDEX inputs_destination ON inputs(destination_type, destination_id);"
    "CREATE TABLE input_tags ("
    "  input_uuid TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (input_uuid, name));",
    /* 2: the artifact store's index: each artifact path (relative to the
     * artifact destination) points at the digest of its content */
    "CREATE TABLE artifact_files ("
    "  path TEXT PRIMARY KEY,"
    "  digest TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  created_time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX artifact_files_digest ON artifact_files(digest);",
    /* 3: the model registry (MLflow's tables; renames and deletes of a
     * registered model cascade to its versions, tags and aliases) */
    "CREATE TABLE registered_models ("
    "  name TEXT PRIMARY KEY,"
    "  creation_time INTEGER NOT NULL,"
    "  last_updated_time INTEGER NOT NULL,"
    "  description TEXT);"
    "CREATE TABLE registered_model_tags ("
    "  name TEXT NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT,"
    "  PRIMARY KEY (name, key));"
    "CREATE TABLE model_versions ("
    "  name TEXT NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,"
    "  version INTEGER NOT NULL,"
    "  creation_time INTEGER NOT NULL, last_updated_time INTEGER NOT NULL,"
    "  description TEXT, user_id TEXT,"
    "  current_stage TEXT NOT NULL DEFAULT 'None',"
    "  source TEXT, run_id TEXT, run_link TEXT,"
    "  status TEXT NOT NULL DEFAULT 'READY', status_message TEXT,"
    "  storage_location TEXT,"
    "  PRIMARY KEY (name, version));"
    "CREATE INDEX model_versions_run ON model_versions(run_id);"
    "CREATE TABLE model_version_tags ("
    "  name TEXT NOT NULL, version INTEGER NOT NULL,"
    "  key TEXT NOT NULL, value TEXT,"
    "  PRIMARY KEY (name, version, key),"
    "  FOREIGN KEY (name, version) REFERENCES model_versions(name, version)"
    "    ON UPDATE CASCADE ON DELETE CASCADE);"
    "CREATE TABLE registered_model_aliases ("
    "  name TEXT NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,"
    "  alias TEXT NOT NULL, version INTEGER NOT NULL,"
    "  PRIMARY KEY (name, alias));",
    /* 4: MLflow 3's logged models, and the models runs produced */
    "CREATE TABLE logged_models ("
    "  model_id TEXT PRIMARY KEY,"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    "  name TEXT NOT NULL,"
    "  artifact_location TEXT NOT NULL,"
    "  creation_timestamp_ms INTEGER NOT NULL, last_updated_timestamp_ms INTEGER NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active',"
    "  model_type TEXT NOT NULL DEFAULT '', source_run_id TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX logged_models_experiment ON logged_models(experiment_id, creation_timestamp_ms);"
    "CREATE TABLE logged_model_tags ("
    "  model_id TEXT NOT NULL REFERENCES logged_models(model_id),"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (model_id, key));"
    "CREATE TABLE logged_model_params ("
    "  model_id TEXT NOT NULL REFERENCES logged_models(model_id),"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (model_id, key));"
    /* metrics logged with a model_id: also the model's; '' for no dataset */
    "CREATE TABLE logged_model_metrics ("
    "  model_id TEXT NOT NULL, key TEXT NOT NULL, value REAL NOT NULL,"
    "  timestamp INTEGER NOT NULL, step INTEGER NOT NULL, is_nan INTEGER NOT NULL,"
    "  run_id TEXT NOT NULL, dataset_name TEXT NOT NULL DEFAULT '',"
    "  dataset_digest TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY (model_id, key, timestamp, step, value, is_nan, run_id, dataset_name,"
    "    dataset_digest)) WITHOUT ROWID;"
    "CREATE TABLE run_model_outputs ("
    "  run_key INTEGER NOT NULL REFERENCES runs(run_key),"
    "  model_id TEXT NOT NULL, step INTEGER NOT NULL,"
    "  PRIMARY KEY (run_key, model_id));",
    /* 5: the logged models a run used as inputs (log-inputs with models) */
    "CREATE TABLE run_model_inputs ("
    "  run_key INTEGER NOT NULL REFERENCES runs(run_key),"
    "  model_id TEXT NOT NULL,"
    "  PRIMARY KEY (run_key, model_id)) WITHOUT ROWID;",
    /* 6: deployments served by keel server, by name */
    "CREATE TABLE deployments ("
    "  name TEXT PRIMARY KEY, model_uri TEXT NOT NULL,"
    "  prediction_log TEXT NOT NULL DEFAULT 'best-effort',"
    "  max_batch_rows INTEGER NOT NULL DEFAULT 0, max_batch_wait_us INTEGER NOT NULL DEFAULT 0,"
    "  creation_time INTEGER NOT NULL, last_updated_time INTEGER NOT NULL);",
    /* 7: users, their permissions (MLflow's vocabulary and tables) and their
     * bearer tokens (only a hash of each secret) */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE experiment_permissions ("
    "  experiment_id TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  permission TEXT NOT NULL, PRIMARY KEY (user_id, experiment_id)) WITHOUT ROWID;"
    "CREATE TABLE registered_model_permissions ("
    "  name TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  permission TEXT NOT NULL, PRIMARY KEY (user_id, name)) WITHOUT ROWID;"
    "CREATE INDEX registered_model_permissions_name ON registered_model_permissions(name);"
    "CREATE TABLE auth_tokens ("
    "  id TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL, secret_hash BLOB NOT NULL,"
    "  creation_time INTEGER NOT NULL, expiration_time INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX auth_tokens_user ON auth_tokens(user_id);",
    /* 8: the audit log, a hash chain (store/audit_sql.c), and its head */
    "CREATE TABLE audit_log ("
    "  seq INTEGER PRIMARY KEY, record TEXT NOT NULL,"
    "  prev_hash BLOB NOT NULL, hash BLOB NOT NULL);"
    "CREATE TABLE audit_head ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash BLOB NOT NULL);",
    /* 9: each record's action in a column (outside what the chain hashes),
     * and the registry's changes indexed by it: a model's history reads those
     * instead of parsing every record of the log (store/audit_sql.c) */
    "ALTER TABLE audit_log ADD COLUMN action TEXT;"
    "UPDATE audit_log SET action = json_extract(record, '$.action') WHERE json_valid(record);"
    "CREATE INDEX audit_log_registry ON audit_log(seq) WHERE " AUDIT_REGISTRY_ACTIONS ";",
};

#define N_MIGRATIONS (sizeof migrations / sizeof migrations[0])

int store_schema_version_latest(void)
{
    return (int)N_MIGRATIONS;
}

enum keel_err store_migrate(sqlite3 *db, struct keel_ctx *ctx)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return keel_fail(ctx, KEEL_E_IO, "cannot read schema version: %s", sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > (int)N_MIGRATIONS)
        return keel_fail(ctx, KEEL_E_INVALID_STATE,
                         "the store has schema version %d, newer than this keel (%d)", version,
                         (int)N_MIGRATIONS);
    for (int v = version; v < (int)N_MIGRATIONS; v++) {
        char *msg = NULL;
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v + 1);
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, pragma, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            enum keel_err e = keel_fail(ctx, KEEL_E_IO, "schema migration %d failed: %s", v + 1,
                                        msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return e;
        }
    }
    return KEEL_OK;
}
