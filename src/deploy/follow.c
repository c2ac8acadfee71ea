/*
 * follow.c -- the thread that moves deployments when their alias moves.
 *
 * Every interval: list the stored deployments; for each whose URI names a
 * registered model by alias, stage or "latest", resolve it in the store
 * (registry/model_uri.c) and compare the version with the one served; reload
 * on a difference. Reloads go through deploy_load, the same path as an API
 * update, so the swap rules are the same. A version that fails to load is
 * not retried until the reference moves again (the failure stays visible).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deploy/deploy.h"
#include "deploy/follow.h"
#include "registry/model_uri.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/time.h"

#define FOLLOW_ARENA (16u << 20)
#define MAX_FAILED 256

struct deploy_follower {
    struct store *st;
    struct deploy_set *set;
    unsigned interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    /* "<name>\n<version>" pairs that failed to load: not retried */
    char failed[MAX_FAILED][160];
    size_t n_failed;
};

/* Whether uri names a version that can change without the URI changing. */
static bool moving(const char *uri)
{
    if (strncmp(uri, "models:/", 8) != 0)
        return false;
    const char *rest = uri + 8, *slash = strchr(rest, '/');
    if (strchr(rest, '@'))
        return true;
    if (!slash)
        return false; /* models:/<model_id>: a logged model does not move */
    for (const char *p = slash + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return true; /* a stage or "latest" */
    return false;
}

static bool known_failure(struct deploy_follower *f, const char *key)
{
    for (size_t i = 0; i < f->n_failed; i++)
        if (strcmp(f->failed[i], key) == 0)
            return true;
    return false;
}

static void check_once(struct deploy_follower *f)
{
    struct karena *a = karena_new(FOLLOW_ARENA);
    if (!a)
        return;
    struct keel_ctx ctx = {.arena = a};
    struct keel_deployment *d = NULL;
    size_t n = 0;
    if (store_deployment_list(f->st, &ctx, &d, &n) == KEEL_OK) {
        for (size_t i = 0; i < n; i++) {
            if (!moving(d[i].model_uri))
                continue;
            struct model_ref ref;
            struct deploy_state now;
            ctx.errmsg = NULL;
            if (model_uri_resolve(f->st, &ctx, d[i].model_uri, &ref) != KEEL_OK ||
                !deploy_state(f->set, d[i].name, &now, &ctx))
                continue;
            char version[32], key[160];
            snprintf(version, sizeof version, "%lld", (long long)ref.version);
            if (strcmp(version, now.model_version) == 0)
                continue;
            snprintf(key, sizeof key, "%.120s\n%s", d[i].name, version);
            if (known_failure(f, key))
                continue;
            /* under the change lock, and only if the deployment is still
             * stored as read: an update or delete since must not be undone */
            deploy_change_lock(f->set);
            struct keel_deployment cur;
            bool current = store_deployment_get(f->st, &ctx, d[i].name, &cur) == KEEL_OK &&
                           strcmp(cur.model_uri, d[i].model_uri) == 0;
            enum keel_err le = current ? deploy_load(f->set, d[i].name, d[i].model_uri, &ctx)
                                       : KEEL_OK;
            deploy_change_unlock(f->set);
            if (!current)
                continue;
            if (le != KEEL_OK) {
                fprintf(stderr, "keel server: deployment '%s' keeps version %s: version %s of "
                                "%s did not load: %s\n",
                        d[i].name, *now.model_version ? now.model_version : "(none)", version,
                        d[i].model_uri, ctx.errmsg ? ctx.errmsg : "");
                snprintf(f->failed[f->n_failed++ % MAX_FAILED], sizeof f->failed[0], "%s", key);
                if (f->n_failed > MAX_FAILED)
                    f->n_failed = MAX_FAILED;
            } else {
                fprintf(stderr, "keel server: deployment '%s' now serves version %s (%s)\n",
                        d[i].name, version, d[i].model_uri);
            }
        }
    }
    karena_free(a);
}

static void *follow_main(void *arg)
{
    struct deploy_follower *f = arg;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        struct timespec until = keel_deadline_after_us((int64_t)f->interval_ms * 1000);
        while (!f->stop && pthread_cond_timedwait(&f->cv, &f->mu, &until) != ETIMEDOUT)
            ;
        if (f->stop)
            break;
        pthread_mutex_unlock(&f->mu);
        check_once(f);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

enum keel_err deploy_follow_start(struct deploy_follower **out, struct store *st,
                                  struct deploy_set *set, unsigned interval_ms,
                                  struct keel_ctx *ctx)
{
    struct deploy_follower *f = calloc(1, sizeof *f);
    if (!f)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    f->st = st;
    f->set = set;
    f->interval_ms = interval_ms ? interval_ms : 2000;
    pthread_mutex_init(&f->mu, NULL);
    keel_cond_init_monotonic(&f->cv);
    if (pthread_create(&f->thread, NULL, follow_main, f) != 0) {
        free(f);
        return keel_fail(ctx, KEEL_E_NOMEM, "cannot start the deployment follower");
    }
    *out = f;
    return KEEL_OK;
}

void deploy_follow_stop(struct deploy_follower *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}
