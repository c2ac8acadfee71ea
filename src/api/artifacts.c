/*
 * artifacts.c -- mlflow/artifacts/list: a run's artifact directory, paths
 * relative to the run's artifact root, with root_uri always present. The
 * same listing serves a logged model's artifacts/directories. And MLflow's
 * GET /get-artifact?run_uuid=&path=, one file of a run's artifacts, which
 * MLflow's server offers its web UI and keel's UI uses the same way.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A file under a run's local artifact directory, sent from disk. */
static enum keel_err send_local(struct api_call *c, const char *uri, const char *path)
{
    const char *dir;
    enum keel_err e = artifact_resolve_local(c->ctx, uri, c->app->artifacts_destination, &dir);
    if (e)
        return e;
    int fd = artifact_open_beneath(dir, path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        if (fd >= 0)
            close(fd);
        return keel_fail(c->ctx, KEEL_E_NOT_FOUND, "No such artifact: '%s'", path);
    }
    struct http_response *r = c->resp;
    api_artifact_answer(c, path);
    r->fd = fd;
    r->fd_offset = 0;
    r->fd_len = (uint64_t)st.st_size;
    c->raw_response = true;
    return KEEL_OK;
}

static enum keel_err h_get_artifact(struct api_call *c)
{
    const char *id, *path;
    struct keel_run run;
    enum keel_err e = api_arg_run_id(c, &id);
    if (!e)
        e = api_arg_str(c, "path", true, &path);
    if (!e)
        e = artifact_check_path(c->ctx, path, &path);
    if (!e)
        e = store_run_get(c->app->store, c->ctx, id, &run);
    if (e)
        return e;
    const char *rel = artifact_proxied_path(c->ctx, run.info.artifact_uri);
    if (!rel)
        return send_local(c, run.info.artifact_uri, path);
    const char *stored = karena_sprintf(c->ctx->arena, "%s/%s", rel, path);
    struct keel_artifact a;
    if (!stored)
        return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
    if ((e = store_artifact_get(c->app->store, c->ctx, stored, &a)))
        return e == KEEL_E_NOT_FOUND
                   ? keel_fail(c->ctx, KEEL_E_NOT_FOUND, "No such artifact: '%s'", path)
                   : e;
    return api_send_stored_artifact(c, stored, &a);
}

const struct api_route api_artifact_routes[] = {
    {"GET", "mlflow/artifacts/list", h_list},
    {"GET", "/get-artifact", h_get_artifact},
    {NULL, NULL, NULL},
};
