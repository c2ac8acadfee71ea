/*
 * authn.c -- from a request's Authorization header to a user.
 *
 * Basic credentials are checked against the user's scrypt hash, which is
 * slow on purpose; so that a client sending its password with every request
 * (as the MLflow client does) pays that once, a successful check is
 * remembered for CACHE_TTL_S under a keyed digest of (username, password,
 * stored hash). A changed password changes the stored hash, so the memory
 * can never admit an old password; a deleted user is not found before the
 * memory is consulted. The memory holds digests only, never passwords.
 *
 * Design note -- what bounds an attacker:
 *  1. Each username has a failure count (a fixed table, FAIL_SLOTS entries,
 *     keyed by a salted hash; two names sharing a slot share a count, which
 *     only errs towards caution). After AUTH_FREE_FAILURES failures in a
 *     row, the name is locked for 1 s, then 2 s, 4 s... up to
 *     AUTH_MAX_LOCK_S; attempts while locked are refused without checking.
 *     A success clears the count.
 *  2. At most KDF_SLOTS scrypt computations run at once (each takes 32 MiB),
 *     so a flood of guesses costs keel bounded memory and CPU.
 *  3. An unknown username costs the same scrypt work as a known one, so
 *     timing does not tell which usernames exist.
 * Bearer tokens are 256-bit random secrets: guessing is hopeless, so they
 * need no throttle; the stored SHA-256 is compared in constant time.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/auth.h"
#include "util/arena.h"
#include "util/jparse.h"
#include "util/time.h"

#define CACHE_SLOTS 1024
#define CACHE_TTL_S 300
#define FAIL_SLOTS 4096
#define KDF_SLOTS 2
#define AUTH_HEADER_MAX 4096 /* bytes of an Authorization header keel reads */

/* token text: "keel_" <id> "_" <secret>, both from a 62-letter alphabet */
#define TOKEN_PREFIX "keel_"
#define TOKEN_ID_LEN 16
#define TOKEN_SECRET_LEN 43 /* 43 * log2(62) > 256 bits */
#define TOKEN_LEN (sizeof TOKEN_PREFIX - 1 + TOKEN_ID_LEN + 1 + TOKEN_SECRET_LEN)
#define TOKEN_ALPHABET "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
/* the server's own credential: "keeli_" and letters, as long as a token */
#define SELF_PREFIX "keeli_"
#define SELF_SECRET_LEN (TOKEN_LEN - (sizeof SELF_PREFIX - 1))

struct cache_slot {
    unsigned char digest[32];
    int64_t expires_us; /* 0: empty */
};

struct fail_slot {
    uint64_t key;
    unsigned failures;
    int64_t locked_until_us;
};

struct auth {
    struct store *st;
    enum auth_level default_level;
    unsigned char secret[32]; /* keys the cache digests and failure slots */
    const char *dummy_hash;   /* checked for unknown users: equal timing */
    char self[sizeof "Bearer " + TOKEN_LEN]; /* auth_self_credential() */
    pthread_mutex_t mu;       /* guards cache, fails */
    struct cache_slot cache[CACHE_SLOTS];
    struct fail_slot fails[FAIL_SLOTS];
    pthread_mutex_t kdf_mu;
    pthread_cond_t kdf_cv;
    int kdf_running;
};

enum auth_level auth_default_level(const struct auth *a)
{
    return a->default_level;
}

const char *auth_self_credential(const struct auth *a)
{
    return a->self;
}

static bool random_letters(char *out, size_t n);

enum keel_err auth_open(struct auth **out, struct store *st, enum auth_level default_permission,
                        struct keel_ctx *ctx)
{
    struct auth *a = calloc(1, sizeof *a);
    if (!a)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    a->st = st;
    a->default_level = default_permission;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->kdf_mu, NULL);
    pthread_cond_init(&a->kdf_cv, NULL);
    const char *dummy = NULL;
    enum keel_err e = RAND_bytes(a->secret, sizeof a->secret) == 1
                          ? KEEL_OK
                          : keel_fail(ctx, KEEL_E_INTERNAL, "no randomness for the auth key");
    memcpy(a->self, "Bearer " SELF_PREFIX, sizeof "Bearer " SELF_PREFIX - 1);
    if (!e && !random_letters(a->self + sizeof "Bearer " SELF_PREFIX - 1, SELF_SECRET_LEN))
        e = keel_fail(ctx, KEEL_E_INTERNAL, "no randomness for the server's credential");
    if (!e)
        e = auth_password_hash(ctx, "keel: a password nobody has", &dummy);
    if (!e && !(a->dummy_hash = strdup(dummy)))
        e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    if (e) {
        auth_close(a);
        return e;
    }
    *out = a;
    return KEEL_OK;
}

void auth_close(struct auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->kdf_mu);
    pthread_cond_destroy(&a->kdf_cv);
    free((void *)a->dummy_hash);
    OPENSSL_cleanse(a, sizeof *a);
    free(a);
}

/* ---- the failure table ---- */

static uint64_t fail_key(const struct auth *a, const char *username)
{
    /* FNV-1a over the secret then the name: slots unpredictable to callers */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof a->secret; i++)
        h = (h ^ a->secret[i]) * 1099511628211ull;
    for (const unsigned char *p = (const unsigned char *)username; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h | 1; /* 0 marks an empty slot */
}

/* Seconds until `username` may try again; 0 when it may now. */
static int locked_for(struct auth *a, const char *username)
{
    uint64_t k = fail_key(a, username);
    int64_t now = keel_now_us();
    pthread_mutex_lock(&a->mu);
    const struct fail_slot *f = &a->fails[k % FAIL_SLOTS];
    int64_t left = f->key == k ? f->locked_until_us - now : 0;
    pthread_mutex_unlock(&a->mu);
    return left > 0 ? (int)((left + 999999) / 1000000) : 0;
}

static void note_attempt(struct auth *a, const char *username, bool ok)
{
    uint64_t k = fail_key(a, username);
    pthread_mutex_lock(&a->mu);
    struct fail_slot *f = &a->fails[k % FAIL_SLOTS];
    if (ok) {
        if (f->key == k)
            *f = (struct fail_slot){0};
    } else {
        if (f->key != k)
            *f = (struct fail_slot){.key = k};
        if (++f->failures >= AUTH_FREE_FAILURES) {
            unsigned shift = f->failures - AUTH_FREE_FAILURES;
            int64_t lock_s = shift >= 9 ? AUTH_MAX_LOCK_S : (int64_t)1 << shift;
            if (lock_s > AUTH_MAX_LOCK_S)
                lock_s = AUTH_MAX_LOCK_S;
            f->locked_until_us = keel_now_us() + lock_s * 1000000;
        }
    }
    pthread_mutex_unlock(&a->mu);
}

/* ---- the memory of verified credentials ---- */

static void cache_digest(const struct auth *a, const char *username, const char *password,
                         const char *stored_hash, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, a->secret, sizeof a->secret) == 1 &&
              EVP_DigestUpdate(md, username, strlen(username) + 1) == 1 &&
              EVP_DigestUpdate(md, password, strlen(password) + 1) == 1 &&
              EVP_DigestUpdate(md, stored_hash, strlen(stored_hash) + 1) == 1 &&
              EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    if (!ok) /* a digest nobody's credentials produce: never a hit */
        memset(out, 0, 32);
}

static bool cache_has(struct auth *a, const unsigned char d[32])
{
    static const unsigned char zero[32];
    if (CRYPTO_memcmp(d, zero, 32) == 0)
        return false;
    pthread_mutex_lock(&a->mu);
    const struct cache_slot *s = &a->cache[(d[0] | d[1] << 8) % CACHE_SLOTS];
    bool hit = s->expires_us > keel_now_us() && CRYPTO_memcmp(s->digest, d, 32) == 0;
    pthread_mutex_unlock(&a->mu);
    return hit;
}

static void cache_put(struct auth *a, const unsigned char d[32])
{
    pthread_mutex_lock(&a->mu);
    struct cache_slot *s = &a->cache[(d[0] | d[1] << 8) % CACHE_SLOTS];
    memcpy(s->digest, d, 32);
    s->expires_us = keel_now_us() + (int64_t)CACHE_TTL_S * 1000000;
    pthread_mutex_unlock(&a->mu);
}

static bool verify_bounded(struct auth *a, const char *hash, const char *password)
{
    pthread_mutex_lock(&a->kdf_mu);
    while (a->kdf_running >= KDF_SLOTS)
        pthread_cond_wait(&a->kdf_cv, &a->kdf_mu);
    a->kdf_running++;
    pthread_mutex_unlock(&a->kdf_mu);
    bool ok = auth_password_verify(hash, password);
    pthread_mutex_lock(&a->kdf_mu);
    a->kdf_running--;
    pthread_cond_signal(&a->kdf_cv);
    pthread_mutex_unlock(&a->kdf_mu);
    return ok;
}

/* ---- the two schemes ---- */

static enum auth_outcome basic(struct auth *a, struct keel_ctx *ctx, const char *b64,
                               struct keel_principal *who, int *retry_after_s)
{
    size_t len = strlen(b64);
    while (len && b64[len - 1] == ' ')
        len--;
    if (len == 0 || len % 4 || len > AUTH_HEADER_MAX)
        return AUTH_REFUSED;
    char *plain = karena_alloc(ctx->arena, len / 4 * 3 + 1);
    if (!plain) {
        keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        return AUTH_FAILED;
    }
    int n = EVP_DecodeBlock((unsigned char *)plain, (const unsigned char *)b64, (int)len);
    if (n < 0)
        return AUTH_REFUSED;
    n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
    plain[n] = '\0';
    char *colon = memchr(plain, ':', (size_t)n);
    if (!colon || strlen(plain) != (size_t)n) /* no separator, or a NUL inside */
        return AUTH_REFUSED;
    *colon = '\0';
    const char *username = plain, *password = colon + 1;
    if ((*retry_after_s = locked_for(a, username)) > 0)
        return AUTH_THROTTLED;
    struct keel_user u;
    enum keel_err e = store_user_get(a->st, ctx, username, &u);
    if (e == KEEL_E_NOT_FOUND) {
        verify_bounded(a, a->dummy_hash, password); /* as slow as a real check */
        note_attempt(a, username, false);
        return AUTH_REFUSED;
    }
    if (e)
        return AUTH_FAILED;
    unsigned char d[32];
    cache_digest(a, username, password, u.password_hash, d);
    if (!cache_has(a, d)) {
        if (!verify_bounded(a, u.password_hash, password)) {
            note_attempt(a, username, false);
            return AUTH_REFUSED;
        }
        cache_put(a, d);
    }
    note_attempt(a, username, true);
    *who = (struct keel_principal){.user_id = u.id, .username = u.username,
                                   .is_admin = u.is_admin};
    return AUTH_OK;
}

static void sha256(const char *text, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    if (EVP_Digest(text, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32)
        memset(out, 0xff, 32); /* matches no stored hash of a real secret */
}

static enum auth_outcome bearer(struct auth *a, struct keel_ctx *ctx, const char *text,
                                struct keel_principal *who)
{
    const size_t pre = sizeof TOKEN_PREFIX - 1;
    if (strlen(text) == TOKEN_LEN && strncmp(text, SELF_PREFIX, sizeof SELF_PREFIX - 1) == 0) {
        if (CRYPTO_memcmp(text, a->self + 7, TOKEN_LEN) != 0)
            return AUTH_REFUSED;
        *who = (struct keel_principal){.user_id = 0, .username = "keel", .is_admin = true};
        return AUTH_OK;
    }
    if (strlen(text) != TOKEN_LEN || strncmp(text, TOKEN_PREFIX, pre) != 0 ||
        text[pre + TOKEN_ID_LEN] != '_')
        return AUTH_REFUSED;
    char id[TOKEN_ID_LEN + 1];
    memcpy(id, text + pre, TOKEN_ID_LEN);
    id[TOKEN_ID_LEN] = '\0';
    struct keel_token t;
    enum keel_err e = store_token_get(a->st, ctx, id, &t);
    if (e == KEEL_E_NOT_FOUND)
        return AUTH_REFUSED;
    if (e)
        return AUTH_FAILED;
    unsigned char h[32];
    sha256(text + pre + TOKEN_ID_LEN + 1, TOKEN_SECRET_LEN, h);
    if (CRYPTO_memcmp(h, t.secret_hash, 32) != 0)
        return AUTH_REFUSED;
    if (t.expiration_time && t.expiration_time <= keel_now_ms())
        return AUTH_REFUSED;
    *who = (struct keel_principal){.user_id = t.user_id, .username = t.username,
                                   .is_admin = t.is_admin};
    return AUTH_OK;
}

enum auth_outcome auth_authenticate(struct auth *a, struct keel_ctx *ctx,
                                    const char *authorization, struct keel_principal *who,
                                    int *retry_after_s)
{
    *retry_after_s = 0;
    if (!authorization || !*authorization)
        return AUTH_MISSING;
    enum auth_outcome o = AUTH_REFUSED;
    if (strlen(authorization) > AUTH_HEADER_MAX)
        o = AUTH_REFUSED;
    else if (strncasecmp(authorization, "Basic ", 6) == 0)
        o = basic(a, ctx, authorization + 6, who, retry_after_s);
    else if (strncasecmp(authorization, "Bearer ", 7) == 0)
        o = bearer(a, ctx, authorization + 7, who);
    if (o == AUTH_OK)
        who->default_read = a->default_level >= AUTH_READ;
    return o;
}

const char *auth_claimed_user(struct keel_ctx *ctx, const char *authorization)
{
    if (!authorization || strlen(authorization) > AUTH_HEADER_MAX)
        return NULL;
    if (strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *t = authorization + 7;
        size_t pre = sizeof TOKEN_PREFIX - 1;
        if (strlen(t) != TOKEN_LEN || strncmp(t, TOKEN_PREFIX, pre) != 0 ||
            strspn(t + pre, TOKEN_ALPHABET) < TOKEN_ID_LEN)
            return "token (malformed)"; /* only keel's letters go into a record */
        return karena_sprintf(ctx->arena, "token %.*s", TOKEN_ID_LEN, t + pre);
    }
    if (strncasecmp(authorization, "Basic ", 6) != 0)
        return NULL;
    const char *b64 = authorization + 6;
    size_t len = strlen(b64);
    char *plain = len % 4 == 0 && len ? karena_alloc(ctx->arena, len / 4 * 3 + 1) : NULL;
    int n = plain ? EVP_DecodeBlock((unsigned char *)plain, (const unsigned char *)b64, (int)len)
                  : -1;
    if (n <= 0)
        return NULL;
    plain[n] = '\0';
    plain[strcspn(plain, ":")] = '\0';
    return jp_utf8_valid(plain, strlen(plain)) ? plain : NULL;
}

/* ---- issuing tokens ---- */

/* n letters from [0-9A-Za-z], uniformly (rejection of the top of the byte) */
static bool random_letters(char *out, size_t n)
{
    static const char alphabet[] = TOKEN_ALPHABET;
    unsigned char buf[64];
    size_t have = 0;
    while (have < n) {
        if (RAND_bytes(buf, sizeof buf) != 1)
            return false;
        for (size_t i = 0; i < sizeof buf && have < n; i++)
            if (buf[i] < 248) /* 248 = 4 * 62 */
                out[have++] = alphabet[buf[i] % 62];
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return true;
}

enum keel_err auth_token_issue(struct auth *a, struct keel_ctx *ctx, int64_t user_id,
                               const char *name, int64_t expires_ms, const char **token_text,
                               struct keel_token *info)
{
    const size_t pre = sizeof TOKEN_PREFIX - 1;
    char *text = karena_alloc(ctx->arena, TOKEN_LEN + 1);
    char *id = karena_alloc(ctx->arena, TOKEN_ID_LEN + 1);
    unsigned char *hash = karena_alloc(ctx->arena, 32);
    if (!text || !id || !hash)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    memcpy(text, TOKEN_PREFIX, pre);
    if (!random_letters(text + pre, TOKEN_ID_LEN) ||
        !random_letters(text + pre + TOKEN_ID_LEN + 1, TOKEN_SECRET_LEN))
        return keel_fail(ctx, KEEL_E_INTERNAL, "no randomness for a token");
    text[pre + TOKEN_ID_LEN] = '_';
    text[TOKEN_LEN] = '\0';
    memcpy(id, text + pre, TOKEN_ID_LEN);
    id[TOKEN_ID_LEN] = '\0';
    sha256(text + pre + TOKEN_ID_LEN + 1, TOKEN_SECRET_LEN, hash);
    *info = (struct keel_token){.id = id, .name = name ? name : "", .user_id = user_id,
                                .secret_hash = hash, .creation_time = keel_now_ms(),
                                .expiration_time = expires_ms};
    enum keel_err e = store_token_create(a->st, ctx, info);
    if (e)
        return e;
    *token_text = text;
    return KEEL_OK;
}
