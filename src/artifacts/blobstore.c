/*
 * blobstore.c -- the local-directory blob backend.
 *
 * Layout under the root:
 *   blobs/sha256/ab/abcdef...   one file per distinct content
 *   tmp/upload-XXXXXX           uploads in progress
 * Invariants: a file under blobs/ holds exactly the bytes its name hashes
 * (it got there by rename after fsync); nothing outside root is touched.
 *
 * Hashing: SHA-256 runs at about the speed the disk takes writes, so a large
 * upload hashes on a thread of its own while the connection's thread writes:
 * once an upload passes HASH_THREAD_AFTER bytes, each chunk written is also
 * copied into a ring of HASH_RING slots that the hasher drains in order (the
 * writer waits when the ring is full, so memory stays at the ring's size).
 * Small uploads hash inline and never start a thread.
 */
#include "artifacts/blobstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/seal.h"
#include "util/arena.h"
#include "util/fs.h"
#include "util/hex.h"

#define BLOBSTORE_ROOT_MAX 3072

#define SEALED_SUFFIX ".sealed"

struct blobstore {
    char root[BLOBSTORE_ROOT_MAX]; /* leaves room below PATH_MAX for the layout */
    uint64_t max_blob;
    struct keel_key *key; /* NULL: blobs are written plain */
};

#define HASH_THREAD_AFTER (4u << 20)
#define HASH_RING 8
#define HASH_SLOT (256u << 10)

struct hash_slot {
    unsigned char data[HASH_SLOT];
    size_t len;
};

struct blob_upload {
    struct blobstore *bs;
    int fd;
    struct sealed_writer *sealed; /* the bytes go through it when the store has a key */
    char tmp[PATH_MAX];
    EVP_MD_CTX *md;
    uint64_t size;
    bool failed;
    /* the hasher thread, once started (see the note at the top) */
    bool threaded;
    pthread_t hasher;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hash_slot *ring; /* HASH_RING slots */
    unsigned head, count;
    bool closing;
};

static enum keel_err io_fail(struct keel_ctx *ctx, const char *what, const char *path)
{
    return keel_fail(ctx, KEEL_E_IO, "%s %s: %s", what, path, strerror(errno));
}

enum keel_err blobstore_open(struct blobstore **out, const char *root, uint64_t max_blob,
                             struct keel_ctx *ctx)
{
    struct blobstore *bs = calloc(1, sizeof *bs);
    if (!bs)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    char dir[PATH_MAX];
    if (snprintf(bs->root, sizeof bs->root, "%s", root) >= (int)sizeof bs->root) {
        free(bs);
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "artifact root path too long");
    }
    bs->max_blob = max_blob;
    static const char *const subdirs[] = {"blobs/sha256", "tmp"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(dir, sizeof dir, "%s/%s", root, subdirs[i]);
        if (keel_mkdirs(dir) != 0) {
            enum keel_err e = io_fail(ctx, "cannot create", dir);
            free(bs);
            return e;
        }
    }
    *out = bs;
    return KEEL_OK;
}

void blobstore_close(struct blobstore *bs)
{
    if (bs && bs->key) {
        OPENSSL_cleanse(bs->key, sizeof *bs->key);
        free(bs->key);
    }
    free(bs);
}

enum keel_err blobstore_set_key(struct blobstore *bs, const struct keel_key *key,
                                struct keel_ctx *ctx)
{
    struct keel_key *copy = NULL;
    if (key && !(copy = malloc(sizeof *copy)))
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    if (copy)
        *copy = *key;
    if (bs->key) {
        OPENSSL_cleanse(bs->key, sizeof *bs->key);
        free(bs->key);
    }
    bs->key = copy;
    return KEEL_OK;
}

static void blob_path_as(const struct blobstore *bs, const char *digest, bool sealed, char *out,
                         size_t n)
{
    snprintf(out, n, "%s/blobs/sha256/%.2s/%s%s", bs->root, digest, digest,
             sealed ? SEALED_SUFFIX : "");
}

static void blob_path(const struct blobstore *bs, const char *digest, char *out, size_t n)
{
    blob_path_as(bs, digest, false, out, n);
}

static bool digest_ok(const char *d)
{
    size_t i = 0;
    for (; d[i]; i++)
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
            return false;
    return i == BLOB_DIGEST_HEX;
}

enum keel_err blob_upload_begin(struct blobstore *bs, struct keel_ctx *ctx,
                                struct blob_upload **out)
{
    struct blob_upload *u = calloc(1, sizeof *u);
    if (!u)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    u->bs = bs;
    snprintf(u->tmp, sizeof u->tmp, "%s/tmp/upload-XXXXXX", bs->root);
    u->fd = mkstemp(u->tmp);
    u->md = EVP_MD_CTX_new();
    enum keel_err e = KEEL_OK;
    if (u->fd < 0 || !u->md || EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1)
        e = io_fail(ctx, "cannot start upload in", bs->root);
    else if (bs->key)
        e = sealed_writer_new(u->fd, bs->key, &u->sealed, ctx);
    if (e) {
        if (u->fd >= 0) {
            close(u->fd);
            unlink(u->tmp);
        }
        EVP_MD_CTX_free(u->md);
        free(u);
        return e;
    }
    *out = u;
    return KEEL_OK;
}

static void *hasher_main(void *arg)
{
    struct blob_upload *u = arg;
    pthread_mutex_lock(&u->mu);
    for (;;) {
        while (!u->count && !u->closing)
            pthread_cond_wait(&u->cv, &u->mu);
        if (!u->count)
            break; /* closing, and everything hashed */
        struct hash_slot *slot = &u->ring[u->head];
        pthread_mutex_unlock(&u->mu);
        EVP_DigestUpdate(u->md, slot->data, slot->len);
        pthread_mutex_lock(&u->mu);
        u->head = (u->head + 1) % HASH_RING;
        u->count--;
        pthread_cond_broadcast(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

static bool hasher_start(struct blob_upload *u)
{
    u->ring = malloc(HASH_RING * sizeof *u->ring);
    if (!u->ring)
        return false;
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    if (pthread_create(&u->hasher, NULL, hasher_main, u) != 0) {
        pthread_mutex_destroy(&u->mu);
        pthread_cond_destroy(&u->cv);
        free(u->ring);
        u->ring = NULL;
        return false;
    }
    u->threaded = true;
    return true;
}

/* Waits until the hasher has taken everything queued, then ends it. */
static void hasher_stop(struct blob_upload *u)
{
    if (!u->threaded)
        return;
    pthread_mutex_lock(&u->mu);
    u->closing = true;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    pthread_join(u->hasher, NULL);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    free(u->ring);
    u->ring = NULL;
    u->threaded = false;
}

/* Hands bytes to the hasher, a slot at a time, waiting for free slots. */
static void hash_queue(struct blob_upload *u, const unsigned char *p, size_t n)
{
    while (n) {
        size_t take = n < HASH_SLOT ? n : HASH_SLOT;
        pthread_mutex_lock(&u->mu);
        while (u->count == HASH_RING)
            pthread_cond_wait(&u->cv, &u->mu);
        struct hash_slot *slot = &u->ring[(u->head + u->count) % HASH_RING];
        pthread_mutex_unlock(&u->mu);
        /* the slot is free: the hasher only reads slots already counted */
        memcpy(slot->data, p, take);
        slot->len = take;
        pthread_mutex_lock(&u->mu);
        u->count++;
        pthread_cond_broadcast(&u->cv);
        pthread_mutex_unlock(&u->mu);
        p += take;
        n -= take;
    }
}

enum keel_err blob_upload_write(struct blob_upload *u, const void *data, size_t n)
{
    if (u->failed)
        return KEEL_E_IO;
    if (n > u->bs->max_blob - u->size) {
        u->failed = true;
        return KEEL_E_TOO_LARGE;
    }
    const char *p = data;
    for (size_t left = n; left && !u->sealed;) {
        ssize_t w = write(u->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            u->failed = true;
            return KEEL_E_IO;
        }
        p += w;
        left -= (size_t)w;
    }
    if (u->sealed && sealed_write(u->sealed, data, n) != KEEL_OK) {
        u->failed = true;
        return KEEL_E_IO;
    }
    if (!u->threaded && u->size + n > HASH_THREAD_AFTER)
        hasher_start(u); /* on failure, hashing simply stays inline */
    if (u->threaded)
        hash_queue(u, data, n);
    else
        EVP_DigestUpdate(u->md, data, n);
    u->size += n;
    return KEEL_OK;
}

void blob_upload_abort(struct blob_upload *u)
{
    if (!u)
        return;
    hasher_stop(u);
    close(u->fd);
    unlink(u->tmp);
    EVP_MD_CTX_free(u->md);
    sealed_writer_free(u->sealed);
    free(u);
}

enum keel_err blob_upload_commit(struct blob_upload *u, struct keel_ctx *ctx,
                                 char digest[BLOB_DIGEST_HEX + 1], uint64_t *size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    enum keel_err e = KEEL_OK;
    hasher_stop(u); /* every byte hashed before the digest is read */
    if (u->failed)
        e = keel_fail(ctx, KEEL_E_IO, "the upload failed while it was written");
    else if (u->sealed && sealed_finish(u->sealed) != KEEL_OK)
        e = io_fail(ctx, "cannot seal", u->tmp);
    else if (EVP_DigestFinal_ex(u->md, md, &md_len) != 1 || md_len != 32)
        e = keel_fail(ctx, KEEL_E_INTERNAL, "SHA-256 failed");
    /* a sealed blob opens only as the content of its own digest */
    else if (u->sealed && sealed_writer_bind(u->sealed, md, ctx) != KEEL_OK)
        e = ctx->err;
    else if (fsync(u->fd) != 0)
        e = io_fail(ctx, "cannot sync", u->tmp);
    if (e) {
        blob_upload_abort(u);
        return e;
    }
    keel_hex_encode(md, 32, digest);
    *size = u->size;
    char final[PATH_MAX], dir[PATH_MAX], other[PATH_MAX];
    blob_path_as(u->bs, digest, u->sealed != NULL, final, sizeof final);
    blob_path_as(u->bs, digest, u->sealed == NULL, other, sizeof other);
    snprintf(dir, sizeof dir, "%s/blobs/sha256/%.2s", u->bs->root, digest);
    struct stat sb;
    /* a sealed copy serves a store without a key too (it says it needs
     * one); a plain copy is replaced by a sealed one once there is a key */
    if (stat(final, &sb) == 0 || (!u->sealed && stat(other, &sb) == 0)) {
        /* the content is already stored: keep that copy, and refresh its time so
         * a concurrent gc's grace period covers the row about to point at it */
        utimensat(AT_FDCWD, final, NULL, 0);
        blob_upload_abort(u);
        return KEEL_OK;
    }
    if (keel_mkdirs_durable(dir) != 0 || rename(u->tmp, final) != 0) {
        e = io_fail(ctx, "cannot store blob", final);
        blob_upload_abort(u);
        return e;
    }
    /* the content is in place either way; only a durable name is acknowledged
     * (an unreferenced copy left by a failure here is gc's to remove) */
    e = keel_fsync_dir(dir) ? KEEL_OK : io_fail(ctx, "cannot sync the directory of", final);
    if (!e && u->sealed)
        unlink(other); /* the plain copy of what is now sealed, if there was one */
    close(u->fd);
    EVP_MD_CTX_free(u->md);
    sealed_writer_free(u->sealed);
    free(u);
    return e;
}

struct blob_reader {
    int fd;                       /* a plain blob */
    struct sealed_reader *sealed; /* or a sealed one */
};

enum keel_err blob_reader_open(struct blobstore *bs, struct keel_ctx *ctx, const char *digest,
                               struct blob_reader **out, uint64_t *size)
{
    char path[PATH_MAX];
    if (!digest_ok(digest))
        return keel_fail(ctx, KEEL_E_NOT_FOUND, "no blob %s", digest);
    struct blob_reader *r = calloc(1, sizeof *r);
    if (!r)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    blob_path_as(bs, digest, true, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        unsigned char bind[SEAL_BIND];
        keel_hex_decode(digest, SEAL_BIND, bind); /* digest_ok: all hex */
        enum keel_err e = bs->key ? sealed_reader_open(fd, bs->key, bind, &r->sealed, size, ctx)
                                  : keel_fail(ctx, KEEL_E_INVALID_STATE,
                                              "blob %s is encrypted: start keel with the "
                                              "encryption key it was written with",
                                              digest);
        if (!bs->key)
            close(fd);
        if (e) {
            free(r);
            return e;
        }
        r->fd = -1;
        *out = r;
        return KEEL_OK;
    }
    enum keel_err e = blob_open(bs, ctx, digest, &r->fd, size);
    if (e) {
        free(r);
        return e;
    }
    *out = r;
    return KEEL_OK;
}

ssize_t blob_reader_read(struct blob_reader *r, uint64_t pos, void *buf, size_t n)
{
    if (r->sealed)
        return sealed_read(r->sealed, pos, buf, n);
    ssize_t got;
    do
        got = pread(r->fd, buf, n, (off_t)pos);
    while (got < 0 && errno == EINTR);
    return got;
}

int blob_reader_take_fd(struct blob_reader *r)
{
    int fd = r->sealed ? -1 : r->fd;
    if (!r->sealed)
        r->fd = -1;
    return fd;
}

void blob_reader_close(struct blob_reader *r)
{
    if (!r)
        return;
    if (r->sealed)
        sealed_reader_close(r->sealed);
    else if (r->fd >= 0)
        close(r->fd);
    free(r);
}

enum keel_err blobstore_each_sealed(struct blobstore *bs, struct keel_ctx *ctx,
                                    enum keel_err (*each)(void *arg, const char *path),
                                    void *arg)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 256; i++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/blobs/sha256/%c%c", bs->root, hex[i >> 4], hex[i & 15]);
        DIR *d = opendir(dir);
        if (!d) {
            if (errno == ENOENT)
                continue;
            return io_fail(ctx, "cannot read", dir);
        }
        enum keel_err e = KEEL_OK;
        for (struct dirent *de; !e && (de = readdir(d));) {
            size_t n = strlen(de->d_name), k = sizeof SEALED_SUFFIX - 1;
            if (n != BLOB_DIGEST_HEX + k || strcmp(de->d_name + BLOB_DIGEST_HEX, SEALED_SUFFIX))
                continue;
            char path[PATH_MAX + 80];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            e = each(arg, path);
        }
        closedir(d);
        if (e)
            return e;
    }
    return KEEL_OK;
}

enum keel_err blob_open(struct blobstore *bs, struct keel_ctx *ctx, const char *digest, int *fd,
                        uint64_t *size)
{
    char path[PATH_MAX];
    if (!digest_ok(digest))
        return keel_fail(ctx, KEEL_E_NOT_FOUND, "no blob %s", digest);
    blob_path(bs, digest, path, sizeof path);
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return errno == ENOENT ? keel_fail(ctx, KEEL_E_NOT_FOUND, "no blob %s", digest)
                               : io_fail(ctx, "cannot open", path);
    struct stat sb;
    if (fstat(*fd, &sb) != 0) {
        enum keel_err e = io_fail(ctx, "cannot stat", path);
        close(*fd);
        return e;
    }
    *size = (uint64_t)sb.st_size;
    return KEEL_OK;
}

/* Removes the regular files of dir older than cutoff that keep() refuses. */
static enum keel_err sweep(const char *dir, time_t cutoff, bool (*keep)(void *, const char *),
                           void *arg, uint64_t *files, uint64_t *bytes)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? KEEL_OK : KEEL_E_IO;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_mtime > cutoff)
            continue;
        /* a sealed blob is kept or not by its digest, as a plain one is */
        char digest[BLOB_DIGEST_HEX + 1];
        size_t dn = strnlen(de->d_name, BLOB_DIGEST_HEX);
        memcpy(digest, de->d_name, dn);
        digest[dn] = '\0';
        if (keep && keep(arg, digest))
            continue;
        if (unlink(path) == 0) {
            (*files)++;
            *bytes += (uint64_t)sb.st_size;
        }
    }
    closedir(d);
    return KEEL_OK;
}

enum keel_err blobstore_gc(struct blobstore *bs, struct keel_ctx *ctx, time_t grace,
                           bool (*in_use)(void *arg, const char *digest), void *arg,
                           uint64_t *blobs_removed, uint64_t *bytes_removed)
{
    time_t cutoff = time(NULL) - grace;
    uint64_t tmp_files = 0, tmp_bytes = 0;
    char dir[PATH_MAX];
    *blobs_removed = *bytes_removed = 0;
    snprintf(dir, sizeof dir, "%s/tmp", bs->root);
    if (sweep(dir, cutoff, NULL, NULL, &tmp_files, &tmp_bytes) != KEEL_OK)
        return io_fail(ctx, "cannot read", dir);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 256; i++) {
        snprintf(dir, sizeof dir, "%s/blobs/sha256/%c%c", bs->root, hex[i >> 4], hex[i & 15]);
        if (sweep(dir, cutoff, in_use, arg, blobs_removed, bytes_removed) != KEEL_OK)
            return io_fail(ctx, "cannot read", dir);
    }
    return KEEL_OK;
}
