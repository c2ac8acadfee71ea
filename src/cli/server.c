/*
 * server.c -- `keel server`: mlflow server's flags, the store, the HTTP front.
 *
 * With no flags everything lives under ./keel-data/ (keel.db and
 * artifacts/) and the server listens on 127.0.0.1:5000. Artifact roots are
 * formed as MLflow forms them: proxied serving gives experiments
 * mlflow-artifacts:/<id>; a plain local root is made absolute against the
 * working directory; URIs with a scheme are kept as given.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "artifacts/blobstore.h"
#include "auth/auth.h"
#include "crypto/seal.h"
#include "deploy/deploy.h"
#include "deploy/follow.h"
#include "deploy/predlog.h"
#include "cli/cli.h"
#include "http/http.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/fs.h"
#include "util/uri.h"

#define DEFAULT_MAX_BODY (64u << 20)
#define DEFAULT_MAX_ARTIFACT (64ull << 30)
#define REQUEST_ARENA_CEILING (512u << 20)

struct server_opts {
    const char *host, *backend_uri, *default_root, *artifacts_dest, *data_dir;
    int serve_artifacts;
    int mlflow_api; /* 2 or 3 */
    int access_log;
    /* the numeric flags, each within its range in numeric_flags[] (so the
     * narrowing where they are used loses nothing) */
    uint64_t port;
    uint64_t follow_ms; /* how often moving model references are re-resolved */
    uint64_t log_retention_days;
    uint64_t log_queue, log_segment_bytes;
    uint64_t log_segment_s;
    uint64_t max_connections, connection_timeout_s;
    uint64_t workers;
    uint64_t max_body;
    uint64_t max_artifact;
    int auth;                       /* --auth: credentials and permissions */
    const char *default_permission; /* for users without a row on a resource */
    const char *admin_username;     /* the first admin (or KEEL_ADMIN_USERNAME) */
    const char *admin_password_file; /* its password (or KEEL_ADMIN_PASSWORD) */
    const char *key_file; /* the master key for encryption at rest (or KEEL_ENCRYPTION_KEY) */
};

static void server_usage(FILE *f)
{
    fprintf(f,
            "usage: keel server [options]\n"
            "  -h, --host HOST               address to listen on (127.0.0.1)\n"
            "  -p, --port PORT               port (5000)\n"
            "  --backend-store-uri URI       sqlite:///PATH (DATA_DIR/keel.db)\n"
            "  --default-artifact-root URI   root for new experiments' artifacts\n"
            "  --artifacts-destination DIR   where proxied artifacts are stored\n"
            "                                (DATA_DIR/artifacts)\n"
            "  --serve-artifacts             proxy artifacts through keel (default)\n"
            "  --no-serve-artifacts          clients write artifacts to the root directly\n"
            "  --access-log                  one JSON line per answered request on stderr\n"
            "  --max-connections N           open connections at once; more are refused (1024)\n"
            "  --connection-timeout SECONDS  close a connection idle this long (120)\n"
            "  --prediction-log-retention-days N  delete prediction log partitions older\n"
            "                                than N days (0: keep)\n"
            "  --prediction-log-queue N      best-effort records waiting before drops (65536)\n"
            "  --prediction-log-segment-bytes N  start a new log segment past N bytes\n"
            "                                (64 MiB)\n"
            "  --prediction-log-segment-seconds N  ... or once it is N seconds old (3600)\n"
            "  --deployment-poll-ms N        how often deployments of an alias or stage\n"
            "                                look for a new version (2000); one that failed\n"
            "                                to load is tried again after 30 polls, then\n"
            "                                twice as long each time, up to an hour\n"
            "  --mlflow-api 2|3              answer as MLflow 2.x or 3.x where their\n"
            "                                servers differ on one endpoint (2)\n"
            "  -w, --workers N               concurrent store readers (4)\n"
            "  --data-dir DIR                keel's own data directory (./keel-data)\n"
            "  --max-body-bytes N            largest accepted request body (%u)\n"
            "  --max-artifact-bytes N        largest accepted artifact upload (%llu)\n"
            "  --auth                        require credentials (HTTP Basic or bearer\n"
            "                                token) and check permissions on every call\n"
            "  --default-permission WORD     what users hold where nothing was granted:\n"
            "                                READ (default), EDIT, MANAGE, NO_PERMISSIONS\n"
            "  --admin-username NAME         with --auth: the admin to create if missing\n"
            "                                (or KEEL_ADMIN_USERNAME)\n"
            "  --admin-password-file FILE    that admin's password (or KEEL_ADMIN_PASSWORD)\n"
            "  --encryption-key-file FILE    seal stored artifacts under this 256-bit master\n"
            "                                key (or KEEL_ENCRYPTION_KEY, hex or base64)\n",
            DEFAULT_MAX_BODY, (unsigned long long)DEFAULT_MAX_ARTIFACT);
}

/* A flag's value as an unsigned decimal integer in [min, max], checked
 * before anything narrows it (strtoull alone would take "-1", " 7" and wrap
 * past its range). False, after saying so on stderr, when it is not one. */
static bool flag_uint(const char *flag, const char *text, uint64_t min, uint64_t max,
                      uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    if (!end || *end || errno == ERANGE || v < min || v > max) {
        fprintf(stderr, "keel server: invalid %s '%s' (an integer from %llu to %llu)\n", flag,
                text, (unsigned long long)min, (unsigned long long)max);
        return false;
    }
    *out = v;
    return true;
}

enum {
    O_BACKEND = 256, O_ROOT, O_DEST, O_SERVE, O_NO_SERVE, O_DATA, O_MAXBODY, O_MAXART, O_API,
    O_FOLLOW, O_RETENTION, O_LOGQUEUE, O_SEGMENT, O_SEGMENT_AGE, O_ACCESS, O_MAXCONN,
    O_CONNTIMEOUT, O_AUTH, O_DEFAULT_PERM, O_ADMIN_USER, O_ADMIN_PASS, O_KEY_FILE, O_HELP
};

/* Every numeric flag: its option, its name for messages, its range, where it goes. */
static const struct numeric_flag {
    int opt;
    const char *name;
    uint64_t min, max;
    size_t offset; /* of its uint64_t in struct server_opts */
} numeric_flags[] = {
    {'p', "--port", 0, 65535, offsetof(struct server_opts, port)},
    {'w', "--workers", 1, 1024, offsetof(struct server_opts, workers)},
    {O_MAXBODY, "--max-body-bytes", 1, SIZE_MAX, offsetof(struct server_opts, max_body)},
    {O_MAXART, "--max-artifact-bytes", 1, UINT64_MAX, offsetof(struct server_opts, max_artifact)},
    {O_FOLLOW, "--deployment-poll-ms", 10, 3600000, offsetof(struct server_opts, follow_ms)},
    {O_RETENTION, "--prediction-log-retention-days", 0, 36500,
     offsetof(struct server_opts, log_retention_days)},
    {O_LOGQUEUE, "--prediction-log-queue", 1, 10000000, offsetof(struct server_opts, log_queue)},
    {O_SEGMENT, "--prediction-log-segment-bytes", 1024, SIZE_MAX,
     offsetof(struct server_opts, log_segment_bytes)},
    {O_SEGMENT_AGE, "--prediction-log-segment-seconds", 1, 7 * 86400,
     offsetof(struct server_opts, log_segment_s)},
    {O_MAXCONN, "--max-connections", 1, 1000000, offsetof(struct server_opts, max_connections)},
    {O_CONNTIMEOUT, "--connection-timeout", 1, 1000000,
     offsetof(struct server_opts, connection_timeout_s)},
};

static int parse_opts(int argc, char **argv, struct server_opts *o)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},
        {"backend-store-uri", required_argument, NULL, O_BACKEND},
        {"default-artifact-root", required_argument, NULL, O_ROOT},
        {"artifacts-destination", required_argument, NULL, O_DEST},
        {"serve-artifacts", no_argument, NULL, O_SERVE},
        {"no-serve-artifacts", no_argument, NULL, O_NO_SERVE},
        {"data-dir", required_argument, NULL, O_DATA},
        {"max-body-bytes", required_argument, NULL, O_MAXBODY},
        {"max-artifact-bytes", required_argument, NULL, O_MAXART},
        {"mlflow-api", required_argument, NULL, O_API},
        {"deployment-poll-ms", required_argument, NULL, O_FOLLOW},
        {"prediction-log-retention-days", required_argument, NULL, O_RETENTION},
        {"prediction-log-queue", required_argument, NULL, O_LOGQUEUE},
        {"prediction-log-segment-bytes", required_argument, NULL, O_SEGMENT},
        {"prediction-log-segment-seconds", required_argument, NULL, O_SEGMENT_AGE},
        {"access-log", no_argument, NULL, O_ACCESS},
        {"max-connections", required_argument, NULL, O_MAXCONN},
        {"connection-timeout", required_argument, NULL, O_CONNTIMEOUT},
        {"auth", no_argument, NULL, O_AUTH},
        {"default-permission", required_argument, NULL, O_DEFAULT_PERM},
        {"admin-username", required_argument, NULL, O_ADMIN_USER},
        {"admin-password-file", required_argument, NULL, O_ADMIN_PASS},
        {"encryption-key-file", required_argument, NULL, O_KEY_FILE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h:p:w:", longopts, NULL)) != -1) {
        const struct numeric_flag *nf = NULL;
        for (size_t i = 0; i < sizeof numeric_flags / sizeof *numeric_flags && !nf; i++)
            if (numeric_flags[i].opt == ch)
                nf = &numeric_flags[i];
        if (nf) {
            if (!flag_uint(nf->name, optarg, nf->min, nf->max,
                           (uint64_t *)(void *)((char *)o + nf->offset)))
                return 2;
            continue;
        }
        switch (ch) {
        case 'h': o->host = optarg; break;
        case O_BACKEND: o->backend_uri = optarg; break;
        case O_ROOT: o->default_root = optarg; break;
        case O_DEST: o->artifacts_dest = optarg; break;
        case O_SERVE: o->serve_artifacts = 1; break;
        case O_NO_SERVE: o->serve_artifacts = 0; break;
        case O_DATA: o->data_dir = optarg; break;
        case O_API:
            if (strcmp(optarg, "2") != 0 && strcmp(optarg, "3") != 0) {
                fprintf(stderr, "keel server: invalid --mlflow-api '%s' (expected 2 or 3)\n",
                        optarg);
                return 2;
            }
            o->mlflow_api = optarg[0] - '0';
            break;
        case O_ACCESS: o->access_log = 1; break;
        case O_AUTH: o->auth = 1; break;
        case O_DEFAULT_PERM: {
            enum auth_level l;
            if (!auth_level_parse(optarg, &l)) {
                fprintf(stderr, "keel server: invalid --default-permission '%s' (READ, EDIT, "
                                "MANAGE or NO_PERMISSIONS)\n", optarg);
                return 2;
            }
            o->default_permission = optarg;
            break;
        }
        case O_ADMIN_USER: o->admin_username = optarg; break;
        case O_ADMIN_PASS: o->admin_password_file = optarg; break;
        case O_KEY_FILE: o->key_file = optarg; break;
        case O_HELP: server_usage(stdout); return 0;
        default: server_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "keel server: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* In-memory model caches of keel servers that died without removing
 * theirs (/dev/shm/keel-models-<pid>-*, the pid no longer running). */
static void remove_dead_caches(void)
{
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        long pid = 0;
        if (sscanf(e->d_name, "keel-models-%ld-", &pid) != 1 || pid <= 0)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive, or not ours to know */
        char path[300];
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        keel_rmtree(path);
    }
    if (d)
        closedir(d);
}

/* The first line of a file (the admin's password), in the arena. */
static const char *read_secret_file(struct karena *a, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[AUTH_PASSWORD_MAX + 2];
    const char *line = fgets(buf, sizeof buf, f) ? buf : NULL;
    fclose(f);
    if (!line)
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    return karena_strdup(a, buf);
}

/* --auth: opens the authenticator and makes sure there is an admin. The
 * admin named on the command line or in KEEL_ADMIN_USERNAME is created when
 * missing (an existing user is never changed); with no users at all and no
 * admin named, keel refuses to start rather than invent a password. */
static int open_auth(const struct server_opts *o, struct store *st, struct keel_ctx *ctx,
                     struct auth **out)
{
    enum auth_level def = AUTH_READ;
    if (o->default_permission)
        auth_level_parse(o->default_permission, &def);
    const char *name = o->admin_username ? o->admin_username : getenv("KEEL_ADMIN_USERNAME");
    const char *password = NULL;
    if (o->admin_password_file) {
        if (!(password = read_secret_file(ctx->arena, o->admin_password_file))) {
            fprintf(stderr, "keel server: cannot read --admin-password-file %s: %s\n",
                    o->admin_password_file, strerror(errno));
            return 1;
        }
    } else {
        password = getenv("KEEL_ADMIN_PASSWORD");
    }
    int64_t users = 0;
    if (store_user_count(st, ctx, &users) != KEEL_OK) {
        fprintf(stderr, "keel server: %s\n", ctx->errmsg);
        return 1;
    }
    if (users == 0 && !name) {
        fprintf(stderr, "keel server: --auth and no users yet: name the first admin with "
                        "--admin-username (or KEEL_ADMIN_USERNAME) and give its password in "
                        "KEEL_ADMIN_PASSWORD (or --admin-password-file)\n");
        return 2;
    }
    if (name) {
        struct keel_user u;
        enum keel_err e = store_user_get(st, ctx, name, &u);
        if (e == KEEL_E_NOT_FOUND) {
            const char *hash = NULL;
            if (!password) {
                fprintf(stderr, "keel server: admin '%s' does not exist yet: give its "
                                "password in KEEL_ADMIN_PASSWORD or --admin-password-file\n",
                        name);
                return 2;
            }
            if (auth_username_check(ctx, name) || auth_password_check(ctx, password) ||
                auth_password_hash(ctx, password, &hash) ||
                store_user_create(st, ctx, name, hash, true, NULL)) {
                fprintf(stderr, "keel server: cannot create admin '%s': %s\n", name,
                        ctx->errmsg);
                return 2;
            }
            fprintf(stderr, "keel server: created admin '%s'\n", name);
        } else if (e) {
            fprintf(stderr, "keel server: %s\n", ctx->errmsg);
            return 1;
        }
    }
    if (auth_open(out, st, def, ctx) != KEEL_OK) {
        fprintf(stderr, "keel server: %s\n", ctx->errmsg);
        return 1;
    }
    return 0;
}

/* Loads every stored deployment; the server is already answering, so model
 * URIs resolve through its own API. A deployment that does not load is
 * reported and left FAILED; the others serve. */
static void serve_deployments(struct keel_app *app, const char *host, int port,
                              struct keel_ctx *ctx)
{
    bool any = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    char *self = karena_sprintf(ctx->arena, strchr(host, ':') && !any ? "http://[%s]:%d"
                                                                      : "http://%s:%d",
                                any ? "127.0.0.1" : host, port);
    deploy_set_self(app->deploys, self, app->auth ? auth_self_credential(app->auth) : NULL);
    struct keel_deployment *d = NULL;
    size_t n = 0;
    if (store_deployment_list(app->store, ctx, &d, &n) != KEEL_OK) {
        fprintf(stderr, "keel server: cannot list deployments: %s\n", ctx->errmsg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int log = deploy_log_parse(d[i].prediction_log);
        /* a failure says why in ctx; no message of an earlier one may stand in */
        ctx->err = KEEL_OK;
        ctx->errmsg = NULL;
        deploy_change_lock(app->deploys); /* the API answers already: one change at a time */
        struct keel_deployment cur; /* and may have changed or deleted it since the list */
        if (store_deployment_get(app->store, ctx, d[i].name, &cur) != KEEL_OK ||
            strcmp(cur.model_uri, d[i].model_uri) != 0) {
            deploy_change_unlock(app->deploys);
            continue;
        }
        if (deploy_load(app->deploys, d[i].name, d[i].model_uri, ctx) != KEEL_OK)
            fprintf(stderr, "keel server: deployment '%s' (%s) did not load: %s\n", d[i].name,
                    d[i].model_uri, ctx->errmsg ? ctx->errmsg : "");
        else
            fprintf(stderr, "keel server: deployment '%s' serves %s\n", d[i].name,
                    d[i].model_uri);
        deploy_set_log(app->deploys, d[i].name, log < 0 ? DEPLOY_LOG_BEST_EFFORT
                                                        : (enum deploy_log)log);
        ctx->errmsg = NULL;
        if (deploy_set_batching(app->deploys, d[i].name, (size_t)d[i].max_batch_rows,
                                (unsigned)d[i].max_batch_wait_us, ctx) != KEEL_OK)
            fprintf(stderr, "keel server: deployment '%s' serves without its batching "
                            "(max_batch_rows %lld): %s\n", d[i].name,
                    (long long)d[i].max_batch_rows, ctx->errmsg ? ctx->errmsg : "failed");
        deploy_open(app->deploys, d[i].name); /* configured: it may answer now */
        deploy_change_unlock(app->deploys);
    }
}

int cli_server(int argc, char **argv)
{
    struct server_opts o = {.host = "127.0.0.1", .port = 5000, .serve_artifacts = 1, .mlflow_api = 2,
                            .workers = 4, .data_dir = "./keel-data", .follow_ms = 2000,
                            .max_body = DEFAULT_MAX_BODY, .max_artifact = DEFAULT_MAX_ARTIFACT,
                            .max_connections = 1024, .connection_timeout_s = 120};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct karena *a = karena_new(1 << 20);
    struct keel_ctx ctx = {.arena = a};
    if (!a)
        return 1;
    if (cli_mkdirs(o.data_dir) != 0) {
        fprintf(stderr, "keel server: cannot create data directory %s: %s\n", o.data_dir,
                strerror(errno));
        karena_free(a);
        return 1;
    }
    const char *db = cli_store_path(a, o.backend_uri, o.data_dir);
    if (!db) {
        fprintf(stderr,
                "keel server: unsupported --backend-store-uri '%s' (expected sqlite:///PATH)\n",
                o.backend_uri);
        karena_free(a);
        return 2;
    }
    const char *root = o.default_root;
    if (!root)
        root = o.serve_artifacts ? "mlflow-artifacts:/"
                                 : karena_sprintf(a, "%s/artifacts", o.data_dir);
    root = uri_resolve_local(a, root);
    const char *dest = cli_artifacts_path(a, o.artifacts_dest, o.data_dir);
    if (o.serve_artifacts && cli_mkdirs(dest) != 0) {
        fprintf(stderr, "keel server: cannot create %s: %s\n", dest, strerror(errno));
        karena_free(a);
        return 1;
    }

    struct store *st = NULL;
    struct store_config sc = {.path = db, .default_artifact_root = root,
                              .readers = (unsigned)o.workers};
    if (store_open(&st, &sc, &ctx) != KEEL_OK) {
        fprintf(stderr, "keel server: %s\n", ctx.errmsg ? ctx.errmsg : "cannot open store");
        karena_free(a);
        return 1;
    }
    char dest_abs[PATH_MAX];
    if (!realpath(dest, dest_abs))
        snprintf(dest_abs, sizeof dest_abs, "%s", dest);
    struct blobstore *blobs = NULL;
    if (o.serve_artifacts && blobstore_open(&blobs, dest_abs, o.max_artifact, &ctx) != KEEL_OK) {
        fprintf(stderr, "keel server: %s\n", ctx.errmsg ? ctx.errmsg : "cannot open artifacts");
        store_close(st);
        karena_free(a);
        return 1;
    }
    /* encryption at rest: the blob store and the prediction log keep copies */
    const char *key_text = getenv("KEEL_ENCRYPTION_KEY");
    struct keel_key key;
    bool sealing = o.key_file || (key_text && *key_text);
    if (sealing) {
        enum keel_err e = keel_key_load(&ctx, o.key_file, o.key_file ? NULL : key_text, &key);
        if (!e && blobs)
            e = blobstore_set_key(blobs, &key, &ctx);
        if (e) {
            OPENSSL_cleanse(&key, sizeof key);
            fprintf(stderr, "keel server: %s\n", ctx.errmsg);
            blobstore_close(blobs);
            store_close(st);
            karena_free(a);
            return 2;
        }
        fprintf(stderr, "keel server: artifacts and prediction logs are sealed under key %s\n",
                key.id);
    }
    struct auth *auth = NULL;
    const char *gap = api_policy_gap();
    if (gap) { /* a route nobody decided who may call: a bug, never served */
        fprintf(stderr, "keel server: %s\n", gap);
        blobstore_close(blobs);
        store_close(st);
        karena_free(a);
        return 1;
    }
    if (o.auth && (rc = open_auth(&o, st, &ctx, &auth)) != 0) {
        blobstore_close(blobs);
        store_close(st);
        karena_free(a);
        return rc;
    }
    struct deploy_set *deploys = NULL;
    struct deploy_config dc = {.cache_dir = karena_sprintf(a, "%s/models", o.data_dir)};
    /* the model cache holds plaintext copies of artifacts: with encryption
     * on, it lives in memory (tmpfs), for this process only */
    char shm_cache[64];
    snprintf(shm_cache, sizeof shm_cache, "/dev/shm/keel-models-%ld-XXXXXX", (long)getpid());
    if (sealing)
        remove_dead_caches();
    const char *memory_cache = sealing ? mkdtemp(shm_cache) : NULL;
    if (memory_cache)
        dc.cache_dir = memory_cache;
    else if (sealing)
        fprintf(stderr, "keel server: warning: no /dev/shm; deployments' model cache stays in "
                        "plaintext at %s\n", dc.cache_dir);
    if (deploy_set_new(&deploys, &dc, &ctx) != KEEL_OK) {
        fprintf(stderr, "keel server: %s\n", ctx.errmsg);
        auth_close(auth);
        blobstore_close(blobs);
        store_close(st);
        karena_free(a);
        return 1;
    }
    struct predlog *predlog = NULL;
    struct predlog_config pc = {.dir = karena_sprintf(a, "%s/predictions", o.data_dir),
                                .queue_max = (size_t)o.log_queue,
                                .segment_bytes = (size_t)o.log_segment_bytes,
                                .segment_age_s = (unsigned)o.log_segment_s,
                                .retention_days = (unsigned)o.log_retention_days,
                                .key = sealing ? &key : NULL};
    enum keel_err log_err = predlog_open(&predlog, &pc, &ctx);
    OPENSSL_cleanse(&key, sizeof key); /* the stores hold their own copies */
    if (log_err != KEEL_OK) {
        fprintf(stderr, "keel server: %s\n", ctx.errmsg);
        deploy_set_free(deploys);
        if (memory_cache)
            keel_rmtree(memory_cache);
        auth_close(auth);
        blobstore_close(blobs);
        store_close(st);
        karena_free(a);
        return 1;
    }
    const char *ui_dir = getenv("KEEL_UI_DIR"); /* working on the UI: src/ui/ui.h */
    struct keel_app app = {.store = st, .artifacts_destination = dest_abs, .blobs = blobs,
                           .deploys = deploys, .predlog = predlog, .auth = auth,
                           .serve_artifacts = o.serve_artifacts,
                           .mlflow3 = o.mlflow_api == 3,
                           .ui_dir = ui_dir && *ui_dir ? ui_dir : NULL};
    struct http_server_config hc = {.host = o.host, .port = (int)o.port,
                                    .max_body = (size_t)o.max_body,
                                    .arena_ceiling = REQUEST_ARENA_CEILING,
                                    .connection_limit = (unsigned)o.max_connections,
                                    .timeout_s = (unsigned)o.connection_timeout_s,
                                    .access_log = o.access_log,
                                    .log_headers = api_log_headers};
    sigset_t stop;
    cli_block_stop_signals(&stop);
    struct http_server *srv = NULL;
    if (http_server_start(&srv, &hc, api_handle, &api_stream_ops, &app, &ctx) != KEEL_OK) {
        fprintf(stderr, "keel server: %s\n", ctx.errmsg ? ctx.errmsg : "cannot listen");
        predlog_close(predlog);
        deploy_set_free(deploys);
        if (memory_cache)
            keel_rmtree(memory_cache);
        auth_close(auth);
        blobstore_close(blobs);
        store_close(st);
        karena_free(a);
        return 1;
    }
    fprintf(stderr, "keel server listening on http://%s:%d (store %s, artifact root %s)\n",
            o.host, http_server_port(srv), db, root);
    serve_deployments(&app, o.host, http_server_port(srv), &ctx);
    __atomic_store_n(&app.ready, 1, __ATOMIC_RELEASE);
    struct deploy_follower *follower = NULL;
    if (deploy_follow_start(&follower, st, deploys, (unsigned)o.follow_ms, &ctx) != KEEL_OK)
        fprintf(stderr, "keel server: deployments will not follow their aliases: %s\n",
                ctx.errmsg);
    cli_wait_stop(&stop, "keel server");
    deploy_follow_stop(follower);
    http_server_stop(srv); /* in-flight requests end here, their records queued */
    predlog_close(predlog);
    deploy_set_free(deploys);
    if (memory_cache)
        keel_rmtree(memory_cache);
    auth_close(auth);
    blobstore_close(blobs);
    store_close(st);
    karena_free(a);
    return 0;
}
