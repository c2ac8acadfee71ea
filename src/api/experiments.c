/*
 * experiments.c -- the mlflow/experiments/... handlers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "store/search.h"
#include "util/arena.h"
#include "util/uri.h"

/* MLflow refuses artifact locations with URL params or fragments, or ".."
 * in their query string. */
static enum keel_err check_artifact_location(struct api_call *c, const char *loc)
{
    const char *q = strchr(loc, '?');
    const char *frag = strchr(loc, '#');
    const char *path_end = q ? q : frag ? frag : loc + strlen(loc);
    const char *last_slash = NULL;
    for (const char *p = loc; p < path_end; p++)
        if (*p == '/')
            last_slash = p;
    bool params = last_slash && memchr(last_slash, ';', (size_t)(path_end - last_slash));
    if ((frag && frag[1]) || params)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "'artifact_location' URL can't include fragments or params.");
    if (q) {
        size_t qlen = frag && frag > q ? (size_t)(frag - q - 1) : strlen(q + 1);
        char *query = karena_strndup(c->ctx->arena, q + 1, qlen);
        char *dec = query ? uri_unquote_all(c->ctx->arena, query) : NULL;
        if (!dec)
            return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
        if (strstr(dec, ".."))
            return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER, "Invalid query string");
    }
    return KEEL_OK;
}

static enum keel_err check_exp_tag(struct api_call *c, const char *key, const char *value)
{
    enum keel_err e = validate_key_name(c->ctx, "tag", key);
    if (!e)
        e = validate_length(c->ctx, "Tag key", key, MAX_ENTITY_KEY_LENGTH);
    if (!e)
        e = validate_length(c->ctx, "Tag value", value, MAX_EXPERIMENT_TAG_VAL_LENGTH);
    return e;
}

static enum keel_err h_create(struct api_call *c)
{
    const char *name, *loc;
    struct keel_tag *tags;
    size_t n_tags;
    int64_t id;
    enum keel_err e = api_arg_str(c, "name", true, &name);
    if (!e)
        e = api_arg_str(c, "artifact_location", false, &loc);
    if (!e)
        e = api_arg_kv_list(c, "tags", true, &tags, &n_tags);
    if (!e && loc && *loc)
        e = check_artifact_location(c, loc);
    /* where an experiment's artifacts live is where keel server will read
     * models from, as itself: with authentication on, only an admin says */
    if (!e && loc && *loc && c->ctx->who && !c->ctx->who->is_admin)
        e = keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                      "Only an admin can choose an experiment's artifact_location when "
                      "authentication is on.");
    if (!e && loc && *loc && !(loc = uri_resolve_local(c->ctx->arena, loc)))
        e = keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
    for (size_t i = 0; !e && i < n_tags; i++)
        e = check_exp_tag(c, tags[i].key, tags[i].value);
    if (!e)
        e = store_experiment_create(c->app->store, c->ctx, name, loc && *loc ? loc : NULL, tags,
                                    n_tags, &id);
    if (e)
        return e;
    jw_obj(&c->out);
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%lld", (long long)id);
    jw_kstr(&c->out, "experiment_id", tmp);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err exp_id_arg(struct api_call *c, int64_t *id)
{
    const char *s;
    enum keel_err e = api_arg_str(c, "experiment_id", true, &s);
    return e ? e : api_parse_experiment_id(c, s, id);
}

static enum keel_err write_experiment_response(struct api_call *c, struct keel_experiment *x)
{
    jw_obj(&c->out);
    jw_key(&c->out, "experiment");
    api_write_experiment(&c->out, x);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_get(struct api_call *c)
{
    int64_t id;
    struct keel_experiment x;
    enum keel_err e = exp_id_arg(c, &id);
    if (!e)
        e = store_experiment_get(c->app->store, c->ctx, id, &x);
    return e ? e : write_experiment_response(c, &x);
}

static enum keel_err h_get_by_name(struct api_call *c)
{
    const char *name;
    struct keel_experiment x;
    enum keel_err e = api_arg_str(c, "experiment_name", true, &name);
    if (!e)
        e = store_experiment_get_by_name(c->app->store, c->ctx, name, &x);
    return e ? e : write_experiment_response(c, &x);
}

static enum keel_err empty_response(struct api_call *c)
{
    jw_obj(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err set_lifecycle(struct api_call *c, bool deleted)
{
    int64_t id;
    enum keel_err e = exp_id_arg(c, &id);
    if (!e)
        e = store_experiment_set_lifecycle(c->app->store, c->ctx, id, deleted);
    return e ? e : empty_response(c);
}

static enum keel_err h_delete(struct api_call *c) { return set_lifecycle(c, true); }
static enum keel_err h_restore(struct api_call *c) { return set_lifecycle(c, false); }

static enum keel_err h_update(struct api_call *c)
{
    int64_t id;
    const char *name;
    enum keel_err e = exp_id_arg(c, &id);
    if (!e)
        e = api_arg_str(c, "new_name", true, &name);
    if (!e)
        e = store_experiment_rename(c->app->store, c->ctx, id, name);
    return e ? e : empty_response(c);
}

static enum keel_err h_set_tag(struct api_call *c)
{
    int64_t id;
    const char *key, *value;
    enum keel_err e = exp_id_arg(c, &id);
    if (!e)
        e = api_arg_str(c, "key", true, &key);
    if (!e)
        e = api_arg_str(c, "value", false, &value);
    if (!e)
        e = check_exp_tag(c, key, value ? value : "");
    if (!e)
        e = store_experiment_set_tag(c->app->store, c->ctx, id, key, value ? value : "");
    return e ? e : empty_response(c);
}

/* ViewType from its name or number; anything else means ACTIVE_ONLY. */
enum store_view api_view_type(const struct jval *v)
{
    static const struct {
        const char *name;
        enum store_view view;
    } views[] = {{"ACTIVE_ONLY", STORE_VIEW_ACTIVE}, {"DELETED_ONLY", STORE_VIEW_DELETED},
                 {"ALL", STORE_VIEW_ALL}, {"1", STORE_VIEW_ACTIVE}, {"2", STORE_VIEW_DELETED},
                 {"3", STORE_VIEW_ALL}};
    if (jv_is_int(v) && jv_int(v) >= 1 && jv_int(v) <= 3)
        return (enum store_view)jv_int(v);
    for (size_t i = 0; jv_is_string(v) && i < sizeof views / sizeof *views; i++)
        if (strcmp(jv_str(v), views[i].name) == 0)
            return views[i].view;
    return STORE_VIEW_ACTIVE;
}

static enum keel_err h_search(struct api_call *c)
{
    int64_t max_results = 0;
    const char *filter, *token;
    const char **order_by;
    size_t n_order_by;
    enum keel_err e = api_arg_int(c, "max_results", false, &max_results, NULL);
    if (!e)
        e = api_arg_str(c, "filter", false, &filter);
    if (!e)
        e = api_arg_str(c, "page_token", false, &token);
    if (!e)
        e = api_arg_str_list(c, "order_by", &order_by, &n_order_by);
    if (e)
        return e;
    if (c->mlflow3 && (max_results <= 0 || max_results > MAX_EXPERIMENTS_SEARCH_RESULTS))
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         max_results <= 0
                             ? "Invalid value %lld for parameter 'max_results' supplied. It must "
                               "be a positive integer"
                             : "Invalid value %lld for parameter 'max_results' supplied. It must "
                               "be at most %lld",
                         (long long)max_results, (long long)MAX_EXPERIMENTS_SEARCH_RESULTS);
    if (max_results <= 0 || max_results > MAX_EXPERIMENTS_SEARCH_RESULTS)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         max_results <= 0
                             ? "Invalid value for max_results. It must be a positive integer, "
                               "but got %lld"
                             : "Invalid value for max_results. It must be at most %lld, but got "
                               "%lld",
                         max_results <= 0 ? (long long)max_results
                                          : (long long)MAX_EXPERIMENTS_SEARCH_RESULTS,
                         (long long)max_results);
    struct keel_experiment *xs;
    size_t n;
    const char *next;
    struct store_page page = {max_results, token};
    e = store_experiment_search(c->app->store, c->ctx,
                                api_view_type(jv_get(c->args, "view_type")),
                                filter ? filter : "", order_by, n_order_by, page, &xs, &n, &next);
    if (e)
        return e;
    jw_obj(&c->out);
    if (n) {
        jw_key(&c->out, "experiments");
        jw_arr(&c->out);
        for (size_t i = 0; i < n; i++)
            api_write_experiment(&c->out, &xs[i]);
        jw_arr_end(&c->out);
    }
    if (next)
        jw_kstr(&c->out, "next_page_token", next);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

const struct api_route api_experiment_routes[] = {
    {"POST", "mlflow/experiments/create", h_create},
    {"GET", "mlflow/experiments/get", h_get},
    {"GET", "mlflow/experiments/get-by-name", h_get_by_name},
    {"POST", "mlflow/experiments/search", h_search},
    {"GET", "mlflow/experiments/search", h_search},
    {"POST", "mlflow/experiments/update", h_update},
    {"POST", "mlflow/experiments/delete", h_delete},
    {"POST", "mlflow/experiments/restore", h_restore},
    {"POST", "mlflow/experiments/set-experiment-tag", h_set_tag},
    {NULL, NULL, NULL},
};
