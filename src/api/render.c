/*
 * render.c -- entities to MLflow's JSON shapes. MLflow omits unset fields and
 * empty lists; ids are strings, timestamps integers, metric values doubles.
 */
#include <stdio.h>

#include "api/api.h"

void api_write_tags(struct jw *w, const char *key, const struct keel_tag *t, size_t n)
{
    if (!n)
        return;
    jw_key(w, key);
    jw_arr(w);
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        jw_kstr(w, "key", t[i].key);
        jw_kstr(w, "value", t[i].value);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

static void write_id(struct jw *w, const char *key, int64_t id)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%lld", (long long)id);
    jw_kstr(w, key, tmp);
}

void api_write_experiment(struct jw *w, const struct keel_experiment *e)
{
    jw_obj(w);
    write_id(w, "experiment_id", e->experiment_id);
    jw_kstr(w, "name", e->name);
    jw_kstr(w, "artifact_location", e->artifact_location);
    jw_kstr(w, "lifecycle_stage", e->lifecycle_stage);
    jw_kint(w, "last_update_time", e->last_update_time);
    jw_kint(w, "creation_time", e->creation_time);
    api_write_tags(w, "tags", e->tags, e->n_tags);
    jw_obj_end(w);
}

void api_write_run_info(struct jw *w, const struct keel_run_info *i)
{
    jw_obj(w);
    jw_kstr(w, "run_uuid", i->run_id);
    write_id(w, "experiment_id", i->experiment_id);
    jw_kstr_opt(w, "run_name", i->run_name);
    jw_kstr_opt(w, "user_id", i->user_id);
    jw_kstr(w, "status", i->status);
    jw_kint(w, "start_time", i->start_time);
    if (i->has_end_time)
        jw_kint(w, "end_time", i->end_time);
    jw_kstr_opt(w, "artifact_uri", i->artifact_uri);
    jw_kstr(w, "lifecycle_stage", i->lifecycle_stage);
    jw_kstr(w, "run_id", i->run_id);
    jw_obj_end(w);
}

void api_write_metric(struct jw *w, const struct keel_metric *m, const char *run_id)
{
    jw_obj(w);
    jw_kstr(w, "key", m->key);
    jw_key(w, "value");
    jw_double(w, m->value);
    jw_kint(w, "timestamp", m->timestamp);
    jw_kint(w, "step", m->step);
    if (run_id)
        jw_kstr(w, "run_id", run_id);
    jw_obj_end(w);
}

static void write_dataset_input(struct jw *w, const struct keel_dataset_input *in)
{
    const struct keel_dataset *d = &in->dataset;
    jw_obj(w);
    api_write_tags(w, "tags", in->tags, in->n_tags);
    jw_key(w, "dataset");
    jw_obj(w);
    jw_kstr(w, "name", d->name);
    jw_kstr(w, "digest", d->digest);
    jw_kstr(w, "source_type", d->source_type);
    jw_kstr(w, "source", d->source);
    jw_kstr_opt(w, "schema", d->schema);
    jw_kstr_opt(w, "profile", d->profile);
    jw_obj_end(w);
    jw_obj_end(w);
}

void api_write_run(struct jw *w, const struct keel_run *r, unsigned parts)
{
    jw_obj(w);
    jw_key(w, "info");
    api_write_run_info(w, &r->info);
    jw_key(w, "data");
    jw_obj(w);
    if (r->n_metrics) {
        jw_key(w, "metrics");
        jw_arr(w);
        for (size_t i = 0; i < r->n_metrics; i++)
            api_write_metric(w, &r->metrics[i], NULL);
        jw_arr_end(w);
    }
    api_write_tags(w, "params", r->params, r->n_params);
    api_write_tags(w, "tags", r->tags, r->n_tags);
    jw_obj_end(w);
    if (parts & RUN_INPUTS) {
        jw_key(w, "inputs");
        jw_obj(w);
        if (r->n_inputs) {
            jw_key(w, "dataset_inputs");
            jw_arr(w);
            for (size_t i = 0; i < r->n_inputs; i++)
                write_dataset_input(w, &r->inputs[i]);
            jw_arr_end(w);
        }
        if ((parts & RUN_MODEL_INPUTS) && r->n_model_inputs) {
            jw_key(w, "model_inputs");
            jw_arr(w);
            for (size_t i = 0; i < r->n_model_inputs; i++) {
                jw_obj(w);
                jw_kstr(w, "model_id", r->model_inputs[i]);
                jw_obj_end(w);
            }
            jw_arr_end(w);
        }
        jw_obj_end(w);
    }
    if (parts & RUN_OUTPUTS) {
        jw_key(w, "outputs");
        jw_obj(w);
        if (r->n_model_outputs) {
            jw_key(w, "model_outputs");
            jw_arr(w);
            for (size_t i = 0; i < r->n_model_outputs; i++) {
                jw_obj(w);
                jw_kstr(w, "model_id", r->model_outputs[i].model_id);
                jw_kint(w, "step", r->model_outputs[i].step);
                jw_obj_end(w);
            }
            jw_arr_end(w);
        }
        jw_obj_end(w);
    }
    jw_obj_end(w);
}
