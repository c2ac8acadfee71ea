/*
 * artifacts.h -- where a run's artifacts are and what is there.
 *
 * Resolves artifact URIs (mlflow-artifacts:/..., file:///..., local paths) to
 * directories on this machine, checks client-supplied artifact paths the way
 * MLflow does (no "..", no absolute paths, no backslashes, after repeated
 * percent-decoding), and lists a directory as MLflow's FileInfo entries.
 */
#ifndef KEEL_ARTIFACTS_H
#define KEEL_ARTIFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Ceilings on client-supplied artifact paths (bytes). */
#define ARTIFACT_MAX_PATH 4096
#define ARTIFACT_MAX_NAME 255

struct artifact_file {
    const char *path; /* relative to the listed root, '/'-separated */
    bool is_dir;
    int64_t file_size; /* 0 for directories */
};

/* MLflow's validate_path_is_safe, plus keel's own rules (no empty segment,
 * no control character or NUL, ceilings on length): *out is the decoded
 * path without trailing '/', or the error "Invalid path"
 * (INVALID_PARAMETER_VALUE). */
enum keel_err artifact_check_path(struct keel_ctx *ctx, const char *path, const char **out);

/* The local directory behind an artifact URI; proxied URIs resolve under
 * `destination`. KEEL_E_NOT_IMPLEMENTED for stores this server cannot read. */
enum keel_err artifact_resolve_local(struct keel_ctx *ctx, const char *uri,
                                     const char *destination, const char **dir);

/* For a proxied URI (mlflow-artifacts:/x/y or mlflow-artifacts://host/x/y),
 * the path under the artifact destination ("x/y"); NULL for any other URI. */
const char *artifact_proxied_path(struct keel_ctx *ctx, const char *uri);

/* rel opened under dir without leaving it: no "..", no symbolic link on the
 * way or at the end (openat2's RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, else a
 * walk name by name), O_NONBLOCK so a FIFO cannot hold the caller. rel
 * empty: dir itself, when flags ask for a directory. -1 and errno else. */
int artifact_open_beneath(const char *dir, const char *rel, int flags);

/* Entries of dir/rel sorted by path, each path prefixed with rel ("a/b");
 * a missing directory or a file lists as nothing. */
enum keel_err artifact_list(struct keel_ctx *ctx, const char *dir, const char *rel,
                            struct artifact_file **out, size_t *n);

#endif
