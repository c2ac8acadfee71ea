/*
 * seal.c -- sealed files (see seal.h for the format and why): master keys,
 * AES-256-GCM chunks through OpenSSL, the streamed writer, the ranged
 * reader and re-keying. Every key held in memory is wiped when let go.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto/seal.h"
#include "util/hex.h"

#define MAGIC "KEELSEAL"
#define VERSION 1
#define KIND_AT 9 /* header byte: what follows it */
#define KIND_CHUNKS 0
#define KIND_RECORDS 1
#define FIXED 16 /* magic, version, reserved */
#define SLOT 72  /* generation 4, key id 8, nonce 12, wrapped key 32, tag 16 */
#define KEY_ID_BYTES 8
#define DISK_CHUNK (SEAL_CHUNK + SEAL_TAG)

_Static_assert(FIXED + 2 * SLOT == SEAL_HEADER, "the header is two slots after its fixed part");

/* ---- AES-256-GCM ---- */

static bool gcm(bool encrypt, const unsigned char key[32], const unsigned char nonce[12],
                const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t n,
                unsigned char *out, unsigned char tag[SEAL_TAG])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0;
    bool ok = c && (encrypt ? EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce)
                            : EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce)) == 1;
    if (ok && aad_len)
        ok = (encrypt ? EVP_EncryptUpdate(c, NULL, &len, aad, (int)aad_len)
                      : EVP_DecryptUpdate(c, NULL, &len, aad, (int)aad_len)) == 1;
    if (ok && n)
        ok = (encrypt ? EVP_EncryptUpdate(c, out, &len, in, (int)n)
                      : EVP_DecryptUpdate(c, out, &len, in, (int)n)) == 1;
    if (ok && encrypt)
        ok = EVP_EncryptFinal_ex(c, out + n, &len) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag) == 1;
    else if (ok)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag) == 1 &&
             EVP_DecryptFinal_ex(c, out + n, &len) == 1; /* fails unless authentic */
    EVP_CIPHER_CTX_free(c);
    return ok;
}

/* byte 8 tells chunks (0, 1: final) and records (2) apart */
static void chunk_nonce(uint64_t index, int kind, unsigned char nonce[12])
{
    for (int i = 0; i < 8; i++)
        nonce[i] = (unsigned char)(index >> (56 - 8 * i));
    nonce[8] = (unsigned char)kind;
    nonce[9] = nonce[10] = nonce[11] = 0;
}

#define NONCE_RECORD 2

/* ---- master keys ---- */

static void key_id(struct keel_key *k, unsigned char raw[KEY_ID_BYTES])
{
    static const char label[] = "keel master key id";
    unsigned char h[32];
    unsigned int n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, label, sizeof label) != 1 ||
        EVP_DigestUpdate(md, k->key, sizeof k->key) != 1 || EVP_DigestFinal_ex(md, h, &n) != 1)
        memset(h, 0, sizeof h);
    EVP_MD_CTX_free(md);
    memcpy(raw, h, KEY_ID_BYTES);
    keel_hex_encode(h, KEY_ID_BYTES, k->id);
}

/* 32 key bytes from text: 64 hex characters or base64 of 32 bytes. */
static bool key_from_text(const char *t, size_t n, unsigned char key[32])
{
    while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
        n--;
    if (n == 64)
        return keel_hex_decode(t, 32, key);
    unsigned char buf[48];
    if (n != 44 || t[43] != '=' || t[42] == '=')
        return false;
    int got = EVP_DecodeBlock(buf, (const unsigned char *)t, 44);
    if (got != 33) /* 33 decoded, one of them padding */
        return false;
    memcpy(key, buf, 32);
    OPENSSL_cleanse(buf, sizeof buf);
    return true;
}

enum keel_err keel_key_load(struct keel_ctx *ctx, const char *path, const char *text,
                            struct keel_key *out)
{
    unsigned char raw[128];
    size_t n = 0;
    if (path) {
        FILE *f = fopen(path, "rb");
        if (!f)
            return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "cannot read the key file %s: %s",
                             path, strerror(errno));
        n = fread(raw, 1, sizeof raw, f);
        bool err = ferror(f);
        fclose(f);
        if (err)
            return keel_fail(ctx, KEEL_E_IO, "cannot read the key file %s", path);
    } else {
        n = text ? strlen(text) : 0;
        if (n > sizeof raw)
            n = sizeof raw + 1; /* too long for any form */
        else
            memcpy(raw, text, n);
    }
    bool ok = false;
    if (path && n == 32) {
        memcpy(out->key, raw, 32);
        ok = true;
    } else if (n <= sizeof raw) {
        ok = key_from_text((const char *)raw, n, out->key);
    }
    OPENSSL_cleanse(raw, sizeof raw);
    if (!ok)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "%s is not a 256-bit key: give 32 bytes, 64 hex characters or the "
                         "base64 of 32 bytes (e.g. `openssl rand -hex 32`)",
                         path ? path : "the key");
    unsigned char id[KEY_ID_BYTES];
    key_id(out, id);
    return KEEL_OK;
}

/* ---- the header ---- */

struct slot {
    uint32_t generation;
    unsigned char id[KEY_ID_BYTES], nonce[12], wrapped[32], tag[SEAL_TAG];
};

static void slot_read(const unsigned char *h, int i, struct slot *s)
{
    const unsigned char *p = h + FIXED + i * SLOT;
    s->generation = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    memcpy(s->id, p + 4, KEY_ID_BYTES);
    memcpy(s->nonce, p + 12, 12);
    memcpy(s->wrapped, p + 24, 32);
    memcpy(s->tag, p + 56, SEAL_TAG);
}

static void slot_write(unsigned char *h, int i, const struct slot *s)
{
    unsigned char *p = h + FIXED + i * SLOT;
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(s->generation >> (24 - 8 * k));
    memcpy(p + 4, s->id, KEY_ID_BYTES);
    memcpy(p + 12, s->nonce, 12);
    memcpy(p + 24, s->wrapped, 32);
    memcpy(p + 56, s->tag, SEAL_TAG);
}

#define AAD_MAX (FIXED + 12 + SEAL_BIND)

/* What a slot's seal covers besides the key: the header's fixed part, the
 * slot's generation and key id, and what the file is bound to (a blob's
 * digest), if anything. Its length. */
static size_t slot_aad(const unsigned char *h, const struct slot *s, const unsigned char *bind,
                       unsigned char aad[AAD_MAX])
{
    memcpy(aad, h, FIXED);
    for (int k = 0; k < 4; k++)
        aad[FIXED + k] = (unsigned char)(s->generation >> (24 - 8 * k));
    memcpy(aad + FIXED + 4, s->id, KEY_ID_BYTES);
    if (!bind)
        return FIXED + 12;
    memcpy(aad + FIXED + 12, bind, SEAL_BIND);
    return AAD_MAX;
}

static bool slot_seal(const unsigned char *h, struct slot *s, const struct keel_key *master,
                      const unsigned char data_key[32], uint32_t generation,
                      const unsigned char *bind)
{
    unsigned char aad[AAD_MAX];
    s->generation = generation;
    unsigned char raw_id[KEY_ID_BYTES];
    struct keel_key k = *master;
    key_id(&k, raw_id);
    OPENSSL_cleanse(&k, sizeof k);
    memcpy(s->id, raw_id, KEY_ID_BYTES);
    if (RAND_bytes(s->nonce, sizeof s->nonce) != 1)
        return false;
    size_t n = slot_aad(h, s, bind, aad);
    return gcm(true, master->key, s->nonce, aad, n, data_key, 32, s->wrapped, s->tag);
}

static bool slot_open(const unsigned char *h, const struct slot *s,
                      const struct keel_key *master, const unsigned char *bind,
                      unsigned char data_key[32])
{
    unsigned char aad[AAD_MAX];
    size_t n = slot_aad(h, s, bind, aad);
    unsigned char tag[SEAL_TAG];
    memcpy(tag, s->tag, SEAL_TAG);
    return gcm(false, master->key, s->nonce, aad, n, s->wrapped, 32, data_key, tag);
}

/* The slot sealed under master (the newest when both are), or -1 with the
 * reason in ctx. */
static int find_slot(const unsigned char *h, const struct keel_key *master,
                     const unsigned char *bind, unsigned char data_key[32],
                     struct keel_ctx *ctx)
{
    unsigned char want[KEY_ID_BYTES];
    struct keel_key k = *master;
    key_id(&k, want);
    OPENSSL_cleanse(&k, sizeof k);
    struct slot s[2];
    slot_read(h, 0, &s[0]);
    slot_read(h, 1, &s[1]);
    int order[2] = {s[1].generation > s[0].generation, s[1].generation <= s[0].generation};
    bool named = false;
    for (int i = 0; i < 2; i++) {
        const struct slot *x = &s[order[i]];
        if (x->generation == 0 || memcmp(x->id, want, KEY_ID_BYTES) != 0)
            continue;
        named = true;
        if (slot_open(h, x, master, bind, data_key))
            return order[i];
    }
    if (named) {
        keel_fail(ctx, KEEL_E_INVALID_STATE,
                  "the sealed file's key slot for key %s does not authenticate: the header "
                  "was tampered with, or the file is not the one asked for",
                  master->id);
        return -1;
    }
    const struct slot *newest = &s[order[0]];
    char other[SEAL_KEY_ID + 1];
    keel_hex_encode(newest->id, KEY_ID_BYTES, other);
    keel_fail(ctx, KEEL_E_INVALID_STATE,
              "the file is sealed under key %s, not under the key given (%s): start keel with "
              "the key it was written with",
              newest->generation ? other : "(none)", master->id);
    return -1;
}

bool seal_is_sealed(const unsigned char *head, size_t n)
{
    return n >= FIXED && memcmp(head, MAGIC, 8) == 0 && head[8] == VERSION;
}

bool seal_plain_size(uint64_t file_size, uint64_t *plain)
{
    if (file_size < SEAL_HEADER + SEAL_TAG)
        return false;
    uint64_t body = file_size - SEAL_HEADER, full = body / DISK_CHUNK, rem = body % DISK_CHUNK;
    if (rem && rem < SEAL_TAG)
        return false;
    *plain = full * SEAL_CHUNK + (rem ? rem - SEAL_TAG : 0);
    return true;
}

/* ---- writing ---- */

static enum keel_err write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return KEEL_E_IO;
        c += w;
        n -= (size_t)w;
    }
    return KEEL_OK;
}

struct sealed_writer {
    int fd;
    struct keel_key master; /* to seal the data key again when the file is bound */
    unsigned char key[32];
    uint64_t index;    /* the next chunk's number */
    size_t have;       /* plaintext bytes waiting in buf */
    unsigned char buf[SEAL_CHUNK];
    unsigned char out[DISK_CHUNK];
};

static enum keel_err flush_chunk(struct sealed_writer *w, bool final)
{
    unsigned char nonce[12];
    chunk_nonce(w->index, final, nonce);
    if (!gcm(true, w->key, nonce, NULL, 0, w->buf, w->have, w->out, w->out + w->have))
        return KEEL_E_INTERNAL;
    enum keel_err e = write_all(w->fd, w->out, w->have + SEAL_TAG);
    w->index++;
    w->have = 0;
    return e;
}

/* A new header of `kind` on fd, with a fresh data key sealed in slot 0. */
static enum keel_err write_header(int fd, const struct keel_key *master, int kind,
                                  unsigned char data_key[32], struct keel_ctx *ctx)
{
    unsigned char h[SEAL_HEADER] = {0};
    memcpy(h, MAGIC, 8);
    h[8] = VERSION;
    h[KIND_AT] = (unsigned char)kind;
    struct slot s = {0};
    if (RAND_bytes(data_key, 32) != 1 || !slot_seal(h, &s, master, data_key, 1, NULL))
        return keel_fail(ctx, KEEL_E_INTERNAL, "cannot make a data key");
    slot_write(h, 0, &s);
    if (write_all(fd, h, sizeof h) != KEEL_OK)
        return keel_fail(ctx, KEEL_E_IO, "cannot write a sealed header: %s", strerror(errno));
    return KEEL_OK;
}

enum keel_err sealed_writer_new(int fd, const struct keel_key *master,
                                struct sealed_writer **out, struct keel_ctx *ctx)
{
    struct sealed_writer *w = calloc(1, sizeof *w);
    if (!w)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    w->fd = fd;
    w->master = *master;
    enum keel_err e = write_header(fd, master, KIND_CHUNKS, w->key, ctx);
    if (e) {
        sealed_writer_free(w);
        return e;
    }
    *out = w;
    return KEEL_OK;
}

enum keel_err sealed_write(struct sealed_writer *w, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n) {
        /* a full chunk waits until more comes: only then is it not the last */
        if (w->have == SEAL_CHUNK) {
            enum keel_err e = flush_chunk(w, false);
            if (e)
                return e;
        }
        size_t take = SEAL_CHUNK - w->have < n ? SEAL_CHUNK - w->have : n;
        memcpy(w->buf + w->have, c, take);
        w->have += take;
        c += take;
        n -= take;
    }
    return KEEL_OK;
}

enum keel_err sealed_finish(struct sealed_writer *w)
{
    return flush_chunk(w, true);
}

enum keel_err sealed_writer_bind(struct sealed_writer *w, const unsigned char bind[SEAL_BIND],
                                 struct keel_ctx *ctx)
{
    unsigned char h[SEAL_HEADER];
    struct slot s = {0};
    if (pread(w->fd, h, sizeof h, 0) != (ssize_t)sizeof h)
        return keel_fail(ctx, KEEL_E_IO, "cannot read back a sealed header: %s",
                         strerror(errno));
    if (!slot_seal(h, &s, &w->master, w->key, 1, bind))
        return keel_fail(ctx, KEEL_E_INTERNAL, "cannot seal the data key");
    slot_write(h, 0, &s);
    if (pwrite(w->fd, h + FIXED, SLOT, FIXED) != SLOT)
        return keel_fail(ctx, KEEL_E_IO, "cannot bind a sealed file: %s", strerror(errno));
    return KEEL_OK;
}

void sealed_writer_free(struct sealed_writer *w)
{
    if (!w)
        return;
    OPENSSL_cleanse(w, sizeof *w);
    free(w);
}

/* ---- reading ---- */

struct sealed_reader {
    int fd;
    unsigned char key[32];
    uint64_t plain, chunks; /* plaintext size, number of chunks */
    uint64_t cached;        /* index of the chunk in buf, or UINT64_MAX */
    size_t cached_len;
    unsigned char disk[DISK_CHUNK];
    unsigned char buf[SEAL_CHUNK];
};

/* An opener's way out: the half-made reader wiped and freed, fd closed. */
static enum keel_err open_failed(void *reader, size_t size, int fd, enum keel_err e)
{
    if (reader)
        OPENSSL_cleanse(reader, size);
    free(reader);
    close(fd);
    return e;
}

/* Reads and checks fd's header (its layout must be `kind`) and unwraps its
 * data key with master. */
static enum keel_err open_header(int fd, const struct keel_key *master, int kind,
                                 const unsigned char *bind, unsigned char data_key[32],
                                 struct keel_ctx *ctx)
{
    unsigned char h[SEAL_HEADER];
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || !seal_is_sealed(h, sizeof h) ||
        h[KIND_AT] != kind)
        return keel_fail(ctx, KEEL_E_INVALID_STATE,
                         kind == KIND_CHUNKS ? "not a sealed file" : "not a sealed record file");
    return find_slot(h, master, bind, data_key, ctx) < 0 ? KEEL_E_INVALID_STATE : KEEL_OK;
}

/* Decrypts chunk i into r->buf. */
static bool load_chunk(struct sealed_reader *r, uint64_t i)
{
    if (r->cached == i)
        return true;
    bool final = i + 1 == r->chunks;
    size_t len = final ? (size_t)(r->plain - i * SEAL_CHUNK) : SEAL_CHUNK;
    ssize_t got = pread(r->fd, r->disk, len + SEAL_TAG, (off_t)(SEAL_HEADER + i * DISK_CHUNK));
    if (got != (ssize_t)(len + SEAL_TAG)) {
        errno = EIO;
        return false;
    }
    unsigned char nonce[12];
    chunk_nonce(i, final, nonce);
    if (!gcm(false, r->key, nonce, NULL, 0, r->disk, len, r->buf, r->disk + len)) {
        r->cached = UINT64_MAX;
        errno = EBADMSG;
        return false;
    }
    r->cached = i;
    r->cached_len = len;
    return true;
}

enum keel_err sealed_reader_open(int fd, const struct keel_key *master,
                                 const unsigned char *bind, struct sealed_reader **out,
                                 uint64_t *plain_size, struct keel_ctx *ctx)
{
    off_t size = lseek(fd, 0, SEEK_END);
    struct sealed_reader *r = calloc(1, sizeof *r);
    enum keel_err e = r ? open_header(fd, master, KIND_CHUNKS, bind, r->key, ctx)
                        : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    if (!e && (size < 0 || !seal_plain_size((uint64_t)size, &r->plain)))
        e = keel_fail(ctx, KEEL_E_INVALID_STATE,
                      "the sealed file has been cut short or extended");
    if (e)
        return open_failed(r, sizeof *r, fd, e);
    r->fd = fd;
    r->chunks = ((uint64_t)size - SEAL_HEADER + DISK_CHUNK - 1) / DISK_CHUNK;
    r->cached = UINT64_MAX;
    /* an empty file is one empty final chunk, which no read would ever open:
     * authenticate it now, or a file cut to that shape would read as empty */
    if (r->plain == 0 && !load_chunk(r, 0)) {
        sealed_reader_close(r);
        return keel_fail(ctx, KEEL_E_INVALID_STATE,
                         "the sealed file does not authenticate: it was changed on disk");
    }
    *plain_size = r->plain;
    *out = r;
    return KEEL_OK;
}

ssize_t sealed_read(struct sealed_reader *r, uint64_t pos, void *buf, size_t n)
{
    size_t done = 0;
    while (done < n && pos < r->plain) {
        uint64_t i = pos / SEAL_CHUNK;
        if (!load_chunk(r, i))
            return -1;
        size_t off = (size_t)(pos - i * SEAL_CHUNK), take = r->cached_len - off;
        if (take > n - done)
            take = n - done;
        memcpy((char *)buf + done, r->buf + off, take);
        done += take;
        pos += take;
    }
    return (ssize_t)done;
}

void sealed_reader_close(struct sealed_reader *r)
{
    if (!r)
        return;
    close(r->fd);
    OPENSSL_cleanse(r, sizeof *r);
    free(r);
}

/* ---- re-keying ---- */

enum keel_err seal_rewrap(int fd, const struct keel_key *from, const struct keel_key *to,
                          const unsigned char *bind, struct keel_ctx *ctx)
{
    unsigned char h[SEAL_HEADER], data_key[32];
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || !seal_is_sealed(h, sizeof h))
        return keel_fail(ctx, KEEL_E_INVALID_STATE, "not a sealed file");
    struct keel_ctx quiet = {.arena = ctx->arena};
    static const unsigned char empty[SLOT];
    int have = find_slot(h, to, bind, data_key, &quiet);
    if (have >= 0) { /* already under the new key (an earlier, interrupted rotation) */
        OPENSSL_cleanse(data_key, sizeof data_key);
        /* that rotation may have stopped before clearing the old slot */
        const unsigned char *other = h + FIXED + (1 - have) * SLOT;
        if (memcmp(other, empty, SLOT) != 0 &&
            (pwrite(fd, empty, SLOT, FIXED + (1 - have) * SLOT) != SLOT || fsync(fd) != 0))
            return keel_fail(ctx, KEEL_E_IO, "cannot clear the old key slot: %s",
                             strerror(errno));
        return KEEL_OK;
    }
    int slot = find_slot(h, from, bind, data_key, ctx);
    if (slot < 0)
        return ctx->err;
    struct slot cur, next = {0};
    slot_read(h, slot, &cur);
    bool ok = slot_seal(h, &next, to, data_key, cur.generation + 1, bind);
    OPENSSL_cleanse(data_key, sizeof data_key);
    if (!ok)
        return keel_fail(ctx, KEEL_E_INTERNAL, "cannot seal the data key");
    slot_write(h, 1 - slot, &next);
    const unsigned char *p = h + FIXED + (1 - slot) * SLOT;
    if (pwrite(fd, p, SLOT, FIXED + (1 - slot) * SLOT) != SLOT || fsync(fd) != 0)
        return keel_fail(ctx, KEEL_E_IO, "cannot rewrite a sealed header: %s", strerror(errno));
    /* only once the new slot is durable: the old key stops opening the file */
    if (pwrite(fd, empty, SLOT, FIXED + slot * SLOT) != SLOT || fsync(fd) != 0)
        return keel_fail(ctx, KEEL_E_IO, "cannot clear the old key slot: %s", strerror(errno));
    return KEEL_OK;
}

/* ---- sealed records ---- */

enum keel_err seal_records_start(int fd, const struct keel_key *master,
                                 unsigned char data_key[32], struct keel_ctx *ctx)
{
    return write_header(fd, master, KIND_RECORDS, data_key, ctx);
}

bool seal_record(const unsigned char data_key[32], uint64_t index, const void *p, size_t n,
                 unsigned char *out)
{
    if (n > SEAL_RECORD_MAX)
        return false;
    unsigned char nonce[12];
    chunk_nonce(index, NONCE_RECORD, nonce);
    for (int i = 0; i < 4; i++)
        out[i] = (unsigned char)(n >> (24 - 8 * i));
    /* the length is authenticated too: it is the AAD */
    return gcm(true, data_key, nonce, out, 4, p, n, out + 4, out + 4 + n);
}

struct sealed_records {
    int fd;
    unsigned char key[32];
    uint64_t index; /* the next record's number */
    off_t at;       /* its offset */
    unsigned char *disk, *plain;
    size_t cap;
};

enum keel_err sealed_records_open(int fd, const struct keel_key *master,
                                  struct sealed_records **out, struct keel_ctx *ctx)
{
    struct sealed_records *r = calloc(1, sizeof *r);
    enum keel_err e = r ? open_header(fd, master, KIND_RECORDS, NULL, r->key, ctx)
                        : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    if (e)
        return open_failed(r, sizeof *r, fd, e);
    r->fd = fd;
    r->at = SEAL_HEADER;
    *out = r;
    return KEEL_OK;
}

int sealed_records_next(struct sealed_records *r, const unsigned char **p, size_t *n)
{
    unsigned char len[4];
    ssize_t got = pread(r->fd, len, 4, r->at);
    if (got < 4)
        return got < 0 ? -1 : 0; /* the end, or a length cut short by a crash */
    size_t size = (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 | len[3];
    if (size > SEAL_RECORD_MAX) {
        errno = EBADMSG;
        return -1;
    }
    if (size + SEAL_TAG > r->cap) {
        unsigned char *d = realloc(r->disk, size + SEAL_TAG), *q = d ? realloc(r->plain, size + 1) : NULL;
        if (d)
            r->disk = d;
        if (!q) {
            errno = ENOMEM;
            return -1;
        }
        r->plain = q;
        r->cap = size + SEAL_TAG;
    }
    got = pread(r->fd, r->disk, size + SEAL_TAG, r->at + 4);
    if (got < (ssize_t)(size + SEAL_TAG))
        return got < 0 ? -1 : 0; /* a record cut short at the end: a crash mid-append */
    unsigned char nonce[12];
    chunk_nonce(r->index, NONCE_RECORD, nonce);
    if (!gcm(false, r->key, nonce, len, 4, r->disk, size, r->plain, r->disk + size)) {
        errno = EBADMSG;
        return -1;
    }
    r->index++;
    r->at += (off_t)(4 + size + SEAL_TAG);
    *p = r->plain;
    *n = size;
    return 1;
}

void sealed_records_close(struct sealed_records *r)
{
    if (!r)
        return;
    close(r->fd);
    if (r->plain)
        OPENSSL_cleanse(r->plain, r->cap > SEAL_TAG ? r->cap - SEAL_TAG : 0);
    free(r->disk);
    free(r->plain);
    OPENSSL_cleanse(r, sizeof *r);
    free(r);
}
