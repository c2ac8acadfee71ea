/*
 * blobstore.h -- content-addressed storage of artifact bytes.
 *
 * Each distinct content is kept once, named by its SHA-256 digest; which
 * artifact paths point at which digest is the metadata store's business
 * (store.h), not this module's. An upload streams into a temporary file
 * while it is hashed; commit makes it durable (fsync) and moves it under its
 * digest in one rename, or, when that content is already stored, drops the
 * copy and refreshes the stored blob's time. So a blob is never seen half
 * written, and a crash leaves at most a temporary file or an unreferenced
 * blob, both removed by blobstore_gc().
 *
 * With a master key set (blobstore_set_key), new blobs are sealed
 * (crypto/seal.h) and stored as <digest>.sealed: the digest is still the
 * plaintext's, so deduplication works across keys and rotations. Blobs
 * written before a key was set are read as they are.
 *
 * The operations are a backend's contract: the local directory backend
 * implements them now; an object-store backend implements the same.
 */
#ifndef KEEL_BLOBSTORE_H
#define KEEL_BLOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sys/types.h>

#include "util/err.h"

struct keel_key;

#define BLOB_DIGEST_HEX 64

struct blobstore;
struct blob_upload;

/* Opens (creating) the store rooted at `root`. Freed by blobstore_close(). */
enum keel_err blobstore_open(struct blobstore **out, const char *root, uint64_t max_blob,
                             struct keel_ctx *ctx);
void blobstore_close(struct blobstore *bs);
/* From now on, blobs are sealed under a copy of key (NULL: written plain). */
enum keel_err blobstore_set_key(struct blobstore *bs, const struct keel_key *key,
                                struct keel_ctx *ctx);

/* A new upload. On success *out is owned by the caller until commit or
 * abort, exactly one of which must be called. */
enum keel_err blob_upload_begin(struct blobstore *bs, struct keel_ctx *ctx,
                                struct blob_upload **out);
/* Appends bytes; KEEL_E_TOO_LARGE past the store's max_blob. */
enum keel_err blob_upload_write(struct blob_upload *u, const void *data, size_t n);
/* Makes the content durable under its digest (hex, NUL-terminated) and
 * frees u, whatever the result. */
enum keel_err blob_upload_commit(struct blob_upload *u, struct keel_ctx *ctx,
                                 char digest[BLOB_DIGEST_HEX + 1], uint64_t *size);
/* Discards the upload and frees u. NULL is safe. */
void blob_upload_abort(struct blob_upload *u);

/* A stored blob's plaintext, read by offset: plain or sealed alike. Its size
 * in *size. KEEL_E_NOT_FOUND when the store has no such content; a sealed
 * blob and no key, or another key, is KEEL_E_INVALID_STATE saying which. */
struct blob_reader;
enum keel_err blob_reader_open(struct blobstore *bs, struct keel_ctx *ctx, const char *digest,
                               struct blob_reader **out, uint64_t *size);
/* Up to n bytes from pos; 0 at the end; -1 on a read error or content that
 * does not authenticate (errno EBADMSG). */
ssize_t blob_reader_read(struct blob_reader *r, uint64_t pos, void *buf, size_t n);
/* A plain blob's descriptor, handed over (to send as it is); -1 for a
 * sealed one, which must be read through the reader. */
int blob_reader_take_fd(struct blob_reader *r);
void blob_reader_close(struct blob_reader *r); /* NULL is safe */
/* The sealed blobs' paths, for re-keying: calls each(arg, path) for every
 * one, stopping at the first error it returns. */
enum keel_err blobstore_each_sealed(struct blobstore *bs, struct keel_ctx *ctx,
                                    enum keel_err (*each)(void *arg, const char *path),
                                    void *arg);

/* An open descriptor on a stored plain blob (the caller closes it) and its
 * size. KEEL_E_NOT_FOUND when the store has no such content. */
enum keel_err blob_open(struct blobstore *bs, struct keel_ctx *ctx, const char *digest, int *fd,
                        uint64_t *size);

/* Removes blobs for which in_use() says no and temporary files, both only
 * when older than `grace` seconds (an upload commits its blob before its
 * row is written, and refreshes a deduplicated blob's time, so a grace well
 * above the longest commit keeps in-flight uploads safe). Counts what it
 * removed. */
enum keel_err blobstore_gc(struct blobstore *bs, struct keel_ctx *ctx, time_t grace,
                           bool (*in_use)(void *arg, const char *digest), void *arg,
                           uint64_t *blobs_removed, uint64_t *bytes_removed);

#endif
