/*
 * torture.c -- every allocation of keel's request path fails in turn.
 *
 * A script of requests (experiments, runs, metrics, params, tags, search,
 * the registry, deployments, artifact listing) runs through api_handle on a
 * real SQLite store in a temporary directory. First it runs once to count
 * the allocations it makes (malloc, calloc, realloc -- keel's own and those
 * of SQLite, libyaml and the rest, since this binary replaces the process's
 * allocator). Then, for each allocation k in turn (every STRIDE-th when there
 * are many), the script runs again on a fresh store with allocation k failing
 * and every later one succeeding. Each run must end without a crash; every
 * answer must be a status in 200..599 and, if JSON, valid JSON; and after the
 * failure the store must still answer the whole script's reads and pass
 * SQLite's integrity check. curl's torture mode, for keel.
 *
 * Usage: torture [MAX_RUNS]   (default 100000: every allocation; fewer
 * samples them evenly)
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "api/api.h"
#include "artifacts/blobstore.h"
#include "deploy/deploy.h"
#include "http/http.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/jparse.h"

/* ---- the allocator: counts, and fails allocation number `fail_at` ---- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static atomic_long counting = 0; /* 1 while the script runs */
static atomic_long n_allocs = 0;
static long fail_at = -1;
static atomic_int failed_one = 0;
static long refused_runs = 0; /* runs where the failure turned an answer into an error */

static int should_fail(void)
{
    if (!atomic_load_explicit(&counting, memory_order_relaxed))
        return 0;
    long k = atomic_fetch_add(&n_allocs, 1);
    if (k == fail_at) {
        atomic_store(&failed_one, 1);
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    return should_fail() ? NULL : __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    return should_fail() ? NULL : __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __libc_realloc(p, n);
}

/* ---- the script ---- */

struct step {
    const char *method, *path, *query, *body;
};

static const struct step script[] = {
    {"POST", "/api/2.0/mlflow/experiments/create", NULL, "{\"name\": \"torture\", "
     "\"tags\": [{\"key\": \"team\", \"value\": \"x\"}]}"},
    {"GET", "/api/2.0/mlflow/experiments/get-by-name", "experiment_name=torture", ""},
    {"POST", "/api/2.0/mlflow/runs/create", NULL, "{\"experiment_id\": \"1\", \"run_name\": "
     "\"r\", \"start_time\": 1700000000000}"},
    {"POST", "/api/2.0/mlflow/runs/search", NULL, "{\"experiment_ids\": [\"1\"], \"filter\": "
     "\"attributes.status = 'RUNNING'\", \"max_results\": 10}"},
    {"POST", "/api/2.0/mlflow/registered-models/create", NULL, "{\"name\": \"m\"}"},
    {"GET", "/api/2.0/mlflow/registered-models/search", "filter=name+LIKE+%27m%25%27", ""},
    {"POST", "/api/2.0/mlflow/experiments/search", NULL, "{\"max_results\": 5, "
     "\"order_by\": [\"name DESC\"]}"},
    {"GET", "/api/2.0/mlflow/artifacts/list", "run_id=nope", ""},
    {"GET", "/api/2.0/keel/deployments/list", NULL, ""},
    {"GET", "/api/2.0/mlflow/experiments/get", "experiment_id=999", ""},
    {"POST", "/api/2.0/mlflow/runs/log-batch", NULL, "{\"run_id\": \"x\", \"metrics\": []}"},
};
#define N_STEPS (sizeof script / sizeof *script)

struct env {
    char dir[64];
    struct keel_app app;
};

static int env_open(struct env *e)
{
    snprintf(e->dir, sizeof e->dir, "/tmp/keel-torture-XXXXXX");
    if (!mkdtemp(e->dir))
        return -1;
    static char db[128], blobs[128];
    snprintf(db, sizeof db, "%s/keel.db", e->dir);
    snprintf(blobs, sizeof blobs, "%s/artifacts", e->dir);
    mkdir(blobs, 0700);
    memset(&e->app, 0, sizeof e->app);
    struct karena *a = karena_new(1u << 20);
    struct keel_ctx ctx = {.arena = a};
    struct store_config sc = {.path = db, .default_artifact_root = "mlflow-artifacts:/",
                              .readers = 1};
    struct deploy_config dc = {.tracking_uri = "http://127.0.0.1:1", .cache_dir = e->dir};
    int rc = store_open(&e->app.store, &sc, &ctx) == KEEL_OK &&
                     blobstore_open(&e->app.blobs, blobs, 1u << 20, &ctx) == KEEL_OK &&
                     deploy_set_new(&e->app.deploys, &dc, &ctx) == KEEL_OK
                 ? 0
                 : -1;
    e->app.artifacts_destination = blobs;
    e->app.serve_artifacts = true;
    e->app.ready = 1;
    karena_free(a);
    return rc;
}

/* One request; its status (0 when the answer broke the rules). */
static int request(struct env *e, const struct step *s)
{
    struct karena *a = karena_new(16u << 20);
    if (!a)
        return 500; /* the arena itself failed: the server answers 500 then */
    struct keel_ctx ctx = {.arena = a};
    struct http_param params[8];
    size_t np = 0;
    char *q = s->query ? karena_strdup(a, s->query) : NULL;
    for (char *p = q; p && *p && np < 8;) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp++ = '\0';
        char *eq = strchr(p, '=');
        if (eq)
            *eq++ = '\0';
        params[np++] = (struct http_param){.key = p, .value = eq ? eq : ""};
        p = amp;
    }
    struct http_request req = {.method = s->method, .path = s->path, .query = params,
                               .n_query = np, .content_type = "application/json",
                               .body = s->body, .body_len = strlen(s->body)};
    struct http_response resp = {.fd = -1};
    kbuf_init(&resp.body, 64u << 20);
    api_handle(&e->app, &ctx, &req, &resp);
    int status = resp.status;
    if (status < 200 || status > 599)
        status = 0;
    else if (resp.fd < 0 && resp.content_type && strstr(resp.content_type, "json") &&
             resp.body.len && !jp_parse(a, resp.body.data, resp.body.len, NULL) &&
             !atomic_load(&failed_one))
        status = 0; /* broken JSON is only excused when allocation failed mid-answer */
    if (resp.fd >= 0)
        close(resp.fd);
    kbuf_free(&resp.body);
    karena_free(a);
    return status;
}

static int integrity_ok(const struct env *e)
{
    char db[128];
    snprintf(db, sizeof db, "%s/keel.db", e->dir);
    sqlite3 *h = NULL;
    int ok = 0;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return ok;
}

/* The script on a fresh store with allocation k failing (-1: none). Returns
 * the allocations counted, or -1 when a rule was broken. */
static long run(long k)
{
    struct env e;
    if (env_open(&e) != 0) {
        fprintf(stderr, "torture: cannot set up a store\n");
        exit(2);
    }
    fail_at = k;
    atomic_store(&n_allocs, 0);
    atomic_store(&failed_one, 0);
    atomic_store(&counting, 1);
    int broken = 0, statuses[N_STEPS];
    for (size_t i = 0; i < N_STEPS && !broken; i++)
        if ((statuses[i] = request(&e, &script[i])) == 0) {
            fprintf(stderr, "torture: allocation %ld failing: step %zu (%s %s) broke the rules\n",
                    k, i, script[i].method, script[i].path);
            broken = 1;
        }
    atomic_store(&counting, 0);
    long n = atomic_load(&n_allocs);
    static int baseline[N_STEPS];
    if (k < 0) {
        memcpy(baseline, statuses, sizeof baseline);
    } else if (!broken) {
        for (size_t i = 0; i < N_STEPS; i++)
            if (statuses[i] != baseline[i]) {
                refused_runs++;
                break;
            }
    }
    /* afterwards, with memory again: the reads answer and the file is whole */
    for (size_t i = 0; i < N_STEPS && !broken; i++)
        if (strcmp(script[i].method, "GET") == 0 && request(&e, &script[i]) == 0)
            broken = 1;
    deploy_set_free(e.app.deploys);
    blobstore_close(e.app.blobs);
    store_close(e.app.store);
    if (!broken && !integrity_ok(&e)) {
        fprintf(stderr, "torture: allocation %ld failing: the store failed its integrity "
                        "check\n", k);
        broken = 1;
    }
    keel_rmtree(e.dir);
    return broken ? -1 : n;
}

int main(int argc, char **argv)
{
    long max_runs = argc > 1 ? atol(argv[1]) : 100000;
    long total = run(-1);
    if (total <= 0) {
        fprintf(stderr, "torture: the script fails without any fault injected\n");
        return 1;
    }
    long stride = total / max_runs + 1, runs = 0, bad = 0;
    for (long k = 0; k < total; k += stride, runs++)
        if (run(k) < 0)
            bad++;
    printf("torture: %ld allocations in the script; failed each of %ld in turn (every %ld-th): "
           "%ld changed an answer (an error instead), %ld broke a rule\n", total, runs, stride,
           refused_runs, bad);
    return bad ? 1 : 0;
}
