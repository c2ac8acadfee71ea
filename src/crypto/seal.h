/*
 * seal.h -- keel's encryption at rest: files sealed with AES-256-GCM under a
 * data key of their own, that data key wrapped by the master key.
 *
 * A sealed file is a header and chunks:
 *
 *   header (SEAL_HEADER bytes): "KEELSEAL", version, reserved, two key slots;
 *     a slot = generation, master key id, nonce, the data key sealed under
 *     that master key (AES-256-GCM, the header's fixed part as AAD)
 *   chunk i: up to SEAL_CHUNK bytes sealed under the data key with the nonce
 *     (i, final) -- so chunks cannot be reordered, dropped or the file cut
 *     short without the reader noticing -- and its 16-byte tag
 *
 * The last chunk is the final one (empty only for an empty file), so the
 * plaintext size follows from the file size, and any byte range can be read
 * by opening only the chunks it covers. Re-keying (seal_rewrap) writes the
 * data key under a new master key into the slot not in use, then clears the
 * old slot: the data is never rewritten, and a torn header write leaves the
 * other slot readable.
 * Each file has its own random data key, so chunk nonces never repeat under
 * a key.
 */
#ifndef KEEL_SEAL_H
#define KEEL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

#define SEAL_HEADER 160
#define SEAL_CHUNK 65536
#define SEAL_TAG 16
#define SEAL_KEY_ID 16 /* hex characters naming a master key */
#define SEAL_BIND 32   /* bytes a sealed file may be bound to (a blob's SHA-256) */

struct keel_key {
    unsigned char key[32];
    char id[SEAL_KEY_ID + 1]; /* the first bytes of a hash of the key, in hex */
};

/* A master key from a file (32 raw bytes, or 64 hex characters, or base64 of
 * 32 bytes, a trailing newline allowed) or, with path NULL, from the text of
 * an environment variable (hex or base64). Clear errors otherwise. */
enum keel_err keel_key_load(struct keel_ctx *ctx, const char *path, const char *text,
                            struct keel_key *out);

/* Whether a file's first bytes are a sealed header. */
bool seal_is_sealed(const unsigned char *head, size_t n);
/* The plaintext size of a sealed file of file_size bytes; false when no
 * sealed file has that size. */
bool seal_plain_size(uint64_t file_size, uint64_t *plain);

/* ---- writing ---- */
struct sealed_writer;
/* Starts a sealed file on fd (positioned at its start), writing the header
 * with a fresh data key. The writer does not own fd. */
enum keel_err sealed_writer_new(int fd, const struct keel_key *master,
                                struct sealed_writer **out, struct keel_ctx *ctx);
/* Appends plaintext (KEEL_E_IO with errno's meaning when the write fails). */
enum keel_err sealed_write(struct sealed_writer *w, const void *p, size_t n);
/* Writes the final chunk. The writer is freed by sealed_writer_free either way. */
enum keel_err sealed_finish(struct sealed_writer *w);
/* Binds the file to `bind` (a blob's digest, known only once all was
 * written): its data key is sealed again with it, so the file opens only
 * when the reader asks for that binding -- a sealed file put in another's
 * place does not. Call after sealed_finish, before making the file durable. */
enum keel_err sealed_writer_bind(struct sealed_writer *w, const unsigned char bind[SEAL_BIND],
                                 struct keel_ctx *ctx);
void sealed_writer_free(struct sealed_writer *w); /* NULL is safe; wipes the key */

/* ---- reading ---- */
struct sealed_reader;
/* Opens the sealed file on fd (the reader owns fd from then on, even on
 * failure): finds the slot sealed under `master` (and bound to `bind`, when
 * not NULL), unwraps the data key. Errors say which: not sealed, sealed
 * under another key (its id), or the header has been tampered with (or the
 * file is bound to something else). */
enum keel_err sealed_reader_open(int fd, const struct keel_key *master,
                                 const unsigned char *bind, struct sealed_reader **out,
                                 uint64_t *plain_size, struct keel_ctx *ctx);
/* Up to n plaintext bytes from offset pos; 0 at the end, -1 with errno
 * EBADMSG when a chunk does not authenticate (tampered) or EIO. */
ssize_t sealed_read(struct sealed_reader *r, uint64_t pos, void *buf, size_t n);
void sealed_reader_close(struct sealed_reader *r); /* NULL is safe; closes fd */

/* ---- sealed records: append-only logs ----
 * The same header (marked as a record file), then records sealed one at a
 * time as [4-byte length][ciphertext][tag], the nonce being the record's
 * number: a file that grows across a process's life (prediction-log
 * segments), each append durable on its own. A record cut short at the end
 * (a crash mid-append) reads as the end; a changed, reordered or dropped
 * record does not authenticate. */
#define SEAL_RECORD_MAX (256u << 20)
/* Writes a record file's header on fd with a fresh data key (in data_key). */
enum keel_err seal_records_start(int fd, const struct keel_key *master,
                                 unsigned char data_key[32], struct keel_ctx *ctx);
/* The bytes record n takes on disk. */
static inline size_t seal_record_size(size_t n) { return 4 + n + SEAL_TAG; }
/* Seals record number `index` of n bytes into out (seal_record_size(n)). */
bool seal_record(const unsigned char data_key[32], uint64_t index, const void *p, size_t n,
                 unsigned char *out);
struct sealed_records;
/* Opens a record file (the reader owns fd from then on, even on failure). */
enum keel_err sealed_records_open(int fd, const struct keel_key *master,
                                  struct sealed_records **out, struct keel_ctx *ctx);
/* The next record: 1 with *p and *n (valid until the next call), 0 at the
 * end, -1 when it does not authenticate (errno EBADMSG) or cannot be read. */
int sealed_records_next(struct sealed_records *r, const unsigned char **p, size_t *n);
void sealed_records_close(struct sealed_records *r); /* NULL is safe; closes fd */

/* ---- re-keying ---- */
/* Rewrites the header on fd: the data key, unwrapped with `from`, is sealed
 * under `to` into the other slot with a higher generation and fsync'd; then
 * the old slot is cleared. KEEL_OK without writing when the file is already
 * under `to`. */
enum keel_err seal_rewrap(int fd, const struct keel_key *from, const struct keel_key *to,
                          const unsigned char *bind, struct keel_ctx *ctx);

#endif
