/*
 * cli.h -- keel's subcommands; each takes argv from its own name on and
 * returns the process exit code.
 */
#ifndef KEEL_CLI_H
#define KEEL_CLI_H

#include <signal.h>

int cli_server(int argc, char **argv);
int cli_gc(int argc, char **argv);
int cli_models(int argc, char **argv);
int cli_models_predict(int argc, char **argv);
int cli_deployments(int argc, char **argv);
int cli_predictions(int argc, char **argv);
int cli_policy(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_keys(int argc, char **argv);

struct karena;

/* The SQLite file named by --backend-store-uri (sqlite:///PATH), or
 * DATA_DIR/keel.db without one; NULL for a URI keel cannot open. */
const char *cli_store_path(struct karena *a, const char *backend_uri, const char *data_dir);
/* --artifacts-destination, or DATA_DIR/artifacts without one. */
const char *cli_artifacts_path(struct karena *a, const char *destination, const char *data_dir);
int cli_mkdirs(const char *path);
/* One call to the server at `tracking` (or the environment's, or
 * http://127.0.0.1:5000); prints the answer's JSON (each item of `list_key`
 * on its own line when given) or `who`: the error. The exit code. */
int cli_call_and_print(const char *who, const char *tracking, const char *method,
                       const char *path, const char *json, const char *list_key);
int cli_models_history(int argc, char **argv);
/* --tracking-uri, else KEEL_TRACKING_URI, else MLFLOW_TRACKING_URI; NULL when
 * none is set. */
const char *cli_tracking_uri(const char *flag);
/* --cache-dir, else KEEL_MODEL_CACHE, else $HOME/.cache/keel/models (or
 * ./keel-data/models without a HOME). */
const char *cli_model_cache(struct karena *a, const char *flag);

/* For a long-running command: blocks SIGINT and SIGTERM in this thread and
 * every thread started after (so only cli_wait_stop sees them; call it before
 * starting any) and ignores SIGPIPE (a client that hangs up is an error on
 * its own connection, not the end of the process). */
void cli_block_stop_signals(sigset_t *stop);
/* Waits for one of the stop signals and says so on stderr as `who`. */
void cli_wait_stop(const sigset_t *stop, const char *who);

#endif
