/*
 * logged_models.c -- MLflow 3's logged-model endpoints (mlflow/logged-models
 * and mlflow/runs/outputs), answered with MLflow 3's error envelope.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "artifacts/artifacts.h"
#include "store/search.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/ids.h"
#include "util/jparse.h"

#define LM_SEARCH_DEFAULT_RESULTS 100
#define LM_SEARCH_MAX_RESULTS 50000
#define LM_TOKEN_CEILING (1u << 20) /* bytes of one page token's JSON */

static const char *const lm_status_names[] = {
    [LM_STATUS_UNSPECIFIED] = "LOGGED_MODEL_STATUS_UNSPECIFIED",
    [LM_STATUS_PENDING] = "LOGGED_MODEL_PENDING",
    [LM_STATUS_READY] = "LOGGED_MODEL_READY",
    [LM_STATUS_UPLOAD_FAILED] = "LOGGED_MODEL_UPLOAD_FAILED",
};
#define N_LM_STATUS (sizeof lm_status_names / sizeof *lm_status_names)

static void write_kvs(struct jw *w, const char *key, const struct keel_tag *t, size_t n)
{
    api_write_tags(w, key, t, n);
}

static void write_lm(struct jw *w, const struct keel_logged_model *m)
{
    char exp[24];
    snprintf(exp, sizeof exp, "%lld", (long long)m->experiment_id);
    jw_obj(w);
    jw_key(w, "info");
    jw_obj(w);
    jw_kstr(w, "model_id", m->model_id);
    jw_kstr(w, "experiment_id", exp);
    jw_kstr(w, "name", m->name);
    jw_kint(w, "creation_timestamp_ms", m->creation_time);
    jw_kint(w, "last_updated_timestamp_ms", m->last_updated_time);
    jw_kstr(w, "artifact_uri", m->artifact_uri);
    jw_kstr(w, "status", (unsigned)m->status < N_LM_STATUS ? lm_status_names[m->status]
                                                            : lm_status_names[0]);
    jw_kstr(w, "model_type", m->model_type ? m->model_type : "");
    jw_kstr(w, "source_run_id", m->source_run_id ? m->source_run_id : "");
    write_kvs(w, "tags", m->tags, m->n_tags);
    jw_obj_end(w);
    jw_key(w, "data");
    jw_obj(w);
    write_kvs(w, "params", m->params, m->n_params);
    if (m->n_metrics) {
        jw_key(w, "metrics");
        jw_arr(w);
        for (size_t i = 0; i < m->n_metrics; i++) {
            const struct keel_metric *x = &m->metrics[i];
            jw_obj(w);
            jw_kstr(w, "key", x->key);
            jw_key(w, "value");
            jw_double(w, x->value);
            jw_kint(w, "timestamp", x->timestamp);
            jw_kint(w, "step", x->step);
            jw_kstr_opt(w, "dataset_name", x->dataset_name);
            jw_kstr_opt(w, "dataset_digest", x->dataset_digest);
            jw_kstr(w, "model_id", x->model_id);
            jw_kstr(w, "run_id", x->run_id);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
    jw_obj_end(w);
}

static enum keel_err lm_response(struct api_call *c, const struct keel_logged_model *m)
{
    jw_obj(&c->out);
    jw_key(&c->out, "model");
    write_lm(&c->out, m);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err empty_response(struct api_call *c)
{
    jw_obj(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err check_model_name(struct api_call *c, const char *name)
{
    if (*name && !strpbrk(name, "/:.%\"'"))
        return KEEL_OK;
    return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                     "Invalid model name ('%s') provided. Model name must be a non-empty string "
                     "and cannot contain the following characters: ('/', ':', '.', '%%', '\"', "
                     "\"'\")",
                     name);
}

static enum keel_err h_create(struct api_call *c)
{
    struct store_lm_create in = {0};
    struct keel_tag *tags, *params;
    struct keel_logged_model m;
    const char *exp;
    c->mlflow3 = true;
    enum keel_err e = api_arg_str(c, "experiment_id", true, &exp);
    if (!e)
        e = api_arg_str(c, "name", false, &in.name);
    if (!e)
        e = api_arg_str(c, "model_type", false, &in.model_type);
    if (!e)
        e = api_arg_str(c, "source_run_id", false, &in.source_run_id);
    if (!e)
        e = api_arg_kv_list(c, "tags", false, &tags, &in.n_tags);
    if (!e)
        e = api_arg_kv_list(c, "params", false, &params, &in.n_params);
    if (!e)
        e = api_parse_experiment_id(c, exp, &in.experiment_id);
    if (e)
        return e;
    if (!in.name) {
        char *gen = karena_alloc(c->ctx->arena, 64);
        if (!gen)
            return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
        keel_random_run_name(gen, 64);
        in.name = gen;
    } else if ((e = check_model_name(c, in.name))) {
        return e;
    }
    in.tags = tags;
    in.params = params;
    e = store_lm_create(c->app->store, c->ctx, &in, &m);
    return e ? e : lm_response(c, &m);
}

/* the {model_id} and what follows it in the path */
static const char *path_id(struct api_call *c, const char **rest)
{
    size_t n = strcspn(c->tail, "/");
    *rest = c->tail[n] ? c->tail + n + 1 : NULL;
    return karena_strndup(c->ctx->arena, c->tail, n);
}

static enum keel_err h_get(struct api_call *c)
{
    const char *rest, *id = path_id(c, &rest), *allow;
    struct keel_logged_model m;
    c->mlflow3 = true;
    if (rest && strcmp(rest, "artifacts/directories") == 0) {
        /* the model's files, listed as mlflow/artifacts/list lists a run's */
        const char *path;
        enum keel_err e = api_arg_str(c, "artifact_directory_path", false, &path);
        if (!e && path && *path)
            e = artifact_check_path(c->ctx, path, &path);
        if (!e)
            e = store_lm_get(c->app->store, c->ctx, id, false, &m);
        return e ? e : api_write_artifact_listing(c, m.artifact_uri, path);
    }
    if (rest)
        return api_not_routed(c);
    enum keel_err e = api_arg_str(c, "allow_deleted", false, &allow);
    if (!e)
        e = store_lm_get(c->app->store, c->ctx, id, allow && strcmp(allow, "true") == 0, &m);
    return e ? e : lm_response(c, &m);
}

/* status by enum name or number; an unknown number is UNSPECIFIED (as protobuf
 * keeps it), an unknown name an invalid value */
static enum keel_err status_arg(struct api_call *c, int *status)
{
    const struct jval *v = jv_get(c->args, "status");
    if (!v || jv_is_null(v))
        return api_fail_missing(c, "status");
    if (jv_is_int(v)) {
        *status = v->u.i > 0 && (uint64_t)v->u.i < N_LM_STATUS ? (int)v->u.i : 0;
        return KEEL_OK;
    }
    for (size_t i = 0; jv_is_string(v) && i < N_LM_STATUS; i++)
        if (strcmp(jv_str(v), lm_status_names[i]) == 0) {
            *status = (int)i;
            return KEEL_OK;
        }
    return api_fail_invalid(c, "status", v);
}

/* PATCH {id}: finalize (the body's model_id is the one used); PATCH {id}/tags */
static enum keel_err h_patch(struct api_call *c)
{
    const char *rest;
    const char *url_id = path_id(c, &rest);
    c->mlflow3 = true;
    if (rest && strcmp(rest, "tags") == 0) {
        struct keel_tag *tags;
        size_t n;
        enum keel_err e = api_arg_kv_list(c, "tags", false, &tags, &n);
        if (!e)
            e = store_lm_set_tags(c->app->store, c->ctx, url_id, tags, n);
        return e ? e : empty_response(c);
    }
    if (rest)
        return api_not_routed(c);
    const char *id;
    int status = 0;
    struct keel_logged_model m;
    enum keel_err e = api_arg_str(c, "model_id", true, &id);
    if (!e)
        e = status_arg(c, &status);
    if (!e)
        e = store_lm_finalize(c->app->store, c->ctx, id, status, &m);
    return e ? e : lm_response(c, &m);
}

/* DELETE {id}; DELETE {id}/tags/{key} */
static enum keel_err h_delete(struct api_call *c)
{
    const char *rest, *id = path_id(c, &rest);
    c->mlflow3 = true;
    enum keel_err e;
    if (rest && strncmp(rest, "tags/", 5) == 0 && rest[5])
        e = store_lm_delete_tag(c->app->store, c->ctx, id, rest + 5);
    else if (!rest)
        e = store_lm_delete(c->app->store, c->ctx, id);
    else
        e = api_not_routed(c);
    return e ? e : empty_response(c);
}

/* POST {id}/params (the body's model_id is the one used) */
/* ---- search ----
 * MLflow's page token for this endpoint is base64 of json.dumps of
 * {experiment_ids, filter_string, order_by, offset}; a token reused with
 * other experiment ids, filter or order is refused with its message. */

struct lm_search_req {
    struct store_lm_search q;
    const struct jval *exp_ids;  /* the request's, as sent */
    const char *exp_json, *filter_json, *order_json; /* canonical JSON of each */
};

static const char *canonical(struct api_call *c, void (*write)(struct jw *, const void *),
                             const void *arg)
{
    struct kbuf b;
    struct jw w;
    kbuf_init(&b, LM_TOKEN_CEILING);
    jw_init(&w, &b);
    write(&w, arg);
    char *s = w.err ? NULL : karena_strdup(c->ctx->arena, b.data ? b.data : "");
    kbuf_free(&b);
    return s;
}

static void write_jval(struct jw *w, const void *v)
{
    if (v)
        jw_json(w, v);
    else
        jw_null(w);
}

static void write_filter(struct jw *w, const void *f)
{
    if (f && *(const char *)f)
        jw_str(w, f);
    else
        jw_null(w);
}

static void write_order(struct jw *w, const void *arg)
{
    const struct store_lm_search *q = arg;
    if (!q->n_order_by) {
        jw_null(w);
        return;
    }
    jw_arr(w);
    for (size_t i = 0; i < q->n_order_by; i++) {
        const struct search_lm_order *o = &q->order_by[i];
        jw_obj(w);
        jw_kstr(w, "field_name", o->field_name ? o->field_name : "");
        jw_key(w, "ascending");
        jw_bool(w, o->ascending);
        jw_key(w, "dataset_name");
        write_filter(w, o->dataset_name);
        jw_key(w, "dataset_digest");
        write_filter(w, o->dataset_digest);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

/* Python's str() of a JSON text: repr of the value, None for null */
static const char *py_text(struct api_call *c, const char *json, bool plain_string)
{
    const struct jval *v = jp_parse(c->ctx->arena, json, strlen(json), NULL);
    if (plain_string && jv_is_string(v))
        return jv_str(v);
    struct kbuf b;
    kbuf_init(&b, LM_TOKEN_CEILING);
    if (!v || json_pyrepr(&b, v)) {
        kbuf_free(&b);
        return json;
    }
    char *s = karena_strdup(c->ctx->arena, b.data);
    kbuf_free(&b);
    return s ? s : json;
}

/* MLflow's message for a token reused with another request */
static enum keel_err token_mismatch(struct api_call *c, const char *what, const char *asked,
                                    const char *found, bool plain)
{
    return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER, "%s. Expected: %s. Found: %s", what,
                     py_text(c, asked, plain), py_text(c, found, plain));
}

static enum keel_err read_token(struct api_call *c, const char *token, struct lm_search_req *r)
{
    size_t n;
    char *text = search_b64_decode(c->ctx, token, &n);
    if (!text) { /* MLflow fails on it unhandled: an HTML 500 */
        c->html_error_page = true;
        return keel_fail(c->ctx, KEEL_E_INTERNAL, "page token is not base64");
    }
    const char *why = NULL;
    const struct jval *doc = jp_parse(c->ctx->arena, text, n, &why);
    if (!jv_is_object(doc))
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER, "Invalid page token: %s. %s", token,
                         why ? why : "not a JSON object");
    const struct jval *off = jv_get(doc, "offset");
    const struct jval *f = jv_get(doc, "filter_string"), *o = jv_get(doc, "order_by");
    const char *exp = canonical(c, write_jval, jv_get(doc, "experiment_ids"));
    const char *filter = canonical(c, write_jval, jv_is_string(f) && *jv_str(f) ? f : NULL);
    const char *order = canonical(c, write_jval, jv_is_array(o) && jv_len(o) ? o : NULL);
    if (!exp || !filter || !order)
        return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
    if (strcmp(exp, r->exp_json) != 0)
        return token_mismatch(c,
                              "Experiment IDs in the page token do not match the requested "
                              "experiment IDs",
                              r->exp_json, exp, false);
    if (strcmp(filter, r->filter_json) != 0)
        return token_mismatch(c,
                              "Filter string in the page token does not match the requested "
                              "filter string",
                              r->filter_json, filter, true);
    if (strcmp(order, r->order_json) != 0)
        return token_mismatch(c,
                              "Order by in the page token does not match the requested order by",
                              r->order_json, order, false);
    r->q.offset = jv_is_int(off) ? jv_int(off) : 0;
    return KEEL_OK;
}

static const char *next_token(struct api_call *c, const struct lm_search_req *r)
{
    const char *json = karena_sprintf(
        c->ctx->arena, "{\"experiment_ids\":%s,\"filter_string\":%s,\"order_by\":%s,\"offset\":%lld}",
        r->exp_json, r->filter_json, r->order_json,
        (long long)(r->q.offset + r->q.max_results));
    const struct jval *doc = json ? jp_parse(c->ctx->arena, json, strlen(json), NULL) : NULL;
    struct kbuf b;
    kbuf_init(&b, LM_TOKEN_CEILING);
    const char *t = doc && !json_dump_python(&b, doc) ? search_b64_encode(c->ctx, b.data, b.len)
                                                      : NULL;
    kbuf_free(&b);
    return t;
}

static const char *opt_str(const struct jval *o, const char *key)
{
    const struct jval *v = jv_get(o, key);
    return jv_is_string(v) ? jv_str(v) : NULL;
}

static enum keel_err read_search(struct api_call *c, struct lm_search_req *r)
{
    struct store_lm_search *q = &r->q;
    const struct jval *ids = jv_get(c->args, "experiment_ids");
    if (!ids || jv_is_null(ids) || (jv_is_array(ids) && jv_len(ids) == 0))
        return api_fail_missing(c, "experiment_ids");
    if (!jv_is_array(ids))
        return api_fail_invalid(c, "experiment_ids", ids);
    size_t n = jv_len(ids);
    int64_t *v = karena_alloc(c->ctx->arena, n * sizeof *v);
    if (!v)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many experiment ids");
    for (size_t i = 0; i < n; i++) {
        const struct jval *x = jv_at(ids, i);
        char *end;
        if (!jv_is_string(x))
            return api_fail_invalid(c, "experiment_ids", ids);
        long long id = strtoll(jv_str(x), &end, 10);
        if (!*jv_str(x) || *end)
            return keel_fail(c->ctx, KEEL_E_INTERNAL,
                             "invalid literal for int() with base 10: '%s'", jv_str(x));
        v[i] = id;
    }
    q->experiment_ids = v;
    q->n_experiment_ids = n;
    r->exp_ids = ids;
    enum keel_err e = api_arg_str(c, "filter", false, &q->filter);
    if (!e)
        e = api_arg_int(c, "max_results", false, &q->max_results, NULL);
    if (e)
        return e;
    if (q->max_results == 0)
        q->max_results = LM_SEARCH_DEFAULT_RESULTS;
    if (q->max_results > LM_SEARCH_MAX_RESULTS)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Invalid value %lld for parameter 'max_results' supplied. It must be "
                         "at most %d",
                         (long long)q->max_results, LM_SEARCH_MAX_RESULTS);
    const struct jval *ds = jv_get(c->args, "datasets"), *ob = jv_get(c->args, "order_by");
    if (ds && !jv_is_null(ds) && !jv_is_array(ds))
        return api_fail_invalid(c, "datasets", ds);
    if (ob && !jv_is_null(ob) && !jv_is_array(ob))
        return api_fail_invalid(c, "order_by", ob);
    size_t nd = jv_is_array(ds) ? jv_len(ds) : 0, no = jv_is_array(ob) ? jv_len(ob) : 0;
    struct search_lm_dataset *dv = karena_calloc(c->ctx->arena, nd + 1, sizeof *dv);
    struct search_lm_order *ov = karena_calloc(c->ctx->arena, no + 1, sizeof *ov);
    if (!dv || !ov)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many datasets or order_by entries");
    for (size_t i = 0; i < nd; i++) {
        dv[i].dataset_name = opt_str(jv_at(ds, i), "dataset_name");
        dv[i].dataset_digest = opt_str(jv_at(ds, i), "dataset_digest");
    }
    for (size_t i = 0; i < no; i++) {
        const struct jval *o = jv_at(ob, i), *asc = jv_get(o, "ascending");
        ov[i].field_name = opt_str(o, "field_name");
        ov[i].ascending = !jv_is_bool(asc) || jv_is_true(asc);
        ov[i].dataset_name = opt_str(o, "dataset_name");
        ov[i].dataset_digest = opt_str(o, "dataset_digest");
    }
    q->datasets = dv;
    q->n_datasets = nd;
    q->order_by = ov;
    q->n_order_by = no;
    r->exp_json = canonical(c, write_jval, ids);
    r->filter_json = canonical(c, write_filter, q->filter);
    r->order_json = canonical(c, write_order, q);
    if (!r->exp_json || !r->filter_json || !r->order_json)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "search request too large");
    const char *token;
    if ((e = api_arg_str(c, "page_token", false, &token)))
        return e;
    return token && *token ? read_token(c, token, r) : KEEL_OK;
}

static enum keel_err h_search(struct api_call *c)
{
    struct lm_search_req r = {0};
    struct keel_logged_model *models;
    size_t n;
    bool more;
    enum keel_err e = read_search(c, &r);
    if (!e)
        e = store_lm_search(c->app->store, c->ctx, &r.q, &models, &n, &more);
    if (e)
        return e;
    jw_obj(&c->out);
    if (n) {
        jw_key(&c->out, "models");
        jw_arr(&c->out);
        for (size_t i = 0; i < n; i++)
            write_lm(&c->out, &models[i]);
        jw_arr_end(&c->out);
    }
    if (more) {
        const char *t = next_token(c, &r);
        if (!t)
            return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
        jw_kstr(&c->out, "next_page_token", t);
    }
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_post(struct api_call *c)
{
    const char *rest;
    path_id(c, &rest);
    c->mlflow3 = true;
    if (strcmp(c->tail, "search") == 0)
        return h_search(c);
    if (!rest || strcmp(rest, "params") != 0)
        return api_not_routed(c);
    const char *id;
    struct keel_tag *params;
    size_t n;
    enum keel_err e = api_arg_str(c, "model_id", true, &id);
    if (!e)
        e = api_arg_kv_list(c, "params", false, &params, &n);
    if (!e)
        e = store_lm_log_params(c->app->store, c->ctx, id, params, n);
    return e ? e : empty_response(c);
}

static enum keel_err h_run_outputs(struct api_call *c)
{
    const char *run_id;
    c->mlflow3 = true;
    enum keel_err e = api_arg_str(c, "run_id", true, &run_id);
    if (e)
        return e;
    const struct jval *v = jv_get(c->args, "models");
    if (!v || jv_is_null(v))
        return api_fail_missing(c, "models");
    if (!jv_is_array(v))
        return api_fail_invalid(c, "models", v);
    struct keel_model_output *out = karena_calloc(c->ctx->arena, v->n ? v->n : 1, sizeof *out);
    if (!out)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many models");
    for (size_t i = 0; i < v->n; i++) {
        const struct jval *o = jv_at(v, i);
        out[i].model_id = jv_str(jv_get(o, "model_id"));
        out[i].step = jv_int(jv_get(o, "step"));
        if (!out[i].model_id)
            return api_fail_invalid(c, "models", v);
    }
    e = store_run_log_outputs(c->app->store, c->ctx, run_id, out, v->n);
    return e ? e : empty_response(c);
}

const struct api_route api_logged_model_routes[] = {
    {"POST", "mlflow/logged-models", h_create},
    {"GET", "mlflow/logged-models/*", h_get},
    {"PATCH", "mlflow/logged-models/*", h_patch},
    {"DELETE", "mlflow/logged-models/*", h_delete},
    {"POST", "mlflow/logged-models/*", h_post},
    {"POST", "mlflow/runs/outputs", h_run_outputs},
    {NULL, NULL, NULL},
};
