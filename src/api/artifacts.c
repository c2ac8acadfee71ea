/*
 * artifacts.c -- mlflow/artifacts/list: a run's artifact directory, paths
 * relative to the run's artifact root, with root_uri always present. The
 * same listing serves a logged model's artifacts/directories.
 */
#include <string.h>

#include "api/api.h"
#include "artifacts/artifacts.h"
#include "util/arena.h"

#define MAX_LISTED_ENTRIES 100000

/* The artifacts under `path` of the root `uri`: from the artifact index for
 * a proxied root, from the file system for a local one. Paths come back
 * relative to the root. */
static enum keel_err list_artifacts(struct api_call *c, const char *uri, const char *path,
                                    struct artifact_file **files, size_t *n)
{
    const char *rel = artifact_proxied_path(c->ctx, uri);
    if (!rel) {
        const char *dir;
        enum keel_err e = artifact_resolve_local(c->ctx, uri, c->app->artifacts_destination, &dir);
        return e ? e : artifact_list(c->ctx, dir, path, files, n);
    }
    const char *dir = path && *path ? karena_sprintf(c->ctx->arena, "%s/%s", rel, path) : rel;
    struct keel_artifact *v;
    enum keel_err e = dir ? store_artifact_list(c->app->store, c->ctx, dir, MAX_LISTED_ENTRIES,
                                                &v, n)
                          : keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
    if (e)
        return e;
    *files = karena_calloc(c->ctx->arena, *n ? *n : 1, sizeof **files);
    if (!*files)
        return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
    for (size_t i = 0; i < *n; i++) {
        (*files)[i].path = path && *path ? karena_sprintf(c->ctx->arena, "%s/%s", path, v[i].path)
                                         : v[i].path;
        (*files)[i].is_dir = v[i].is_dir;
        (*files)[i].file_size = v[i].size;
    }
    return KEEL_OK;
}

enum keel_err api_write_artifact_listing(struct api_call *c, const char *root_uri,
                                        const char *path)
{
    struct artifact_file *files;
    size_t n;
    enum keel_err e = list_artifacts(c, root_uri, path, &files, &n);
    if (e)
        return e;
    jw_obj(&c->out);
    jw_kstr(&c->out, "root_uri", root_uri);
    if (n) {
        jw_key(&c->out, "files");
        jw_arr(&c->out);
        for (size_t i = 0; i < n; i++) {
            jw_obj(&c->out);
            jw_kstr(&c->out, "path", files[i].path);
            jw_key(&c->out, "is_dir");
            jw_bool(&c->out, files[i].is_dir);
            if (files[i].file_size)
                jw_kint(&c->out, "file_size", files[i].file_size);
            jw_obj_end(&c->out);
        }
        jw_arr_end(&c->out);
    }
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_list(struct api_call *c)
{
    const char *id, *path;
    struct keel_run run;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = api_arg_str(c, "path", false, &path);
    if (!e && path && *path)
        e = artifact_check_path(c->ctx, path, &path);
    if (!e)
        e = store_run_get(c->app->store, c->ctx, id, &run);
    return e ? e : api_write_artifact_listing(c, run.info.artifact_uri, path);
}

const struct api_route api_artifact_routes[] = {
    {"GET", "mlflow/artifacts/list", h_list},
    {NULL, NULL, NULL},
};
