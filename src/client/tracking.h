/*
 * tracking.h -- keel's own jobs recorded as MLflow runs on a tracking server.
 *
 * A batch job (`keel models predict`) records what it did -- the model it
 * ran, the digests of its input and output, row counts, timings -- as a run
 * in an experiment of a tracking server (keel's or MLflow's), through the
 * same REST API the MLflow client uses, so "which model scored this file"
 * is answered where people already look.
 */
#ifndef KEEL_TRACKING_H
#define KEEL_TRACKING_H

#include <stdint.h>

#include "util/err.h"

struct tracking_run;

/*
 * Starts a run named run_name (may be NULL) in the experiment named
 * experiment, creating the experiment when it does not exist (two jobs
 * starting at once both end up in the same one). tracking_uri is
 * http(s)://host[:port][/prefix]; credentials and TLS settings come from the
 * environment as for the MLflow client (MLFLOW_TRACKING_TOKEN,
 * MLFLOW_TRACKING_USERNAME / _PASSWORD, MLFLOW_TRACKING_INSECURE_TLS,
 * MLFLOW_TRACKING_SERVER_CERT_PATH). On success *out is the caller's, ended
 * with tracking_run_end(). Errors: KEEL_E_INVALID_PARAMETER (not an http(s)
 * URI, empty experiment name), KEEL_E_IO (unreachable; the message names the
 * URI), the server's own error otherwise, with its message.
 */
enum keel_err tracking_run_start(const char *tracking_uri, const char *experiment,
                                 const char *run_name, struct tracking_run **out,
                                 struct keel_ctx *ctx);

/* The run's id and its experiment's (valid until tracking_run_end). */
const char *tracking_run_id(const struct tracking_run *r);
const char *tracking_experiment_id(const struct tracking_run *r);

/* Queue a param, tag or metric; sent together by tracking_run_flush() or
 * tracking_run_end(). Values longer than MLflow's limits are refused with
 * KEEL_E_INVALID_PARAMETER at queue time, a full queue with
 * KEEL_E_TOO_LARGE; a NULL value is sent as "". */
enum keel_err tracking_log_param(struct tracking_run *r, const char *key, const char *value,
                                 struct keel_ctx *ctx);
enum keel_err tracking_set_tag(struct tracking_run *r, const char *key, const char *value,
                               struct keel_ctx *ctx);
enum keel_err tracking_log_metric(struct tracking_run *r, const char *key, double value,
                                  int64_t step, struct keel_ctx *ctx);

/* Sends what is queued (runs/log-batch, split to MLflow's per-request
 * limits); what the server refused stays queued. */
enum keel_err tracking_run_flush(struct tracking_run *r, struct keel_ctx *ctx);

/*
 * Flushes, marks the run FINISHED (ok != 0) or FAILED (the status follows ok
 * alone) with its end time, and frees r (also when sending fails; the first
 * error is returned). NULL is safe.
 */
enum keel_err tracking_run_end(struct tracking_run *r, int ok, struct keel_ctx *ctx);

#endif
