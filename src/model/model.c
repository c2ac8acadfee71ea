/*
 * model.c -- a loaded MLflow model: the flavor that runs it, its signature,
 * and its lifetime.
 *
 * keel_model_load() reads <dir>/MLmodel, walks `runners` (keel's flavors in
 * order of preference) for the first flavor the model has, and lets that
 * runner load its model file. Nothing in a loaded model changes afterwards,
 * so every request thread may share it.
 *
 * Lifetime. load() hands out one reference; keel_model_ref() adds one and
 * keel_model_unref() drops one; the unref that takes the count to zero frees
 * the runner's state and the model's arena. Invariant: a thread predicts
 * only while it holds a reference, so freeing never races a prediction, and
 * a deployment can swap in a new model while requests finish on the old one.
 */
#include "model/model_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

/* Holds the parsed MLmodel (names of up to MLMODEL_MAX_COLUMNS columns from
 * a file of at most MLMODEL_MAX_BYTES) and the runner's strings. */
#define MODEL_ARENA_CEILING ((size_t)32 << 20)

struct keel_model {
    atomic_size_t refs;
    struct karena *arena; /* the strings and arrays below */
    const struct model_runner *runner;
    void *state;          /* runner->free() releases it */
    const char *model_class;
    size_t n_features;
    const char *columns_json;
    struct mlmodel ml;    /* flavors, mlflow_version, signature */
};

/* The flavors keel runs natively, preferred first. */
static const struct model_runner *const runners[] = {
    &xgb_runner,
};
#define N_RUNNERS (sizeof runners / sizeof runners[0])

static const char *const dtype_names[] = {
    [KEEL_DT_DOUBLE] = "double",   [KEEL_DT_FLOAT] = "float",
    [KEEL_DT_LONG] = "long",       [KEEL_DT_INTEGER] = "integer",
    [KEEL_DT_BOOLEAN] = "boolean", [KEEL_DT_STRING] = "string",
    [KEEL_DT_BINARY] = "binary",   [KEEL_DT_DATETIME] = "datetime",
};

const char *keel_dtype_name(enum keel_dtype t)
{
    size_t i = (size_t)t;
    return i < sizeof dtype_names / sizeof dtype_names[0] && dtype_names[i] ? dtype_names[i]
                                                                             : "unknown";
}

static void model_free(struct keel_model *m)
{
    if (!m)
        return;
    if (m->runner && m->state)
        m->runner->free(m->state);
    karena_free(m->arena);
    free(m);
}

/* "keel cannot serve this model natively: its flavors are [a, b]; keel runs:
 * [xgboost]" -- both lists, so the user sees what to change. */
static enum keel_err refuse(const struct keel_model *m, struct keel_ctx *ctx)
{
    struct kbuf have, runs;
    kbuf_init(&have, MLMODEL_MAX_BYTES);
    kbuf_init(&runs, 4096);
    for (size_t i = 0; i < m->ml.n_flavors; i++)
        kbuf_printf(&have, "%s%s", i ? ", " : "", m->ml.flavors[i].name);
    for (size_t i = 0; i < N_RUNNERS; i++)
        kbuf_printf(&runs, "%s%s", i ? ", " : "", runners[i]->flavor);
    keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
              "keel cannot serve this model natively: its flavors are [%s]; keel runs: [%s]",
              have.data ? have.data : "", runs.data ? runs.data : "");
    kbuf_free(&have);
    kbuf_free(&runs);
    return KEEL_E_NOT_IMPLEMENTED;
}

static const struct mlmodel_flavor *find_flavor(const struct mlmodel *ml, const char *name)
{
    for (size_t i = 0; i < ml->n_flavors; i++)
        if (strcmp(ml->flavors[i].name, name) == 0)
            return &ml->flavors[i];
    return NULL;
}

static enum keel_err load_flavor(struct keel_model *m, const char *dir, struct keel_ctx *ctx)
{
    for (size_t i = 0; i < N_RUNNERS; i++) {
        const struct mlmodel_flavor *f = find_flavor(&m->ml, runners[i]->flavor);
        if (!f)
            continue;
        struct model_loaded got = {0};
        enum keel_err e = runners[i]->load(dir, f, m->arena, &got, ctx);
        if (e)
            return e;
        m->runner = runners[i];
        m->state = got.state;
        m->model_class = got.model_class ? got.model_class : "";
        m->n_features = got.n_features;
        return KEEL_OK;
    }
    return refuse(m, ctx);
}

/* The signature and the model must agree on the inputs; MLflow would only
 * find out on the first request. */
static enum keel_err check_signature(struct keel_model *m, struct keel_ctx *ctx)
{
    struct keel_signature *sig = &m->ml.sig;
    if (!sig->has_inputs) {
        sig->n_inputs = m->n_features; /* inputs by position (model.h) */
        return KEEL_OK;
    }
    if (sig->n_inputs != m->n_features)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "the model's signature has %zu inputs but its %s model takes %zu features",
                         sig->n_inputs, m->runner->flavor, m->n_features);
    return KEEL_OK;
}

static enum keel_err render_columns(struct keel_model *m, struct keel_ctx *ctx)
{
    struct kbuf b;
    kbuf_init(&b, MODEL_ARENA_CEILING);
    struct jw w;
    jw_init(&w, &b);
    jw_arr(&w);
    const struct keel_signature *sig = &m->ml.sig;
    for (size_t c = 0; c < m->n_features; c++) {
        if (sig->has_inputs && c < sig->n_inputs)
            jw_str(&w, sig->inputs[c].name);
        else
            jw_int(&w, (int64_t)c);
    }
    jw_arr_end(&w);
    char *s = w.err == KEEL_OK ? karena_alloc(m->arena, b.len + 1) : NULL;
    if (s) {
        memcpy(s, b.data, b.len);
        s[b.len] = '\0';
    }
    kbuf_free(&b);
    m->columns_json = s;
    return s ? KEEL_OK : keel_fail(ctx, KEEL_E_NOMEM, "out of memory loading a model");
}

enum keel_err keel_model_load(const char *dir, struct keel_model **out, struct keel_ctx *ctx)
{
    *out = NULL;
    if (!dir || !*dir)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "no model directory given");
    struct keel_model *m = calloc(1, sizeof *m);
    if (!m || !(m->arena = karena_new(MODEL_ARENA_CEILING))) {
        free(m);
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory loading a model");
    }
    char *text = NULL;
    size_t len = 0;
    const char *path = karena_sprintf(m->arena, "%s/MLmodel", dir);
    enum keel_err e = path ? mlmodel_read_file(path, "MLmodel", MLMODEL_MAX_BYTES, &text, &len, ctx)
                           : keel_fail(ctx, KEEL_E_NOMEM, "out of memory loading a model");
    if (!e)
        e = mlmodel_parse(m->arena, text, len, &m->ml, ctx);
    free(text);
    if (!e)
        e = load_flavor(m, dir, ctx);
    if (!e)
        e = check_signature(m, ctx);
    if (!e)
        e = render_columns(m, ctx);
    if (e) {
        model_free(m);
        return e;
    }
    atomic_init(&m->refs, 1);
    *out = m;
    return KEEL_OK;
}

struct keel_model *keel_model_ref(struct keel_model *m)
{
    /* the caller already holds a reference, so no ordering is needed here */
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void keel_model_unref(struct keel_model *m)
{
    if (!m)
        return;
    /* release: this holder's last reads of the model happen before the free;
     * acquire (below): the freeing thread sees every other holder's */
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_release) != 1)
        return;
    atomic_thread_fence(memory_order_acquire);
    model_free(m);
}

const struct keel_signature *keel_model_signature(const struct keel_model *m)
{
    return &m->ml.sig;
}

const char *keel_model_flavor(const struct keel_model *m) { return m->runner->flavor; }

const char *keel_model_class(const struct keel_model *m) { return m->model_class; }

const char *keel_model_mlflow_version(const struct keel_model *m) { return m->ml.mlflow_version; }

size_t keel_model_n_features(const struct keel_model *m) { return m->n_features; }

const char *keel_model_columns_json(const struct keel_model *m) { return m->columns_json; }

enum keel_err keel_model_predict(const struct keel_model *m, const double *x, size_t rows,
                                 struct keel_prediction *out, struct keel_ctx *ctx)
{
    memset(out, 0, sizeof *out);
    if (!m || (rows && !x))
        return keel_fail(ctx, KEEL_E_INTERNAL, "keel_model_predict: no model or no input");
    return m->runner->predict(m->state, x, rows, out, ctx);
}
