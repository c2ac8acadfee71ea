/*
 * deployments.c -- /api/2.0/keel/deployments/...: models served by keel
 * server under a name, and the scoring routes that answer through them.
 *
 * create/update load the model first and store the deployment only once it
 * serves: a URI that does not load is refused with the reason and changes
 * nothing. Scoring goes to serve/scoring.c with the deployment's model,
 * held by a reference for the request; every answer says which version
 * produced it (X-Model-Version), which deployment (X-Deployment) and its
 * request id (X-Request-Id), under which the prediction log keeps it.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "deploy/batcher.h"
#include "deploy/deploy.h"
#include "deploy/predlog.h"
#include "serve/scoring.h"
#include "util/arena.h"
#include "util/ids.h"
#include "util/time.h"

#define DEPLOY_MAX_ROWS 1000000u

const struct http_log_header api_log_headers[] = {
    {"X-Request-Id", "request_id"},
    {"X-Deployment", "deployment"},
    {"X-Model-Version", "model_version"},
    {NULL, NULL},
};

static enum keel_err check_name(struct api_call *c, const char *name)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_' ||
             name[i] == '.';
    if (!ok)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Invalid deployment name '%s': 1 to 64 letters, digits, '-', '_' or '.'",
                         name);
    return KEEL_OK;
}

static void write_deployment(struct api_call *c, const struct keel_deployment *d)
{
    struct jw *w = &c->out;
    struct deploy_state st;
    bool live = deploy_state(c->app->deploys, d->name, &st, c->ctx);
    jw_obj(w);
    jw_kstr(w, "name", d->name);
    jw_kstr(w, "model_uri", d->model_uri);
    jw_kint(w, "creation_timestamp", d->creation_time);
    jw_kint(w, "last_updated_timestamp", d->last_updated_time);
    jw_kstr(w, "status", live ? st.status : "FAILED");
    jw_kstr(w, "prediction_log", d->prediction_log ? d->prediction_log : "best-effort");
    jw_kint(w, "max_batch_rows", d->max_batch_rows);
    jw_kint(w, "max_batch_wait_us", d->max_batch_wait_us);
    if (live) {
        jw_kstr_opt(w, "model_name", st.model_name);
        jw_kstr_opt(w, "model_version", st.model_version);
        jw_kstr_opt(w, "run_id", st.run_id);
        jw_kstr_opt(w, "flavor", st.flavor);
        jw_kstr_opt(w, "model_class", st.model_class);
        jw_kstr_opt(w, "served_model_uri", st.model_uri);
        jw_kstr_opt(w, "error", st.error);
    }
    jw_obj_end(w);
}

static enum keel_err answer_one(struct api_call *c, const char *name)
{
    struct keel_deployment d;
    enum keel_err e = store_deployment_get(c->app->store, c->ctx, name, &d);
    if (e != KEEL_OK)
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "deployment");
    write_deployment(c, &d);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_put(struct api_call *c, bool update)
{
    const char *name = NULL, *uri = NULL, *log = NULL;
    int64_t rows = 0, wait = 0;
    bool has_rows = false, has_wait = false;
    enum keel_err e;
    if ((e = api_arg_str(c, "name", true, &name)) != KEEL_OK ||
        (e = api_arg_str(c, "model_uri", true, &uri)) != KEEL_OK ||
        (e = api_arg_str(c, "prediction_log", false, &log)) != KEEL_OK ||
        (e = api_arg_int(c, "max_batch_rows", false, &rows, &has_rows)) != KEEL_OK ||
        (e = api_arg_int(c, "max_batch_wait_us", false, &wait, &has_wait)) != KEEL_OK ||
        (e = check_name(c, name)))
        return e;
    if (rows < 0 || rows > 100000 || wait < 0 || wait > 1000000)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "max_batch_rows must be 0 (off) to 100000 and max_batch_wait_us 0 to "
                         "1000000");
    if (log && deploy_log_parse(log) < 0)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Invalid prediction_log '%s': best-effort, required or off", log);
    struct keel_deployment existing;
    e = store_deployment_get(c->app->store, c->ctx, name, &existing);
    if (!update && e == KEEL_OK)
        return keel_fail(c->ctx, KEEL_E_ALREADY_EXISTS, "Deployment '%s' already exists.", name);
    if (update && e != KEEL_OK)
        return e;
    if (!log)
        log = update && existing.prediction_log ? existing.prediction_log : "best-effort";
    if (!has_rows)
        rows = update ? existing.max_batch_rows : 0;
    if (!has_wait)
        wait = update ? existing.max_batch_wait_us : (rows ? 1000 : 0);
    c->ctx->errmsg = NULL;
    e = deploy_load(c->app->deploys, name, uri, c->ctx);
    if (e != KEEL_OK) {
        if (!update)
            deploy_remove(c->app->deploys, name); /* nothing of a refused create stays */
        return keel_fail(c->ctx, e == KEEL_E_NOMEM ? e : KEEL_E_INVALID_PARAMETER,
                         "Model '%s' could not be loaded for deployment '%s': %s", uri, name,
                         c->ctx->errmsg ? c->ctx->errmsg : "unknown error");
    }
    struct keel_deployment d = {.name = name, .model_uri = uri, .prediction_log = log,
                                .max_batch_rows = rows, .max_batch_wait_us = wait};
    e = store_deployment_put(c->app->store, c->ctx, &d, update);
    if (e != KEEL_OK) {
        /* refused: what serves must be what is stored, as before the call */
        if (!update) {
            deploy_remove(c->app->deploys, name);
        } else if (strcmp(existing.model_uri, uri) != 0) {
            struct keel_ctx quiet = {.arena = c->ctx->arena};
            if (deploy_load(c->app->deploys, name, existing.model_uri, &quiet) != KEEL_OK)
                fprintf(stderr, "keel server: deployment '%s' serves %s, which its refused "
                                "update loaded: %s could not be loaded back: %s\n",
                        name, uri, existing.model_uri, quiet.errmsg ? quiet.errmsg : "");
        }
        return e;
    }
    deploy_set_log(c->app->deploys, name, (enum deploy_log)deploy_log_parse(log));
    if ((e = deploy_set_batching(c->app->deploys, name, (size_t)rows, (unsigned)wait,
                                 c->ctx)) != KEEL_OK)
        return e;
    deploy_open(c->app->deploys, name);
    return answer_one(c, name);
}

/* One change of the deployments at a time (deploy_change_lock). */
static enum keel_err put_changing(struct api_call *c, bool update)
{
    deploy_change_lock(c->app->deploys);
    enum keel_err e = h_put(c, update);
    deploy_change_unlock(c->app->deploys);
    return e;
}

static enum keel_err h_create(struct api_call *c) { return put_changing(c, false); }
static enum keel_err h_update(struct api_call *c) { return put_changing(c, true); }

static enum keel_err h_get(struct api_call *c)
{
    const char *name = NULL;
    enum keel_err e = api_arg_str(c, "name", true, &name);
    return e != KEEL_OK ? e : answer_one(c, name);
}

static enum keel_err h_list(struct api_call *c)
{
    struct keel_deployment *d = NULL;
    size_t n = 0;
    enum keel_err e = store_deployment_list(c->app->store, c->ctx, &d, &n);
    if (e != KEEL_OK)
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "deployments");
    jw_arr(&c->out);
    for (size_t i = 0; i < n; i++)
        if (api_may_use_model_uri(c, d[i].model_uri, AUTH_READ))
            write_deployment(c, &d[i]);
    jw_arr_end(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_delete(struct api_call *c)
{
    const char *name = NULL;
    enum keel_err e = api_arg_str(c, "name", true, &name);
    if (e != KEEL_OK)
        return e;
    deploy_change_lock(c->app->deploys);
    e = store_deployment_delete(c->app->store, c->ctx, name);
    if (e == KEEL_OK)
        deploy_remove(c->app->deploys, name);
    deploy_change_unlock(c->app->deploys);
    if (e != KEEL_OK)
        return e;
    jw_obj(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

/* GET keel/predictions: the prediction log, by deployment, time range
 * (start_time/end_time, ms), request id and model version; order=desc gives
 * each deployment's newest records first. */
static enum keel_err h_predictions(struct api_call *c)
{
    /* times are ms since the epoch up to the end of year 9999, where the
     * date partitions' names stop */
    static const int64_t last_ms = 253402300799999;
    struct predlog_filter f = {.limit = 1000};
    int64_t max = 0;
    bool has_max = false;
    const char *order = NULL;
    enum keel_err e;
    if ((e = api_arg_str(c, "deployment", false, &f.deployment)) != KEEL_OK ||
        (e = api_arg_str(c, "request_id", false, &f.request_id)) != KEEL_OK ||
        (e = api_arg_str(c, "model_version", false, &f.model_version)) != KEEL_OK ||
        (e = api_arg_int(c, "start_time", false, &f.from_ms, NULL)) != KEEL_OK ||
        (e = api_arg_int(c, "end_time", false, &f.to_ms, NULL)) != KEEL_OK ||
        (e = api_arg_int(c, "max_results", false, &max, &has_max)) != KEEL_OK ||
        (e = api_arg_str(c, "order", false, &order)) != KEEL_OK)
        return e;
    if (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER, "order must be 'asc' or 'desc'");
    f.newest_first = order && strcmp(order, "desc") == 0;
    if (has_max && (max < 1 || max > 100000))
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "max_results must be between 1 and 100000, got %lld", (long long)max);
    if (f.from_ms < 0 || f.from_ms > last_ms || f.to_ms < 0 || f.to_ms > last_ms)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "start_time and end_time are milliseconds since the epoch, from 0 to "
                         "%lld",
                         (long long)last_ms);
    if (has_max)
        f.limit = (size_t)max;
    if (!c->app->predlog)
        return keel_fail(c->ctx, KEEL_E_INVALID_STATE, "The prediction log is not enabled.");
    struct kbuf records;
    kbuf_init(&records, 256u << 20);
    size_t n = 0;
    e = predlog_query(c->app->predlog, &f, &records, &n, c->ctx);
    if (e == KEEL_OK) {
        /* the records are JSON already: spliced in as they are */
        kbuf_adds(&c->resp->body, "{\"predictions\":");
        kbuf_add(&c->resp->body, records.data, records.len);
        kbuf_addc(&c->resp->body, '}');
        if ((e = kbuf_failed(&c->resp->body)) != KEEL_OK) /* never a 200 cut short */
            e = keel_fail(c->ctx, e, "the matching records exceed the answer's size limit; "
                                     "narrow the query or lower max_results");
    }
    if (e == KEEL_OK) {
        c->resp->status = 200;
        c->resp->content_type = "application/json";
        c->raw_response = true;
    }
    kbuf_free(&records);
    return e;
}

const struct api_route api_deployment_routes[] = {
    {"GET", "keel/predictions", h_predictions},
    {"POST", "keel/deployments/create", h_create},
    {"POST", "keel/deployments/update", h_update},
    {"PATCH", "keel/deployments/update", h_update},
    {"GET", "keel/deployments/get", h_get},
    {"GET", "keel/deployments/list", h_list},
    {"POST", "keel/deployments/delete", h_delete},
    {"DELETE", "keel/deployments/delete", h_delete},
    {NULL, NULL, NULL},
};

/* ---- scoring through a deployment ---- */

static void not_served(struct http_response *resp, struct keel_ctx *ctx)
{
    struct jw w;
    resp->status = 404;
    resp->content_type = "application/json";
    kbuf_reset(&resp->body);
    jw_init(&w, &resp->body);
    jw_obj(&w);
    jw_kstr(&w, "error_code", "RESOURCE_DOES_NOT_EXIST");
    jw_kstr(&w, "message", ctx->errmsg ? ctx->errmsg : "No such deployment.");
    jw_obj_end(&w);
}

static void put_value(struct jw *w, const struct keel_prediction *p, size_t i)
{
    if (p->kind == KEEL_PRED_INT64)
        jw_int(w, p->i64[i]);
    else
        jw_double_fast(w, (double)p->f32[i]);
}

/*
 * Record building, per request thread. What a record says about the
 * deployment and the model (names, URI, version, run, input columns) is the
 * same for every request a model version answers: it is rendered once into
 * the thread's `prefix` and reused while the thread keeps scoring the same
 * model for the same deployment. The record itself is built in the thread's
 * `out`, kept between requests. Both go when the thread ends.
 */
struct record_tls {
    uint64_t generation; /* the load `prefix` was rendered for (0: none) */
    char *name, *uri, *version; /* what `prefix` was rendered for */
    struct kbuf prefix, out;
};

static pthread_key_t record_key;
static bool record_key_ok;
static pthread_once_t record_once = PTHREAD_ONCE_INIT;

static void record_tls_free(void *p)
{
    struct record_tls *t = p;
    free(t->name);
    free(t->uri);
    free(t->version);
    kbuf_free(&t->prefix);
    kbuf_free(&t->out);
    free(t);
}

static void record_key_init(void)
{
    record_key_ok = pthread_key_create(&record_key, record_tls_free) == 0;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* The thread's record buffers, the prefix current for (st, m); NULL when
 * out of memory. */
static struct record_tls *record_tls(const struct deploy_state *st, const struct keel_model *m)
{
    pthread_once(&record_once, record_key_init);
    struct record_tls *t = record_key_ok ? pthread_getspecific(record_key) : NULL;
    if (!t) {
        if (!record_key_ok || !(t = calloc(1, sizeof *t)))
            return NULL;
        kbuf_init(&t->prefix, 64u << 20);
        kbuf_init(&t->out, 64u << 20);
        if (pthread_setspecific(record_key, t) != 0) {
            record_tls_free(t);
            return NULL;
        }
    }
    /* keyed on the load, not the model's address: a new model may be
     * allocated where a freed one was */
    if (t->generation == st->generation && same(t->name, st->name) &&
        same(t->uri, st->model_uri) && same(t->version, st->model_version))
        return t;
    free(t->name);
    free(t->uri);
    free(t->version);
    t->generation = 0;
    t->name = strdup(st->name);
    t->uri = strdup(st->model_uri);
    t->version = strdup(st->model_version);
    kbuf_reset(&t->prefix);
    struct jw w; /* the members after timestamp_ms, up to the input rows */
    jw_init(&w, &t->prefix);
    jw_obj(&w);
    jw_kstr(&w, "deployment", st->name);
    jw_kstr(&w, "model_uri", st->model_uri);
    jw_kstr(&w, "model_name", st->model_name);
    jw_kstr(&w, "model_version", st->model_version);
    jw_kstr(&w, "run_id", st->run_id);
    jw_key(&w, "inputs");
    jw_obj(&w);
    jw_key(&w, "columns");
    const char *cols = keel_model_columns_json(m);
    jw_raw(&w, cols, strlen(cols));
    if (w.err != KEEL_OK || !t->name || !t->uri || !t->version)
        return NULL;
    t->generation = st->generation;
    return t;
}

/* The inputs as rows of numbers: each as the client wrote it where that is
 * its value (copying the text is a tenth of printing the double), else
 * printed (null for NaN, a missing value). Written straight into b, a row's
 * room reserved at once: this runs for every cell of every logged request. */
static void put_inputs(struct kbuf *b, const struct scoring_capture *cap)
{
    enum { PRINTED_MAX = 40 }; /* json_format_double's room, NUL included */
    kbuf_addc(b, '[');
    for (size_t r = 0; cap->x && r < cap->rows; r++) {
        const struct payload_text *text = cap->text ? cap->text + r * cap->cols : NULL;
        const double *x = cap->x + r * cap->cols;
        size_t need = 3;
        for (size_t c = 0; c < cap->cols; c++)
            need += 1 + (text && text[c].s ? text[c].n : PRINTED_MAX);
        if (kbuf_reserve(b, need) != KEEL_OK)
            return; /* the buffer's error stays: the record is not logged */
        char *p = b->data + b->len;
        if (r)
            *p++ = ',';
        *p++ = '[';
        for (size_t c = 0; c < cap->cols; c++) {
            if (c)
                *p++ = ',';
            if (text && text[c].s) {
                memcpy(p, text[c].s, text[c].n);
                p += text[c].n;
            } else if (isfinite(x[c])) {
                json_format_double(x[c], p, PRINTED_MAX);
                p += strlen(p);
            } else {
                memcpy(p, "null", 4);
                p += 4;
            }
        }
        *p++ = ']';
        *p = '\0';
        b->len = (size_t)(p - b->data);
    }
    kbuf_addc(b, ']');
}

/* One record of the prediction log for a scored request; in `required`
 * mode a record that cannot be made durable turns the answer into an error. */
static void log_prediction(struct keel_app *app, const struct deploy_state *st,
                           const struct keel_model *m, const struct scoring_capture *cap,
                           const char *request_id, int64_t ts_ms, int64_t latency_us,
                           struct http_response *resp, struct keel_ctx *ctx)
{
    struct record_tls *t = record_tls(st, m);
    enum keel_err e = KEEL_E_NOMEM;
    if (t) {
        struct kbuf *b = &t->out;
        kbuf_reset(b);
        /* raw pieces and three JSON writers in turn, all into b: its sticky
         * error keeps the first failure of any, so a record cut short by the
         * buffer's ceiling is never logged -- nor, when required, answered */
        /* {"request_id":..,"timestamp_ms":.. then the prefix past its "{" */
        struct jw w;
        jw_init(&w, b);
        kbuf_adds(b, "{\"request_id\":\"");
        kbuf_adds(b, request_id); /* hex */
        kbuf_adds(b, "\",\"timestamp_ms\":");
        jw_int(&w, ts_ms);
        kbuf_addc(b, ',');
        kbuf_add(b, t->prefix.data + 1, t->prefix.len - 1);
        kbuf_adds(b, ",\"data\":");
        put_inputs(b, cap);
        kbuf_adds(b, "},\"outputs\":");
        jw_init(&w, b);
        jw_arr(&w);
        const struct keel_prediction *p = &cap->pred;
        for (size_t r = 0; cap->predicted && r < p->rows; r++) {
            if (p->flat) {
                put_value(&w, p, r);
                continue;
            }
            jw_arr(&w);
            for (size_t k = 0; k < p->cols; k++)
                put_value(&w, p, r * p->cols + k);
            jw_arr_end(&w);
        }
        jw_arr_end(&w);
        kbuf_adds(b, ",\"latency_ms\":");
        jw_init(&w, b);
        jw_double_fast(&w, (double)latency_us / 1000.0);
        kbuf_adds(b, ",\"status\":");
        jw_int(&w, resp->status);
        kbuf_adds(b, ",\"error\":");
        if (cap->error)
            jw_str(&w, cap->error);
        else
            jw_null(&w);
        kbuf_addc(b, '}');
        e = kbuf_failed(b);
        bool required = st->log == DEPLOY_LOG_REQUIRED;
        e = e == KEEL_OK ? predlog_append(app->predlog, st->name, ts_ms, b->data, b->len, required,
                                          ctx)
                         : keel_fail(ctx, e, "the prediction record could not be built");
        if (b->cap > (1u << 20)) /* a huge request's buffer is not kept */
            kbuf_free(b);
    }
    if (e != KEEL_OK && st->log == DEPLOY_LOG_REQUIRED) {
        struct jw ew;
        resp->status = 503;
        resp->content_type = "application/json";
        kbuf_reset(&resp->body);
        jw_init(&ew, &resp->body);
        jw_obj(&ew);
        jw_kstr(&ew, "error_code", "TEMPORARILY_UNAVAILABLE");
        jw_kstr(&ew, "message", "The prediction could not be recorded in the prediction log "
                                "(required for this deployment); it was not returned.");
        jw_obj_end(&ew);
    }
}

static enum keel_err batched_predict(void *arg, const struct keel_model *m, const double *x,
                                     size_t rows, struct keel_prediction *out,
                                     struct keel_ctx *ctx)
{
    return batcher_predict(arg, m, x, rows, out, ctx);
}

void api_write_metrics(struct keel_app *app, struct http_response *resp)
{
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    kbuf_reset(&resp->body);
    if (app->deploys)
        deploy_write_metrics(app->deploys, &resp->body);
    if (app->predlog) {
        struct predlog_stats s;
        predlog_get_stats(app->predlog, &s);
        kbuf_printf(&resp->body,
                    "# HELP keel_prediction_log_records_total Prediction records by outcome.\n"
                    "# TYPE keel_prediction_log_records_total counter\n"
                    "keel_prediction_log_records_total{outcome=\"written\"} %llu\n"
                    "keel_prediction_log_records_total{outcome=\"dropped\"} %llu\n"
                    "keel_prediction_log_records_total{outcome=\"failed\"} %llu\n"
                    "# HELP keel_prediction_log_queue_length Records waiting to be written.\n"
                    "# TYPE keel_prediction_log_queue_length gauge\n"
                    "keel_prediction_log_queue_length %llu\n",
                    (unsigned long long)s.written, (unsigned long long)s.dropped,
                    (unsigned long long)s.failed, (unsigned long long)s.queued);
    }
}

bool api_deployment_scoring(struct keel_app *app, struct keel_ctx *ctx,
                            const struct http_request *req, struct http_response *resp)
{
    const char *p = req->path, *sub = NULL;
    char name[128];
    if (strncmp(p, "/deployments/", 13) == 0) {
        const char *n = p + 13, *slash = strchr(n, '/');
        if (!slash || (size_t)(slash - n) >= sizeof name || slash == n)
            return false;
        memcpy(name, n, (size_t)(slash - n));
        name[slash - n] = '\0';
        sub = slash;
    } else if (strncmp(p, "/v2/models/", 11) == 0) {
        const char *n = p + 11, *slash = strchr(n, '/');
        size_t len = slash ? (size_t)(slash - n) : strlen(n);
        if (!len || len >= sizeof name)
            return false;
        memcpy(name, n, len);
        name[len] = '\0';
        sub = p; /* KServe paths keep their /v2/models/<name> prefix */
    } else {
        return false;
    }
    static const struct api_guard *guards[2];
    if (!guards[0]) { /* the table is constant: a race stores the same pointers */
        guards[1] = api_guard_find("*", "/v2/models/*");
        guards[0] = api_guard_find("*", "/deployments/*");
    }
    if (!api_gate(app, ctx, req, guards[sub == p], name, NULL, resp))
        return true;
    struct deploy_state st;
    struct keel_model *m = deploy_acquire(app->deploys, name, &st, ctx);
    if (!m) {
        not_served(resp, ctx);
        return true;
    }
    struct scoring_capture cap = {0};
    void *batch_arg = st.batcher;
    struct scoring_target t = {.model = m, .name = st.name, .version = st.model_version,
                               .mlflow_version = keel_model_mlflow_version(m),
                               .limits = {.max_rows = DEPLOY_MAX_ROWS,
                                          .keep_text = app->predlog && st.log != DEPLOY_LOG_OFF},
                               .capture = &cap,
                               .predict = batch_arg ? batched_predict : NULL,
                               .predict_arg = batch_arg};
    char *request_id = karena_alloc(ctx->arena, 33);
    if (request_id)
        keel_uuid_hex(request_id);
    int64_t t0 = keel_now_us(), started = keel_now_ms();
    if (!scoring_handle(&t, sub, ctx, req, resp))
        http_respond_page(resp, 404);
    if (cap.scored && request_id && app->predlog && st.log != DEPLOY_LOG_OFF)
        log_prediction(app, &st, m, &cap, request_id, started, keel_now_us() - t0, resp, ctx);
    if (cap.scored)
        deploy_observe(app->deploys, st.name, resp->status, keel_now_us() - t0,
                       cap.predict_start_us ? cap.predict_start_us - t0 : 0,
                       cap.predict_end_us - cap.predict_start_us);
    http_response_header(resp, "X-Deployment", st.name);
    http_response_header(resp, "X-Model-Version", *st.model_version ? st.model_version : "none");
    if (request_id)
        http_response_header(resp, "X-Request-Id", request_id);
    keel_model_unref(m);
    return true;
}
