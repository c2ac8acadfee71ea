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
#include "client/rest.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/jparse.h"
#include "util/json.h"

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

#define CALL_ARENA (64u << 20)

/* One call to the server; prints the answer (each item of `list_key` on its
 * own line when given, else the whole answer) or the error. Exit code. */
int cli_call_and_print(const char *who, const char *tracking, const char *method,
                       const char *path, const char *json, const char *list_key)
{
    const char *base = cli_tracking_uri(tracking);
    struct karena *a = karena_new(CALL_ARENA);
    if (!a)
        return 1;
    struct keel_ctx ctx = {.arena = a};
    struct rest_client *c = NULL;
    const struct jval *answer = NULL;
    enum keel_err e = rest_open(base ? base : "http://127.0.0.1:5000", a, &c, &ctx);
    if (e == KEEL_OK)
        e = rest_call(c, method, path, json, &answer, &ctx);
    if (e == KEEL_OK) {
        struct kbuf out;
        kbuf_init(&out, REST_MAX_ANSWER * 2);
        const struct jval *list = list_key ? jv_get(answer, list_key) : NULL;
        for (size_t i = 0; i < (list ? jv_len(list) : 1); i++) {
            struct jw w;
            kbuf_reset(&out);
            jw_init(&w, &out);
            jw_json(&w, list ? jv_at(list, i) : answer);
            fwrite(out.data ? out.data : "", 1, out.len, stdout);
            fputc('\n', stdout);
        }
        kbuf_free(&out);
    } else {
        fprintf(stderr, "%s: %s\n", who, ctx.errmsg ? ctx.errmsg : "failed");
    }
    rest_close(c);
    karena_free(a);
    return e == KEEL_OK ? 0 : 1;
}
