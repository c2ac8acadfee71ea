/*
 * common.c -- what several subcommands resolve the same way: where the
 * metadata store and the artifacts are, from the flags `keel server` takes;
 * which tracking server and model cache the model commands use; how the
 * long-running ones wait for their stop signal.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

const char *cli_tracking_uri(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("KEEL_TRACKING_URI");
    if (env && *env)
        return env;
    env = getenv("MLFLOW_TRACKING_URI");
    return env && *env ? env : NULL;
}

const char *cli_model_cache(struct karena *a, const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("KEEL_MODEL_CACHE");
    if (env && *env)
        return env;
    const char *home = getenv("HOME");
    return home && *home ? karena_sprintf(a, "%s/.cache/keel/models", home)
                         : "./keel-data/models";
}

void cli_block_stop_signals(sigset_t *stop)
{
    sigemptyset(stop);
    sigaddset(stop, SIGINT);
    sigaddset(stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, stop, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void cli_wait_stop(const sigset_t *stop, const char *who)
{
    int sig = 0;
    sigwait(stop, &sig);
    fprintf(stderr, "%s: stopping (signal %d)\n", who, sig);
}
