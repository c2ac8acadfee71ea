/*
 * predlog.h -- the prediction log: one record per scored request, for every
 * deployment, in one schema.
 *
 * Records are JSON objects (request_id, timestamp_ms, deployment, model_name,
 * model_version, run_id, inputs, outputs, latency_ms, status, error), kept as
 * gzip-compressed JSON lines under
 *     <dir>/deployment=<name>/date=<YYYY-MM-DD>/part-<ms>-<seq>.jsonl.gz
 * -- Hive-style partitions that DuckDB, pandas and Spark read as they are.
 * A writer thread takes records off a bounded queue and appends each batch
 * to its partition's open segment as one gzip member (concatenated members
 * are one valid gzip file), so a segment is readable at every moment.
 *
 * Two modes per record. `required`: predlog_append returns only once the
 * record is on disk (its batch written and fsync'd), or fails -- the request
 * then fails too, so nothing answered goes unrecorded, even across kill -9.
 * `best-effort`: predlog_append only queues; when the queue is full the
 * record is dropped and counted. Segments roll by size and age; partitions
 * older than the retention are deleted.
 */
#ifndef KEEL_PREDLOG_H
#define KEEL_PREDLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

struct predlog;

struct predlog_config {
    const char *dir;
    size_t queue_max;        /* records waiting to be written; 0: 65536 */
    size_t segment_bytes;    /* roll a segment past this size; 0: 64 MiB */
    unsigned segment_age_s;  /* roll a segment older than this; 0: 3600 */
    unsigned retention_days; /* delete older date= partitions; 0: keep all */
    /* seal segments under this master key (copied; crypto/seal.h): each
     * gzip member becomes one sealed record of a .jsonl.gz.sealed file,
     * read back through keel. NULL: plain .jsonl.gz, readable by any tool */
    const struct keel_key *key;
};

struct keel_key;

struct predlog_stats {
    uint64_t written;        /* records on disk */
    uint64_t dropped;        /* best-effort records not kept (queue full or write error) */
    uint64_t failed;         /* required records that could not be made durable */
    uint64_t queued;         /* waiting now */
};

enum keel_err predlog_open(struct predlog **out, const struct predlog_config *cfg,
                           struct keel_ctx *ctx);
/* Writes what is queued, stops the writer, closes the segments. NULL is safe. */
void predlog_close(struct predlog *l);

/* Appends one record (json: a JSON object, len bytes, no line end; copied)
 * of `deployment` at ts_ms. required: waits until durable; KEEL_E_IO when it
 * cannot be. Otherwise queues, or drops (and counts) when the queue is full. */
enum keel_err predlog_append(struct predlog *l, const char *deployment, int64_t ts_ms,
                             const char *json, size_t len, bool required, struct keel_ctx *ctx);

void predlog_get_stats(struct predlog *l, struct predlog_stats *out);

struct predlog_filter {
    const char *deployment;  /* NULL: every deployment */
    int64_t from_ms, to_ms;  /* timestamp_ms in [from, to); 0: unbounded */
    const char *request_id;  /* NULL: any */
    const char *model_version; /* NULL: any */
    size_t limit;            /* most records returned */
    bool newest_first;       /* each deployment's newest records first */
};

/* Appends the matching records to out as a JSON array: deployment by
 * deployment, each one's records oldest first (or newest first). Reads only
 * the partitions the filter can match. */
enum keel_err predlog_query(struct predlog *l, const struct predlog_filter *f, struct kbuf *out,
                            size_t *n_found, struct keel_ctx *ctx);

#endif
