/*
 * model.h -- an MLflow model directory loaded for native scoring.
 *
 * keel scores models without Python: keel_model_load() reads a directory
 * written by MLflow (its MLmodel file, the signature in it, the flavor's
 * model file) and picks the flavor keel can run natively (today: xgboost,
 * through libxgboost's C API). A model flavor keel cannot run is refused at
 * load time with a message naming it and the flavors keel can run.
 *
 * A loaded struct keel_model is immutable and shared by every request thread;
 * it is reference-counted so that a deployment can swap in a new version
 * while requests still hold the old one (keel_model_ref / keel_model_unref;
 * the last unref frees it).
 *
 * Prediction follows MLflow's pyfunc semantics per model class (an XGBoost
 * Booster returns its raw output, e.g. probabilities; XGBClassifier returns
 * labels; XGBRegressor values); ../shared/fixtures/golden/ holds the exact
 * outputs keel must reproduce bit for bit.
 */
#ifndef KEEL_MODEL_H
#define KEEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The column types of an MLflow ColSpec signature, by their MLflow names. */
enum keel_dtype {
    KEEL_DT_DOUBLE,   /* "double" */
    KEEL_DT_FLOAT,    /* "float" */
    KEEL_DT_LONG,     /* "long" */
    KEEL_DT_INTEGER,  /* "integer" */
    KEEL_DT_BOOLEAN,  /* "boolean" */
    KEEL_DT_STRING,   /* "string" */
    KEEL_DT_BINARY,   /* "binary" */
    KEEL_DT_DATETIME, /* "datetime" */
};

/* MLflow's name for a type ("double"). */
const char *keel_dtype_name(enum keel_dtype t);

struct keel_colspec {
    const char *name; /* never NULL for a named-column signature */
    enum keel_dtype type;
    int required;     /* MLflow's "required" (true when absent) */
};

/*
 * The model's input signature. When has_inputs is 0 the MLmodel carries no
 * signature, or a tensor or unnamed-column one, and inputs are taken by position (n_inputs is then the model's
 * feature count). Owned by the model.
 */
struct keel_signature {
    int has_inputs;
    const struct keel_colspec *inputs;
    size_t n_inputs;
};

/* What a prediction holds: MLflow pyfunc's numpy dtype of the result. */
enum keel_pred_kind {
    KEEL_PRED_FLOAT32, /* f32 filled */
    KEEL_PRED_INT64,   /* i64 filled */
};

/*
 * A prediction: rows x cols values row-major; cols == 1 with flat == 1 for a
 * 1-D result (printed as a flat list), flat == 0 for a 2-D result (a list of
 * lists, e.g. a multi-class Booster's probabilities). Memory from the ctx's
 * arena.
 */
struct keel_prediction {
    enum keel_pred_kind kind;
    size_t rows, cols;
    int flat;
    float *f32;
    int64_t *i64;
};

struct keel_model;

/*
 * Loads the MLflow model directory `dir`. On success *out holds a model with
 * one reference (the caller's). Errors: KEEL_E_NOT_FOUND (no MLmodel),
 * KEEL_E_INVALID_PARAMETER (malformed MLmodel or signature, unreadable model
 * file), KEEL_E_NOT_IMPLEMENTED (no flavor keel can run -- the message names
 * the model's flavors and the ones keel runs --, or a model class, booster
 * kind or column type keel cannot score), KEEL_E_IO, KEEL_E_NOMEM. Uses ctx
 * only for the message.
 */
enum keel_err keel_model_load(const char *dir, struct keel_model **out, struct keel_ctx *ctx);

/* Another holder of m; returns m. Thread-safe. */
struct keel_model *keel_model_ref(struct keel_model *m);
/* Drops one reference; the last one frees the model. NULL is safe. Thread-safe. */
void keel_model_unref(struct keel_model *m);

const struct keel_signature *keel_model_signature(const struct keel_model *m);
/* The flavor keel runs it with ("xgboost") and the model class
 * ("xgboost.core.Booster", "xgboost.sklearn.XGBClassifier", ...). */
const char *keel_model_flavor(const struct keel_model *m);
const char *keel_model_class(const struct keel_model *m);
/* The MLflow version that saved the model (MLmodel's mlflow_version; "" when
 * absent): what a scoring server's /version answers. */
const char *keel_model_mlflow_version(const struct keel_model *m);
/* Number of input features the model expects (== signature n_inputs when
 * the signature has inputs). */
size_t keel_model_n_features(const struct keel_model *m);
/* The input columns as a JSON array, rendered once at load: the signature's
 * names, else the positions 0..n_features-1 (for records that name them). */
const char *keel_model_columns_json(const struct keel_model *m);

/*
 * Scores `rows` rows of x, each keel_model_n_features() doubles in signature
 * order, row-major; NaN is a missing value. Safe to call from many threads at
 * once on the same model. The result's arrays come from ctx->arena.
 * Errors: KEEL_E_BAD_REQUEST when the model itself rejects the input (the
 * message says why), KEEL_E_NOMEM, KEEL_E_INTERNAL (the library failed).
 */
enum keel_err keel_model_predict(const struct keel_model *m, const double *x, size_t rows,
                                 struct keel_prediction *out, struct keel_ctx *ctx);

#endif
