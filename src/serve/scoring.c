/*
 * scoring.c -- MLflow's scoring protocol and KServe v2 for one model.
 *
 * The MLflow side reproduces `mlflow models serve` (2.12): the content type
 * is checked first (charset, then unknown parameters, then the media type;
 * those refusals are text/plain 415s), the body is decoded against the
 * signature (serve/payload.c), scored, and the predictions written as
 * Python's json.dumps writes them: ", " separators, float32 results widened
 * to double and printed shortest-round-trip. Errors are MLflow's JSON
 * {"error_code", "message"} in the same Python formatting. Where MLflow
 * crashes (no Content-Type at all, a body that is not UTF-8) keel answers a
 * 4xx that says what is wrong instead of a 500.
 *
 * The KServe side takes either one 2-D tensor [rows, features] or one 1-D
 * tensor per signature column, and answers one output tensor "predict".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve/scoring.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/jparse.h"
#include "util/time.h"
#include "version.h"

static const char unsupported_type_prefix[] =
    "This predictor only supports the following content types: Types: ['text/csv', "
    "'application/json'].";

static const char model_failed_msg[] =
    "Encountered an unexpected error while evaluating the model. Verify that the serialized "
    "input Dataframe is compatible with the model for inference.";

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define APP_JSON "application/json"

/* ---- MLflow's error body, formatted as Python's json.dumps ---- */

static void mlflow_error_trace(struct http_response *resp, enum keel_err e, const char *msg,
                               const char *trace)
{
    struct jval code = {.type = J_STRING, .u.s = keel_err_code(e)};
    code.n = strlen(code.u.s);
    struct jval text = {.type = J_STRING, .u.s = msg ? msg : "", .n = msg ? strlen(msg) : 0};
    resp->status = keel_err_http_status(e);
    resp->content_type = APP_JSON;
    kbuf_reset(&resp->body);
    kbuf_adds(&resp->body, "{\"error_code\": ");
    json_dump_python(&resp->body, &code);
    kbuf_adds(&resp->body, ", \"message\": ");
    json_dump_python(&resp->body, &text);
    if (trace) {
        struct jval t = {.type = J_STRING, .u.s = trace, .n = strlen(trace)};
        kbuf_adds(&resp->body, ", \"stack_trace\": ");
        json_dump_python(&resp->body, &t);
    }
    kbuf_addc(&resp->body, '}');
}

static void mlflow_error(struct http_response *resp, enum keel_err e, const char *msg)
{
    mlflow_error_trace(resp, e, msg, NULL);
}

void scoring_put_value(struct kbuf *b, const struct keel_prediction *p, size_t i)
{
    char tmp[40];
    size_t n;
    if (p->kind == KEEL_PRED_INT64) {
        n = (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)p->i64[i]);
    } else {
        double v = (double)p->f32[i];
        if (isnan(v))
            n = (size_t)snprintf(tmp, sizeof tmp, "NaN");
        else if (isinf(v))
            n = (size_t)snprintf(tmp, sizeof tmp, v > 0 ? "Infinity" : "-Infinity");
        else
            n = json_format_double(v, tmp, sizeof tmp); /* its length: no strlen a value */
    }
    kbuf_add(b, tmp, n);
}

/* `[v0, v1, ...]` or `[[..], [..]]` with Python's separators. */
static void put_predictions(struct kbuf *b, const struct keel_prediction *p)
{
    kbuf_addc(b, '[');
    for (size_t r = 0; r < p->rows; r++) {
        if (r)
            kbuf_adds(b, ", ");
        if (p->flat) {
            scoring_put_value(b, p, r);
            continue;
        }
        kbuf_addc(b, '[');
        for (size_t c = 0; c < p->cols; c++) {
            if (c)
                kbuf_adds(b, ", ");
            scoring_put_value(b, p, r * p->cols + c);
        }
        kbuf_addc(b, ']');
    }
    kbuf_addc(b, ']');
}

/* ---- content type, as MLflow's invocations() reads it ---- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

/* Splits "type; k=v; ..." into the media type and its parameters; answers
 * the 415s MLflow gives (returns false then). *fmt gets the body format. */
static bool read_content_type(const char *header, struct keel_ctx *ctx,
                              struct http_response *resp, enum payload_format *fmt)
{
    if (!header) {
        /* MLflow crashes here with a 500; say what is missing instead */
        char *msg = karena_sprintf(ctx->arena, "%s Got no Content-Type header.",
                                   unsupported_type_prefix);
        http_respond_text(resp, 415, TEXT_PLAIN, msg ? msg : unsupported_type_prefix);
        return false;
    }
    char *copy = karena_strdup(ctx->arena, header);
    if (!copy) {
        mlflow_error(resp, KEEL_E_NOMEM, "out of memory");
        return false;
    }
    char *save = NULL;
    char *part = strtok_r(copy, ";", &save);
    const char *media = trim(part ? part : copy);
    const char *charset = NULL;
    struct kbuf unknown;
    kbuf_init(&unknown, 4096);
    for (char *p = strtok_r(NULL, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
        p = trim(p);
        char *eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        if (strcmp(p, "charset") == 0) {
            charset = eq ? eq + 1 : "";
        } else {
            if (unknown.len)
                kbuf_adds(&unknown, ", ");
            kbuf_adds(&unknown, p);
        }
    }
    bool ok = false;
    if (charset && strcasecmp(charset, "utf-8") != 0) {
        http_respond_text(resp, 415, TEXT_PLAIN, "The scoring server only supports UTF-8");
    } else if (unknown.len) {
        char *msg = karena_sprintf(ctx->arena, "Unrecognized content type parameters: %.*s. %s",
                                   (int)unknown.len, unknown.data, payload_protocol_change_info);
        http_respond_text(resp, 415, TEXT_PLAIN, msg ? msg : "Unrecognized content type");
    } else if (strcmp(media, "text/csv") == 0) {
        *fmt = PAYLOAD_CSV;
        ok = true;
    } else if (strcmp(media, "application/json") == 0) {
        *fmt = PAYLOAD_JSON;
        ok = true;
    } else {
        char *msg = karena_sprintf(ctx->arena, "%s Got '%s'.", unsupported_type_prefix, header);
        http_respond_text(resp, 415, TEXT_PLAIN, msg ? msg : unsupported_type_prefix);
    }
    kbuf_free(&unknown);
    return ok;
}

static enum keel_err predict(const struct scoring_target *t, const double *x, size_t rows,
                             struct keel_prediction *out, struct keel_ctx *ctx)
{
    if (t->capture)
        t->capture->predict_start_us = keel_now_us();
    enum keel_err e = t->predict ? t->predict(t->predict_arg, t->model, x, rows, out, ctx)
                                 : keel_model_predict(t->model, x, rows, out, ctx);
    if (t->capture)
        t->capture->predict_end_us = keel_now_us();
    return e;
}

static void capture_error(const struct scoring_target *t, const char *msg)
{
    if (t->capture)
        t->capture->error = msg ? msg : "refused";
}

static void invocations(const struct scoring_target *t, struct keel_ctx *ctx,
                        const struct http_request *req, struct http_response *resp)
{
    enum payload_format fmt;
    if (t->capture)
        t->capture->scored = true;
    if (!read_content_type(req->content_type, ctx, resp, &fmt)) {
        capture_error(t, "unsupported content type");
        return;
    }
    if (jp_utf8_span(req->body, req->body_len) != req->body_len) {
        /* MLflow's decode("utf-8") raises here and answers 500 */
        mlflow_error(resp, KEEL_E_BAD_REQUEST,
                     "Invalid input. The request body is not valid UTF-8, the only encoding "
                     "the scoring server accepts.");
        capture_error(t, "the request body is not valid UTF-8");
        return;
    }
    const struct keel_signature *sig = keel_model_signature(t->model);
    struct payload_frame frame;
    enum keel_err e = payload_decode(fmt, req->body, req->body_len, sig,
                                     keel_model_n_features(t->model), &t->limits, &frame, ctx);
    if (e != KEEL_OK) {
        mlflow_error(resp, e, ctx->errmsg);
        capture_error(t, ctx->errmsg);
        return;
    }
    if (t->capture) {
        t->capture->x = frame.x;
        t->capture->text = frame.text;
        t->capture->rows = frame.rows;
        t->capture->cols = frame.cols;
    }
    if (frame.rows == 0) { /* a header-only CSV, an empty list: nothing to score */
        http_respond_text(resp, 200, APP_JSON, "{\"predictions\": []}");
        return;
    }
    struct keel_prediction pred;
    e = predict(t, frame.x, frame.rows, &pred, ctx);
    if (e != KEEL_OK) {
        /* MLflow's words, with the model's own reason where MLflow puts its
         * Python traceback */
        mlflow_error_trace(resp, KEEL_E_BAD_REQUEST, model_failed_msg,
                           ctx->errmsg ? ctx->errmsg : "the model failed");
        capture_error(t, ctx->errmsg ? ctx->errmsg : "the model failed");
        return;
    }
    if (t->capture) {
        t->capture->pred = pred;
        t->capture->predicted = true;
    }
    resp->status = 200;
    resp->content_type = APP_JSON;
    kbuf_reset(&resp->body);
    kbuf_adds(&resp->body, "{\"predictions\": ");
    put_predictions(&resp->body, &pred);
    kbuf_addc(&resp->body, '}');
    /* any append refused (the last one may still fit) leaves a truncated
     * document: answer an error instead of a 200 with half the predictions */
    enum keel_err full = kbuf_failed(&resp->body);
    if (full != KEEL_OK) {
        const char *why = full == KEEL_E_TOO_LARGE
                              ? "The predictions exceed the response size limit."
                              : "The predictions could not be written (out of memory).";
        mlflow_error(resp, full, why);
        capture_error(t, why);
    }
}

/* ---- KServe v2 / Open Inference Protocol ---- */

static void kserve_error(struct http_response *resp, int status, const char *msg)
{
    struct jw w;
    resp->status = status;
    resp->content_type = APP_JSON;
    kbuf_reset(&resp->body);
    jw_init(&w, &resp->body);
    jw_obj(&w);
    jw_kstr(&w, "error", msg ? msg : "error");
    jw_obj_end(&w);
}

static void kserve_ok(struct http_response *resp, struct jw *w)
{
    resp->status = 200;
    resp->content_type = APP_JSON;
    kbuf_reset(&resp->body);
    jw_init(w, &resp->body);
}

static const char *kserve_dtype(enum keel_pred_kind k)
{
    return k == KEEL_PRED_INT64 ? "INT64" : "FP32";
}

static void kserve_metadata(const struct scoring_target *t, struct http_response *resp)
{
    struct jw w;
    kserve_ok(resp, &w);
    jw_obj(&w);
    jw_kstr(&w, "name", t->name);
    jw_key(&w, "versions");
    jw_arr(&w);
    if (t->version && *t->version)
        jw_str(&w, t->version);
    jw_arr_end(&w);
    jw_kstr(&w, "platform", keel_model_flavor(t->model));
    const struct keel_signature *sig = keel_model_signature(t->model);
    jw_key(&w, "inputs");
    jw_arr(&w);
    if (sig->has_inputs) {
        for (size_t i = 0; i < sig->n_inputs; i++) {
            jw_obj(&w);
            jw_kstr(&w, "name", sig->inputs[i].name);
            jw_kstr(&w, "datatype", "FP64");
            jw_key(&w, "shape");
            jw_arr(&w);
            jw_int(&w, -1);
            jw_arr_end(&w);
            jw_obj_end(&w);
        }
    } else {
        jw_obj(&w);
        jw_kstr(&w, "name", "input-0");
        jw_kstr(&w, "datatype", "FP64");
        jw_key(&w, "shape");
        jw_arr(&w);
        jw_int(&w, -1);
        jw_int(&w, (int64_t)keel_model_n_features(t->model));
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_key(&w, "outputs");
    jw_arr(&w);
    jw_obj(&w);
    jw_kstr(&w, "name", "predict");
    jw_kstr(&w, "datatype", strstr(keel_model_class(t->model), "Classifier") ? "INT64" : "FP32");
    jw_key(&w, "shape");
    jw_arr(&w);
    jw_int(&w, -1);
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
}

static const char *const kserve_numeric_types[] = {
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64",
};

static bool kserve_numeric(const char *dt)
{
    for (size_t i = 0; i < sizeof kserve_numeric_types / sizeof *kserve_numeric_types; i++)
        if (strcmp(dt, kserve_numeric_types[i]) == 0)
            return true;
    return false;
}

/* Flattens `data` (nested lists allowed, row-major) into out[0..want);
 * returns the number of scalars seen, or SIZE_MAX on a non-numeric value. */
static size_t kserve_flatten(const struct jval *v, double *out, size_t want, size_t at, int depth)
{
    if (!v || depth > 8) /* no "data" at all, or nested past any tensor keel takes */
        return SIZE_MAX;
    if (jv_is_array(v)) {
        for (size_t i = 0; i < v->n; i++) {
            at = kserve_flatten(&v->u.items[i], out, want, at, depth + 1);
            if (at == SIZE_MAX)
                return at;
        }
        return at;
    }
    double d;
    if (v->type == J_INT)
        d = (double)v->u.i;
    else if (v->type == J_REAL)
        d = v->u.d;
    else if (v->type == J_TRUE || v->type == J_FALSE)
        d = v->type == J_TRUE;
    else if (v->type == J_NULL)
        d = NAN;
    else
        return SIZE_MAX;
    if (at < want)
        out[at] = d;
    return at + 1;
}

/* Reads a tensor's shape; returns its element count, 0 on a bad shape. */
static size_t kserve_shape(const struct jval *shape, size_t dims[2], size_t *ndims)
{
    if (!jv_is_array(shape) || shape->n == 0 || shape->n > 2)
        return 0;
    size_t count = 1;
    for (size_t i = 0; i < shape->n; i++) {
        const struct jval *d = &shape->u.items[i];
        if (d->type != J_INT || d->u.i < 0 || d->u.i > (int64_t)1 << 32)
            return 0;
        dims[i] = (size_t)d->u.i;
        count *= dims[i];
    }
    *ndims = shape->n;
    return count;
}

/* The request's inputs as a rows x features matrix in signature order. */
static enum keel_err kserve_matrix(const struct scoring_target *t, const struct jval *inputs,
                                   double **x, size_t *rows, struct keel_ctx *ctx)
{
    const struct keel_signature *sig = keel_model_signature(t->model);
    size_t nf = keel_model_n_features(t->model);
    if (!jv_is_array(inputs) || inputs->n == 0)
        return keel_fail(ctx, KEEL_E_BAD_REQUEST, "'inputs' must be a non-empty list of tensors");
    /* one 2-D tensor: rows x features, whatever its name */
    const struct jval *first = &inputs->u.items[0];
    size_t dims[2] = {0, 0}, nd = 0;
    if (inputs->n == 1 && kserve_shape(jv_get(first, "shape"), dims, &nd) && nd == 2) {
        if (dims[1] != nf)
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "input '%s' has %zu columns; the model takes %zu features",
                             jv_is_string(jv_get(first, "name")) ? jv_get(first, "name")->u.s
                                                                 : "",
                             dims[1], nf);
        if (dims[0] > t->limits.max_rows)
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "%zu rows exceed the limit of %zu per request",
                             dims[0], t->limits.max_rows);
        const struct jval *dt = jv_get(first, "datatype");
        if (!jv_is_string(dt) || !kserve_numeric(dt->u.s))
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "input datatype must be numeric (BOOL, INT*, UINT*, FP*)");
        *x = karena_alloc(ctx->arena, (dims[0] * nf + 1) * sizeof **x);
        if (!*x)
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        size_t seen = kserve_flatten(jv_get(first, "data"), *x, dims[0] * nf, 0, 0);
        if (seen != dims[0] * nf)
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "input data must hold %zu numbers for shape [%zu, %zu]",
                             dims[0] * nf, dims[0], nf);
        *rows = dims[0];
        return KEEL_OK;
    }
    /* one 1-D tensor per signature column */
    if (!sig->has_inputs)
        return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                         "this model has no named inputs: send one tensor of shape [rows, %zu]",
                         nf);
    size_t n = SIZE_MAX;
    double *m = NULL;
    for (size_t c = 0; c < sig->n_inputs; c++) {
        const struct jval *in = NULL;
        for (size_t i = 0; i < inputs->n && !in; i++) {
            const struct jval *name = jv_get(&inputs->u.items[i], "name");
            if (jv_is_string(name) && strcmp(name->u.s, sig->inputs[c].name) == 0)
                in = &inputs->u.items[i];
        }
        if (!in)
            return keel_fail(ctx, KEEL_E_BAD_REQUEST, "missing input '%s'", sig->inputs[c].name);
        size_t cnt = kserve_shape(jv_get(in, "shape"), dims, &nd);
        if (!cnt || (nd == 2 && dims[1] != 1))
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "input '%s' must have shape [rows] or [rows, 1]", sig->inputs[c].name);
        const struct jval *dt = jv_get(in, "datatype");
        if (!jv_is_string(dt) || !kserve_numeric(dt->u.s))
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "input '%s' datatype must be numeric (BOOL, INT*, UINT*, FP*)",
                             sig->inputs[c].name);
        if (n == SIZE_MAX) {
            n = dims[0];
            if (n > t->limits.max_rows)
                return keel_fail(ctx, KEEL_E_TOO_LARGE,
                                 "%zu rows exceed the limit of %zu per request", n,
                                 t->limits.max_rows);
            m = karena_alloc(ctx->arena, (n * nf + 1) * sizeof *m);
            if (!m)
                return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        } else if (dims[0] != n) {
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "input '%s' has %zu rows, the first input %zu", sig->inputs[c].name,
                             dims[0], n);
        }
        double *col = karena_alloc(ctx->arena, (n + 1) * sizeof *col);
        if (!col)
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        if (kserve_flatten(jv_get(in, "data"), col, n, 0, 0) != n)
            return keel_fail(ctx, KEEL_E_BAD_REQUEST, "input '%s' data must hold %zu numbers",
                             sig->inputs[c].name, n);
        for (size_t r = 0; r < n; r++)
            m[r * nf + c] = col[r];
    }
    *x = m;
    *rows = n;
    return KEEL_OK;
}

static void kserve_infer(const struct scoring_target *t, struct keel_ctx *ctx,
                         const struct http_request *req, struct http_response *resp)
{
    const char *perr = NULL;
    if (t->capture)
        t->capture->scored = true;
    const struct jval *doc = jp_parse(ctx->arena, req->body, req->body_len, &perr);
    if (!jv_is_object(doc)) {
        kserve_error(resp, 400, doc ? "the request must be a JSON object"
                                    : karena_sprintf(ctx->arena, "invalid JSON: %s",
                                                     perr ? perr : "parse error"));
        capture_error(t, "the request is not a JSON object");
        return;
    }
    double *x = NULL;
    size_t rows = 0;
    enum keel_err e = kserve_matrix(t, jv_get(doc, "inputs"), &x, &rows, ctx);
    if (e != KEEL_OK) {
        kserve_error(resp, keel_err_http_status(e) == 413 ? 413 : 400, ctx->errmsg);
        capture_error(t, ctx->errmsg);
        return;
    }
    if (t->capture) {
        t->capture->x = x;
        t->capture->rows = rows;
        t->capture->cols = keel_model_n_features(t->model);
    }
    struct keel_prediction pred;
    if (predict(t, x, rows, &pred, ctx) != KEEL_OK) {
        kserve_error(resp, 400, ctx->errmsg ? ctx->errmsg : model_failed_msg);
        capture_error(t, ctx->errmsg ? ctx->errmsg : model_failed_msg);
        return;
    }
    if (t->capture) {
        t->capture->pred = pred;
        t->capture->predicted = true;
    }
    struct jw w;
    kserve_ok(resp, &w);
    jw_obj(&w);
    jw_kstr(&w, "model_name", t->name);
    if (t->version && *t->version)
        jw_kstr(&w, "model_version", t->version);
    const struct jval *id = jv_get(doc, "id");
    if (jv_is_string(id))
        jw_kstr(&w, "id", id->u.s);
    jw_key(&w, "outputs");
    jw_arr(&w);
    jw_obj(&w);
    jw_kstr(&w, "name", "predict");
    jw_kstr(&w, "datatype", kserve_dtype(pred.kind));
    jw_key(&w, "shape");
    jw_arr(&w);
    jw_int(&w, (int64_t)pred.rows);
    if (!pred.flat)
        jw_int(&w, (int64_t)pred.cols);
    jw_arr_end(&w);
    jw_key(&w, "data");
    jw_arr(&w);
    for (size_t i = 0; i < pred.rows * pred.cols; i++) {
        if (pred.kind == KEEL_PRED_INT64)
            jw_int(&w, pred.i64[i]);
        else
            jw_double(&w, (double)pred.f32[i]);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_obj_end(&w);
    if (w.err != KEEL_OK)
        kserve_error(resp, 413, "the predictions exceed the response size limit");
}

static void kserve_bool(struct http_response *resp, const char *key, const char *name)
{
    struct jw w;
    kserve_ok(resp, &w);
    jw_obj(&w);
    if (name)
        jw_kstr(&w, "name", name);
    jw_key(&w, key);
    jw_bool(&w, true);
    jw_obj_end(&w);
}

/* /v2/models/<name>[/versions/<v>]<rest>: checks name and version against the
 * target; *rest gets what follows ("", "/ready", "/infer"). */
static bool kserve_model_path(const struct scoring_target *t, const char *p, const char **rest,
                              const char **bad)
{
    size_t nlen = strlen(t->name);
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    *bad = NULL;
    if (len != nlen || strncmp(p, t->name, nlen) != 0) {
        *bad = "model";
        return false;
    }
    p += len;
    if (strncmp(p, "/versions/", 10) == 0) {
        const char *v = p + 10;
        const char *vs = strchr(v, '/');
        size_t vlen = vs ? (size_t)(vs - v) : strlen(v);
        if (!t->version || strlen(t->version) != vlen || strncmp(v, t->version, vlen) != 0) {
            *bad = "version";
            return false;
        }
        p = v + vlen;
    }
    *rest = p;
    return true;
}

static bool kserve(const struct scoring_target *t, const char *path, struct keel_ctx *ctx,
                   const struct http_request *req, struct http_response *resp)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0) {
        if (!get)
            return http_respond_page(resp, 405), true;
        struct jw w;
        kserve_ok(resp, &w);
        jw_obj(&w);
        jw_kstr(&w, "name", "keel");
        jw_kstr(&w, "version", KEEL_VERSION);
        jw_key(&w, "extensions");
        jw_arr(&w);
        jw_arr_end(&w);
        jw_obj_end(&w);
        return true;
    }
    if (strcmp(path, "/v2/health/live") == 0 || strcmp(path, "/v2/health/ready") == 0) {
        if (!get)
            return http_respond_page(resp, 405), true;
        kserve_bool(resp, path[11] == 'l' ? "live" : "ready", NULL);
        return true;
    }
    if (strncmp(path, "/v2/models/", 11) != 0)
        return false;
    const char *rest = NULL, *bad = NULL;
    if (!kserve_model_path(t, path + 11, &rest, &bad)) {
        kserve_error(resp, 404,
                     karena_sprintf(ctx->arena, strcmp(bad, "model") == 0
                                                    ? "Model %s not found; this server serves %s"
                                                    : "Version not found for model %s (serving %s)",
                                    path + 11, t->name));
        return true;
    }
    if (*rest == '\0') {
        if (!get)
            return http_respond_page(resp, 405), true;
        kserve_metadata(t, resp);
    } else if (strcmp(rest, "/ready") == 0) {
        if (!get)
            return http_respond_page(resp, 405), true;
        kserve_bool(resp, "ready", t->name);
    } else if (strcmp(rest, "/infer") == 0) {
        if (!post)
            return http_respond_page(resp, 405), true;
        kserve_infer(t, ctx, req, resp);
    } else {
        return false;
    }
    return true;
}

/* ---- the MLflow routes ---- */

bool scoring_handle(const struct scoring_target *t, const char *path, struct keel_ctx *ctx,
                    const struct http_request *req, struct http_response *resp)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (strcmp(path, "/ping") == 0 || strcmp(path, "/health") == 0) {
        if (get)
            http_respond_text(resp, 200, APP_JSON, "\n");
        else
            http_respond_page(resp, 405);
        return true;
    }
    if (strcmp(path, "/version") == 0) {
        if (get)
            http_respond_text(resp, 200, APP_JSON, t->mlflow_version);
        else
            http_respond_page(resp, 405);
        return true;
    }
    if (strcmp(path, "/invocations") == 0) {
        if (strcmp(req->method, "POST") == 0)
            invocations(t, ctx, req, resp);
        else
            http_respond_page(resp, 405);
        return true;
    }
    return kserve(t, path, ctx, req, resp);
}
