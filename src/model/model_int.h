/*
 * model_int.h -- the inside of the model layer, shared by model.c, mlmodel.c
 * and the flavor runners (xgb.c).
 *
 * model.h is what the rest of keel sees; this header holds what only the
 * layer's own files need (the btree.h / btreeInt.h split): the parsed MLmodel
 * file, its limits, and the table entry through which model.c drives a flavor
 * runner. A new flavor is one more struct model_runner and one line in
 * model.c's runner table.
 */
#ifndef KEEL_MODEL_INT_H
#define KEEL_MODEL_INT_H

#include <stddef.h>

#include "model/model.h"

struct karena;

/* An MLmodel file is a few kilobytes; a signature of tens of thousands of
 * columns still fits well under this. */
#define MLMODEL_MAX_BYTES ((size_t)1 << 20)
/* Columns in a signature, and features a model may take: keel's CSV reader
 * takes no more fields in a row (CSV_DEFAULT_MAX_COLS). */
#define MLMODEL_MAX_COLUMNS ((size_t)1 << 16)

/* One scalar entry of a flavor's configuration ("data: model.xgb"). */
struct mlmodel_kv {
    const char *key;
    const char *value; /* NULL for YAML null ("code: null") */
};

/* One entry of MLmodel's `flavors` mapping. Only scalar entries are kept;
 * nested ones (python_function's env: {...}) are skipped. */
struct mlmodel_flavor {
    const char *name;
    const struct mlmodel_kv *conf;
    size_t n_conf;
};

/* What keel reads from an MLmodel file; every other key is accepted and
 * ignored (MLflow 3 adds several). */
struct mlmodel {
    const struct mlmodel_flavor *flavors; /* in file order */
    size_t n_flavors;
    const char *mlflow_version;           /* "" when absent */
    struct keel_signature sig;            /* has_inputs 0: none, or not by column */
};

/* Reads the file at path whole into *buf (malloc'd, NUL-terminated; the
 * caller frees it) when it holds at most max bytes. Errors: KEEL_E_NOT_FOUND
 * (no such file), KEEL_E_INVALID_PARAMETER (not a regular file, or larger
 * than max), KEEL_E_IO, KEEL_E_NOMEM. `what` names the file in messages. */
enum keel_err mlmodel_read_file(const char *path, const char *what, size_t max, char **buf,
                                size_t *len, struct keel_ctx *ctx);

/* Parses MLmodel text (at most MLMODEL_MAX_BYTES) into *out; every string
 * and array of *out lives in `a`. Errors: KEEL_E_INVALID_PARAMETER
 * (not YAML, wrong shapes, a malformed signature, past a limit),
 * KEEL_E_NOT_IMPLEMENTED (a signature column type keel cannot score),
 * KEEL_E_NOMEM. */
enum keel_err mlmodel_parse(struct karena *a, const char *text, size_t len, struct mlmodel *out,
                            struct keel_ctx *ctx);

/* The scalar `key` of a flavor's configuration; NULL when absent or null. */
const char *mlmodel_flavor_get(const struct mlmodel_flavor *f, const char *key);

/* What a runner's load hands back to model.c. */
struct model_loaded {
    void *state;             /* the runner's model, freed by its free() */
    const char *model_class; /* lives in the arena given to load() */
    size_t n_features;
};

/*
 * A flavor keel runs natively. load() reads the flavor's model from the
 * model directory `dir` (strings it keeps go in `a`, which lives as long as
 * the model); predict() must be safe to call from many threads at once on one
 * state and takes its result memory from ctx->arena; free() releases what
 * load() made (NULL is safe).
 */
struct model_runner {
    const char *flavor; /* its key in MLmodel's flavors ("xgboost") */
    enum keel_err (*load)(const char *dir, const struct mlmodel_flavor *f, struct karena *a,
                          struct model_loaded *out, struct keel_ctx *ctx);
    enum keel_err (*predict)(const void *state, const double *x, size_t rows,
                             struct keel_prediction *out, struct keel_ctx *ctx);
    void (*free)(void *state);
};

/* xgb.c: the xgboost flavor, through libxgboost's C API. */
extern const struct model_runner xgb_runner;

#endif
