/*
 * common.c -- what several subcommands resolve the same way: where the
 * metadata store and the artifacts are, from the flags `keel server` takes.
 */
#include <string.h>

#include "cli/cli.h"
#include "util/arena.h"
#include "util/fs.h"

const char *cli_store_path(struct karena *a, const char *backend_uri, const char *data_dir)
{
    static const char prefix[] = "sqlite:///";
    if (!backend_uri)
        return karena_sprintf(a, "%s/keel.db", data_dir);
    /* "sqlite:///rel/x.db" -> "rel/x.db"; "sqlite:////abs/x.db" -> "/abs/x.db" */
    if (strncmp(backend_uri, prefix, sizeof prefix - 1) != 0)
        return NULL;
    return backend_uri + sizeof prefix - 1;
}

const char *cli_artifacts_path(struct karena *a, const char *destination, const char *data_dir)
{
    return destination ? destination : karena_sprintf(a, "%s/artifacts", data_dir);
}

int cli_mkdirs(const char *path)
{
    return keel_mkdirs(path);
}
