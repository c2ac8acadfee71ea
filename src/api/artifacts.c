/*
 * artifacts.c -- mlflow/artifacts/list: a run's artifact directory, paths
 * relative to the run's artifact root, with root_uri always present.
 */
#include <string.h>

#include "api/api.h"
#include "artifacts/artifacts.h"
#include "util/arena.h"

static enum keel_err h_list(struct api_call *c)
{
    const char *id, *path, *dir;
    struct keel_run run;
    struct artifact_file *files;
    size_t n;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = api_arg_str(c, "path", false, &path);
    if (!e && path && *path)
        e = artifact_check_path(c->ctx, path, &path);
    if (!e)
        e = store_run_get(c->app->store, c->ctx, id, &run);
    if (!e)
        e = artifact_resolve_local(c->ctx, run.info.artifact_uri, c->app->artifacts_destination,
                                   &dir);
    if (!e)
        e = artifact_list(c->ctx, dir, path, &files, &n);
    if (e)
        return e;
    jw_obj(&c->out);
    jw_kstr(&c->out, "root_uri", run.info.artifact_uri);
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

const struct api_route api_artifact_routes[] = {
    {"GET", "mlflow/artifacts/list", h_list},
    {NULL, NULL, NULL},
};
