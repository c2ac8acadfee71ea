/*
 * logged_models.c -- MLflow 3's logged-model endpoints (mlflow/logged-models
 * and mlflow/runs/outputs), answered with MLflow 3's error envelope.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/arena.h"
#include "util/ids.h"

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

/* [{"key", "value"}] under `field`, strings only */
static enum keel_err read_kvs(struct api_call *c, const char *field, struct keel_tag **out,
                              size_t *n)
{
    const struct jval *v = jv_get(c->args, field);
    *out = NULL;
    *n = 0;
    if (!v || jv_is_null(v))
        return KEEL_OK;
    if (!jv_is_array(v))
        return api_fail_invalid(c, field, v);
    struct keel_tag *t = karena_calloc(c->ctx->arena, v->n ? v->n : 1, sizeof *t);
    if (!t)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many entries");
    for (size_t i = 0; i < v->n; i++) {
        const struct jval *k = jv_get(jv_at(v, i), "key"), *val = jv_get(jv_at(v, i), "value");
        t[i].key = jv_str(k) ? jv_str(k) : "";
        t[i].value = jv_str(val) ? jv_str(val) : "";
    }
    *out = t;
    *n = v->n;
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
        e = read_kvs(c, "tags", &tags, &in.n_tags);
    if (!e)
        e = read_kvs(c, "params", &params, &in.n_params);
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
        enum keel_err e = read_kvs(c, "tags", &tags, &n);
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
static enum keel_err h_post(struct api_call *c)
{
    const char *rest;
    path_id(c, &rest);
    c->mlflow3 = true;
    if (strcmp(c->tail, "search") == 0)
        return keel_fail(c->ctx, KEEL_E_NOT_IMPLEMENTED,
                         "Logged model search is not available in this keel yet");
    if (!rest || strcmp(rest, "params") != 0)
        return api_not_routed(c);
    const char *id;
    struct keel_tag *params;
    size_t n;
    enum keel_err e = api_arg_str(c, "model_id", true, &id);
    if (!e)
        e = read_kvs(c, "params", &params, &n);
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
