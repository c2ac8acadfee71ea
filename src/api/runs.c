/*
 * runs.c -- the mlflow/runs/... handlers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "store/search.h"
#include "util/arena.h"
#include "util/ids.h"

#define RUN_NAME_TAG "mlflow.runName"

static enum keel_err empty_response(struct api_call *c)
{
    jw_obj(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

/* A JSON value as a metric value: numbers, booleans and the strings protobuf
 * accepts for doubles ("NaN", "Infinity", "-Infinity", numeric text). */
static bool metric_value(const struct jval *v, double *out)
{
    if (jv_is_number(v)) {
        *out = jv_number(v);
        return true;
    }
    if (jv_is_bool(v)) {
        *out = jv_is_true(v) ? 1.0 : 0.0;
        return true;
    }
    if (!jv_is_string(v))
        return false;
    const char *s = jv_str(v);
    if (strcmp(s, "NaN") == 0) {
        *out = NAN;
        return true;
    }
    if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    char *end;
    *out = strtod(s, &end);
    return *s && !*end && !isnan(*out) && !isinf(*out);
}

static bool int_value(const struct jval *v, int64_t *out)
{
    if (jv_is_int(v)) {
        *out = jv_int(v);
        return true;
    }
    if (jv_is_real(v) && floor(jv_real(v)) == jv_real(v) && jv_real(v) >= -0x1p63 &&
        jv_real(v) < 0x1p63) { /* cast only what fits */
        *out = (int64_t)jv_real(v);
        return true;
    }
    if (jv_is_string(v) && *jv_str(v)) {
        char *end;
        *out = strtoll(jv_str(v), &end, 10);
        return !*end;
    }
    return false;
}

static enum keel_err check_param(struct api_call *c, struct keel_tag *p)
{
    enum keel_err e = validate_key_name(c->ctx, "parameter", p->key);
    if (!e)
        e = validate_length(c->ctx, "Param key", p->key, MAX_ENTITY_KEY_LENGTH);
    p->value = validate_truncate(c->ctx, p->value, MAX_PARAM_VAL_LENGTH);
    return e;
}

static enum keel_err check_tag(struct api_call *c, struct keel_tag *t)
{
    enum keel_err e = validate_key_name(c->ctx, "tag", t->key);
    if (!e)
        e = validate_length(c->ctx, "Tag key", t->key, MAX_ENTITY_KEY_LENGTH);
    t->value = validate_truncate(c->ctx, t->value, MAX_TAG_VAL_LENGTH);
    return e;
}

static enum keel_err check_metric(struct api_call *c, const struct keel_metric *m)
{
    enum keel_err e = validate_key_name(c->ctx, "metric", m->key);
    if (!e && m->timestamp < 0)
        e = keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                      "Got invalid timestamp %lld for metric '%s' (value=%g). Timestamp must be "
                      "a nonnegative long (64-bit integer) ",
                      (long long)m->timestamp, m->key, m->value);
    if (!e)
        e = validate_length(c->ctx, "Metric name", m->key, MAX_ENTITY_KEY_LENGTH);
    return e;
}

static enum keel_err h_create(struct api_call *c)
{
    const char *exp_text, *user, *name;
    int64_t start_time = 0;
    struct keel_run run;
    enum keel_err e = api_arg_str(c, "experiment_id", false, &exp_text);
    if (!e)
        e = api_arg_int(c, "start_time", false, &start_time, NULL);
    if (!e)
        e = api_arg_str(c, "run_name", false, &name);
    if (!e)
        e = api_arg_str(c, "user_id", false, &user);
    if (e)
        return e;
    const struct jval *jt = jv_get(c->args, "tags");
    size_t n_in = jv_is_array(jt) ? jv_len(jt) : 0;
    struct keel_tag *tags = karena_calloc(c->ctx->arena, n_in + 1, sizeof *tags);
    if (!tags)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many tags");
    size_t n = 0;
    const char *tag_name = NULL;
    for (size_t i = 0; i < n_in; i++) {
        const struct jval *o = jv_at(jt, i);
        const struct jval *k = jv_get(o, "key"), *v = jv_get(o, "value");
        if (!jv_is_string(k))
            continue;
        tags[n].key = jv_str(k);
        tags[n].value = jv_is_string(v) ? jv_str(v) : "";
        if (strcmp(tags[n].key, RUN_NAME_TAG) == 0)
            tag_name = tags[n].value;
        n++;
    }
    if (name && *name && tag_name && strcmp(name, tag_name) != 0)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Both 'run_name' argument and 'mlflow.runName' tag are specified, but "
                         "with different values (run_name='%s', mlflow.runName='%s').",
                         name, tag_name);
    if (!name || !*name)
        name = tag_name;
    if (!name || !*name) {
        char *gen = karena_alloc(c->ctx->arena, 64);
        if (!gen)
            return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
        keel_random_run_name(gen, 64);
        name = gen;
    }
    if (!tag_name) {
        tags[n].key = RUN_NAME_TAG;
        tags[n].value = name;
        n++;
    }
    int64_t exp_id = 0;
    if (exp_text && *exp_text && (e = api_parse_experiment_id(c, exp_text, &exp_id)))
        return e;
    struct store_run_create in = {exp_id, user, name, start_time, tags, n};
    if ((e = store_run_create(c->app->store, c->ctx, &in, &run)))
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "run");
    api_write_run(&c->out, &run, c->mlflow3 ? RUN_INPUTS : 0);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_get(struct api_call *c)
{
    const char *id;
    struct keel_run run;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = store_run_get(c->app->store, c->ctx, id, &run);
    if (e)
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "run");
    api_write_run(&c->out, &run,
                  RUN_INPUTS | (c->mlflow3 ? RUN_MODEL_INPUTS | RUN_OUTPUTS : 0));
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static const char *const run_statuses[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED",
                                           "KILLED"};

static enum keel_err h_update(struct api_call *c)
{
    const char *id, *status = NULL, *name = NULL;
    struct store_run_update in = {0};
    struct keel_run_info info;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = api_arg_int(c, "end_time", false, &in.end_time, &in.has_end_time);
    if (!e)
        e = api_arg_str(c, "status", false, &status);
    if (!e)
        e = api_arg_str(c, "run_name", false, &name);
    if (e)
        return e;
    /* an unknown status name fails MLflow's proto parse and is dropped */
    for (size_t i = 0; status && i < sizeof run_statuses / sizeof *run_statuses; i++)
        if (strcmp(status, run_statuses[i]) == 0)
            in.status = status;
    in.run_name = name && *name ? name : NULL;
    if ((e = store_run_update(c->app->store, c->ctx, id, &in, &info)))
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "run_info");
    api_write_run_info(&c->out, &info);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err set_lifecycle(struct api_call *c, bool deleted)
{
    const char *id;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = store_run_set_lifecycle(c->app->store, c->ctx, id, deleted);
    return e ? e : empty_response(c);
}

static enum keel_err h_delete(struct api_call *c) { return set_lifecycle(c, true); }
static enum keel_err h_restore(struct api_call *c) { return set_lifecycle(c, false); }

static enum keel_err h_log_metric(struct api_call *c)
{
    const char *id;
    struct keel_metric m = {0};
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = api_arg_str(c, "key", true, &m.key);
    if (e)
        return e;
    const struct jval *v = jv_get(c->args, "value");
    if (!v || jv_is_null(v) || (jv_is_string(v) && !*jv_str(v)))
        return api_fail_missing(c, "value");
    if (jv_is_object(v) || jv_is_array(v)) {
        c->html_error_page = true; /* MLflow's float() raises TypeError here */
        return keel_fail(c->ctx, KEEL_E_INTERNAL, "unsupported value type for 'value'");
    }
    if (!metric_value(v, &m.value))
        return api_fail_invalid(c, "value", v);
    if ((e = api_arg_int(c, "timestamp", true, &m.timestamp, NULL)) ||
        (e = api_arg_int(c, "step", false, &m.step, NULL)) ||
        (e = api_arg_str(c, "model_id", false, &m.model_id)) ||
        (e = api_arg_str(c, "dataset_name", false, &m.dataset_name)) ||
        (e = api_arg_str(c, "dataset_digest", false, &m.dataset_digest)) ||
        (e = check_metric(c, &m)))
        return e;
    struct store_log_batch b = {.run_id = id, .metrics = &m, .n_metrics = 1};
    e = store_log_batch(c->app->store, c->ctx, &b);
    return e ? e : empty_response(c);
}

static enum keel_err h_log_param(struct api_call *c)
{
    const char *id;
    struct keel_tag p;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = api_arg_str(c, "key", true, &p.key);
    if (!e)
        e = api_arg_str(c, "value", false, &p.value);
    if (e)
        return e;
    if (!p.value)
        p.value = "";
    if ((e = check_param(c, &p)))
        return e;
    struct store_log_batch b = {.run_id = id, .params = &p, .n_params = 1, .single_param = true};
    e = store_log_batch(c->app->store, c->ctx, &b);
    return e ? e : empty_response(c);
}

static enum keel_err h_set_tag(struct api_call *c)
{
    const char *id;
    struct keel_tag t;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = api_arg_str(c, "key", true, &t.key);
    if (!e)
        e = api_arg_str(c, "value", false, &t.value);
    if (e)
        return e;
    if (!t.value)
        t.value = "";
    if ((e = check_tag(c, &t)))
        return e;
    struct store_log_batch b = {.run_id = id, .tags = &t, .n_tags = 1};
    e = store_log_batch(c->app->store, c->ctx, &b);
    return e ? e : empty_response(c);
}

static enum keel_err h_delete_tag(struct api_call *c)
{
    const char *id, *key;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = api_arg_str(c, "key", true, &key);
    if (!e)
        e = store_run_delete_tag(c->app->store, c->ctx, id, key);
    return e ? e : empty_response(c);
}

/* Every element of a batch list must carry the named fields, else MLflow
 * reports the whole list. */
static enum keel_err batch_list(struct api_call *c, const char *field, const char *const *need,
                                size_t n_need, const struct jval **out)
{
    const struct jval *v = jv_get(c->args, field);
    *out = NULL;
    if (!v || jv_is_null(v))
        return KEEL_OK;
    if (!jv_is_array(v))
        return api_fail_invalid(c, field, v);
    for (size_t i = 0; i < v->n; i++) {
        const struct jval *o = jv_at(v, i);
        for (size_t k = 0; k < n_need; k++) {
            const struct jval *f = jv_is_object(o) ? jv_get(o, need[k]) : NULL;
            if (!f || jv_is_null(f) || (jv_is_string(f) && !*jv_str(f)))
                return api_fail_invalid(c, field, v);
        }
    }
    *out = v;
    return KEEL_OK;
}

/*
 * Decodes log-batch lists the way MLflow's protobuf parse does: a value of
 * the wrong type stops the parse there, and what came before it is kept (a
 * metric whose value is not a number is stored with value, timestamp and
 * step 0). `stopped` carries that state across the lists.
 */
static enum keel_err decode_metrics(struct api_call *c, const struct jval *list, bool *stopped,
                                    struct keel_metric **out, size_t *n)
{
    size_t len = jv_len(list);
    struct keel_metric *m = karena_calloc(c->ctx->arena, len ? len : 1, sizeof *m);
    if (!m)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many metrics");
    *out = m;
    *n = 0;
    for (size_t i = 0; i < len && !*stopped; i++) {
        const struct jval *o = jv_at(list, i);
        struct keel_metric *x = &m[(*n)++];
        x->key = "";
        for (size_t f = 0; f < jv_len(o); f++) {
            const char *k = o->u.members[f].key;
            const struct jval *v = &o->u.members[f].val;
            bool ok = true;
            if (strcmp(k, "key") == 0)
                ok = jv_is_string(v) && (x->key = jv_str(v));
            else if (strcmp(k, "value") == 0)
                ok = metric_value(v, &x->value);
            else if (strcmp(k, "timestamp") == 0)
                ok = int_value(v, &x->timestamp);
            else if (strcmp(k, "step") == 0)
                ok = int_value(v, &x->step);
            else if (strcmp(k, "model_id") == 0)
                ok = jv_is_string(v) && (x->model_id = jv_str(v));
            else if (strcmp(k, "dataset_name") == 0)
                ok = jv_is_string(v) && (x->dataset_name = jv_str(v));
            else if (strcmp(k, "dataset_digest") == 0)
                ok = jv_is_string(v) && (x->dataset_digest = jv_str(v));
            if (!ok) {
                *stopped = true;
                break;
            }
        }
    }
    return KEEL_OK;
}

static enum keel_err decode_kvs(struct api_call *c, const struct jval *list, bool *stopped,
                                struct keel_tag **out, size_t *n)
{
    size_t len = jv_len(list);
    struct keel_tag *t = karena_calloc(c->ctx->arena, len ? len : 1, sizeof *t);
    if (!t)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many entries");
    *out = t;
    *n = 0;
    for (size_t i = 0; i < len && !*stopped; i++) {
        const struct jval *o = jv_at(list, i);
        const struct jval *k = jv_get(o, "key"), *v = jv_get(o, "value");
        if ((k && !jv_is_string(k)) || (v && !jv_is_string(v) && !jv_is_null(v))) {
            *stopped = true;
            break;
        }
        t[*n].key = k ? jv_str(k) : "";
        t[*n].value = jv_is_string(v) ? jv_str(v) : "";
        (*n)++;
    }
    return KEEL_OK;
}

static enum keel_err batch_limit(struct api_call *c, const char *what, size_t limit, size_t n)
{
    if (n <= limit)
        return KEEL_OK;
    return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                     "A batch logging request can contain at most %zu %s. Got %zu %s. Please "
                     "split up %s across multiple requests and try again.",
                     limit, what, n, what, what);
}

static enum keel_err h_log_batch(struct api_call *c)
{
    static const char *const metric_fields[] = {"key", "value", "timestamp"};
    static const char *const kv_fields[] = {"key"};
    const char *id;
    const struct jval *jm, *jp, *jt;
    enum keel_err e = api_arg_str(c, "run_id", true, &id);
    if (!e)
        e = batch_list(c, "metrics", metric_fields, 3, &jm);
    if (!e)
        e = batch_list(c, "params", kv_fields, 1, &jp);
    if (!e)
        e = batch_list(c, "tags", kv_fields, 1, &jt);
    if (e)
        return e;
    struct store_log_batch b = {.run_id = id};
    struct keel_tag *params = NULL, *tags = NULL;
    struct keel_metric *metrics = NULL;
    bool stopped = false;
    /* the proto parse walks the body's fields in order */
    b.metrics = NULL;
    for (size_t f = 0; f < c->args->n; f++) {
        const char *k = c->args->u.members[f].key;
        if (strcmp(k, "metrics") == 0 && jm)
            e = decode_metrics(c, jm, &stopped, &metrics, &b.n_metrics), b.metrics = metrics;
        else if (strcmp(k, "params") == 0 && jp)
            e = decode_kvs(c, jp, &stopped, &params, &b.n_params), b.params = params;
        else if (strcmp(k, "tags") == 0 && jt)
            e = decode_kvs(c, jt, &stopped, &tags, &b.n_tags), b.tags = tags;
        if (e)
            return e;
    }
    if ((e = batch_limit(c, "metrics", MAX_METRICS_PER_BATCH, b.n_metrics)) ||
        (e = batch_limit(c, "params", MAX_PARAMS_TAGS_PER_BATCH, b.n_params)) ||
        (e = batch_limit(c, "tags", MAX_PARAMS_TAGS_PER_BATCH, b.n_tags)) ||
        (e = batch_limit(c, "metrics, params, and tags", MAX_ENTITIES_PER_BATCH,
                         b.n_metrics + b.n_params + b.n_tags)))
        return e;
    for (size_t i = 0; i < b.n_params; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(b.params[i].key, b.params[j].key) == 0)
                return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                                 "Duplicate parameter keys have been submitted: ['%s']. Please "
                                 "ensure the request contains only one param value per param "
                                 "key.",
                                 b.params[i].key);
        }
    }
    for (size_t i = 0; !e && i < b.n_metrics; i++)
        e = check_metric(c, &b.metrics[i]);
    for (size_t i = 0; !e && i < b.n_params; i++)
        e = check_param(c, (struct keel_tag *)&b.params[i]);
    for (size_t i = 0; !e && i < b.n_tags; i++)
        e = check_tag(c, (struct keel_tag *)&b.tags[i]);
    if (!e)
        e = store_log_batch(c->app->store, c->ctx, &b);
    return e ? e : empty_response(c);
}

static const char *jstr(const struct jval *o, const char *k)
{
    const struct jval *v = jv_get(o, k);
    return jv_is_string(v) ? jv_str(v) : NULL;
}

static enum keel_err h_log_inputs(struct api_call *c)
{
    const char *id;
    enum keel_err e = api_arg_str(c, "run_id", true, &id);
    if (e)
        return e;
    const struct jval *ds = jv_get(c->args, "datasets");
    const struct jval *models = jv_get(c->args, "models"); /* MLflow 3 */
    bool has_models = models && !jv_is_null(models);
    if ((!ds || jv_is_null(ds)) && !has_models)
        return api_fail_missing(c, "datasets");
    if (ds && !jv_is_null(ds) && !jv_is_array(ds))
        return api_fail_invalid(c, "datasets", ds);
    if (has_models && !jv_is_array(models))
        return api_fail_invalid(c, "models", models);
    size_t n = jv_is_array(ds) ? jv_len(ds) : 0;
    size_t n_models = has_models ? jv_len(models) : 0;
    if (n_models > MAX_ENTITIES_PER_BATCH)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "A run can be given at most %d model inputs per request, got %zu.",
                         MAX_ENTITIES_PER_BATCH, n_models);
    const char **model_ids = karena_calloc(c->ctx->arena, n_models ? n_models : 1,
                                           sizeof *model_ids);
    if (!model_ids)
        return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n_models; i++) {
        model_ids[i] = jstr(jv_at(models, i), "model_id");
        if (!model_ids[i] || !*model_ids[i])
            return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                             "Missing value for required parameter 'models[%zu].model_id'.", i);
    }
    struct keel_dataset_input *in = karena_calloc(c->ctx->arena, n ? n : 1, sizeof *in);
    if (!in)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many datasets");
    for (size_t i = 0; i < n; i++) {
        const struct jval *o = jv_at(ds, i), *d = jv_get(o, "dataset");
        struct keel_dataset *x = &in[i].dataset;
        x->name = jstr(d, "name");
        x->digest = jstr(d, "digest");
        x->source_type = jstr(d, "source_type");
        x->source = jstr(d, "source");
        x->schema = jstr(d, "schema");
        x->profile = jstr(d, "profile");
        if (!x->name || !x->digest || !x->source_type || !x->source)
            return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                             "Dataset name, digest, source_type and source are required.");
        const struct jval *tags = jv_get(o, "tags");
        size_t nt = jv_is_array(tags) ? jv_len(tags) : 0;
        in[i].tags = karena_calloc(c->ctx->arena, nt ? nt : 1, sizeof *in[i].tags);
        if (!in[i].tags)
            return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many tags");
        for (size_t k = 0; k < nt; k++) {
            const struct jval *t = jv_at(tags, k);
            in[i].tags[k].key = jstr(t, "key") ? jstr(t, "key") : "";
            in[i].tags[k].value = jstr(t, "value") ? jstr(t, "value") : "";
        }
        in[i].n_tags = nt;
    }
    e = store_log_inputs(c->app->store, c->ctx, id, in, n, model_ids, n_models);
    return e ? e : empty_response(c);
}

static enum keel_err h_log_model(struct api_call *c)
{
    const char *id, *model_json;
    enum keel_err e = api_arg_str(c, "run_id", true, &id);
    if (!e)
        e = api_arg_str(c, "model_json", true, &model_json);
    if (e)
        return e;
    const struct jval *m = jp_parse(c->ctx->arena, model_json, strlen(model_json), NULL);
    if (!jv_is_object(m)) {
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Malformed model info. \n %s \n is not a valid JSON.", model_json);
    }
    static const char *const required[] = {"artifact_path", "flavors", "utc_time_created",
                                           "run_id"};
    struct kbuf missing;
    kbuf_init(&missing, 256);
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (!jv_get(m, required[i]))
            kbuf_printf(&missing, "%s'%s'", missing.len ? ", " : "", required[i]);
    if (missing.len) {
        e = keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                      "Model json is missing mandatory fields: {%s}", missing.data);
        kbuf_free(&missing);
        return e;
    }
    kbuf_free(&missing);
    e = store_log_model(c->app->store, c->ctx, id, model_json);
    return e ? e : empty_response(c);
}

static enum keel_err h_search(struct api_call *c)
{
    int64_t max_results = 1000;
    bool has_max;
    const char *filter, *token;
    const char **exp_texts, **order_by;
    size_t n_exp, n_order_by;
    enum keel_err e = api_arg_str_list(c, "experiment_ids", &exp_texts, &n_exp);
    if (!e)
        e = api_arg_str(c, "filter", false, &filter);
    if (!e)
        e = api_arg_int(c, "max_results", false, &max_results, &has_max);
    if (!e && has_max && max_results > MAX_RUNS_SEARCH_RESULTS)
        e = api_fail_invalid(c, "max_results", jv_get(c->args, "max_results"));
    if (!e)
        e = api_arg_str_list(c, "order_by", &order_by, &n_order_by);
    if (!e)
        e = api_arg_str(c, "page_token", false, &token);
    if (e)
        return e;
    if (!has_max)
        max_results = 1000;
    int64_t *ids = karena_alloc(c->ctx->arena, (n_exp ? n_exp : 1) * sizeof *ids);
    size_t n_ids = 0;
    for (size_t i = 0; ids && i < n_exp; i++) {
        int64_t id;
        char *end;
        id = strtoll(exp_texts[i], &end, 10);
        if (*exp_texts[i] && !*end)
            ids[n_ids++] = id; /* MLflow matches no run for a non-numeric id */
    }
    struct keel_run *runs;
    size_t n;
    const char *next;
    struct store_page page = {max_results, token};
    e = store_run_search(c->app->store, c->ctx, ids, n_ids,
                         api_view_type(jv_get(c->args, "run_view_type")),
                         filter ? filter : "", order_by, n_order_by, page, &runs, &n, &next);
    if (e)
        return e;
    jw_obj(&c->out);
    if (n) {
        jw_key(&c->out, "runs");
        jw_arr(&c->out);
        for (size_t i = 0; i < n; i++)
            api_write_run(&c->out, &runs[i], RUN_INPUTS | (c->mlflow3 ? RUN_OUTPUTS : 0));
        jw_arr_end(&c->out);
    }
    if (next)
        jw_kstr(&c->out, "next_page_token", next);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

const struct api_route api_run_routes[] = {
    {"POST", "mlflow/runs/create", h_create},
    {"GET", "mlflow/runs/get", h_get},
    {"POST", "mlflow/runs/update", h_update},
    {"POST", "mlflow/runs/delete", h_delete},
    {"POST", "mlflow/runs/restore", h_restore},
    {"POST", "mlflow/runs/log-metric", h_log_metric},
    {"POST", "mlflow/runs/log-parameter", h_log_param},
    {"POST", "mlflow/runs/set-tag", h_set_tag},
    {"POST", "mlflow/runs/delete-tag", h_delete_tag},
    {"POST", "mlflow/runs/log-batch", h_log_batch},
    {"POST", "mlflow/runs/log-inputs", h_log_inputs},
    {"POST", "mlflow/runs/log-model", h_log_model},
    {"POST", "mlflow/runs/search", h_search},
    {NULL, NULL, NULL},
};
