/*
 * batch.h -- a file of any size through a model, in constant memory.
 *
 * `keel models predict` streams CSV or JSON-lines rows through a loaded
 * model: one thread reads the input and cuts it into chunks of whole rows,
 * worker threads decode each chunk with the scoring server's decoder
 * (serve/payload.c: the same column matching, conversions and refusals as
 * online) and score it, and the calling thread writes the chunks' output in
 * input order. Memory is bounded by the chunk size times the chunks in
 * flight, never by the input.
 */
#ifndef KEEL_BATCH_H
#define KEEL_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "util/err.h"

enum batch_input { BATCH_IN_CSV, BATCH_IN_JSONL };
enum batch_output { BATCH_OUT_CSV, BATCH_OUT_JSONL, BATCH_OUT_JSON };

struct batch_options {
    const char *input;        /* a path, or "-" for stdin */
    const char *output;       /* a path, or "-" for stdout */
    enum batch_input in_format;
    enum batch_output out_format;
    const char *const *keep;  /* input columns copied to the output, before the prediction */
    size_t n_keep;
    unsigned threads;         /* scoring threads (>= 1) */
    size_t chunk_rows;        /* rows per chunk */
    bool skip_errors;         /* --on-error skip: rejected rows go to `rejects` */
    const char *rejects;      /* where rejected rows go (with skip_errors) */
    unsigned shard, shards;   /* process part `shard` of `shards` (0-based); shards 0 or 1: all */
    bool progress;            /* rows, rows/s and ETA on stderr while running */
    bool digests;             /* SHA-256 of input and output into the stats (for the job's
                                 record; hashing 5 GB costs seconds, so only when asked) */
};

struct batch_stats {
    uint64_t rows;            /* rows scored and written */
    uint64_t rejected;        /* rows refused (written to the rejects file) */
    uint64_t bytes_in, bytes_out;
    double seconds;
    char input_sha256[65];    /* of the bytes this job read (its shard's, with the header); */
    char output_sha256[65];   /* of the bytes it wrote; both "" without o->digests */
};

/*
 * Runs the job. On success the output is complete (written to a temporary
 * file beside it and renamed into place; stdout is written as it goes). On
 * failure -- a malformed row without skip_errors, a model error, an I/O
 * error -- nothing is left at the output path and the message names the
 * input line and the reason. Errors: KEEL_E_BAD_REQUEST /
 * KEEL_E_INVALID_PARAMETER (a row refused, as the scoring server would),
 * KEEL_E_INVALID_PARAMETER (options), KEEL_E_IO, KEEL_E_NOMEM.
 */
enum keel_err batch_predict(const struct keel_model *model, const struct batch_options *o,
                            struct batch_stats *stats, struct keel_ctx *ctx);

#endif
