/*
 * batcher.h -- server-side batching: concurrent requests scored as one
 * matrix, each answered with exactly its own rows.
 *
 * Opt-in per deployment: a request that arrives when no batch is forming
 * opens one and waits up to max_wait_us for others (or until max_rows rows
 * are queued), then scores the whole batch with one model call and hands
 * every request its slice of the result. Requests for different models (a
 * swap in progress) never share a batch.
 */
#ifndef KEEL_BATCHER_H
#define KEEL_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

struct batcher;

/* max_rows >= 1; max_wait_us >= 0. */
enum keel_err batcher_new(struct batcher **out, size_t max_rows, unsigned max_wait_us,
                          struct keel_ctx *ctx);
/* Changes the limits; max_rows 0 turns batching off (every request is
 * scored on its own). Safe while requests are in flight. */
void batcher_configure(struct batcher *b, size_t max_rows, unsigned max_wait_us);
/* Frees b; no request may be using it. NULL is safe. */
void batcher_free(struct batcher *b);

/* keel_model_predict through the batch: same contract (out's arrays come
 * from ctx->arena), possibly scored together with other requests' rows.
 * A request with more rows than max_rows is scored on its own. */
enum keel_err batcher_predict(struct batcher *b, const struct keel_model *m, const double *x,
                              size_t rows, struct keel_prediction *out, struct keel_ctx *ctx);

/* Batches scored since creation: how many, their rows, and how many had at
 * most 1, 2, 4, ... 1024 rows (by_size[i]: <= 2^i, not cumulative; the last
 * slot: more). */
#define BATCHER_SIZE_BUCKETS 11
struct batcher_sizes {
    uint64_t batches, rows;
    uint64_t by_size[BATCHER_SIZE_BUCKETS + 1];
};
void batcher_sizes(struct batcher *b, struct batcher_sizes *out);

#endif
