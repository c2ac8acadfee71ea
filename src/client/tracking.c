/*
 * tracking.c -- a job recorded as an MLflow run, through the REST API.
 *
 * experiments/get-by-name (or create), runs/create, runs/log-batch in
 * requests within MLflow's limits, runs/update at the end. Items are queued
 * in the run's own arena and sent on flush/end, so a job does a handful of
 * requests whatever it logs.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/tracking.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/jparse.h"
#include "util/time.h"

#define RUN_ARENA_CEILING (64u << 20)
#define ANSWER_CEILING (16u << 20)
#define MAX_KEY 250
#define MAX_PARAM_VALUE 6000
#define MAX_TAG_VALUE 8000
/* MLflow's per-request log-batch limits */
#define BATCH_METRICS 1000
#define BATCH_PARAMS 100
#define BATCH_TAGS 100
#define MAX_ITEMS 100000

enum item_kind { ITEM_PARAM, ITEM_TAG, ITEM_METRIC };

struct item {
    enum item_kind kind;
    const char *key, *value;
    double number;
    int64_t step, ts;
};

struct tracking_run {
    struct karena *arena;
    CURL *curl;
    const char *api; /* <tracking uri>/api/2.0/mlflow */
    struct curl_slist *headers;
    const char *run_id, *experiment_id;
    struct item *items;
    size_t n_items, cap_items;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    return kbuf_add(arg, p, size * n) == KEEL_OK ? size * n : 0;
}

/* One REST call; *answer parsed into the run's arena (NULL when the answer
 * is not JSON). Maps MLflow's error bodies and transport failures. */
static enum keel_err call(struct tracking_run *r, const char *method, const char *path,
                          const char *json, const struct jval **answer, struct keel_ctx *ctx)
{
    struct kbuf body;
    kbuf_init(&body, ANSWER_CEILING);
    char *url = karena_sprintf(r->arena, "%s/%s", r->api, path);
    if (!url)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    curl_easy_reset(r->curl);
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
    const char *user = getenv("MLFLOW_TRACKING_USERNAME");
    const char *pass = getenv("MLFLOW_TRACKING_PASSWORD");
    if (user && pass && !getenv("MLFLOW_TRACKING_TOKEN")) {
        curl_easy_setopt(r->curl, CURLOPT_USERNAME, user);
        curl_easy_setopt(r->curl, CURLOPT_PASSWORD, pass);
    }
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, json ? json : "{}");
    }
    CURLcode rc = curl_easy_perform(r->curl);
    long status = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    enum keel_err e = KEEL_OK;
    const struct jval *doc = body.len ? jp_parse(r->arena, body.data, body.len, NULL) : NULL;
    if (rc != CURLE_OK) {
        e = keel_fail(ctx, KEEL_E_IO, "cannot reach the tracking server at %s: %s", r->api,
                      curl_easy_strerror(rc));
    } else if (status != 200) {
        const struct jval *code = jv_get(doc, "error_code"), *msg = jv_get(doc, "message");
        const char *c = jv_is_string(code) ? code->u.s : "";
        enum keel_err k = strcmp(c, "RESOURCE_DOES_NOT_EXIST") == 0  ? KEEL_E_NOT_FOUND
                          : strcmp(c, "RESOURCE_ALREADY_EXISTS") == 0 ? KEEL_E_ALREADY_EXISTS
                          : strcmp(c, "INVALID_PARAMETER_VALUE") == 0 ? KEEL_E_INVALID_PARAMETER
                                                                      : KEEL_E_IO;
        e = keel_fail(ctx, k, "the tracking server answered %ld to %s: %.2000s", status, path,
                      jv_is_string(msg) ? msg->u.s : (body.data ? body.data : ""));
    }
    kbuf_free(&body);
    if (answer)
        *answer = doc;
    return e;
}

static char *escape_query(struct tracking_run *r, const char *s)
{
    char *esc = curl_easy_escape(r->curl, s, 0);
    char *out = esc ? karena_strdup(r->arena, esc) : NULL;
    curl_free(esc);
    return out;
}

static const char *str_at(const struct jval *v, const char *a, const char *b)
{
    const struct jval *x = jv_get(jv_get(v, a), b);
    return jv_is_string(x) ? x->u.s : NULL;
}

static enum keel_err experiment_id(struct tracking_run *r, const char *name, struct keel_ctx *ctx)
{
    const struct jval *doc = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *q = escape_query(r, name);
        char *path = q ? karena_sprintf(r->arena, "experiments/get-by-name?experiment_name=%s", q)
                       : NULL;
        if (!path)
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        enum keel_err e = call(r, "GET", path, NULL, &doc, ctx);
        if (e == KEEL_OK) {
            r->experiment_id = str_at(doc, "experiment", "experiment_id");
            return r->experiment_id ? KEEL_OK
                                    : keel_fail(ctx, KEEL_E_IO, "the tracking server gave no "
                                                                "experiment id");
        }
        if (e != KEEL_E_NOT_FOUND)
            return e;
        struct kbuf b;
        kbuf_init(&b, 4096);
        struct jw w;
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kstr(&w, "name", name);
        jw_obj_end(&w);
        char *json = karena_strndup(r->arena, b.data ? b.data : "{}", b.len);
        kbuf_free(&b);
        e = call(r, "POST", "experiments/create", json, &doc, ctx);
        if (e == KEEL_OK) {
            const struct jval *id = jv_get(doc, "experiment_id");
            r->experiment_id = jv_is_string(id) ? id->u.s : NULL;
            return r->experiment_id ? KEEL_OK
                                    : keel_fail(ctx, KEEL_E_IO, "the tracking server gave no "
                                                                "experiment id");
        }
        if (e != KEEL_E_ALREADY_EXISTS) /* else someone created it just now: look again */
            return e;
    }
    return keel_fail(ctx, KEEL_E_IO, "experiment '%s' could not be found or created", name);
}

enum keel_err tracking_run_start(const char *tracking_uri, const char *experiment,
                                 const char *run_name, struct tracking_run **out,
                                 struct keel_ctx *ctx)
{
    *out = NULL;
    if (!tracking_uri || (strncmp(tracking_uri, "http://", 7) != 0 &&
                          strncmp(tracking_uri, "https://", 8) != 0))
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "the tracking URI must be http(s)://host[:port], not '%s'",
                         tracking_uri ? tracking_uri : "");
    pthread_once(&curl_once, curl_setup);
    struct tracking_run *r = calloc(1, sizeof *r);
    if (!r || !(r->arena = karena_new(RUN_ARENA_CEILING)) || !(r->curl = curl_easy_init())) {
        tracking_run_end(r, 0, ctx);
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    }
    size_t n = strlen(tracking_uri);
    while (n && tracking_uri[n - 1] == '/')
        n--;
    r->api = karena_sprintf(r->arena, "%.*s/api/2.0/mlflow", (int)n, tracking_uri);
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    const char *token = getenv("MLFLOW_TRACKING_TOKEN");
    if (token && *token) {
        char *h = karena_sprintf(r->arena, "Authorization: Bearer %s", token);
        if (h)
            r->headers = curl_slist_append(r->headers, h);
    }
    enum keel_err e = experiment_id(r, experiment, ctx);
    if (e == KEEL_OK) {
        struct kbuf b;
        kbuf_init(&b, 1u << 20);
        struct jw w;
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kstr(&w, "experiment_id", r->experiment_id);
        if (run_name)
            jw_kstr(&w, "run_name", run_name);
        jw_kint(&w, "start_time", keel_now_ms());
        jw_key(&w, "tags");
        jw_arr(&w);
        jw_obj(&w);
        jw_kstr(&w, "key", "mlflow.source.name");
        jw_kstr(&w, "value", "keel");
        jw_obj_end(&w);
        jw_obj(&w);
        jw_kstr(&w, "key", "mlflow.source.type");
        jw_kstr(&w, "value", "JOB");
        jw_obj_end(&w);
        jw_arr_end(&w);
        jw_obj_end(&w);
        char *json = karena_strndup(r->arena, b.data ? b.data : "{}", b.len);
        kbuf_free(&b);
        const struct jval *doc = NULL;
        e = call(r, "POST", "runs/create", json, &doc, ctx);
        if (e == KEEL_OK) {
            const struct jval *info = jv_get(jv_get(doc, "run"), "info");
            const struct jval *id = jv_get(info, "run_id");
            r->run_id = jv_is_string(id) ? id->u.s : NULL;
            if (!r->run_id)
                e = keel_fail(ctx, KEEL_E_IO, "the tracking server gave no run id");
        }
    }
    if (e != KEEL_OK) {
        curl_slist_free_all(r->headers);
        curl_easy_cleanup(r->curl);
        karena_free(r->arena);
        free(r);
        return e;
    }
    *out = r;
    return KEEL_OK;
}

const char *tracking_run_id(const struct tracking_run *r) { return r->run_id; }
const char *tracking_experiment_id(const struct tracking_run *r) { return r->experiment_id; }

static enum keel_err queue(struct tracking_run *r, struct item it, struct keel_ctx *ctx)
{
    if (!it.key || !*it.key || strlen(it.key) > MAX_KEY)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "key '%.300s' is empty or longer than %d",
                         it.key ? it.key : "", MAX_KEY);
    size_t limit = it.kind == ITEM_PARAM ? MAX_PARAM_VALUE : MAX_TAG_VALUE;
    if (it.value && strlen(it.value) > limit)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "the value of '%s' is longer than %zu",
                         it.key, limit);
    if (r->n_items == MAX_ITEMS)
        return keel_fail(ctx, KEEL_E_TOO_LARGE, "more than %d items queued", MAX_ITEMS);
    if (r->n_items == r->cap_items) {
        size_t cap = r->cap_items ? r->cap_items * 2 : 64;
        struct item *n = karena_realloc(r->arena, r->items, r->cap_items * sizeof *n,
                                        cap * sizeof *n);
        if (!n)
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        r->items = n;
        r->cap_items = cap;
    }
    it.key = karena_strdup(r->arena, it.key);
    it.value = it.value ? karena_strdup(r->arena, it.value) : NULL;
    if (!it.key)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    r->items[r->n_items++] = it;
    return KEEL_OK;
}

enum keel_err tracking_log_param(struct tracking_run *r, const char *key, const char *value,
                                 struct keel_ctx *ctx)
{
    return queue(r, (struct item){.kind = ITEM_PARAM, .key = key, .value = value ? value : ""},
                 ctx);
}

enum keel_err tracking_set_tag(struct tracking_run *r, const char *key, const char *value,
                               struct keel_ctx *ctx)
{
    return queue(r, (struct item){.kind = ITEM_TAG, .key = key, .value = value ? value : ""},
                 ctx);
}

enum keel_err tracking_log_metric(struct tracking_run *r, const char *key, double value,
                                  int64_t step, struct keel_ctx *ctx)
{
    return queue(r, (struct item){.kind = ITEM_METRIC, .key = key, .number = value,
                                  .step = step, .ts = keel_now_ms()},
                 ctx);
}

enum keel_err tracking_run_flush(struct tracking_run *r, struct keel_ctx *ctx)
{
    size_t at = 0;
    while (at < r->n_items) {
        /* one log-batch: up to MLflow's limit of each kind */
        size_t n[3] = {0, 0, 0}, end = at;
        const size_t lim[3] = {BATCH_PARAMS, BATCH_TAGS, BATCH_METRICS};
        while (end < r->n_items && n[r->items[end].kind] < lim[r->items[end].kind])
            n[r->items[end++].kind]++;
        struct kbuf b;
        kbuf_init(&b, 32u << 20);
        struct jw w;
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kstr(&w, "run_id", r->run_id);
        static const char *const names[3] = {"params", "tags", "metrics"};
        for (int k = 0; k < 3; k++) {
            jw_key(&w, names[k]);
            jw_arr(&w);
            for (size_t i = at; i < end; i++) {
                const struct item *it = &r->items[i];
                if ((int)it->kind != k)
                    continue;
                jw_obj(&w);
                jw_kstr(&w, "key", it->key);
                if (it->kind == ITEM_METRIC) {
                    jw_key(&w, "value");
                    jw_double(&w, it->number);
                    jw_kint(&w, "timestamp", it->ts);
                    jw_kint(&w, "step", it->step);
                } else {
                    jw_kstr(&w, "value", it->value);
                }
                jw_obj_end(&w);
            }
            jw_arr_end(&w);
        }
        jw_obj_end(&w);
        char *json = w.err == KEEL_OK ? karena_strndup(r->arena, b.data, b.len) : NULL;
        kbuf_free(&b);
        if (!json)
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        enum keel_err e = call(r, "POST", "runs/log-batch", json, NULL, ctx);
        if (e != KEEL_OK)
            return e;
        at = end;
    }
    r->n_items = 0;
    return KEEL_OK;
}

enum keel_err tracking_run_end(struct tracking_run *r, int ok, struct keel_ctx *ctx)
{
    if (!r)
        return KEEL_OK;
    enum keel_err e = KEEL_OK;
    if (r->run_id) {
        e = tracking_run_flush(r, ctx);
        char *json = karena_sprintf(r->arena,
                                    "{\"run_id\": \"%s\", \"status\": \"%s\", "
                                    "\"end_time\": %lld}",
                                    r->run_id, ok && e == KEEL_OK ? "FINISHED" : "FAILED",
                                    (long long)keel_now_ms());
        struct keel_ctx quiet = {.arena = ctx->arena};
        enum keel_err u = json ? call(r, "POST", "runs/update", json, NULL, e ? &quiet : ctx)
                               : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        if (e == KEEL_OK)
            e = u;
    }
    curl_slist_free_all(r->headers);
    if (r->curl)
        curl_easy_cleanup(r->curl);
    karena_free(r->arena);
    free(r);
    return e;
}
