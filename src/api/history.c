/*
 * history.c -- GET /api/2.0/keel/models/history: what a registered model's
 * aliases and stages pointed to, and when, read from the audit log.
 *
 *   ?name=N&alias=A[&at=T]   every move of alias A, and the version it named at T
 *   ?name=N&stage=S[&at=T]   every transition into or out of stage S, and the
 *                            versions in S at T (latest: the highest, as
 *                            get-latest-versions answers)
 *   ?name=N                  every alias and stage event of the model
 *
 * The model's history follows it through renames: events recorded under an
 * earlier name belong to it. Deleting the model, or a version, ends what
 * pointed at it, as the registry does. T is milliseconds since the epoch;
 * the audit log knows only what happened since it began.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "util/arena.h"

#define HISTORY_VERSIONS_MAX 100000 /* distinct versions tracked in a stage replay */

static const char *const event_names[] = {
    [REG_ALIAS_SET] = "alias_set",
    [REG_ALIAS_DELETE] = "alias_deleted",
    [REG_TRANSITION] = "stage_transition",
    [REG_VERSION_DELETE] = "version_deleted",
    [REG_RENAME] = "model_renamed",
    [REG_MODEL_DELETE] = "model_deleted",
    [REG_MODEL_CREATE] = "model_created",
};

/* Marks the events of the model now called `name`, walking back through
 * renames to its creation: what happened under the name before (to a model
 * since deleted, or renamed away) is another model's. Returns how many. */
static size_t select_lineage(const struct keel_registry_event *ev, size_t n, const char *name,
                             bool *mine)
{
    const char *current = name;
    size_t count = 0;
    bool born = false;
    for (size_t i = n; i-- > 0;) {
        const struct keel_registry_event *e = &ev[i];
        mine[i] = false;
        if (born)
            continue;
        if (e->kind == REG_RENAME && e->new_name && strcmp(e->new_name, current) == 0) {
            mine[i] = true;
            if (e->name)
                current = e->name; /* earlier events were recorded under this name */
        } else if (e->kind == REG_RENAME && e->name && strcmp(e->name, current) == 0) {
            /* the name was given away: what came before is the model that
             * took the new name -- unless nothing holds this name since, and
             * its last model's history is what there is */
            if (count)
                born = true;
            else
                mine[i] = true;
        } else if (e->name && strcmp(e->name, current) == 0) {
            mine[i] = true;
            born = e->kind == REG_MODEL_CREATE;
        }
        count += mine[i];
    }
    return count;
}

static bool concerns(const struct keel_registry_event *e, const char *alias, const char *stage)
{
    if (alias)
        return (e->kind != REG_ALIAS_SET && e->kind != REG_ALIAS_DELETE) ||
               (e->alias && strcmp(e->alias, alias) == 0);
    if (stage)
        return e->kind != REG_ALIAS_SET && e->kind != REG_ALIAS_DELETE;
    return true;
}

/* A version number as MLflow writes one: a string (key NULL: a list item). */
static void put_version(struct jw *w, const char *key, int64_t version)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)version);
    if (key)
        jw_kstr(w, key, text);
    else
        jw_str(w, text);
}

static void write_event(struct jw *w, const struct keel_registry_event *e)
{
    jw_obj(w);
    jw_kint(w, "seq", e->seq);
    jw_kint(w, "time", e->time);
    jw_kstr(w, "principal", e->principal ? e->principal : "");
    jw_kstr(w, "event", event_names[e->kind]);
    if (e->kind == REG_RENAME) {
        jw_kstr_opt(w, "from", e->name);
        jw_kstr_opt(w, "to", e->new_name);
    }
    jw_kstr_opt(w, "alias", e->alias);
    if (e->version > 0)
        put_version(w, "version", e->version);
    jw_kstr_opt(w, "stage", e->stage);
    if (e->kind == REG_TRANSITION) {
        jw_key(w, "archive_existing_versions");
        jw_bool(w, e->archive_existing);
    }
    jw_obj_end(w);
}

/* The version alias names after every event up to time `at`; 0: none. */
static int64_t alias_at(const struct keel_registry_event *ev, const bool *mine, size_t n,
                        const char *alias, int64_t at)
{
    int64_t v = 0;
    for (size_t i = 0; i < n && ev[i].time <= at; i++) {
        const struct keel_registry_event *e = &ev[i];
        if (!mine[i])
            continue;
        if (e->kind == REG_ALIAS_SET && e->alias && strcmp(e->alias, alias) == 0)
            v = e->version;
        else if ((e->kind == REG_ALIAS_DELETE && e->alias && strcmp(e->alias, alias) == 0) ||
                 e->kind == REG_MODEL_DELETE || (e->kind == REG_VERSION_DELETE && e->version == v))
            v = 0;
    }
    return v;
}

struct version_stage {
    int64_t version;
    const char *stage;
};

static struct version_stage *find_version(struct version_stage *vs, size_t *n, int64_t v,
                                          bool add)
{
    for (size_t i = 0; i < *n; i++)
        if (vs[i].version == v)
            return &vs[i];
    if (!add || *n >= HISTORY_VERSIONS_MAX)
        return NULL;
    vs[*n] = (struct version_stage){v, "None"};
    return &vs[(*n)++];
}

/* Replays stage transitions up to `at` into vs (*nv entries). */
static void stages_at(const struct keel_registry_event *ev, const bool *mine, size_t n,
                      int64_t at, struct version_stage *vs, size_t *nv)
{
    *nv = 0;
    for (size_t i = 0; i < n && ev[i].time <= at; i++) {
        const struct keel_registry_event *e = &ev[i];
        if (!mine[i])
            continue;
        if (e->kind == REG_MODEL_DELETE) {
            *nv = 0;
        } else if (e->kind == REG_VERSION_DELETE) {
            struct version_stage *v = find_version(vs, nv, e->version, false);
            if (v)
                v->stage = "Deleted";
        } else if (e->kind == REG_TRANSITION && e->stage) {
            /* MLflow archives the others only when moving into Staging or Production */
            bool archive = e->archive_existing && (strcasecmp(e->stage, "Staging") == 0 ||
                                                   strcasecmp(e->stage, "Production") == 0);
            for (size_t k = 0; archive && k < *nv; k++)
                if (vs[k].version != e->version && strcasecmp(vs[k].stage, e->stage) == 0)
                    vs[k].stage = "Archived";
            struct version_stage *v = find_version(vs, nv, e->version, true);
            if (v)
                v->stage = e->stage;
        }
    }
}

static enum keel_err h_history(struct api_call *c)
{
    const char *name = NULL, *alias = NULL, *stage = NULL;
    int64_t at = 0;
    bool has_at = false;
    enum keel_err e;
    if ((e = api_arg_str(c, "name", true, &name)) ||
        (e = api_arg_str(c, "alias", false, &alias)) ||
        (e = api_arg_str(c, "stage", false, &stage)) ||
        (e = api_arg_int(c, "at", false, &at, &has_at)))
        return e;
    if (alias && stage)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Ask for the history of an alias or of a stage, not both.");
    if (has_at && at < 0)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "'at' is a time in milliseconds since the epoch, not %lld",
                         (long long)at);
    struct keel_registry_event *ev = NULL;
    size_t n = 0;
    if ((e = store_registry_events(c->app->store, c->ctx, &ev, &n)))
        return e;
    bool *mine = n ? karena_calloc(c->ctx->arena, n, sizeof *mine) : NULL;
    if (n && !mine)
        return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
    select_lineage(ev, n, name, mine);
    struct jw *w = &c->out;
    jw_obj(w);
    jw_kstr(w, "name", name);
    jw_kstr_opt(w, "alias", alias);
    jw_kstr_opt(w, "stage", stage);
    jw_key(w, "events");
    jw_arr(w);
    for (size_t i = 0; i < n; i++)
        if (mine[i] && concerns(&ev[i], alias, stage))
            write_event(w, &ev[i]);
    jw_arr_end(w);
    if (has_at && alias) {
        int64_t v = alias_at(ev, mine, n, alias, at);
        jw_kint(w, "at", at);
        if (v > 0)
            put_version(w, "version", v);
    } else if (has_at && stage) {
        size_t nv = 0, cap = n ? n : 1;
        struct version_stage *vs = karena_calloc(c->ctx->arena, cap, sizeof *vs);
        if (!vs)
            return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
        stages_at(ev, mine, n, at, vs, &nv);
        jw_kint(w, "at", at);
        jw_key(w, "versions");
        jw_arr(w);
        int64_t latest = 0;
        for (size_t i = 0; i < nv; i++) {
            if (strcasecmp(vs[i].stage, stage) != 0)
                continue;
            put_version(w, NULL, vs[i].version);
            if (vs[i].version > latest)
                latest = vs[i].version;
        }
        jw_arr_end(w);
        if (latest)
            put_version(w, "latest_version", latest);
    }
    jw_obj_end(w);
    return KEEL_OK;
}

const struct api_route api_history_routes[] = {
    {"GET", "keel/models/history", h_history},
    {NULL, NULL, NULL},
};
