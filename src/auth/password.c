/*
 * password.c -- passwords kept only as slow salted hashes, and MLflow's
 * permission words.
 *
 * A stored hash reads "scrypt$<log2 N>$<r>$<p>$<salt>$<key>" (base64), so
 * the cost can be raised later without invalidating what is stored: each
 * hash carries the parameters it was made with. scrypt (OpenSSL) is
 * memory-hard: guessing passwords from a stolen store costs 32 MiB and tens
 * of milliseconds per guess. The parameters read back from a hash are
 * bounded, so a damaged row cannot make a check run for minutes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/auth.h"
#include "util/arena.h"
#include "util/jparse.h"

#define SCRYPT_LOG_N 15 /* N = 32768 */
#define SCRYPT_R 8
#define SCRYPT_P 1
#define SALT_BYTES 16
#define KEY_BYTES 32
#define SCRYPT_MAXMEM (256u << 20)

static const char *const level_names[] = {
    [AUTH_NO_PERMISSIONS] = "NO_PERMISSIONS",
    [AUTH_READ] = "READ",
    [AUTH_EDIT] = "EDIT",
    [AUTH_MANAGE] = "MANAGE",
};

bool auth_level_parse(const char *name, enum auth_level *out)
{
    for (size_t i = 0; name && i < sizeof level_names / sizeof *level_names; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum auth_level)i;
            return true;
        }
    }
    return false;
}

const char *auth_level_name(enum auth_level level)
{
    return level_names[level];
}

enum keel_err auth_level_check(struct keel_ctx *ctx, const char *name)
{
    enum auth_level l;
    if (auth_level_parse(name, &l))
        return KEEL_OK;
    /* MLflow lists its words as a Python tuple */
    return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                     "Invalid permission '%s'. Valid permissions are: ('READ', 'EDIT', "
                     "'MANAGE', 'NO_PERMISSIONS')",
                     name ? name : "None");
}

enum keel_err auth_username_check(struct keel_ctx *ctx, const char *username)
{
    if (!username || !*username)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "Username cannot be empty.");
    size_t n = strlen(username);
    if (n > AUTH_USERNAME_MAX)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Username must be at most %d bytes long.", AUTH_USERNAME_MAX);
    if (!jp_utf8_valid(username, n))
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "Username must be UTF-8 text.");
    for (const unsigned char *p = (const unsigned char *)username; *p; p++)
        /* HTTP Basic cannot carry a ':' in the username */
        if (*p < 0x20 || *p == 0x7f || *p == ':')
            return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                             "Username must not contain ':' or control characters.");
    return KEEL_OK;
}

enum keel_err auth_password_check(struct keel_ctx *ctx, const char *password)
{
    if (!password || !*password)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "Password cannot be empty.");
    size_t n = strlen(password), chars = 0;
    if (n > AUTH_PASSWORD_MAX)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Password must be at most %d bytes long.", AUTH_PASSWORD_MAX);
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)password[i] & 0xc0) != 0x80; /* UTF-8 lead bytes */
    if (chars < AUTH_PASSWORD_MIN)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Password must be at least %d characters long.", AUTH_PASSWORD_MIN);
    return KEEL_OK;
}

static bool derive(const char *password, const unsigned char *salt, size_t salt_len, int log_n,
                   int r, int p, unsigned char key[KEY_BYTES])
{
    return EVP_PBE_scrypt(password, strlen(password), salt, salt_len, (uint64_t)1 << log_n,
                          (uint64_t)r, (uint64_t)p, SCRYPT_MAXMEM, key, KEY_BYTES) == 1;
}

enum keel_err auth_password_hash(struct keel_ctx *ctx, const char *password, const char **out)
{
    unsigned char salt[SALT_BYTES], key[KEY_BYTES];
    /* base64 of 16 and 32 bytes: 24 and 44 characters, plus NUL */
    char salt64[4 * ((SALT_BYTES + 2) / 3) + 1], key64[4 * ((KEY_BYTES + 2) / 3) + 1];
    if (RAND_bytes(salt, sizeof salt) != 1)
        return keel_fail(ctx, KEEL_E_INTERNAL, "no randomness for a password salt");
    if (!derive(password, salt, sizeof salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, key))
        return keel_fail(ctx, KEEL_E_INTERNAL, "password hashing failed");
    EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof salt);
    EVP_EncodeBlock((unsigned char *)key64, key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    *out = karena_sprintf(ctx->arena, "scrypt$%d$%d$%d$%s$%s", SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P,
                          salt64, key64);
    return *out ? KEEL_OK : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
}

/* base64 text -> exactly `want` bytes; false otherwise. */
static bool decode64(const char *text, size_t len, unsigned char *out, size_t want)
{
    unsigned char buf[64];
    if (len == 0 || len % 4 || len / 4 * 3 > sizeof buf)
        return false;
    int n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
    if (n < 0)
        return false;
    size_t pad = (text[len - 1] == '=') + (text[len - 2] == '=');
    if ((size_t)n - pad != want)
        return false;
    memcpy(out, buf, want);
    return true;
}

bool auth_password_verify(const char *hash, const char *password)
{
    int log_n, r, p, used = 0;
    if (!hash || !password ||
        sscanf(hash, "scrypt$%2d$%2d$%2d$%n", &log_n, &r, &p, &used) != 3 || !used)
        return false;
    /* only what keel itself would have written: a bound on the work */
    if (log_n < 10 || log_n > 20 || r < 1 || r > 16 || p < 1 || p > 4)
        return false;
    const char *salt64 = hash + used, *dollar = strchr(salt64, '$');
    if (!dollar)
        return false;
    unsigned char salt[SALT_BYTES], want[KEY_BYTES], got[KEY_BYTES];
    if (!decode64(salt64, (size_t)(dollar - salt64), salt, sizeof salt) ||
        !decode64(dollar + 1, strlen(dollar + 1), want, sizeof want))
        return false;
    if (strlen(password) > AUTH_PASSWORD_MAX || !derive(password, salt, sizeof salt, log_n, r, p,
                                                        got))
        return false;
    bool same = CRYPTO_memcmp(got, want, KEY_BYTES) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return same;
}
