/*
 * deploy.c -- deployments in memory: name -> the model served now.
 *
 * Design note. States of an entry: LOADING (first load running: not served),
 * READY (model != NULL), FAILED (no model could ever be loaded; error says
 * why). A reload of a READY entry keeps serving the old model until the new
 * one is loaded, then swaps the pointer under the lock; the old model is
 * unreferenced after the lock is released and freed by whichever request
 * drops the last reference. Loads of one entry are serialised by `loading`
 * so two updates cannot swap out of order; loads of different entries run
 * concurrently. Invariants: `model` is never a model that failed to load;
 * every pointer handed out by deploy_acquire carries its own reference.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/batcher.h"
#include "deploy/deploy.h"
#include "serve/fetch.h"
#include "util/arena.h"
#include "util/time.h"

#define MAX_DEPLOYMENTS 1024
#define TEXT_MAX 2048

/* latency histogram bounds, seconds (Prometheus' "le") */
static const double latency_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define N_BUCKETS (sizeof latency_le / sizeof *latency_le)

struct entry {
    char name[128];
    char model_uri[TEXT_MAX];
    char model_name[256], model_version[64], run_id[64];
    char error[TEXT_MAX];
    struct keel_model *model;
    int64_t loaded_at;
    uint64_t generation; /* which load of the set put `model` here */
    /* answers requests: set by deploy_open once its log mode and batching
     * are, so no request is answered under a new deployment's defaults */
    bool serving;
    enum deploy_log log;
    bool loading, used;
    /* counters for /metrics */
    uint64_t by_class[6];             /* 1xx..5xx by first digit */
    uint64_t buckets[N_BUCKETS + 1];  /* the last is +Inf */
    double latency_sum;
    double before_model_sum, model_sum; /* seconds, over requests that reached the model */
    uint64_t model_calls;
    uint64_t load_failures;
    /* batching: the batcher belongs to the slot, kept across deployments
     * that use the slot, so no request can hold one that was freed */
    struct batcher *batcher;
    size_t max_batch_rows;
    unsigned max_batch_wait_us;
};

struct deploy_set {
    pthread_mutex_t change_mu; /* deploy_change_lock: one change at a time */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t loads; /* successful loads so far: each model's generation */
    char tracking_uri[512];
    char authorization[128]; /* how this server signs in to itself; "" when open */
    char cache_dir[1024];
    struct entry entries[MAX_DEPLOYMENTS];
};

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

enum keel_err deploy_set_new(struct deploy_set **out, const struct deploy_config *cfg,
                             struct keel_ctx *ctx)
{
    struct deploy_set *s = calloc(1, sizeof *s);
    if (!s)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    pthread_mutex_init(&s->change_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    copy(s->tracking_uri, sizeof s->tracking_uri, cfg->tracking_uri);
    copy(s->cache_dir, sizeof s->cache_dir, cfg->cache_dir);
    *out = s;
    return KEEL_OK;
}

void deploy_set_self(struct deploy_set *s, const char *tracking_uri, const char *authorization)
{
    pthread_mutex_lock(&s->mu);
    copy(s->tracking_uri, sizeof s->tracking_uri, tracking_uri);
    copy(s->authorization, sizeof s->authorization, authorization);
    pthread_mutex_unlock(&s->mu);
}

void deploy_set_free(struct deploy_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < MAX_DEPLOYMENTS; i++) {
        keel_model_unref(s->entries[i].model);
        batcher_free(s->entries[i].batcher);
    }
    pthread_mutex_destroy(&s->change_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static struct entry *find(struct deploy_set *s, const char *name)
{
    for (size_t i = 0; i < MAX_DEPLOYMENTS; i++)
        if (s->entries[i].used && strcmp(s->entries[i].name, name) == 0)
            return &s->entries[i];
    return NULL;
}

enum keel_err deploy_load(struct deploy_set *s, const char *name, const char *model_uri,
                          struct keel_ctx *ctx)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, name);
    /* another load of this name is under way: wait, then look again -- the
     * entry may have been removed, or its slot given to another name */
    while (e && e->loading) {
        pthread_cond_wait(&s->cv, &s->mu);
        e = find(s, name);
    }
    if (!e) {
        for (size_t i = 0; i < MAX_DEPLOYMENTS && !e; i++)
            if (!s->entries[i].used)
                e = &s->entries[i];
        if (!e) {
            pthread_mutex_unlock(&s->mu);
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "keel serves at most %d deployments",
                             MAX_DEPLOYMENTS);
        }
        struct batcher *keep = e->batcher;
        memset(e, 0, sizeof *e);
        e->batcher = keep;
        if (keep)
            batcher_configure(keep, 0, 0);
        e->used = true;
        copy(e->name, sizeof e->name, name);
    }
    e->loading = true;
    char tracking[512], cache[1024], authorization[128];
    copy(tracking, sizeof tracking, s->tracking_uri);
    copy(cache, sizeof cache, s->cache_dir);
    copy(authorization, sizeof authorization, s->authorization);
    pthread_mutex_unlock(&s->mu);

    struct model_fetch_config fc = {.tracking_uri = tracking, .cache_dir = cache,
                                    .authorization = *authorization ? authorization : NULL};
    struct model_fetch_result fetched;
    struct keel_model *m = NULL;
    enum keel_err err = model_fetch(model_uri, &fc, &fetched, ctx);
    if (err == KEEL_OK)
        err = keel_model_load(fetched.dir, &m, ctx);

    pthread_mutex_lock(&s->mu);
    struct keel_model *old = NULL;
    if (err == KEEL_OK) {
        old = e->model;
        e->model = m;
        copy(e->model_uri, sizeof e->model_uri, model_uri);
        copy(e->model_name, sizeof e->model_name, fetched.name);
        copy(e->model_version, sizeof e->model_version, fetched.version);
        copy(e->run_id, sizeof e->run_id, fetched.run_id);
        e->error[0] = '\0';
        e->loaded_at = keel_now_ms();
        e->generation = ++s->loads;
    } else {
        e->load_failures++;
        copy(e->error, sizeof e->error, ctx->errmsg);
        if (!e->model)
            copy(e->model_uri, sizeof e->model_uri, model_uri);
    }
    e->loading = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    keel_model_unref(old); /* freed now, or when its last request ends */
    return err;
}

static const char *const log_names[] = {"best-effort", "required", "off"};

int deploy_log_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof log_names / sizeof *log_names); i++)
        if (s && strcmp(s, log_names[i]) == 0)
            return i;
    return -1;
}

const char *deploy_log_name(enum deploy_log l)
{
    return (size_t)l < sizeof log_names / sizeof *log_names ? log_names[l] : "off";
}

void deploy_set_log(struct deploy_set *s, const char *name, enum deploy_log log)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, name);
    if (e)
        e->log = log;
    pthread_mutex_unlock(&s->mu);
}

enum keel_err deploy_set_batching(struct deploy_set *s, const char *name, size_t max_rows,
                                  unsigned max_wait_us, struct keel_ctx *ctx)
{
    enum keel_err err = KEEL_OK;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, name);
    if (e && !e->batcher && max_rows)
        err = batcher_new(&e->batcher, max_rows, max_wait_us, ctx);
    if (e && err == KEEL_OK) {
        if (e->batcher)
            batcher_configure(e->batcher, max_rows, max_wait_us);
        e->max_batch_rows = max_rows;
        e->max_batch_wait_us = max_wait_us;
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

void deploy_change_lock(struct deploy_set *s)
{
    pthread_mutex_lock(&s->change_mu);
}

void deploy_change_unlock(struct deploy_set *s)
{
    pthread_mutex_unlock(&s->change_mu);
}

void deploy_open(struct deploy_set *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, name);
    if (e)
        e->serving = true;
    pthread_mutex_unlock(&s->mu);
}

void deploy_remove(struct deploy_set *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, name);
    while (e && e->loading) { /* look again after the wait, as deploy_load does */
        pthread_cond_wait(&s->cv, &s->mu);
        e = find(s, name);
    }
    struct keel_model *old = NULL;
    if (e) {
        old = e->model;
        struct batcher *keep = e->batcher;
        memset(e, 0, sizeof *e);
        e->batcher = keep;
        if (keep)
            batcher_configure(keep, 0, 0);
    }
    pthread_mutex_unlock(&s->mu);
    keel_model_unref(old);
}

static void fill_state(const struct entry *e, struct deploy_state *st, struct karena *a)
{
    st->name = karena_strdup(a, e->name);
    st->model_uri = karena_strdup(a, e->model_uri);
    st->model_name = karena_strdup(a, e->model_name);
    st->model_version = karena_strdup(a, e->model_version);
    st->run_id = karena_strdup(a, e->run_id);
    /* copies: the model may be swapped out and freed once the lock is gone */
    st->flavor = karena_strdup(a, e->model ? keel_model_flavor(e->model) : "");
    st->model_class = karena_strdup(a, e->model ? keel_model_class(e->model) : "");
    st->status = e->model ? "READY" : e->loading ? "LOADING" : "FAILED";
    st->error = karena_strdup(a, e->error);
    st->loaded_at = e->loaded_at;
    st->generation = e->generation;
    st->log = e->log;
    st->batcher = e->max_batch_rows ? e->batcher : NULL;
    st->max_batch_rows = e->max_batch_rows;
    st->max_batch_wait_us = e->max_batch_wait_us;
}

struct keel_model *deploy_acquire(struct deploy_set *s, const char *name,
                                  struct deploy_state *state, struct keel_ctx *ctx)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, name);
    if (e && !e->serving)
        e = NULL; /* still being created: as if it did not exist yet */
    struct keel_model *m = e && e->model ? keel_model_ref(e->model) : NULL;
    if (m && state)
        fill_state(e, state, ctx->arena);
    if (!m && e)
        keel_fail(ctx, KEEL_E_NOT_FOUND, "Deployment '%s' has no model loaded: %s", name,
                  e->error);
    pthread_mutex_unlock(&s->mu);
    if (!m && !e)
        keel_fail(ctx, KEEL_E_NOT_FOUND, "Deployment '%s' does not exist.", name);
    return m;
}

void deploy_observe(struct deploy_set *s, const char *name, int status, int64_t latency_us,
                    int64_t before_model_us, int64_t model_us)
{
    double secs = (double)latency_us / 1e6;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, name);
    if (e) {
        e->by_class[status / 100 >= 1 && status / 100 <= 5 ? status / 100 : 0]++;
        size_t b = 0;
        while (b < N_BUCKETS && secs > latency_le[b])
            b++;
        e->buckets[b]++;
        e->latency_sum += secs;
        if (model_us > 0) {
            e->model_calls++;
            e->model_sum += (double)model_us / 1e6;
            e->before_model_sum += (double)before_model_us / 1e6;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static void label(struct kbuf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            kbuf_addc(out, '\\');
        if (*v == '\n')
            kbuf_adds(out, "\\n");
        else
            kbuf_addc(out, *v);
    }
}

void deploy_write_metrics(struct deploy_set *s, struct kbuf *out)
{
    pthread_mutex_lock(&s->mu);
    kbuf_adds(out, "# HELP keel_deployment_requests_total Scoring requests answered, by "
                   "deployment and status class.\n# TYPE keel_deployment_requests_total counter\n");
    for (size_t i = 0; i < MAX_DEPLOYMENTS; i++) {
        const struct entry *e = &s->entries[i];
        for (int c = 1; e->used && c <= 5; c++) {
            kbuf_adds(out, "keel_deployment_requests_total{deployment=\"");
            label(out, e->name);
            kbuf_printf(out, "\",code=\"%dxx\"} %llu\n", c, (unsigned long long)e->by_class[c]);
        }
    }
    kbuf_adds(out, "# HELP keel_deployment_request_duration_seconds Time from request to "
                   "answer, scoring included.\n"
                   "# TYPE keel_deployment_request_duration_seconds histogram\n");
    for (size_t i = 0; i < MAX_DEPLOYMENTS; i++) {
        const struct entry *e = &s->entries[i];
        if (!e->used)
            continue;
        uint64_t cum = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cum += e->buckets[b];
            kbuf_adds(out, "keel_deployment_request_duration_seconds_bucket{deployment=\"");
            label(out, e->name);
            if (b < N_BUCKETS)
                kbuf_printf(out, "\",le=\"%g\"} %llu\n", latency_le[b], (unsigned long long)cum);
            else
                kbuf_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        kbuf_adds(out, "keel_deployment_request_duration_seconds_sum{deployment=\"");
        label(out, e->name);
        kbuf_printf(out, "\"} %.6f\n", e->latency_sum);
        kbuf_adds(out, "keel_deployment_request_duration_seconds_count{deployment=\"");
        label(out, e->name);
        kbuf_printf(out, "\"} %llu\n", (unsigned long long)cum);
    }
    kbuf_adds(out, "# HELP keel_deployment_model_seconds Time in the model call (a batch's "
                   "wait included), and before it (decoding), over requests that reached the "
                   "model.\n# TYPE keel_deployment_model_seconds summary\n"
                   "# TYPE keel_deployment_before_model_seconds summary\n");
    for (size_t i = 0; i < MAX_DEPLOYMENTS; i++) {
        const struct entry *e = &s->entries[i];
        if (!e->used)
            continue;
        static const char *const names[] = {"keel_deployment_model_seconds",
                                            "keel_deployment_before_model_seconds"};
        for (int k = 0; k < 2; k++) {
            kbuf_printf(out, "%s_sum{deployment=\"", names[k]);
            label(out, e->name);
            kbuf_printf(out, "\"} %.6f\n%s_count{deployment=\"",
                        k ? e->before_model_sum : e->model_sum, names[k]);
            label(out, e->name);
            kbuf_printf(out, "\"} %llu\n", (unsigned long long)e->model_calls);
        }
    }
    kbuf_adds(out, "# HELP keel_deployment_model_info The model a deployment serves now "
                   "(1), with its version and status.\n# TYPE keel_deployment_model_info gauge\n");
    for (size_t i = 0; i < MAX_DEPLOYMENTS; i++) {
        const struct entry *e = &s->entries[i];
        if (!e->used)
            continue;
        kbuf_adds(out, "keel_deployment_model_info{deployment=\"");
        label(out, e->name);
        kbuf_adds(out, "\",model_name=\"");
        label(out, e->model_name);
        kbuf_adds(out, "\",model_version=\"");
        label(out, e->model_version);
        kbuf_printf(out, "\",status=\"%s\"} 1\n",
                    e->model ? "READY" : e->loading ? "LOADING" : "FAILED");
    }
    kbuf_adds(out, "# HELP keel_deployment_batch_rows Rows in each batch scored by "
                   "server-side batching.\n# TYPE keel_deployment_batch_rows histogram\n");
    for (size_t i = 0; i < MAX_DEPLOYMENTS; i++) {
        const struct entry *e = &s->entries[i];
        if (!e->used || !e->batcher)
            continue;
        struct batcher_sizes z;
        batcher_sizes(e->batcher, &z);
        uint64_t cum = 0;
        for (size_t b = 0; b <= BATCHER_SIZE_BUCKETS; b++) {
            cum += z.by_size[b];
            kbuf_adds(out, "keel_deployment_batch_rows_bucket{deployment=\"");
            label(out, e->name);
            if (b < BATCHER_SIZE_BUCKETS)
                kbuf_printf(out, "\",le=\"%zu\"} %llu\n", (size_t)1 << b,
                            (unsigned long long)cum);
            else
                kbuf_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        }
        kbuf_adds(out, "keel_deployment_batch_rows_sum{deployment=\"");
        label(out, e->name);
        kbuf_printf(out, "\"} %llu\nkeel_deployment_batch_rows_count{deployment=\"",
                    (unsigned long long)z.rows);
        label(out, e->name);
        kbuf_printf(out, "\"} %llu\n", (unsigned long long)z.batches);
    }
    kbuf_adds(out, "# HELP keel_deployment_load_failures_total Model loads that failed (the "
                   "previous model kept serving).\n"
                   "# TYPE keel_deployment_load_failures_total counter\n");
    for (size_t i = 0; i < MAX_DEPLOYMENTS; i++) {
        const struct entry *e = &s->entries[i];
        if (!e->used)
            continue;
        kbuf_adds(out, "keel_deployment_load_failures_total{deployment=\"");
        label(out, e->name);
        kbuf_printf(out, "\"} %llu\n", (unsigned long long)e->load_failures);
    }
    pthread_mutex_unlock(&s->mu);
}

bool deploy_state(struct deploy_set *s, const char *name, struct deploy_state *out,
                  struct keel_ctx *ctx)
{
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, name);
    if (e)
        fill_state(e, out, ctx->arena);
    pthread_mutex_unlock(&s->mu);
    return e != NULL;
}
