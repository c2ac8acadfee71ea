/*
 * tracking.c -- a job recorded as an MLflow run, through the REST API
 * (client/rest.h).
 *
 * experiments/get-by-name (or create), runs/create, runs/log-batch in
 * requests within MLflow's limits, runs/update at the end. Params, tags and
 * metrics are queued in the run's own arena and sent on flush/end, so a job
 * does a handful of requests whatever it logs.
 *
 * The queue (design note): items[0..n_items) are what has not been accepted
 * by the server yet, in the order they were logged. A flush sends them from
 * the front in log-batch requests; a request that fails leaves it and every
 * later item queued (the earlier ones are not sent twice), and a queue that
 * empties gives its arena back, so a long job that flushes now and then
 * holds only what it has not sent. A batch ends before a param key it
 * already holds: MLflow refuses a key twice in one request, though the same
 * value again in a later one is fine (a tag set twice in one request is
 * fine: the last value wins).
 */
#include "client/tracking.h"

#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/validate.h"
#include "client/rest.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/jparse.h"
#include "util/json.h"
#include "util/time.h"

#define TRACKING_ARENA_CEILING (32u << 20) /* the run's ids and the answers it reads */
#define TRACKING_QUEUE_CEILING (64u << 20) /* queued items; past it, flush first */
#define TRACKING_MAX_QUEUED 100000u        /* items queued between flushes */
#define TRACKING_MAX_KEY 250               /* MLflow's MAX_ENTITY_KEY_LENGTH, characters */
/* MLflow's per-request log-batch limits (mlflow/utils/validation.py) */
#define BATCH_MAX_ENTITIES 1000      /* MAX_ENTITIES_PER_BATCH: all kinds together */
#define BATCH_MAX_BYTES 1000000u     /* MAX_BATCH_LOG_REQUEST_SIZE: the JSON body */
#define TRACKING_MAX_CREATE (1u << 20) /* a runs/create or experiments/create body */

enum item_kind { ITEM_PARAM, ITEM_TAG, ITEM_METRIC, ITEM__COUNT };

/* What MLflow allows of each kind, and its names for the parts in messages. */
static const struct {
    const char *field;            /* the log-batch list it goes in */
    const char *key_is, *value_is; /* value_is NULL: a number, no text */
    size_t max_value;             /* characters */
    size_t per_batch;
} kinds[ITEM__COUNT] = {
    /* MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH */
    [ITEM_PARAM] = {"params", "Param key", "Param value", 6000, 100},
    /* MAX_TAG_VAL_LENGTH of current MLflow; older servers (keel's too) cut at 5000 */
    [ITEM_TAG] = {"tags", "Tag key", "Tag value", 8000, 100},
    /* MAX_METRICS_PER_BATCH */
    [ITEM_METRIC] = {"metrics", "Metric name", NULL, 0, 1000},
};

struct item {
    enum item_kind kind;
    const char *key, *value; /* queue-arena strings; value NULL for a metric */
    double number;
    int64_t step, ts;
};

struct tracking_run {
    struct karena *arena; /* the client's answers and the ids below */
    struct rest_client *rest;
    const char *run_id, *experiment_id;
    struct karena *queue; /* the items and their strings; NULL while empty */
    struct item *items;
    size_t n_items, cap_items;
};

/* ---- small helpers ---- */

/* A field that is a string, or an integer sent as a number by some servers. */
static const char *text_field(struct karena *a, const struct jval *v)
{
    if (jv_is_string(v))
        return jv_str(v);
    return jv_is_int(v) ? karena_sprintf(a, "%lld", (long long)jv_int(v)) : NULL;
}

/* The JSON text of what w wrote into b, as a malloc'd string the caller
 * frees; NULL (ctx says why) when the writer failed. */
static char *json_text(struct jw *w, struct kbuf *b, struct keel_ctx *ctx)
{
    char *s = w->err == KEEL_OK ? kbuf_take(b, NULL) : NULL;
    if (!s && w->err == KEEL_E_TOO_LARGE)
        keel_fail(ctx, KEEL_E_TOO_LARGE, "A request to the tracking server would be larger "
                                         "than %zu bytes", b->max);
    else if (!s)
        keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    kbuf_free(b);
    return s;
}

/* Who runs the job, as Python's getpass.getuser() finds it (MLflow's
 * mlflow.user tag): an arena string, NULL when unknown. */
static const char *user_name(struct karena *a)
{
    static const char *const vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return karena_strdup(a, v);
    }
    struct passwd pw, *found = NULL;
    char buf[4096]; /* getpwuid_r: jobs may start runs from several threads */
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) != 0 || !found || !pw.pw_name ||
        !*pw.pw_name)
        return NULL;
    return karena_strdup(a, pw.pw_name);
}

/* ---- the experiment and the run ---- */

/* A call whose failure with `expected` is an answer, not an error: then ctx
 * is left as it was. */
static enum keel_err call_expecting(struct tracking_run *r, const char *method, const char *path,
                                    const char *json, const struct jval **answer,
                                    enum keel_err expected, struct keel_ctx *ctx)
{
    struct keel_ctx probe = {.arena = ctx->arena};
    enum keel_err e = rest_call(r->rest, method, path, json, answer, &probe);
    if (e != KEEL_OK && e != expected) {
        ctx->err = probe.err;
        ctx->errmsg = probe.errmsg;
    }
    return e;
}

/* Sets r->experiment_id: the experiment named `name`, created when there is
 * none. When another job creates it between our look and our create, the
 * create fails with RESOURCE_ALREADY_EXISTS and we look again. */
static enum keel_err find_experiment(struct tracking_run *r, const char *name,
                                     struct keel_ctx *ctx)
{
    const char *enc = rest_url_encode(r->arena, name, false);
    const char *get = enc ? karena_sprintf(r->arena,
                                           REST_API "/experiments/get-by-name?experiment_name=%s",
                                           enc)
                          : NULL;
    struct kbuf b;
    struct jw w;
    kbuf_init(&b, TRACKING_MAX_CREATE);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "name", name);
    jw_obj_end(&w);
    char *create = json_text(&w, &b, ctx);
    enum keel_err e = !create ? ctx->err
                      : !get  ? keel_fail(ctx, KEEL_E_NOMEM, "out of memory")
                              : KEEL_OK;
    bool again = !e;
    for (int attempt = 0; again && attempt < 2; attempt++) {
        const struct jval *v = NULL;
        again = false;
        e = call_expecting(r, "GET", get, NULL, &v, KEEL_E_NOT_FOUND, ctx);
        if (e == KEEL_OK)
            r->experiment_id = text_field(r->arena, jv_get(jv_get(v, "experiment"),
                                                           "experiment_id"));
        if (e != KEEL_E_NOT_FOUND)
            break;
        e = call_expecting(r, "POST", REST_API "/experiments/create", create, &v,
                           KEEL_E_ALREADY_EXISTS, ctx);
        if (e == KEEL_OK)
            r->experiment_id = text_field(r->arena, jv_get(v, "experiment_id"));
        again = e == KEEL_E_ALREADY_EXISTS; /* someone created it just now: look again */
    }
    free(create);
    if (again) /* found by neither look, yet created by someone else */
        return keel_fail(ctx, KEEL_E_IO,
                         "The tracking server at %s neither finds nor creates experiment '%s'",
                         rest_tracking_uri(r->rest), name);
    if (e == KEEL_OK && !r->experiment_id)
        return keel_fail(ctx, KEEL_E_IO, "The tracking server at %s gave no experiment id",
                         rest_tracking_uri(r->rest));
    return e;
}

static void tag(struct jw *w, const char *key, const char *value)
{
    jw_obj(w);
    jw_kstr(w, "key", key);
    jw_kstr(w, "value", value);
    jw_obj_end(w);
}

/* runs/create with the tags MLflow's client sets for a run it starts. */
static enum keel_err create_run(struct tracking_run *r, const char *run_name,
                                struct keel_ctx *ctx)
{
    const char *user = user_name(r->arena);
    struct kbuf b;
    struct jw w;
    kbuf_init(&b, TRACKING_MAX_CREATE);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "experiment_id", r->experiment_id);
    jw_kstr_opt(&w, "run_name", run_name);
    jw_kstr_opt(&w, "user_id", user);
    jw_kint(&w, "start_time", keel_now_ms());
    jw_key(&w, "tags");
    jw_arr(&w);
    tag(&w, "mlflow.source.name", "keel");
    tag(&w, "mlflow.source.type", "JOB");
    if (run_name && *run_name)
        tag(&w, "mlflow.runName", run_name);
    if (user)
        tag(&w, "mlflow.user", user);
    jw_arr_end(&w);
    jw_obj_end(&w);
    char *json = json_text(&w, &b, ctx);
    if (!json)
        return ctx->err;
    const struct jval *v = NULL;
    enum keel_err e = rest_call(r->rest, "POST", REST_API "/runs/create", json, &v, ctx);
    free(json);
    if (e)
        return e;
    const struct jval *info = jv_get(jv_get(v, "run"), "info");
    r->run_id = jv_str(jv_get(info, "run_id"));
    if (!r->run_id) /* servers before MLflow 1.0 */
        r->run_id = jv_str(jv_get(info, "run_uuid"));
    if (!r->run_id || !*r->run_id)
        return keel_fail(ctx, KEEL_E_IO, "The tracking server at %s gave no run id",
                         rest_tracking_uri(r->rest));
    return KEEL_OK;
}

/* Frees everything of r, sending nothing. */
static void run_free(struct tracking_run *r)
{
    if (!r)
        return;
    rest_close(r->rest);
    karena_free(r->queue);
    karena_free(r->arena);
    free(r);
}

enum keel_err tracking_run_start(const char *tracking_uri, const char *experiment,
                                 const char *run_name, struct tracking_run **out,
                                 struct keel_ctx *ctx)
{
    *out = NULL;
    if (!experiment || !*experiment)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "No experiment name given");
    struct tracking_run *r = calloc(1, sizeof *r);
    if (!r || !(r->arena = karena_new(TRACKING_ARENA_CEILING))) {
        free(r);
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    }
    enum keel_err e = rest_open(tracking_uri, r->arena, &r->rest, ctx);
    if (!e)
        e = find_experiment(r, experiment, ctx);
    if (!e)
        e = create_run(r, run_name, ctx);
    if (e) {
        run_free(r);
        return e;
    }
    *out = r;
    return KEEL_OK;
}

const char *tracking_run_id(const struct tracking_run *r) { return r->run_id; }
const char *tracking_experiment_id(const struct tracking_run *r) { return r->experiment_id; }

/* ---- the queue ---- */

static enum keel_err check_text(const char *what, const char *s, size_t limit,
                                struct keel_ctx *ctx)
{
    if (!jp_utf8_valid(s, strlen(s)))
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "%s is not UTF-8 text", what);
    return validate_length(ctx, what, s, limit); /* MLflow's own wording */
}

static enum keel_err queue_full(struct keel_ctx *ctx)
{
    return keel_fail(ctx, KEEL_E_TOO_LARGE,
                     "More than %u items or %u MiB are queued for the tracking server: "
                     "flush them first",
                     TRACKING_MAX_QUEUED, TRACKING_QUEUE_CEILING >> 20);
}

static enum keel_err queue(struct tracking_run *r, struct item it, struct keel_ctx *ctx)
{
    if (!it.key || !*it.key)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "%s cannot be empty. A key name must be provided.",
                         kinds[it.kind].key_is);
    enum keel_err e = check_text(kinds[it.kind].key_is, it.key, TRACKING_MAX_KEY, ctx);
    if (!e && it.value)
        e = check_text(kinds[it.kind].value_is, it.value, kinds[it.kind].max_value, ctx);
    if (e)
        return e;
    if (r->n_items == TRACKING_MAX_QUEUED)
        return queue_full(ctx);
    if (!r->queue && !(r->queue = karena_new(TRACKING_QUEUE_CEILING)))
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    if (r->n_items == r->cap_items) {
        size_t cap = r->cap_items ? 2 * r->cap_items : 64;
        struct item *n = karena_realloc(r->queue, r->items, r->cap_items * sizeof *n,
                                        cap * sizeof *n);
        if (!n)
            return queue_full(ctx);
        r->items = n;
        r->cap_items = cap;
    }
    it.key = karena_strdup(r->queue, it.key);
    if (it.value)
        it.value = karena_strdup(r->queue, it.value);
    if (!it.key || (it.kind != ITEM_METRIC && !it.value))
        return queue_full(ctx);
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
    return queue(r,
                 (struct item){.kind = ITEM_METRIC, .key = key, .number = value, .step = step,
                               .ts = keel_now_ms()},
                 ctx);
}

/* ---- sending ---- */

/* One item as log-batch's JSON, into one (reset first). */
static enum keel_err item_json(const struct item *it, struct kbuf *one)
{
    struct jw w;
    kbuf_reset(one);
    jw_init(&w, one);
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
    return w.err;
}

/* Whether it is a param whose key items[from..to) already hold. */
static bool param_in_batch(const struct tracking_run *r, size_t from, size_t to,
                           const struct item *it)
{
    if (it->kind != ITEM_PARAM)
        return false;
    for (size_t i = from; i < to; i++) /* at most 100 params a batch: a scan will do */
        if (r->items[i].kind == ITEM_PARAM && strcmp(r->items[i].key, it->key) == 0)
            return true;
    return false;
}

/*
 * The log-batch request that starts at items[at]: as many items as MLflow's
 * limits let one request hold. *end is one past its last item; *json the
 * body (malloc'd, the caller frees).
 */
static enum keel_err next_batch(struct tracking_run *r, size_t at, size_t *end, char **json,
                                struct keel_ctx *ctx)
{
    struct kbuf lists[ITEM__COUNT], one, body;
    size_t count[ITEM__COUNT] = {0}, total = 0;
    for (int k = 0; k < ITEM__COUNT; k++)
        kbuf_init(&lists[k], BATCH_MAX_BYTES);
    kbuf_init(&one, BATCH_MAX_BYTES);
    kbuf_init(&body, BATCH_MAX_BYTES + 64); /* `bytes` keeps the limit; this, its NUL */
    struct jw w;
    jw_init(&w, &body);
    jw_obj(&w);
    jw_kstr(&w, "run_id", r->run_id);
    jw_obj_end(&w);
    /* {"run_id":"…"} less its '}', then ,"params":[…] for each kind, then '}' */
    size_t bytes = body.len;
    for (int k = 0; k < ITEM__COUNT; k++)
        bytes += strlen(kinds[k].field) + strlen(",\"\":[]");
    enum keel_err e = w.err;
    size_t i = at;
    for (; !e && i < r->n_items; i++) {
        const struct item *it = &r->items[i];
        if (count[it->kind] == kinds[it->kind].per_batch || total == BATCH_MAX_ENTITIES ||
            param_in_batch(r, at, i, it))
            break;
        if ((e = item_json(it, &one)))
            break;
        size_t add = one.len + (count[it->kind] > 0); /* and its comma */
        if (bytes + add > BATCH_MAX_BYTES)
            break;
        if (count[it->kind] && (e = kbuf_addc(&lists[it->kind], ',')))
            break;
        if ((e = kbuf_add(&lists[it->kind], one.data, one.len)))
            break;
        bytes += add;
        count[it->kind]++;
        total++;
    }
    if (!e) {
        body.data[--body.len] = '\0'; /* the '}' again, to add the lists */
        for (int k = 0; !e && k < ITEM__COUNT; k++)
            e = kbuf_printf(&body, ",\"%s\":[%s]", kinds[k].field,
                            lists[k].data ? lists[k].data : "");
        if (!e)
            e = kbuf_addc(&body, '}');
    }
    if (!e && i == at) /* cannot be: one item is far below every limit */
        e = KEEL_E_INTERNAL;
    *json = e ? NULL : kbuf_take(&body, NULL);
    for (int k = 0; k < ITEM__COUNT; k++)
        kbuf_free(&lists[k]);
    kbuf_free(&one);
    kbuf_free(&body);
    *end = i;
    if (e || !*json)
        return keel_fail(ctx, e ? e : KEEL_E_NOMEM,
                         "Cannot form a log-batch request for the tracking server");
    return KEEL_OK;
}

enum keel_err tracking_run_flush(struct tracking_run *r, struct keel_ctx *ctx)
{
    size_t at = 0;
    enum keel_err e = KEEL_OK;
    while (!e && at < r->n_items) {
        size_t end;
        char *json = NULL;
        e = next_batch(r, at, &end, &json, ctx);
        if (!e)
            e = rest_call(r->rest, "POST", REST_API "/runs/log-batch", json, NULL, ctx);
        free(json);
        if (!e)
            at = end;
    }
    /* what was accepted leaves the queue; the rest waits for the next try */
    if (at > 0) {
        memmove(r->items, r->items + at, (r->n_items - at) * sizeof *r->items);
        r->n_items -= at;
    }
    if (r->n_items == 0) {
        karena_free(r->queue);
        r->queue = NULL;
        r->items = NULL;
        r->cap_items = 0;
    }
    return e;
}

enum keel_err tracking_run_end(struct tracking_run *r, int ok, struct keel_ctx *ctx)
{
    if (!r)
        return KEEL_OK;
    enum keel_err e = tracking_run_flush(r, ctx);
    struct kbuf b;
    struct jw w;
    kbuf_init(&b, TRACKING_MAX_CREATE);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "run_id", r->run_id);
    jw_kstr(&w, "run_uuid", r->run_id); /* what servers before MLflow 1.0 read */
    jw_kstr(&w, "status", ok ? "FINISHED" : "FAILED");
    jw_kint(&w, "end_time", keel_now_ms());
    jw_obj_end(&w);
    /* when the flush failed, its message is the one to keep */
    struct keel_ctx quiet = {.arena = ctx->arena};
    struct keel_ctx *uctx = e ? &quiet : ctx;
    char *json = json_text(&w, &b, uctx);
    enum keel_err u = json ? rest_call(r->rest, "POST", REST_API "/runs/update", json, NULL, uctx)
                           : uctx->err;
    free(json);
    run_free(r);
    return e ? e : u;
}
