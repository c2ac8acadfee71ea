/*
 * payload.h -- the MLflow scoring protocol's request bodies, decoded into a
 * matrix in the model's signature order.
 *
 * MLflow's scoring server accepts JSON (`dataframe_split`, `dataframe_records`,
 * `instances`, `inputs`, optionally with `params`) and `text/csv`, matches
 * columns to the signature by name, converts values to the column types and
 * refuses what it cannot use. This module reproduces those rules and their
 * error messages (status, error_code and text) without building a DOM copy of
 * the data: values are parsed straight into one double matrix.
 *
 * Only numeric signatures (double, float, long, integer, boolean) are scored
 * today; a signature with other column types is refused by the decoder with
 * KEEL_E_NOT_IMPLEMENTED.
 */
#ifndef KEEL_PAYLOAD_H
#define KEEL_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"
#include "util/err.h"

enum payload_format {
    PAYLOAD_JSON, /* application/json */
    PAYLOAD_CSV,  /* text/csv */
};

/* A cell as the client wrote it: a JSON number whose value is exactly the
 * cell's double. s is NULL when there is none to copy (CSV, strings,
 * booleans, nulls, integers past 2^53, reals in integer columns): the double
 * is then printed. */
struct payload_text {
    const char *s; /* into the request body */
    size_t n;
};

/* rows x cols doubles, row-major, in signature order; NaN = null/missing. */
struct payload_frame {
    size_t rows, cols;
    double *x;                       /* from ctx->arena */
    const struct payload_text *text; /* rows x cols, when asked for; else NULL */
};

/* MLflow's paragraph for clients still speaking the 1.x scoring protocol,
 * which several refusals end with. */
extern const char payload_protocol_change_info[];

struct payload_limits {
    size_t max_rows; /* more rows -> KEEL_E_TOO_LARGE */
    bool keep_text;  /* fill payload_frame.text (the prediction log copies numbers from it) */
    size_t expect_rows; /* rows the body is known to hold, room made for at once (0: unknown) */
};

/*
 * Decodes body (len bytes, not necessarily NUL-terminated) for a model whose
 * signature is sig and whose feature count is n_features (used when the
 * signature has no inputs: columns are then taken by position). On failure
 * returns the error MLflow's scoring server would give -- KEEL_E_BAD_REQUEST
 * (BAD_REQUEST) or KEEL_E_INVALID_PARAMETER (INVALID_PARAMETER_VALUE) -- with
 * its message in ctx, or KEEL_E_TOO_LARGE past the limits.
 */
enum keel_err payload_decode(enum payload_format fmt, const char *body, size_t len,
                             const struct keel_signature *sig, size_t n_features,
                             const struct payload_limits *lim, struct payload_frame *out,
                             struct keel_ctx *ctx);

#endif
