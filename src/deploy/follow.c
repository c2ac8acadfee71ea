/*
 * follow.c -- the thread that moves deployments when their alias moves.
 *
 * Every interval: list the stored deployments; for each whose URI names a
 * registered model by alias, stage or "latest", resolve it in the store
 * (registry/model_uri.c) and compare the version with the one served; reload
 * on a difference. Reloads go through deploy_load, the same path as an API
 * update, so the swap rules are the same. A version that fails to load is
 * tried again after a delay that doubles from RETRY_FIRST_MS to RETRY_MAX_MS
 * (a transient failure -- a full disk, a timeout -- heals; a broken model
 * is not reloaded every poll); the failure stays visible meanwhile.
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
#define RETRY_FIRST_POLLS 30 /* a failed version is tried again after 30 polls (1 min at 2 s), */
#define RETRY_MAX_MS 3600000 /* then after twice as long each time, up to an hour */

/* A (deployment, URI, version) that failed to load, and when to try again. */
struct failure {
    char key[600]; /* "<name>\n<uri>\n<version>"; "" when the slot is free */
    unsigned attempts;
    int64_t retry_at_ms;
};

struct deploy_follower {
    struct store *st;
    struct deploy_set *set;
    unsigned interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct failure failed[MAX_FAILED]; /* follower thread only */
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

static struct failure *find_failure(struct deploy_follower *f, const char *key)
{
    for (size_t i = 0; i < MAX_FAILED; i++)
        if (strcmp(f->failed[i].key, key) == 0)
            return &f->failed[i];
    return NULL;
}

/* Whether key failed and its next try is not due yet. */
static bool waiting_to_retry(struct deploy_follower *f, const char *key, int64_t now)
{
    const struct failure *x = find_failure(f, key);
    return x && now < x->retry_at_ms;
}

static void note_failure(struct deploy_follower *f, const char *key, int64_t now)
{
    struct failure *x = find_failure(f, key);
    if (!x) { /* a free slot, else the one due soonest (the least useful to keep) */
        x = &f->failed[0];
        for (size_t i = 0; i < MAX_FAILED && x->key[0]; i++)
            if (!f->failed[i].key[0] || f->failed[i].retry_at_ms < x->retry_at_ms)
                x = &f->failed[i];
        *x = (struct failure){0};
        snprintf(x->key, sizeof x->key, "%s", key);
    }
    int64_t delay = (int64_t)f->interval_ms * RETRY_FIRST_POLLS;
    for (unsigned i = 0; i < x->attempts && delay < RETRY_MAX_MS; i++)
        delay *= 2;
    x->attempts++;
    x->retry_at_ms = now + (delay < RETRY_MAX_MS ? delay : RETRY_MAX_MS);
}

static void note_success(struct deploy_follower *f, const char *key)
{
    struct failure *x = find_failure(f, key);
    if (x)
        *x = (struct failure){0};
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
            char version[32], key[600];
            snprintf(version, sizeof version, "%lld", (long long)ref.version);
            if (strcmp(version, now.model_version) == 0)
                continue;
            snprintf(key, sizeof key, "%.120s\n%.440s\n%s", d[i].name, d[i].model_uri,
                     version);
            int64_t now_ms = keel_now_ms();
            if (waiting_to_retry(f, key, now_ms))
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
                note_failure(f, key, now_ms);
            } else {
                note_success(f, key);
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
