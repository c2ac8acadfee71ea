/*
 * gc.c -- `keel gc`: permanently removes deleted runs (their metrics,
 * params, tags, inputs and artifacts), then the stored contents no artifact
 * points at any more. Safe while the server runs: writes go through the
 * store's transactions, and a content or upload younger than --grace is
 * never removed (an upload stores its content a moment before its row).
 */
#include <getopt.h>
#include <pwd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifacts/artifacts.h"
#include "artifacts/blobstore.h"
#include "cli/cli.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/time.h"

#define DEFAULT_GRACE_S 3600

static void gc_usage(FILE *f)
{
    fprintf(f, "usage: keel gc [options]\n"
               "  --backend-store-uri URI       sqlite:///PATH (DATA_DIR/keel.db)\n"
               "  --artifacts-destination DIR   the proxied artifacts (DATA_DIR/artifacts)\n"
               "  --data-dir DIR                keel's data directory (./keel-data)\n"
               "  --older-than SECONDS          only runs deleted at least this long ago (0)\n"
               "  --run-ids ID,ID,...           exactly these deleted runs\n"
               "  --grace SECONDS               keep contents and uploads younger than this "
               "(3600)\n");
}

struct in_use_arg {
    struct store *st;
    struct keel_ctx *ctx;
};

static bool digest_in_use(void *arg, const char *digest)
{
    struct in_use_arg *a = arg;
    bool used = true; /* when in doubt, keep */
    if (store_artifact_digest_used(a->st, a->ctx, digest, &used) != KEEL_OK)
        return true;
    return used;
}

/* comma-separated list -> arena array */
static const char **split_ids(struct karena *a, const char *text, size_t *n)
{
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    const char **v = karena_calloc(a, cap, sizeof *v);
    char *copy = karena_strdup(a, text);
    *n = 0;
    for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; v && t;
         t = strtok_r(NULL, ",", &save))
        v[(*n)++] = t;
    return v;
}

static const char *gc_audit_fields(struct karena *a, long long older, const char *ids)
{
    const struct passwd *pw = getpwuid(getuid());
    struct kbuf b;
    kbuf_init(&b, 8192);
    struct jw w;
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kstr(&w, "principal",
            karena_sprintf(a, "os:%s", pw && pw->pw_name ? pw->pw_name : "unknown"));
    jw_kstr(&w, "action", "keel gc");
    jw_key(&w, "resource");
    jw_arr(&w);
    jw_arr_end(&w);
    jw_key(&w, "request");
    jw_obj(&w);
    jw_kint(&w, "older_than_s", older);
    jw_kstr_opt(&w, "run_ids", ids);
    jw_obj_end(&w);
    jw_kstr(&w, "outcome", "ok");
    jw_obj_end(&w);
    const char *fields = w.err == KEEL_OK ? karena_strndup(a, b.data, b.len) : NULL;
    kbuf_free(&b);
    return fields;
}

int cli_gc(int argc, char **argv)
{
    enum { O_BACKEND = 256, O_DEST, O_DATA, O_OLDER, O_IDS, O_GRACE, O_HELP };
    static const struct option longopts[] = {
        {"backend-store-uri", required_argument, NULL, O_BACKEND},
        {"artifacts-destination", required_argument, NULL, O_DEST},
        {"data-dir", required_argument, NULL, O_DATA},
        {"older-than", required_argument, NULL, O_OLDER},
        {"run-ids", required_argument, NULL, O_IDS},
        {"grace", required_argument, NULL, O_GRACE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *backend = NULL, *dest_opt = NULL, *data_dir = "./keel-data", *ids_text = NULL;
    long long older = 0, grace = DEFAULT_GRACE_S;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case O_BACKEND: backend = optarg; break;
        case O_DEST: dest_opt = optarg; break;
        case O_DATA: data_dir = optarg; break;
        case O_IDS: ids_text = optarg; break;
        case O_OLDER:
        case O_GRACE: {
            long long v = strtoll(optarg, &end, 10);
            if (*end || v < 0) {
                fprintf(stderr, "keel gc: invalid number '%s'\n", optarg);
                return 2;
            }
            *(ch == O_OLDER ? &older : &grace) = v;
            break;
        }
        case O_HELP: gc_usage(stdout); return 0;
        default: gc_usage(stderr); return 2;
        }
    }
    struct karena *a = karena_new(256u << 20);
    struct keel_ctx ctx = {.arena = a};
    if (!a)
        return 1;
    int rc = 1;
    struct store *st = NULL;
    struct blobstore *bs = NULL;
    const char *db = cli_store_path(a, backend, data_dir);
    const char *dest = cli_artifacts_path(a, dest_opt, data_dir);
    struct store_config sc = {.path = db, .default_artifact_root = "mlflow-artifacts:/",
                              .readers = 1};
    size_t n_ids = 0, n_purged = 0;
    const char **ids = ids_text ? split_ids(a, ids_text, &n_ids) : NULL;
    const char **uris = NULL;
    uint64_t blobs = 0, bytes = 0;
    int64_t rows = 0;
    if (!db) {
        fprintf(stderr, "keel gc: unsupported --backend-store-uri '%s'\n", backend);
        rc = 2;
        goto out;
    }
    /* purging is a change like any other: the audit log records it, with
     * the operating-system user who ran it */
    struct keel_audit audit = {.fields = gc_audit_fields(a, older, ids_text)};
    ctx.audit = audit.fields ? &audit : NULL;
    if (store_open(&st, &sc, &ctx) != KEEL_OK ||
        store_runs_purge(st, &ctx, keel_now_ms() - older * 1000, ids, n_ids, &uris,
                         &n_purged) != KEEL_OK)
        goto fail;
    for (size_t i = 0; i < n_purged; i++) {
        const char *rel = artifact_proxied_path(&ctx, uris[i]);
        int64_t n = 0;
        if (rel && *rel && store_artifact_delete_dir(st, &ctx, rel, &n) != KEEL_OK)
            goto fail;
        rows += n;
    }
    struct in_use_arg arg = {st, &ctx};
    if (blobstore_open(&bs, dest, UINT64_MAX, &ctx) != KEEL_OK ||
        blobstore_gc(bs, &ctx, (time_t)grace, digest_in_use, &arg, &blobs, &bytes) != KEEL_OK)
        goto fail;
    printf("removed %zu runs, %" PRId64 " artifact entries, %" PRIu64 " contents (%" PRIu64
           " bytes)\n",
           n_purged, rows, blobs, bytes);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "keel gc: %s\n", ctx.errmsg ? ctx.errmsg : "failed");
out:
    blobstore_close(bs);
    store_close(st);
    karena_free(a);
    return rc;
}
