/*
 * xgb.c -- the xgboost flavor: an MLflow XGBoost model scored through
 * libxgboost's C API, with MLflow 2.12 pyfunc's semantics per model class.
 *
 * The flavor's `data` file is read whole and handed to
 * XGBoosterLoadModelFromBuffer, which tells the three formats XGBoost 1.7
 * writes (legacy binary "binf...", JSON "{\"...", UBJSON "{L...") apart by
 * their first bytes; keel looks at those bytes itself only to say what the
 * file seemed to be when loading fails. Prediction is XGBoost's in-place
 * prediction on the caller's float64 matrix -- XGBoost converts each value to
 * float32, as it does for the Python package -- followed by what pyfunc does
 * on top for the model class (xgb_classes below).
 *
 * Threads. XGBoost 1.7.4 documents in-place prediction on one Booster as safe
 * and lock free from many threads (Booster.inplace_predict's docstring;
 * doc/prediction.rst, for gbtree and dart boosters), and its source agrees:
 * XGBoosterPredictFromDense fills the proxy DMatrix it is given (one no
 * other call is using, see proxy_take), the output buffer and shape live
 * in a per-thread, per-booster store,
 * and the predictor and objective only read the model. The one write is the
 * learner's lazy Configure() on the first prediction after a load or a
 * parameter change, behind a double-checked lock on a plain bool: a data race
 * in C++ terms. So xgb_load() configures the booster itself, with a warm-up
 * prediction, before the model is shared; nothing sets a parameter later;
 * and xgb_predict() takes no lock. The pointers XGBoost returns are valid
 * only until the calling thread's next call on the booster, so they are
 * copied out at once. A cost to know of: freeing a booster clears only the
 * freeing thread's store entry, so every other thread that predicted with it
 * keeps its last output buffer until that thread exits.
 */
#include "model/model_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xgboost/c_api.h>

#include "util/arena.h"
#include "util/jparse.h"

/* The largest model file keel reads into memory. */
#define XGB_MAX_MODEL_BYTES ((size_t)1 << 30)
/* Scratch for what load() parses (XGBoost's config, the scikit_learn
 * attribute); both are small next to the model. */
#define XGB_SCRATCH_CEILING ((size_t)256 << 20)

/* What pyfunc makes of the booster's output. */
enum xgb_output {
    XGB_RAW,    /* the output as it is, float32 */
    XGB_LABELS, /* XGBClassifier.predict: class labels, int64 */
};

/*
 * The model classes MLflow's xgboost flavor records, and how pyfunc 2.12
 * predicts with each: a Booster through booster.predict(DMatrix(df)) over
 * all trees -- the same trees and sums as in-place prediction, but building
 * the DMatrix refuses values that are infinite as float32; the scikit-learn
 * wrappers through their own predict(), which runs in-place prediction with
 * the `missing` value saved in the model and, when the booster has a
 * best_iteration attribute, only the rounds up to it. The RF variants
 * inherit predict() unchanged; XGBRanker's is XGBModel's.
 */
static const struct xgb_class {
    const char *name;
    bool sklearn;
    enum xgb_output output;
} xgb_classes[] = {
    {"xgboost.core.Booster", false, XGB_RAW},
    {"xgboost.sklearn.XGBRegressor", true, XGB_RAW},
    {"xgboost.sklearn.XGBRFRegressor", true, XGB_RAW},
    {"xgboost.sklearn.XGBRanker", true, XGB_RAW},
    {"xgboost.sklearn.XGBClassifier", true, XGB_LABELS},
    {"xgboost.sklearn.XGBRFClassifier", true, XGB_LABELS},
};
#define N_CLASSES (sizeof xgb_classes / sizeof xgb_classes[0])

/* MLflow before 1.22 recorded no model_class; its loader then assumes this. */
#define DEFAULT_CLASS "xgboost.core.Booster"

/* How one prediction's output becomes the result, decided at load from the
 * class, the saved scikit-learn attributes and the warm-up's output shape;
 * the branches are XGBClassifier.predict's (xgboost 1.7.4 sklearn.py). */
enum xgb_post {
    POST_COPY,      /* float32 as it is */
    POST_ARGMAX,    /* 2-D probabilities, n_classes_ != 2: argmax per row */
    POST_SOFTMAX,   /* 1-D class indices of multi:softmax: astype(int32) */
    POST_THRESHOLD, /* 1-D probability: 1 when > 0.5 */
};

struct xgb_model {
    BoosterHandle booster;
    bool dmatrix;      /* pyfunc goes through a DMatrix: refuse what it refuses */
    size_t n_features;
    bst_ulong out_dim; /* 1 or 2, as the warm-up showed */
    size_t out_cols;   /* 1 for a 1-D output */
    enum xgb_post post;
    char config[256];  /* XGBoosterPredictFromDense's config */
};

/* What xgboost.sklearn saved in the booster's scikit_learn attribute. */
struct sk_meta {
    bool label_encoder;    /* "_le": labels mapped through a saved encoder */
    const char *objective; /* NULL: the class default */
    int64_t n_classes;     /* -1 when absent */
    double missing;
};

/* XGBoost's last error on this thread, without the "[17:35:26]
 * ./src/learner.cc:1104: " prefix and the stack trace: the part a user can
 * act on. Fills buf. */
static const char *xgb_error(char *buf, size_t size)
{
    const char *s = XGBGetLastError(), *close;
    if (!s)
        s = "";
    if (*s == '[' && (close = strstr(s, "] ")) != NULL)
        s = close + 2;
    size_t loc = strcspn(s, " "); /* "file:line:" */
    if (loc > 1 && s[loc - 1] == ':' && memchr(s, ':', loc - 1) && s[loc])
        s += loc + 1;
    size_t n = strcspn(s, "\n");
    while (n && (isspace((unsigned char)s[n - 1]) || s[n - 1] == ':'))
        n--;
    snprintf(buf, size, "%.*s", (int)n, s);
    /* XGBoost prints raw bytes of a broken file ("(\xff vs. -1)"); the
     * message travels on in JSON, which needs UTF-8 */
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
    return buf;
}

/* What the file's first bytes say it is, for a load error. */
static const char *sniff(const unsigned char *p, size_t n)
{
    if (n >= 4 && memcmp(p, "binf", 4) == 0)
        return "XGBoost's legacy binary format";
    size_t i = 0;
    while (i < n && isspace(p[i]))
        i++;
    if (i < n && p[i] == '{' && i > 0)
        return "JSON with white space before its '{', which XGBoost 1.7 does not accept";
    if (n > 1 && p[0] == '{')
        /* UBJSON keys start with a length marker (i, U, I, l, L), or the
         * object with an optimised-container marker ($, #) */
        return p[1] && strchr("iUIlL$#", p[1]) ? "UBJSON" : "JSON";
    return "no format XGBoost 1.7 writes (legacy binary starts with \"binf\", JSON and UBJSON "
           "with '{')";
}

/* The length of the Python-only JSON word (NaN, Infinity, -Infinity) that
 * s[0..n) starts with; 0 for none. */
static size_t py_word(const char *s, size_t n)
{
    static const char *const words[] = {"NaN", "Infinity", "-Infinity"};
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t len = strlen(words[w]);
        if (n >= len && memcmp(s, words[w], len) == 0)
            return len;
    }
    return 0;
}

/* Python's json.dumps writes NaN, Infinity and -Infinity, which JSON lacks;
 * quotes them ("NaN") so that jp_parse reads the rest. NULL when the text is
 * not JSON even so. */
static const struct jval *parse_py_json(struct karena *a, const char *s, size_t n)
{
    /* quoting adds 2 bytes to a word of at least 3 */
    char *o = n < SIZE_MAX / 2 ? karena_alloc(a, 2 * n + 1) : NULL;
    if (!o)
        return NULL;
    size_t j = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        size_t len = in_str ? 0 : py_word(s + i, n - i);
        if (len) {
            o[j++] = '"';
            memcpy(o + j, s + i, len);
            j += len;
            o[j++] = '"';
            i += len - 1;
            continue;
        }
        o[j++] = s[i];
        if (in_str && s[i] == '\\' && i + 1 < n)
            o[j++] = s[++i];
        else if (s[i] == '"')
            in_str = !in_str;
    }
    return jp_parse(a, o, j, NULL);
}

/* A booster attribute copied into `a`; NULL when the booster has none. */
static enum keel_err get_attr(BoosterHandle h, const char *key, struct karena *a, const char **out,
                              struct keel_ctx *ctx)
{
    const char *v = NULL;
    int found = 0;
    char err[512];
    *out = NULL;
    if (XGBoosterGetAttr(h, key, &v, &found) != 0)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "xgboost: cannot read attribute %s: %s",
                         key, xgb_error(err, sizeof err));
    if (found && v && !(*out = karena_strdup(a, v)))
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory loading an xgboost model");
    return KEEL_OK;
}

/* gbtree and dart predict in place; gblinear (XGBoost 1.7) does not. */
static enum keel_err check_booster_kind(BoosterHandle h, struct karena *scratch,
                                        struct keel_ctx *ctx)
{
    bst_ulong len = 0;
    const char *cfg = NULL;
    char err[512];
    if (XGBoosterSaveJsonConfig(h, &len, &cfg) != 0)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "xgboost: cannot read the model's config: %s",
                         xgb_error(err, sizeof err));
    const struct jval *root = parse_py_json(scratch, cfg, (size_t)len);
    const char *name = jv_str(jv_get(jv_get(jv_get(root, "learner"), "gradient_booster"), "name"));
    if (!name)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "xgboost: the model's config names no gradient booster");
    if (strcmp(name, "gbtree") != 0 && strcmp(name, "dart") != 0)
        return keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                         "keel runs xgboost's gbtree and dart boosters natively; this model's "
                         "booster is %s",
                         name);
    return KEEL_OK;
}

/* The scikit_learn attribute, when there is one (a plain booster saved
 * through a wrapper has none: the wrapper's defaults apply, as in Python). */
static enum keel_err read_sk_meta(BoosterHandle h, struct karena *scratch, struct sk_meta *out,
                                  struct keel_ctx *ctx)
{
    *out = (struct sk_meta){.n_classes = -1, .missing = NAN};
    const char *text;
    enum keel_err e = get_attr(h, "scikit_learn", scratch, &text, ctx);
    if (e || !text)
        return e;
    const struct jval *meta = parse_py_json(scratch, text, strlen(text));
    if (!jv_is_object(meta))
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "xgboost: the model's scikit_learn attribute is not a JSON object");
    out->label_encoder = jv_get(meta, "_le") != NULL;
    out->objective = jv_str(jv_get(meta, "objective"));
    const struct jval *v = jv_get(meta, "n_classes_");
    if (jv_is_int(v))
        out->n_classes = jv_int(v);
    v = jv_get(meta, "missing");
    if (jv_is_number(v))
        out->missing = jv_number(v);
    else if (jv_is_string(v))
        out->missing = strtod(v->u.s, NULL); /* "NaN", "Infinity", "-Infinity" */
    return KEEL_OK;
}

/* Builds the prediction config: all rounds, or the first iteration_end. */
static enum keel_err make_config(struct xgb_model *m, uint64_t iteration_end, double missing,
                                 struct keel_ctx *ctx)
{
    char miss[40];
    if (isnan(missing))
        snprintf(miss, sizeof miss, "NaN");
    else if (isinf(missing))
        snprintf(miss, sizeof miss, "%sInfinity", missing < 0 ? "-" : "");
    else
        snprintf(miss, sizeof miss, "%.17g", missing);
    /* XGBoost 1.7 requires cache_id (always 0) besides the documented keys */
    int n = snprintf(m->config, sizeof m->config,
                     "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                     "\"iteration_end\": %" PRIu64 ", \"strict_shape\": false, "
                     "\"cache_id\": 0, \"missing\": %s}",
                     iteration_end, miss);
    if (n < 0 || (size_t)n >= sizeof m->config)
        return keel_fail(ctx, KEEL_E_INTERNAL, "xgboost: prediction config too long");
    return KEEL_OK;
}

/* The rounds pyfunc predicts with: a wrapper stops at best_iteration. */
static enum keel_err iteration_end(BoosterHandle h, const struct xgb_class *cls,
                                   struct karena *scratch, uint64_t *out, struct keel_ctx *ctx)
{
    *out = 0; /* all rounds */
    if (!cls->sklearn)
        return KEEL_OK;
    const char *best;
    enum keel_err e = get_attr(h, "best_iteration", scratch, &best, ctx);
    if (e || !best)
        return e;
    char *end;
    errno = 0;
    long long b = strtoll(best, &end, 10);
    if (errno || end == best || *end || b < 0 || b >= INT32_MAX)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "xgboost: the model's best_iteration '%s' is not a round number", best);
    *out = (uint64_t)b + 1;
    return KEEL_OK;
}

/* Proxy DMatrixes for in-place prediction, reused. Without one XGBoost
 * makes a proxy per call, and every new proxy reads the cgroup's CPU quota
 * from /sys: two files opened, read and closed for each prediction, a tenth
 * of a single-row request's CPU time. A prediction takes one from this
 * stack (or makes one) and gives it back after the call; at most
 * PROXIES_KEPT wait here (the most predictions ever at once, in practice),
 * reachable until the process ends. Not per thread: freeing a proxy in a
 * thread's key destructor runs after its C++ thread-locals are gone, and
 * XGBoost's API then makes new ones that are never freed. */
#define PROXIES_KEPT 256
static pthread_mutex_t proxies_mu = PTHREAD_MUTEX_INITIALIZER;
static DMatrixHandle proxies[PROXIES_KEPT];
static size_t n_proxies;

static DMatrixHandle proxy_take(void)
{
    pthread_mutex_lock(&proxies_mu);
    DMatrixHandle h = n_proxies ? proxies[--n_proxies] : NULL;
    pthread_mutex_unlock(&proxies_mu);
    if (!h && XGProxyDMatrixCreate(&h) != 0)
        h = NULL; /* XGBoost makes its own */
    return h;
}

static void proxy_give(DMatrixHandle h)
{
    if (!h)
        return;
    pthread_mutex_lock(&proxies_mu);
    if (n_proxies < PROXIES_KEPT) {
        proxies[n_proxies++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&proxies_mu);
    if (h)
        XGDMatrixFree(h);
}

/* One in-place prediction; 0 on success, else xgb_error() says why. *res
 * and *shape belong to XGBoost until this thread's next call on the booster. */
static int run(const struct xgb_model *m, const double *x, size_t rows, const bst_ulong **shape,
               bst_ulong *dim, const float **res)
{
    char iface[192];
    /* __array_interface__ of a C-contiguous rows x features float64 matrix */
    snprintf(iface, sizeof iface,
             "{\"data\": [%" PRIuPTR ", true], \"shape\": [%zu, %zu], \"strides\": null, "
             "\"typestr\": \"%cf8\", \"version\": 3}",
             (uintptr_t)x, rows, m->n_features,
             __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? '<' : '>');
    DMatrixHandle proxy = proxy_take();
    int rc = XGBoosterPredictFromDense(m->booster, iface, m->config, proxy, shape, dim, res);
    proxy_give(proxy); /* it only pointed at x; the answer is in the thread's store */
    return rc;
}

/* Chooses m->post from the warm-up's output shape and, for a classifier,
 * the saved scikit-learn attributes: what XGBClassifier.predict would do. */
static enum keel_err choose_post(struct xgb_model *m, const struct xgb_class *cls,
                                 const struct sk_meta *sk, struct keel_ctx *ctx)
{
    if (cls->output == XGB_RAW) {
        m->post = POST_COPY;
        return KEEL_OK;
    }
    if (sk->label_encoder)
        return keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                         "keel cannot serve this %s natively: it maps labels through a saved "
                         "label encoder",
                         cls->name);
    if (m->out_dim == 2) {
        if (sk->n_classes < 0)
            return keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                             "keel cannot serve this %s natively: it saved no n_classes_",
                             cls->name);
        if (sk->n_classes == 2)
            return keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                             "keel cannot serve this %s natively: multi-label classifiers are not "
                             "supported",
                             cls->name);
        m->post = POST_ARGMAX;
        return KEEL_OK;
    }
    m->post = sk->objective && strcmp(sk->objective, "multi:softmax") == 0 ? POST_SOFTMAX
                                                                           : POST_THRESHOLD;
    return KEEL_OK;
}

/* Configures the booster single-threaded (see the top of the file) and
 * learns the output's shape from one row of missing values. */
static enum keel_err warm_up(struct xgb_model *m, struct karena *scratch, struct keel_ctx *ctx)
{
    double *row = karena_alloc(scratch, m->n_features * sizeof *row);
    if (!row)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory loading an xgboost model");
    for (size_t i = 0; i < m->n_features; i++)
        row[i] = NAN;
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    char err[1024];
    if (run(m, row, 1, &shape, &dim, &res) != 0)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "the xgboost model cannot predict: %s",
                         xgb_error(err, sizeof err));
    if ((dim != 1 && dim != 2) || shape[0] != 1 ||
        (dim == 2 && (shape[1] == 0 || shape[1] > MLMODEL_MAX_COLUMNS)))
        return keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                         "keel cannot serve this xgboost model natively: its output has %" PRIu64
                         " dimensions of a shape keel does not take",
                         (uint64_t)dim);
    m->out_dim = dim;
    m->out_cols = dim == 2 ? (size_t)shape[1] : 1;
    return KEEL_OK;
}

static void xgb_free(void *state)
{
    struct xgb_model *m = state;
    if (!m)
        return;
    if (m->booster)
        XGBoosterFree(m->booster);
    free(m);
}

/* The model file's path under dir; refused when `data` could leave dir. */
static enum keel_err model_path(const char *dir, const char *data, struct karena *a,
                                const char **out, struct keel_ctx *ctx)
{
    bool outside = data[0] == '/';
    /* each component in turn: c at its start, stepping past its '/' */
    for (const char *c = data; *c && !outside; c += strcspn(c, "/"), c += *c == '/')
        outside = strncmp(c, "..", 2) == 0 && (c[2] == '/' || c[2] == '\0');
    if (outside)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "the xgboost flavor's data '%s' is not a path inside the model directory",
                         data);
    if (!(*out = karena_sprintf(a, "%s/%s", dir, data)))
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory loading an xgboost model");
    return KEEL_OK;
}

static enum keel_err load_booster(struct xgb_model *m, const char *path, struct keel_ctx *ctx)
{
    char *buf;
    size_t len;
    enum keel_err e = mlmodel_read_file(path, "xgboost model file", XGB_MAX_MODEL_BYTES, &buf,
                                        &len, ctx);
    if (e == KEEL_E_NOT_FOUND)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "the xgboost model file %s is missing",
                         path);
    if (e)
        return e;
    char err[1024];
    if (XGBoosterCreate(NULL, 0, &m->booster) != 0) {
        free(buf);
        return keel_fail(ctx, KEEL_E_INTERNAL, "xgboost: cannot create a booster: %s",
                         xgb_error(err, sizeof err));
    }
    if (XGBoosterLoadModelFromBuffer(m->booster, buf, (bst_ulong)len) != 0)
        e = keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                      "cannot load the xgboost model file %s (it looks like %s): %s", path,
                      sniff((const unsigned char *)buf, len), xgb_error(err, sizeof err));
    free(buf);
    if (e)
        return e;
    /* Request threads already fill the cores; an OpenMP team per request
     * would only oversubscribe them. Results do not depend on it. */
    if (XGBoosterSetParam(m->booster, "nthread", "1") != 0)
        return keel_fail(ctx, KEEL_E_INTERNAL, "xgboost: cannot set nthread: %s",
                         xgb_error(err, sizeof err));
    bst_ulong nf = 0;
    if (XGBoosterGetNumFeature(m->booster, &nf) != 0)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "xgboost: cannot read the feature count: %s",
                         xgb_error(err, sizeof err));
    if (nf == 0 || nf > MLMODEL_MAX_COLUMNS)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "the xgboost model takes %" PRIu64 " features; keel takes 1 to %zu",
                         (uint64_t)nf, MLMODEL_MAX_COLUMNS);
    m->n_features = (size_t)nf;
    return KEEL_OK;
}

static const struct xgb_class *find_class(const char *name)
{
    for (size_t i = 0; i < N_CLASSES; i++)
        if (strcmp(xgb_classes[i].name, name) == 0)
            return &xgb_classes[i];
    return NULL;
}

static enum keel_err refuse_class(const char *name, struct keel_ctx *ctx)
{
    char list[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < N_CLASSES && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                              xgb_classes[i].name);
    return keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                     "keel cannot serve xgboost model class %s natively; it runs: [%s]", name,
                     list);
}

static enum keel_err load_in(struct xgb_model *m, const char *dir, const struct mlmodel_flavor *f,
                             const struct xgb_class *cls, struct karena *scratch,
                             struct keel_ctx *ctx)
{
    const char *data = mlmodel_flavor_get(f, "data"), *path;
    if (!data || !*data)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: the xgboost flavor names no model file ('data')");
    enum keel_err e = model_path(dir, data, scratch, &path, ctx);
    if (!e)
        e = load_booster(m, path, ctx);
    if (!e)
        e = check_booster_kind(m->booster, scratch, ctx);
    struct sk_meta sk = {.n_classes = -1, .missing = NAN};
    if (!e && cls->sklearn)
        e = read_sk_meta(m->booster, scratch, &sk, ctx);
    uint64_t end = 0;
    if (!e)
        e = iteration_end(m->booster, cls, scratch, &end, ctx);
    if (!e)
        e = make_config(m, end, sk.missing, ctx);
    if (!e)
        e = warm_up(m, scratch, ctx);
    if (!e)
        e = choose_post(m, cls, &sk, ctx);
    return e;
}

static enum keel_err xgb_load(const char *dir, const struct mlmodel_flavor *f, struct karena *a,
                              struct model_loaded *out, struct keel_ctx *ctx)
{
    (void)a; /* nothing of this runner's outlives load but its state */
    const char *class_name = mlmodel_flavor_get(f, "model_class");
    if (!class_name)
        class_name = DEFAULT_CLASS;
    const struct xgb_class *cls = find_class(class_name);
    if (!cls)
        return refuse_class(class_name, ctx);
    struct xgb_model *m = calloc(1, sizeof *m);
    struct karena *scratch = karena_new(XGB_SCRATCH_CEILING);
    if (!m || !scratch) {
        free(m);
        karena_free(scratch);
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory loading an xgboost model");
    }
    m->dmatrix = !cls->sklearn;
    enum keel_err e = load_in(m, dir, f, cls, scratch, ctx);
    karena_free(scratch);
    if (e) {
        xgb_free(m);
        return e;
    }
    out->state = m;
    out->model_class = cls->name; /* static: outlives any model */
    out->n_features = m->n_features;
    return KEEL_OK;
}

/* Whether v rounds to an infinite float32: at or past the midpoint between
 * FLT_MAX and 2^128 (a tie rounds to the even neighbour, 2^128). */
static bool inf_as_float(double v) { return fabs(v) >= 0x1.ffffffp127; }

/* XGBoost 1.7's DMatrix construction: "Input data contains `inf` or `nan`"
 * (the NaN there being a value that was infinite, as NaN is missing). */
static enum keel_err check_finite(const double *x, size_t n, struct keel_ctx *ctx)
{
    /* the largest magnitude (NaN, a missing value, compares false and is
     * passed over), eight lanes at a time so that the compiler vectorises it:
     * a batch chunk is 100,000 values */
    double lane[8] = {0}, most = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t k = 0; k < 8; k++) {
            double a = fabs(x[i + k]);
            lane[k] = a > lane[k] ? a : lane[k];
        }
    for (; i < n; i++)
        most = fabs(x[i]) > most ? fabs(x[i]) : most;
    for (size_t k = 0; k < 8; k++)
        most = lane[k] > most ? lane[k] : most;
    if (inf_as_float(most))
        return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                         "xgboost could not score the input: it contains an infinite value "
                         "(or one too large for float32)");
    return KEEL_OK;
}

/* numpy's argmax: the first maximum, and the first NaN if there is one. */
static int64_t argmax(const float *p, size_t k)
{
    size_t best = 0;
    for (size_t j = 0; j < k; j++) {
        if (isnan(p[j]))
            return (int64_t)j;
        if (p[j] > p[best])
            best = j;
    }
    return (int64_t)best;
}

/* numpy's float32 -> int32 cast on x86-64: out of range and NaN give
 * INT32_MIN, the CPU's "integer indefinite". */
static int64_t to_int32(float v)
{
    if (!(v > -2147483649.0f && v < 2147483648.0f))
        return INT32_MIN;
    return (int32_t)v;
}

/* The result of a labels class: one int64 per row, XGBClassifier's rules. */
static void to_labels(const struct xgb_model *m, const float *res, size_t rows, int64_t *l)
{
    size_t k = m->out_cols;
    for (size_t r = 0; r < rows; r++) {
        switch (m->post) {
        case POST_ARGMAX:
            l[r] = argmax(res + r * k, k);
            break;
        case POST_SOFTMAX:
            l[r] = to_int32(res[r]);
            break;
        case POST_THRESHOLD:
        case POST_COPY:
            l[r] = res[r] > 0.5f;
            break;
        }
    }
}

static enum keel_err xgb_predict(const void *state, const double *x, size_t rows,
                                 struct keel_prediction *out, struct keel_ctx *ctx)
{
    const struct xgb_model *m = state;
    bool labels = m->post != POST_COPY;
    struct keel_prediction p = {
        .kind = labels ? KEEL_PRED_INT64 : KEEL_PRED_FLOAT32,
        .rows = rows,
        .cols = labels ? 1 : m->out_cols,
        .flat = labels || m->out_dim == 1,
    };
    /* n_features and out_cols are at most MLMODEL_MAX_COLUMNS */
    if (rows > SIZE_MAX / sizeof(double) / MLMODEL_MAX_COLUMNS)
        return keel_fail(ctx, KEEL_E_BAD_REQUEST, "too many rows to score: %zu", rows);
    size_t n = rows * p.cols;
    enum keel_err e = m->dmatrix ? check_finite(x, rows * m->n_features, ctx) : KEEL_OK;
    if (e || rows == 0) {
        *out = p;
        return e;
    }
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    char err[1024];
    if (run(m, x, rows, &shape, &dim, &res) != 0)
        return keel_fail(ctx, KEEL_E_BAD_REQUEST, "xgboost could not score the input: %s",
                         xgb_error(err, sizeof err));
    if (dim != m->out_dim || shape[0] != rows || (dim == 2 && shape[1] != m->out_cols))
        return keel_fail(ctx, KEEL_E_INTERNAL, "xgboost answered an unexpected output shape");
    if (labels) {
        if (!(p.i64 = karena_alloc(ctx->arena, n * sizeof *p.i64)))
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory for %zu predictions", n);
        to_labels(m, res, rows, p.i64);
    } else {
        if (!(p.f32 = karena_alloc(ctx->arena, n * sizeof *p.f32)))
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory for %zu predictions", n);
        memcpy(p.f32, res, n * sizeof *p.f32);
    }
    *out = p;
    return KEEL_OK;
}

const struct model_runner xgb_runner = {
    .flavor = "xgboost",
    .load = xgb_load,
    .predict = xgb_predict,
    .free = xgb_free,
};
