/*
 * torture.c -- every allocation, then every write, of keel's request path
 * fails in turn.
 *
 * A script of requests (experiments, runs, search, the registry,
 * deployments, artifact listing, refusals) runs through api_handle on a real
 * SQLite store in a temporary directory. First it runs once to count the
 * allocations it makes (malloc, calloc, realloc -- keel's own and those of
 * SQLite, libyaml and the rest, since this binary replaces the process's
 * allocator). Then, for each allocation k in turn (every STRIDE-th when there
 * are many), the script runs again on a fresh store with allocation k failing
 * and every later one succeeding. Each run must end without a crash; every
 * answer must be a status in 200..599 and, if JSON, valid JSON; and after the
 * failure the store must still answer the script's reads and pass SQLite's
 * integrity check. curl's torture mode, for keel.
 *
 * Then the same for every write (write, pwrite, fsync, fdatasync failing
 * with ENOSPC: a full disk), with one more rule: what was acknowledged (a
 * 200 for a create) is there after the store is closed and opened again;
 * and the same for the blob store's uploads and the prediction log's
 * required records, under every failing write and then every failing
 * allocation (the log's writer thread's included): every one acknowledged
 * reads back after reopening.
 *
 * Usage: torture [MAX_RUNS]   (default 100000: every fault; fewer samples
 * them evenly)
 */
#include <dlfcn.h>
#include <errno.h>
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
#include "deploy/predlog.h"

#include "../harness/app.h"

/* ---- the allocator: counts, and fails allocation number `fail_at` ---- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static atomic_long counting = 0; /* 1 while the script runs */
static atomic_long n_allocs = 0;
static long fail_at = -1;
static atomic_int failed_one = 0;
static long refused_runs[2]; /* runs where the fault turned an answer into an error */

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

/* ---- writes: count, and fail number `io_fail_at` with ENOSPC ---- */

static atomic_long io_counting = 0;
static atomic_long n_io = 0;
static long io_fail_at = -1;

static int io_should_fail(void)
{
    if (!atomic_load_explicit(&io_counting, memory_order_relaxed))
        return 0;
    long k = atomic_fetch_add(&n_io, 1);
    if (k == io_fail_at) {
        atomic_store(&failed_one, 1);
        errno = ENOSPC;
        return 1;
    }
    return 0;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t write(int fd, const void *buf, size_t n)
{
    return io_should_fail() ? -1 : REAL("write", ssize_t (*)(int, const void *, size_t))(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return io_should_fail() ? -1
                            : REAL("pwrite", ssize_t (*)(int, const void *, size_t, off_t))(
                                  fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return io_should_fail() ? -1
                            : REAL("pwrite64", ssize_t (*)(int, const void *, size_t, off_t))(
                                  fd, buf, n, off);
}

int fsync(int fd)
{
    return io_should_fail() ? -1 : REAL("fsync", int (*)(int))(fd);
}

int fdatasync(int fd)
{
    return io_should_fail() ? -1 : REAL("fdatasync", int (*)(int))(fd);
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
    return mkdtemp(e->dir) ? harness_app_open(&e->app, e->dir) : -1;
}

/* One request; its status (0 when the answer broke the rules). */
static int request(struct env *e, const struct step *s)
{
    struct karena *a = karena_new(16u << 20);
    if (!a)
        return 500; /* the arena itself failed: the server answers 500 then */
    struct keel_ctx ctx = {.arena = a};
    struct http_param params[8];
    size_t np = harness_split_query(s->query ? karena_strdup(a, s->query) : NULL, params, 8);
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

enum fault { FAULT_ALLOC, FAULT_WRITE };

static int baseline[2][N_STEPS]; /* each step's status without a fault, by kind */

static const char *const fault_name[] = {"allocation", "write"};

/* Steps whose 200 promises something lasting, and the read that must find
 * it after the store is closed and opened again. */
static const struct {
    size_t step;
    struct step check;
} promises[] = {
    {0, {"GET", "/api/2.0/mlflow/experiments/get-by-name", "experiment_name=torture", ""}},
    {4, {"GET", "/api/2.0/mlflow/registered-models/get", "name=m", ""}},
};

/* The script on a fresh store with fault k of the kind failing (-1: none).
 * Returns the faults' candidates counted (allocations or writes), or -1
 * when a rule was broken. */
static long run(enum fault kind, long k)
{
    struct env e;
    if (env_open(&e) != 0) {
        fprintf(stderr, "torture: cannot set up a store\n");
        exit(2);
    }
    atomic_store(&failed_one, 0);
    if (kind == FAULT_ALLOC) {
        fail_at = k;
        atomic_store(&n_allocs, 0);
        atomic_store(&counting, 1);
    } else {
        io_fail_at = k;
        atomic_store(&n_io, 0);
        atomic_store(&io_counting, 1);
    }
    int broken = 0, statuses[N_STEPS] = {0};
    for (size_t i = 0; i < N_STEPS && !broken; i++)
        if ((statuses[i] = request(&e, &script[i])) == 0) {
            fprintf(stderr, "torture: %s %ld failing: step %zu (%s %s) broke the rules\n",
                    fault_name[kind], k, i, script[i].method, script[i].path);
            broken = 1;
        }
    atomic_store(&counting, 0);
    atomic_store(&io_counting, 0);
    long n = kind == FAULT_ALLOC ? atomic_load(&n_allocs) : atomic_load(&n_io);
    if (k < 0) {
        memcpy(baseline[kind], statuses, sizeof baseline[kind]);
    } else if (!broken) {
        for (size_t i = 0; i < N_STEPS; i++)
            if (statuses[i] != baseline[kind][i]) {
                refused_runs[kind]++;
                break;
            }
    }
    /* afterwards, with the fault gone: the reads answer */
    for (size_t i = 0; i < N_STEPS && !broken; i++)
        if (strcmp(script[i].method, "GET") == 0 && request(&e, &script[i]) == 0)
            broken = 1;
    harness_app_close(&e.app);
    if (!broken && !integrity_ok(&e)) {
        fprintf(stderr, "torture: %s %ld failing: the store failed its integrity check\n",
                fault_name[kind], k);
        broken = 1;
    }
    /* and what was acknowledged is there after the store is opened again */
    if (!broken && harness_app_open(&e.app, e.dir) == 0) {
        for (size_t p = 0; p < sizeof promises / sizeof *promises; p++)
            if (statuses[promises[p].step] == 200 && request(&e, &promises[p].check) != 200) {
                fprintf(stderr, "torture: %s %ld failing: step %zu was acknowledged but is "
                                "gone after reopening\n", fault_name[kind], k, promises[p].step);
                broken = 1;
            }
        harness_app_close(&e.app);
    } else if (!broken) {
        fprintf(stderr, "torture: %s %ld failing: the store does not open again\n",
                fault_name[kind], k);
        broken = 1;
    }
    keel_rmtree(e.dir);
    return broken ? -1 : n;
}

/* Every fault of the kind in turn (every stride-th past max_runs). */
static long torture(enum fault kind, long max_runs)
{
    long total = run(kind, -1);
    if (total <= 0) {
        fprintf(stderr, "torture: the script fails without any fault injected\n");
        return 1;
    }
    for (size_t p = 0; p < sizeof promises / sizeof *promises; p++)
        if (baseline[kind][promises[p].step] != 200) { /* else that rule never applies */
            fprintf(stderr, "torture: step %zu fails without any fault injected\n",
                    promises[p].step);
            return 1;
        }
    long stride = total / max_runs + 1, runs = 0, bad = 0;
    for (long k = 0; k < total; k += stride, runs++)
        if (run(kind, k) < 0)
            bad++;
    printf("torture: %ld %ss in the script; failed each of %ld in turn (every %ld-th): "
           "%ld changed an answer (an error instead), %ld broke a rule\n", total,
           fault_name[kind], runs, stride, refused_runs[kind], bad);
    return bad;
}

/* ---- a full disk, or no memory, under the blob store and the prediction log ----
 *
 * Three blob uploads (commit makes each durable) and three `required`
 * prediction records (each acknowledged once fsync'd), write (or
 * allocation) k failing.
 * Whatever was acknowledged must read back, byte for byte, from a store or
 * log opened again; nothing unacknowledged may be half there. */

static long files_refused; /* items refused because of the fault: the injection reached them */

static long files_run(enum fault kind, long k, long *acknowledged_lost)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/keel-torture-XXXXXX");
    if (!mkdtemp(dir))
        exit(2);
    char blobs[128], preds[128];
    snprintf(blobs, sizeof blobs, "%s/artifacts", dir);
    snprintf(preds, sizeof preds, "%s/predictions", dir);
    mkdir(blobs, 0700);
    struct karena *a = karena_new(16u << 20);
    struct keel_ctx ctx = {.arena = a};
    struct blobstore *bs = NULL;
    struct predlog *log = NULL;
    struct predlog_config pc = {.dir = preds};
    if (blobstore_open(&bs, blobs, 1u << 24, &ctx) != KEEL_OK ||
        predlog_open(&log, &pc, &ctx) != KEEL_OK)
        exit(2);
    char digests[3][BLOB_DIGEST_HEX + 1] = {{0}};
    bool blob_ok[3] = {0}, rec_ok[3] = {0};
    static char content[3][70000];
    for (int i = 0; i < 3; i++)
        memset(content[i], 'a' + i, sizeof content[i]);
    if (kind == FAULT_WRITE) {
        io_fail_at = k;
        atomic_store(&n_io, 0);
        atomic_store(&io_counting, 1);
    } else {
        fail_at = k;
        atomic_store(&n_allocs, 0);
        atomic_store(&counting, 1);
    }
    for (int i = 0; i < 3; i++) {
        struct blob_upload *u = NULL;
        uint64_t size = 0;
        if (blob_upload_begin(bs, &ctx, &u) != KEEL_OK)
            continue;
        if (blob_upload_write(u, content[i], sizeof content[i]) != KEEL_OK) {
            blob_upload_abort(u);
            continue;
        }
        blob_ok[i] = blob_upload_commit(u, &ctx, digests[i], &size) == KEEL_OK;
    }
    for (int i = 0; i < 3; i++) {
        char rec[64];
        int n = snprintf(rec, sizeof rec, "{\"request_id\":\"r%d\",\"timestamp_ms\":%d}", i,
                         1700000000 + i);
        rec_ok[i] = predlog_append(log, "d", 1700000000000LL + i, rec, (size_t)n, true, &ctx) ==
                    KEEL_OK;
    }
    atomic_store(&io_counting, 0);
    atomic_store(&counting, 0);
    long n_faults = kind == FAULT_WRITE ? atomic_load(&n_io) : atomic_load(&n_allocs);
    for (int i = 0; i < 3; i++)
        files_refused += !blob_ok[i] + !rec_ok[i];
    predlog_close(log);
    blobstore_close(bs);
    /* opened again, with the disk back */
    if (blobstore_open(&bs, blobs, 1u << 24, &ctx) != KEEL_OK ||
        predlog_open(&log, &pc, &ctx) != KEEL_OK)
        exit(2);
    for (int i = 0; i < 3; i++) {
        if (!blob_ok[i])
            continue;
        int fd = -1;
        uint64_t size = 0;
        char back[70000];
        if (blob_open(bs, &ctx, digests[i], &fd, &size) != KEEL_OK || size != sizeof back ||
            read(fd, back, sizeof back) != (ssize_t)sizeof back ||
            memcmp(back, content[i], sizeof back) != 0)
            (*acknowledged_lost)++;
        if (fd >= 0)
            close(fd);
    }
    struct kbuf out;
    kbuf_init(&out, 1u << 20);
    struct predlog_filter f = {.deployment = "d", .limit = 100};
    size_t found = 0;
    if (predlog_query(log, &f, &out, &found, &ctx) != KEEL_OK || !jp_parse(a, out.data, out.len,
                                                                           NULL))
        (*acknowledged_lost)++; /* the log must stay readable, whole */
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "\"r%d\"", i);
        if (rec_ok[i] && (!out.data || !strstr(out.data, id)))
            (*acknowledged_lost)++;
    }
    kbuf_free(&out);
    predlog_close(log);
    blobstore_close(bs);
    karena_free(a);
    keel_rmtree(dir);
    return n_faults;
}

static long torture_files(enum fault kind)
{
    long lost = 0, total = files_run(kind, -1, &lost), runs = 0;
    if (lost) {
        fprintf(stderr, "torture: blob store or prediction log loses data with no fault\n");
        return 1;
    }
    files_refused = 0;
    for (long k = 0; k < total; k++, runs++)
        files_run(kind, k, &lost);
    printf("torture: %ld %ss under the blob store and the prediction log; failed each in "
           "turn: %ld items refused, %ld acknowledged items lost or unreadable\n", total,
           fault_name[kind], files_refused, lost);
    if (!files_refused)
        fprintf(stderr, "torture: no failed %s reached the blob store or the log\n",
                fault_name[kind]);
    return lost + !files_refused;
}

int main(int argc, char **argv)
{
    long max_runs = argc > 1 ? atol(argv[1]) : 100000;
    long bad = torture(FAULT_ALLOC, max_runs);
    bad += torture(FAULT_WRITE, max_runs);
    bad += torture_files(FAULT_WRITE);
    bad += torture_files(FAULT_ALLOC);
    return bad ? 1 : 0;
}
