/*
 * registry.c -- the model registry handlers (mlflow/registered-models/...
 * and mlflow/model-versions/...), with MLflow's validation, shapes and
 * messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/validate.h"
#include "registry/model_uri.h"
#include "artifacts/artifacts.h"
#include "util/arena.h"
#include "util/uri.h"

#define MAX_REGISTRY_TAG_LENGTH 5000
#define MAX_ALIAS_LENGTH 255

static const char *const stages[] = {"None", "Staging", "Production", "Archived"};

/* The canonical spelling of a stage name given in any case, or NULL. */
static const char *canonical_stage(const char *s)
{
    for (size_t i = 0; i < sizeof stages / sizeof *stages; i++)
        if (strcasecmp(s, stages[i]) == 0)
            return stages[i];
    return NULL;
}

static enum keel_err bad_stage(struct api_call *c, const char *s)
{
    return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                     "Invalid Model Version stage: %s. Value must be one of None, Staging, "
                     "Production, Archived.",
                     s);
}

static enum keel_err empty_response(struct api_call *c)
{
    jw_obj(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static void write_id(struct jw *w, const char *key, int64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    jw_kstr(w, key, tmp);
}

static void write_mv(struct jw *w, const struct keel_model_version *m, bool with_aliases)
{
    jw_obj(w);
    jw_kstr(w, "name", m->name);
    write_id(w, "version", m->version);
    jw_kint(w, "creation_timestamp", m->creation_time);
    jw_kint(w, "last_updated_timestamp", m->last_updated_time);
    jw_kstr_opt(w, "user_id", m->user_id);
    jw_kstr(w, "current_stage", m->current_stage);
    jw_kstr(w, "description", m->description ? m->description : "");
    jw_kstr(w, "source", m->source);
    jw_kstr(w, "run_id", m->run_id ? m->run_id : "");
    jw_kstr(w, "status", m->status);
    jw_kstr_opt(w, "status_message", m->status_message);
    api_write_tags(w, "tags", m->tags, m->n_tags);
    jw_kstr(w, "run_link", m->run_link ? m->run_link : "");
    if (with_aliases && m->n_aliases) {
        jw_key(w, "aliases");
        jw_arr(w);
        for (size_t i = 0; i < m->n_aliases; i++)
            jw_str(w, m->aliases[i]);
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static void write_rm(struct jw *w, const struct keel_registered_model *r)
{
    jw_obj(w);
    jw_kstr(w, "name", r->name);
    jw_kint(w, "creation_timestamp", r->creation_time);
    jw_kint(w, "last_updated_timestamp", r->last_updated_time);
    jw_kstr_opt(w, "description", r->description);
    if (r->n_latest) {
        jw_key(w, "latest_versions");
        jw_arr(w);
        for (size_t i = 0; i < r->n_latest; i++)
            write_mv(w, &r->latest[i], false);
        jw_arr_end(w);
    }
    api_write_tags(w, "tags", r->tags, r->n_tags);
    if (r->n_aliases) {
        jw_key(w, "aliases");
        jw_arr(w);
        for (size_t i = 0; i < r->n_aliases; i++) {
            jw_obj(w);
            jw_kstr(w, "alias", r->aliases[i].alias);
            write_id(w, "version", r->aliases[i].version);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static enum keel_err rm_response(struct api_call *c, const struct keel_registered_model *r)
{
    jw_obj(&c->out);
    jw_key(&c->out, "registered_model");
    write_rm(&c->out, r);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err mv_response(struct api_call *c, const struct keel_model_version *m)
{
    jw_obj(&c->out);
    jw_key(&c->out, "model_version");
    write_mv(&c->out, m, true);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err name_arg(struct api_call *c, const char **name)
{
    return api_arg_str(c, "name", true, name);
}

/* version: a string (or number) of digits; MLflow's message otherwise */
static enum keel_err version_arg(struct api_call *c, int64_t *version)
{
    const char *text;
    const struct jval *v = jv_get(c->args, "version");
    char tmp[24];
    if (jv_is_int(v)) {
        snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i);
        text = tmp;
    } else {
        enum keel_err e = api_arg_str(c, "version", true, &text);
        if (e)
            return e;
    }
    char *end;
    long long n = strtoll(text, &end, 10);
    if (!*text || *end)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Model version must be an integer, got '%s'", text);
    *version = n;
    return KEEL_OK;
}

static enum keel_err check_registry_tag(struct api_call *c, const char *what, const char *key,
                                        const char *value)
{
    char entity[64];
    enum keel_err e = validate_key_name(c->ctx, "tag", key);
    snprintf(entity, sizeof entity, "%s key", what);
    if (!e)
        e = validate_length(c->ctx, entity, key, MAX_ENTITY_KEY_LENGTH);
    snprintf(entity, sizeof entity, "%s value", what);
    if (!e)
        e = validate_length(c->ctx, entity, value, MAX_REGISTRY_TAG_LENGTH);
    return e;
}

/* tags: [{"key", "value"}], each checked as `what`'s tag */
static enum keel_err read_tags(struct api_call *c, const char *what, struct keel_tag **out,
                               size_t *n)
{
    enum keel_err e = api_arg_kv_list(c, "tags", false, out, n);
    for (size_t i = 0; !e && i < *n; i++)
        e = check_registry_tag(c, what, (*out)[i].key, (*out)[i].value);
    return e;
}

static enum keel_err h_rm_create(struct api_call *c)
{
    const char *name, *description;
    struct keel_tag *tags;
    size_t n_tags;
    struct keel_registered_model r;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = api_arg_str(c, "description", false, &description);
    if (!e)
        e = read_tags(c, "Registered model", &tags, &n_tags);
    if (!e)
        e = store_rm_create(c->app->store, c->ctx, name, description && *description ? description : NULL,
                            tags, n_tags, &r);
    return e ? e : rm_response(c, &r);
}

static enum keel_err h_rm_get(struct api_call *c)
{
    const char *name;
    struct keel_registered_model r;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = store_rm_get(c->app->store, c->ctx, name, &r);
    return e ? e : rm_response(c, &r);
}

static enum keel_err h_rm_update(struct api_call *c)
{
    const char *name, *description;
    struct keel_registered_model r;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = api_arg_str(c, "description", false, &description);
    if (!e)
        e = store_rm_update(c->app->store, c->ctx, name,
                            description && *description ? description : NULL, &r);
    return e ? e : rm_response(c, &r);
}

static enum keel_err h_rm_rename(struct api_call *c)
{
    const char *name, *new_name;
    struct keel_registered_model r;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = api_arg_str(c, "new_name", true, &new_name);
    if (!e)
        e = store_rm_rename(c->app->store, c->ctx, name, new_name, &r);
    return e ? e : rm_response(c, &r);
}

static enum keel_err h_rm_delete(struct api_call *c)
{
    const char *name;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = store_rm_delete(c->app->store, c->ctx, name);
    return e ? e : empty_response(c);
}

static enum keel_err h_rm_set_tag(struct api_call *c)
{
    const char *name, *key, *value;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = api_arg_str(c, "key", true, &key);
    if (!e)
        e = api_arg_str(c, "value", false, &value);
    if (!e)
        e = check_registry_tag(c, "Registered model", key, value ? value : "");
    if (!e)
        e = store_rm_set_tag(c->app->store, c->ctx, name, key, value ? value : "");
    return e ? e : empty_response(c);
}

static enum keel_err h_rm_delete_tag(struct api_call *c)
{
    const char *name, *key;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = api_arg_str(c, "key", true, &key);
    if (!e)
        e = store_rm_delete_tag(c->app->store, c->ctx, name, key);
    return e ? e : empty_response(c);
}

static enum keel_err h_latest_versions(struct api_call *c)
{
    const char *name;
    const char **wanted;
    size_t n_wanted;
    struct keel_registered_model r;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = api_arg_str_list(c, "stages", &wanted, &n_wanted);
    for (size_t i = 0; !e && i < n_wanted; i++) {
        const char *st = canonical_stage(wanted[i]);
        if (!st)
            return bad_stage(c, wanted[i]);
        wanted[i] = st;
    }
    if (!e)
        e = store_rm_get(c->app->store, c->ctx, name, &r);
    if (e)
        return e;
    jw_obj(&c->out);
    size_t shown = 0;
    for (size_t i = 0; i < r.n_latest; i++) {
        bool keep = n_wanted == 0;
        for (size_t k = 0; !keep && k < n_wanted; k++)
            keep = strcmp(r.latest[i].current_stage, wanted[k]) == 0;
        if (!keep)
            continue;
        if (shown++ == 0) {
            jw_key(&c->out, "model_versions");
            jw_arr(&c->out);
        }
        write_mv(&c->out, &r.latest[i], false);
    }
    if (shown)
        jw_arr_end(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

/* MLflow's check that a source names no path outside where it claims to be:
 * after repeated unquoting, the path part must already be normalised */
static bool source_has_relative_parts(struct keel_ctx *ctx, const char *source)
{
    char *s = uri_unquote_all(ctx->arena, source);
    if (!s)
        return true;
    for (char *p = s; *p; p++)
        if (*p == '+')
            *p = ' '; /* unquote_plus */
    const char *path = s;
    const char *colon = strchr(s, ':');
    if (colon && colon > s && strcspn(s, "/?#") > (size_t)(colon - s)) {
        path = colon + 1;
        if (strncmp(path, "//", 2) == 0)
            path = strchr(path + 2, '/') ? strchr(path + 2, '/') : "";
    }
    size_t len = strcspn(path, "?#");
    /* collapse repeated '/' and drop a trailing one, as MLflow does first */
    char *norm = karena_alloc(ctx->arena, len + 2);
    if (!norm)
        return true;
    size_t o = 0;
    for (size_t i = 0; i < len; i++)
        if (!(path[i] == '/' && o && norm[o - 1] == '/'))
            norm[o++] = path[i];
    while (o > 1 && norm[o - 1] == '/')
        o--;
    norm[o] = '\0';
    if (strlen(norm) != o) /* a NUL inside */
        return true;
    for (const char *seg = norm; *seg;) {
        size_t n = strcspn(seg, "/");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return true;
        seg += n;
        if (*seg == '/')
            seg++;
    }
    return o > 0 && norm[0] != '/'; /* resolve() would make it absolute */
}

static enum keel_err relative_source(struct api_call *c, const char *source)
{
    return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                     "Invalid model version source: '%s'. If supplying a source as an http, "
                     "https, local file path, ftp, objectstore, or mlflow-artifacts uri, an "
                     "absolute path must be provided without relative path references present. "
                     "Please provide an absolute path.",
                     source);
}

static bool is_local_source(const char *source)
{
    return source[0] == '/' || source[0] == '.' || strncmp(source, "file:", 5) == 0 ||
           !strchr(source, ':');
}

/* Where the version's files are: models:/ sources resolved as MLflow
 * resolves them (to that version's files), runs:/ sources to the run's
 * artifact URI. NULL: the source itself. */
static enum keel_err storage_location(struct api_call *c, struct store_mv_create *in)
{
    const char *source = in->source;
    const char **out = &in->storage_location;
    *out = NULL;
    if (strncmp(source, "models:/", 8) == 0) {
        /* a version made from another, or from a logged model: the same
         * files (MLflow's storage_location); a logged model also gives the
         * run it came from */
        struct model_ref ref = {0};
        struct keel_logged_model lm;
        const char *model_id = model_uri_logged_model_id(source);
        enum keel_err e;
        if (model_id) { /* MLflow reports the model's own "not found" */
            if (!(e = store_lm_get(c->app->store, c->ctx, model_id, false, &lm))) {
                ref.model_id = lm.model_id;
                ref.location = lm.artifact_uri;
                ref.run_id = lm.source_run_id;
            }
        } else {
            e = model_uri_resolve(c->app->store, c->ctx, source, &ref);
        }
        if (e)
            return keel_fail(c->ctx, KEEL_E_INTERNAL,
                             "Unable to fetch model from model URI source artifact location "
                             "'%s'.Error: %s",
                             source, c->ctx->errmsg);
        *out = ref.location;
        if (ref.model_id && !(in->run_id && *in->run_id))
            in->run_id = ref.run_id;
        return KEEL_OK;
    }
    if (strncmp(source, "runs:/", 6) == 0) {
        const char *p = source + 6;
        while (*p == '/')
            p++;
        size_t idlen = strcspn(p, "/");
        char *run_id = karena_strndup(c->ctx->arena, p, idlen);
        struct keel_run run;
        enum keel_err e = run_id ? store_run_get(c->app->store, c->ctx, run_id, &run)
                                 : keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
        if (e)
            return e;
        const char *rest = p + idlen;
        while (*rest == '/')
            rest++;
        *out = *rest ? uri_append(c->ctx->arena, run.info.artifact_uri, rest)
                     : run.info.artifact_uri;
    }
    return KEEL_OK;
}

static enum keel_err h_mv_create(struct api_call *c)
{
    struct store_mv_create in = {0};
    struct keel_tag *tags;
    struct keel_model_version m;
    enum keel_err e = name_arg(c, &in.name);
    if (!e)
        e = api_arg_str(c, "source", true, &in.source);
    if (!e)
        e = api_arg_str(c, "run_id", false, &in.run_id);
    if (!e)
        e = api_arg_str(c, "run_link", false, &in.run_link);
    if (!e)
        e = api_arg_str(c, "model_id", false, &in.model_id);
    if (!e)
        e = api_arg_str(c, "description", false, &in.description);
    if (!e)
        e = read_tags(c, "Model version", &tags, &in.n_tags);
    if (e)
        return e;
    in.tags = tags;
    if (in.model_id && !*in.model_id)
        in.model_id = NULL;
    if (in.model_id)
        c->mlflow3 = true; /* only MLflow 3 clients register logged models */
    bool is_prompt = false; /* MLflow 3: a version carrying the prompt tag */
    for (size_t i = 0; c->mlflow3 && i < in.n_tags; i++)
        is_prompt |= strcmp(tags[i].key, "mlflow.prompt.is_prompt") == 0;
    if (is_prompt) {
        /* a prompt's source is a placeholder ("prompt-template"), never a
         * local path; one with a scheme must still be absolute */
        bool has_scheme = uri_scheme_len(in.source) > 0;
        if (strncmp(in.source, "file:", 5) == 0 || (!has_scheme && in.source[0] == '/'))
            return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                             "Invalid prompt source: '%s'. Local source paths are not allowed "
                             "for prompts.",
                             in.source);
        if (has_scheme && source_has_relative_parts(c->ctx, in.source))
            return relative_source(c, in.source);
    } else if (is_local_source(in.source)) {
        /* a local path must lie inside the local artifact directory of the
         * given logged model, or else of the given run */
        const char *owner_uri = NULL, *dir;
        struct keel_run run;
        struct keel_logged_model lm;
        bool inside = false;
        if (in.model_id) {
            if (store_lm_get(c->app->store, c->ctx, in.model_id, false, &lm) == KEEL_OK)
                owner_uri = lm.artifact_uri;
        } else if (in.run_id && *in.run_id &&
                   store_run_get(c->app->store, c->ctx, in.run_id, &run) == KEEL_OK) {
            owner_uri = run.info.artifact_uri;
        }
        if (owner_uri && artifact_resolve_local(c->ctx, owner_uri, "", &dir) == KEEL_OK &&
            !artifact_proxied_path(c->ctx, owner_uri)) {
            const char *src = strncmp(in.source, "file://", 7) == 0 ? in.source + 7 : in.source;
            size_t n = strlen(dir);
            inside = !source_has_relative_parts(c->ctx, src) && strncmp(src, dir, n) == 0 &&
                     (src[n] == '/' || src[n] == '\0');
        }
        const char *by = in.model_id ? "model_id" : "run_id";
        if (!inside)
            return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                             "Invalid model version source: '%s'. To use a local path as a "
                             "model version source, the %s request parameter has to be "
                             "specified and the local path has to be contained within the "
                             "artifact directory of the run specified by the %s.",
                             in.source, by, by);
    } else if (source_has_relative_parts(c->ctx, in.source)) {
        return relative_source(c, in.source);
    }
    if ((e = storage_location(c, &in)))
        return e;
    if (in.model_id && !(in.run_id && *in.run_id)) {
        /* registered from a logged model: the version belongs to the run
         * that produced the model */
        struct keel_logged_model lm;
        if ((e = store_lm_get(c->app->store, c->ctx, in.model_id, false, &lm)))
            return e;
        in.run_id = lm.source_run_id;
    }
    e = store_mv_create(c->app->store, c->ctx, &in, &m);
    return e ? e : mv_response(c, &m);
}

static enum keel_err name_version(struct api_call *c, const char **name, int64_t *version)
{
    enum keel_err e = name_arg(c, name);
    return e ? e : version_arg(c, version);
}

static enum keel_err h_mv_get(struct api_call *c)
{
    const char *name;
    int64_t version;
    struct keel_model_version m;
    enum keel_err e = name_version(c, &name, &version);
    if (!e)
        e = store_mv_get(c->app->store, c->ctx, name, version, &m);
    return e ? e : mv_response(c, &m);
}

static enum keel_err h_mv_update(struct api_call *c)
{
    const char *name, *description;
    int64_t version;
    struct keel_model_version m;
    enum keel_err e = name_version(c, &name, &version);
    if (!e)
        e = api_arg_str(c, "description", false, &description);
    if (!e)
        e = store_mv_update(c->app->store, c->ctx, name, version, description != NULL,
                            description, &m);
    return e ? e : mv_response(c, &m);
}

static enum keel_err h_mv_transition(struct api_call *c)
{
    const char *name, *stage_text, *stage;
    int64_t version;
    struct keel_model_version m;
    enum keel_err e = name_version(c, &name, &version);
    if (!e)
        e = api_arg_str(c, "stage", true, &stage_text);
    if (e)
        return e;
    const struct jval *ae = jv_get(c->args, "archive_existing_versions");
    bool archive = jv_is_true(ae) || (jv_is_string(ae) && strcasecmp(jv_str(ae), "true") == 0);
    if (!(stage = canonical_stage(stage_text)))
        return bad_stage(c, stage_text);
    if (archive && strcmp(stage, "Staging") != 0 && strcmp(stage, "Production") != 0)
        return keel_fail(c->ctx, KEEL_E_INTERNAL,
                         "Model version transition cannot archive existing model versions "
                         "because '%s' is not an Active stage. Valid stages are ['Staging', "
                         "'Production']",
                         stage_text);
    e = store_mv_transition(c->app->store, c->ctx, name, version, stage, archive, &m);
    return e ? e : mv_response(c, &m);
}

static enum keel_err h_mv_delete(struct api_call *c)
{
    const char *name;
    int64_t version;
    enum keel_err e = name_version(c, &name, &version);
    if (!e)
        e = store_mv_delete(c->app->store, c->ctx, name, version);
    return e ? e : empty_response(c);
}

static enum keel_err h_mv_download_uri(struct api_call *c)
{
    const char *name;
    int64_t version;
    struct keel_model_version m;
    enum keel_err e = name_version(c, &name, &version);
    if (!e)
        e = store_mv_get(c->app->store, c->ctx, name, version, &m);
    if (e)
        return e;
    jw_obj(&c->out);
    jw_kstr(&c->out, "artifact_uri",
            m.storage_location && *m.storage_location ? m.storage_location : m.source);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_mv_set_tag(struct api_call *c)
{
    const char *name, *key, *value;
    int64_t version;
    enum keel_err e = name_version(c, &name, &version);
    if (!e)
        e = api_arg_str(c, "key", true, &key);
    if (!e)
        e = api_arg_str(c, "value", false, &value);
    if (!e)
        e = check_registry_tag(c, "Model version", key, value ? value : "");
    if (!e)
        e = store_mv_set_tag(c->app->store, c->ctx, name, version, key, value ? value : "");
    return e ? e : empty_response(c);
}

static enum keel_err h_mv_delete_tag(struct api_call *c)
{
    const char *name, *key;
    int64_t version;
    enum keel_err e = name_version(c, &name, &version);
    if (!e)
        e = api_arg_str(c, "key", true, &key);
    if (!e)
        e = store_mv_delete_tag(c->app->store, c->ctx, name, version, key);
    return e ? e : empty_response(c);
}

/* MLflow's alias rules: word characters and '-', at most 255, and neither
 * "latest" nor v<digits>, which name versions */
static enum keel_err check_alias(struct api_call *c, const char *alias)
{
    if (!*alias)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Registered model alias name cannot be empty.");
    for (const char *p = alias; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!(ch >= 0x80 || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                             "Invalid alias name: '%s'. Names may only contain alphanumerics, "
                             "underscores (_), and dashes (-).",
                             alias);
    }
    enum keel_err e = validate_length(c->ctx, "Registered model alias name", alias,
                                      MAX_ALIAS_LENGTH);
    if (e)
        return e;
    if (strcasecmp(alias, "latest") == 0)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "'latest' alias name (case insensitive) is reserved.");
    if ((alias[0] == 'v' || alias[0] == 'V') && alias[1] &&
        strspn(alias + 1, "0123456789") == strlen(alias + 1))
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER, "Version alias name '%s' is reserved.",
                         alias);
    return KEEL_OK;
}

static enum keel_err h_alias_set(struct api_call *c)
{
    const char *name, *alias;
    int64_t version;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = api_arg_str(c, "alias", true, &alias);
    if (!e)
        e = version_arg(c, &version);
    if (!e)
        e = check_alias(c, alias);
    if (!e)
        e = store_alias_set(c->app->store, c->ctx, name, alias, version);
    return e ? e : empty_response(c);
}

static enum keel_err h_alias_delete(struct api_call *c)
{
    const char *name, *alias;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = api_arg_str(c, "alias", true, &alias);
    if (!e)
        e = check_alias(c, alias);
    if (!e)
        e = store_alias_delete(c->app->store, c->ctx, name, alias);
    return e ? e : empty_response(c);
}

static enum keel_err h_alias_get(struct api_call *c)
{
    const char *name, *alias;
    struct keel_model_version m;
    enum keel_err e = name_arg(c, &name);
    if (!e)
        e = api_arg_str(c, "alias", true, &alias);
    if (!e)
        e = check_alias(c, alias);
    if (!e)
        e = store_alias_get(c->app->store, c->ctx, name, alias, &m);
    return e ? e : mv_response(c, &m);
}

#define RM_SEARCH_DEFAULT 100
#define RM_SEARCH_MAX 1000
#define MV_SEARCH_DEFAULT 10000
#define MV_SEARCH_MAX 200000

/* filter, order_by, page_token and max_results (default, ceiling) of a
 * registry search */
static enum keel_err search_args(struct api_call *c, int64_t def, int64_t max,
                                 const char **filter, const char ***order_by, size_t *n_order,
                                 struct store_page *page)
{
    bool has;
    page->max_results = def;
    enum keel_err e = api_arg_str(c, "filter", false, filter);
    if (!e)
        e = api_arg_int(c, "max_results", false, &page->max_results, &has);
    if (!e && has && page->max_results > max)
        e = api_fail_invalid(c, "max_results", jv_get(c->args, "max_results"));
    if (!e)
        e = api_arg_str_list(c, "order_by", order_by, n_order);
    if (!e)
        e = api_arg_str(c, "page_token", false, &page->page_token);
    if (!*filter)
        *filter = "";
    return e;
}

static enum keel_err h_rm_search(struct api_call *c)
{
    const char *filter, **order_by, *next;
    size_t n_order, n;
    struct store_page page;
    struct keel_registered_model *v;
    enum keel_err e = search_args(c, RM_SEARCH_DEFAULT, RM_SEARCH_MAX, &filter, &order_by,
                                  &n_order, &page);
    if (!e)
        e = store_rm_search(c->app->store, c->ctx, filter, order_by, n_order, page, c->mlflow3,
                            &v, &n, &next);
    if (e)
        return e;
    jw_obj(&c->out);
    if (n) {
        jw_key(&c->out, "registered_models");
        jw_arr(&c->out);
        for (size_t i = 0; i < n; i++)
            write_rm(&c->out, &v[i]);
        jw_arr_end(&c->out);
    }
    if (next)
        jw_kstr(&c->out, "next_page_token", next);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_mv_search(struct api_call *c)
{
    const char *filter, **order_by, *next;
    size_t n_order, n;
    struct store_page page;
    struct keel_model_version *v;
    enum keel_err e = search_args(c, MV_SEARCH_DEFAULT, MV_SEARCH_MAX, &filter, &order_by,
                                  &n_order, &page);
    if (e)
        return e;
    if (page.max_results < 1)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Invalid value for max_results. It must be a positive integer, but got "
                         "%lld",
                         (long long)page.max_results);
    e = store_mv_search(c->app->store, c->ctx, filter, order_by, n_order, page, c->mlflow3, &v,
                        &n, &next);
    if (e)
        return e;
    jw_obj(&c->out);
    if (n) {
        jw_key(&c->out, "model_versions");
        jw_arr(&c->out);
        for (size_t i = 0; i < n; i++)
            write_mv(&c->out, &v[i], false); /* MLflow's search leaves aliases out */
        jw_arr_end(&c->out);
    }
    if (next)
        jw_kstr(&c->out, "next_page_token", next);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

const struct api_route api_registry_routes[] = {
    {"GET", "mlflow/registered-models/search", h_rm_search},
    {"GET", "mlflow/model-versions/search", h_mv_search},
    {"POST", "mlflow/registered-models/create", h_rm_create},
    {"GET", "mlflow/registered-models/get", h_rm_get},
    {"PATCH", "mlflow/registered-models/update", h_rm_update},
    {"POST", "mlflow/registered-models/rename", h_rm_rename},
    {"DELETE", "mlflow/registered-models/delete", h_rm_delete},
    {"POST", "mlflow/registered-models/get-latest-versions", h_latest_versions},
    {"GET", "mlflow/registered-models/get-latest-versions", h_latest_versions},
    {"POST", "mlflow/registered-models/set-tag", h_rm_set_tag},
    {"DELETE", "mlflow/registered-models/delete-tag", h_rm_delete_tag},
    {"POST", "mlflow/registered-models/alias", h_alias_set},
    {"DELETE", "mlflow/registered-models/alias", h_alias_delete},
    {"GET", "mlflow/registered-models/alias", h_alias_get},
    {"POST", "mlflow/model-versions/create", h_mv_create},
    {"GET", "mlflow/model-versions/get", h_mv_get},
    {"PATCH", "mlflow/model-versions/update", h_mv_update},
    {"POST", "mlflow/model-versions/transition-stage", h_mv_transition},
    {"DELETE", "mlflow/model-versions/delete", h_mv_delete},
    {"GET", "mlflow/model-versions/get-download-uri", h_mv_download_uri},
    {"POST", "mlflow/model-versions/set-tag", h_mv_set_tag},
    {"DELETE", "mlflow/model-versions/delete-tag", h_mv_delete_tag},
    {NULL, NULL, NULL},
};

/* GET keel/models/resolve?uri=: where a model URI points, as serving and
 * batch scoring resolve it. */
static enum keel_err h_resolve(struct api_call *c)
{
    const char *uri;
    struct model_ref ref;
    enum keel_err e = api_arg_str(c, "uri", true, &uri);
    if (!e)
        e = model_uri_resolve(c->app->store, c->ctx, uri, &ref);
    if (e)
        return e;
    jw_obj(&c->out);
    jw_kstr(&c->out, "uri", ref.uri);
    jw_kstr(&c->out, "location", ref.location);
    jw_kstr_opt(&c->out, "name", ref.name);
    if (ref.version)
        write_id(&c->out, "version", ref.version);
    jw_kstr_opt(&c->out, "run_id", ref.run_id);
    jw_kstr_opt(&c->out, "model_id", ref.model_id);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

const struct api_route api_keel_model_routes[] = {
    {"GET", "keel/models/resolve", h_resolve},
    {NULL, NULL, NULL},
};
