/*
 * keys.c -- `keel keys rotate`: puts every sealed file of a data directory (the
 * artifacts' blobs and the prediction log's segments)
 * under a new master key by re-wrapping each file's data key (its header),
 * never rewriting the data. Safe to stop and run again: files already under
 * the new key are left as they are. Run it with the server stopped, or
 * restart the server with the new key right after: a file sealed by a server
 * still holding the old key after the walk passed it stays under the old one
 * until the next run.
 */
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "artifacts/blobstore.h"
#include "cli/cli.h"
#include "crypto/seal.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/hex.h"

static void keys_usage(FILE *f)
{
    fprintf(f, "usage: keel keys rotate --old-key-file FILE --new-key-file FILE [options]\n"
               "  re-wraps the data key of every sealed artifact and prediction log\n"
               "  segment under the new master key; the data is not rewritten\n"
               "  --artifacts-destination DIR   the proxied artifacts (DATA_DIR/artifacts)\n"
               "  --data-dir DIR                keel's data directory (./keel-data)\n"
               "  --backend-store-uri URI       the store whose audit log records the rotation\n"
               "                                (DATA_DIR/keel.db)\n");
}

struct rotation {
    const struct keel_key *from, *to;
    struct keel_ctx *ctx;
    unsigned long long files;
};

static enum keel_err rotate_one(void *arg, const char *path)
{
    struct rotation *r = arg;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return keel_fail(r->ctx, KEEL_E_IO, "cannot open %s", path);
    /* a blob is bound to its digest, its file's name; a log segment to nothing */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    unsigned char bind[SEAL_BIND];
    bool blob = strlen(base) == 2 * SEAL_BIND + 7 &&
                strcmp(base + 2 * SEAL_BIND, ".sealed") == 0 &&
                keel_hex_decode(base, SEAL_BIND, bind);
    enum keel_err e = seal_rewrap(fd, r->from, r->to, blob ? bind : NULL, r->ctx);
    close(fd);
    if (e)
        return keel_fail(r->ctx, e, "%s: %s", path, r->ctx->errmsg ? r->ctx->errmsg : "");
    r->files++;
    return KEEL_OK;
}

/* nftw() takes no argument: the walk's rotation, one walk at a time */
static struct rotation *walking;
static enum keel_err walk_err;

static int rotate_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    size_t n = strlen(path);
    if (type != FTW_F || n < 7 || strcmp(path + n - 7, ".sealed") != 0)
        return 0;
    walk_err = rotate_one(walking, path);
    return walk_err != KEEL_OK; /* stop at the first failure */
}

/* The sealed segments under the prediction log's directory, if it exists. */
static enum keel_err rotate_predictions(struct rotation *r, const char *dir)
{
    struct stat sb;
    if (!dir || stat(dir, &sb) != 0)
        return KEEL_OK;
    walking = r;
    walk_err = KEEL_OK;
    if (nftw(dir, rotate_entry, 16, FTW_PHYS) != 0 && walk_err == KEEL_OK)
        walk_err = keel_fail(r->ctx, KEEL_E_IO, "cannot walk %s", dir);
    walking = NULL;
    return walk_err;
}

/* The rotation, done or stopped, as a record of the store's audit log (by
 * the operating-system user who ran it; key ids only, never keys). */
static int record_rotation(struct karena *a, const char *backend, const char *data_dir,
                           const struct keel_key *from, const struct keel_key *to,
                           unsigned long long files, bool done)
{
    const char *db = cli_store_path(a, backend, data_dir);
    const struct passwd *pw = getpwuid(getuid());
    const char *fields = karena_sprintf(
        a,
        "{\"principal\":\"os:%s\",\"action\":\"keel keys rotate\",\"resource\":[],"
        "\"request\":{\"from_key\":\"%s\",\"to_key\":\"%s\",\"files\":%llu},"
        "\"outcome\":\"%s\"}",
        pw && pw->pw_name && !strpbrk(pw->pw_name, "\"\\") ? pw->pw_name : "unknown", from->id,
        to->id, files, done ? "ok" : "stopped");
    struct keel_audit audit = {.fields = fields};
    struct keel_ctx ctx = {.arena = a, .audit = &audit};
    struct store *st = NULL;
    struct store_config sc = {.path = db, .default_artifact_root = "mlflow-artifacts:/",
                              .readers = 1};
    /* an existing store only: a wrong path must not make a new, empty one */
    enum keel_err e = db && fields && access(db, R_OK | W_OK) == 0
                          ? store_open(&st, &sc, &ctx)
                          : keel_fail(&ctx, KEEL_E_INVALID_PARAMETER,
                                      "no store at %s: name it with --backend-store-uri",
                                      db ? db : "(none)");
    if (!e)
        e = store_audit_append(st, &ctx);
    store_close(st);
    if (e)
        fprintf(stderr, "keel keys: the rotation could not be recorded in the audit log: %s\n",
                ctx.errmsg ? ctx.errmsg : "no store");
    return e ? 1 : 0;
}

int cli_keys(int argc, char **argv)
{
    enum { O_OLD = 256, O_NEW, O_DEST, O_DATA, O_BACKEND, O_HELP };
    static const struct option longopts[] = {
        {"old-key-file", required_argument, NULL, O_OLD},
        {"new-key-file", required_argument, NULL, O_NEW},
        {"artifacts-destination", required_argument, NULL, O_DEST},
        {"data-dir", required_argument, NULL, O_DATA},
        {"backend-store-uri", required_argument, NULL, O_BACKEND},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "rotate") != 0) {
        bool help = argc >= 2 && strcmp(argv[1], "--help") == 0;
        keys_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    const char *old_file = NULL, *new_file = NULL, *dest_opt = NULL, *data_dir = "./keel-data";
    const char *backend = NULL;
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case O_OLD: old_file = optarg; break;
        case O_NEW: new_file = optarg; break;
        case O_DEST: dest_opt = optarg; break;
        case O_DATA: data_dir = optarg; break;
        case O_BACKEND: backend = optarg; break;
        case O_HELP: keys_usage(stdout); return 0;
        default: keys_usage(stderr); return 2;
        }
    }
    if (!old_file || !new_file) {
        keys_usage(stderr);
        return 2;
    }
    struct karena *a = karena_new(16u << 20);
    if (!a)
        return 1;
    struct keel_ctx ctx = {.arena = a};
    struct keel_key from, to;
    struct blobstore *bs = NULL;
    int rc = 2;
    const char *dest = cli_artifacts_path(a, dest_opt, data_dir);
    if (keel_key_load(&ctx, old_file, NULL, &from) || keel_key_load(&ctx, new_file, NULL, &to)) {
        fprintf(stderr, "keel keys: %s\n", ctx.errmsg);
    } else if (strcmp(from.id, to.id) == 0) {
        fprintf(stderr, "keel keys: the old and the new key are the same key (%s)\n", to.id);
    } else if (blobstore_open(&bs, dest, UINT64_MAX, &ctx) != KEEL_OK) {
        fprintf(stderr, "keel keys: %s\n", ctx.errmsg);
        rc = 1;
    } else {
        struct rotation r = {&from, &to, &ctx, 0};
        enum keel_err e = blobstore_each_sealed(bs, &ctx, rotate_one, &r);
        if (!e)
            e = rotate_predictions(&r, karena_sprintf(a, "%s/predictions", data_dir));
        if (e)
            fprintf(stderr, "keel keys: stopped after %llu files: %s\n", r.files, ctx.errmsg);
        else
            printf("%llu sealed files are under key %s (was %s)\n", r.files, to.id, from.id);
        rc = e ? 1 : 0;
        if (record_rotation(a, backend, data_dir, &from, &to, r.files, e == KEEL_OK) != 0)
            rc = 1;
    }
    blobstore_close(bs);
    OPENSSL_cleanse(&from, sizeof from);
    OPENSSL_cleanse(&to, sizeof to);
    karena_free(a);
    return rc;
}
