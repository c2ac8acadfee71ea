/*
 * model_uri.c -- see model_uri.h.
 */
#include "registry/model_uri.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/arena.h"
#include "util/uri.h"

static const char *const stages[] = {"None", "Staging", "Production", "Archived"};

static enum keel_err from_version(struct store *st, struct keel_ctx *ctx,
                                  const struct keel_model_version *m, struct model_ref *out)
{
    (void)st;
    out->name = m->name;
    out->version = m->version;
    out->run_id = m->run_id && *m->run_id ? m->run_id : NULL;
    out->location = m->storage_location && *m->storage_location ? m->storage_location
                                                                 : m->source;
    return out->location ? KEEL_OK : keel_fail(ctx, KEEL_E_INTERNAL, "version has no source");
}

static enum keel_err resolve_models(struct store *st, struct keel_ctx *ctx, const char *rest,
                                    struct model_ref *out)
{
    while (*rest == '/')
        rest++;
    const char *at = strchr(rest, '@');
    const char *slash = strchr(rest, '/');
    struct keel_model_version m;
    enum keel_err e;
    if (!at && !slash && *rest) { /* models:/<model_id>: a logged model (MLflow 3) */
        struct keel_logged_model lm;
        if ((e = store_lm_get(st, ctx, rest, false, &lm)))
            return keel_fail(ctx, e, "Cannot resolve '%s': %s", out->uri, ctx->errmsg);
        out->model_id = lm.model_id;
        out->location = lm.artifact_uri;
        out->run_id = lm.source_run_id && *lm.source_run_id ? lm.source_run_id : NULL;
        return KEEL_OK;
    }
    if (at && (!slash || at < slash)) {
        char *name = karena_strndup(ctx->arena, rest, (size_t)(at - rest));
        if (!name || !*name || !at[1])
            return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                             "Invalid model URI '%s': expected models:/<name>@<alias>", out->uri);
        if ((e = store_alias_get(st, ctx, name, at + 1, &m)))
            return keel_fail(ctx, e == KEEL_E_INVALID_PARAMETER ? KEEL_E_NOT_FOUND : e,
                             "Cannot resolve '%s': %s", out->uri, ctx->errmsg);
        return from_version(st, ctx, &m, out);
    }
    if (!slash || !slash[1] || slash == rest)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Invalid model URI '%s': expected models:/<name>/<version or stage> or "
                         "models:/<name>@<alias>",
                         out->uri);
    char *name = karena_strndup(ctx->arena, rest, (size_t)(slash - rest));
    const char *which = slash + 1;
    char *end;
    long long v = strtoll(which, &end, 10);
    if (*which && !*end) {
        if ((e = store_mv_get(st, ctx, name, v, &m)))
            return keel_fail(ctx, e, "Cannot resolve '%s': %s", out->uri, ctx->errmsg);
        return from_version(st, ctx, &m, out);
    }
    struct keel_registered_model r;
    if ((e = store_rm_get(st, ctx, name, &r)))
        return keel_fail(ctx, e, "Cannot resolve '%s': %s", out->uri, ctx->errmsg);
    bool latest = strcasecmp(which, "latest") == 0;
    const char *stage = NULL;
    for (size_t i = 0; i < sizeof stages / sizeof *stages; i++)
        if (strcasecmp(which, stages[i]) == 0)
            stage = stages[i];
    if (!latest && !stage)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Cannot resolve '%s': '%s' is neither a version number, a stage nor "
                         "'latest'",
                         out->uri, which);
    const struct keel_model_version *best = NULL;
    for (size_t i = 0; i < r.n_latest; i++)
        if ((latest || strcmp(r.latest[i].current_stage, stage) == 0) &&
            (!best || r.latest[i].version > best->version))
            best = &r.latest[i];
    if (!best)
        return keel_fail(ctx, KEEL_E_NOT_FOUND, "Cannot resolve '%s': model '%s' has no %s%s",
                         out->uri, name, latest ? "versions" : "version in stage ",
                         latest ? "" : stage);
    return from_version(st, ctx, best, out);
}

static enum keel_err resolve_runs(struct store *st, struct keel_ctx *ctx, const char *rest,
                                  struct model_ref *out)
{
    while (*rest == '/')
        rest++;
    size_t idlen = strcspn(rest, "/");
    char *run_id = karena_strndup(ctx->arena, rest, idlen);
    if (!run_id || !*run_id)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Invalid model URI '%s': expected runs:/<run_id>/<path>", out->uri);
    struct keel_run run;
    enum keel_err e = store_run_get(st, ctx, run_id, &run);
    if (e)
        return keel_fail(ctx, e, "Cannot resolve '%s': %s", out->uri, ctx->errmsg);
    const char *path = rest + idlen;
    while (*path == '/')
        path++;
    out->run_id = run_id;
    out->location = *path ? uri_append(ctx->arena, run.info.artifact_uri, path)
                          : run.info.artifact_uri;
    return KEEL_OK;
}

const char *model_uri_logged_model_id(const char *uri)
{
    if (strncmp(uri, "models:", 7) != 0)
        return NULL;
    const char *rest = uri + 7;
    while (*rest == '/')
        rest++;
    return *rest && !strpbrk(rest, "/@") ? rest : NULL;
}

enum keel_err model_uri_resolve(struct store *st, struct keel_ctx *ctx, const char *uri,
                                struct model_ref *out)
{
    memset(out, 0, sizeof *out);
    out->uri = uri;
    if (strncmp(uri, "models:", 7) == 0)
        return resolve_models(st, ctx, uri + 7, out);
    if (strncmp(uri, "runs:", 5) == 0)
        return resolve_runs(st, ctx, uri + 5, out);
    if (uri[0] == '/' || strncmp(uri, "file://", 7) == 0) {
        out->location = strncmp(uri, "file://", 7) == 0 ? uri + 7 : uri;
        return KEEL_OK;
    }
    return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                     "Cannot resolve model URI '%s': expected models:/, runs:/ or a local "
                     "directory",
                     uri);
}
