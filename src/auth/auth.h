/*
 * auth.h -- who is calling, and what MLflow's permission words allow them.
 *
 * keel speaks the authentication the MLflow client already sends: HTTP Basic
 * (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD) and bearer tokens
 * (MLFLOW_TRACKING_TOKEN). Passwords are kept only as scrypt hashes
 * (password.c); tokens are keel-issued random secrets kept only as their
 * SHA-256 (authn.c). Permissions use MLflow's vocabulary: NO_PERMISSIONS <
 * READ < EDIT < MANAGE, where reading needs READ, changing needs EDIT, and
 * deleting or granting needs MANAGE.
 */
#ifndef KEEL_AUTH_H
#define KEEL_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

/* ---- MLflow's permission words, in order of what they allow ---- */
enum auth_level { AUTH_NO_PERMISSIONS, AUTH_READ, AUTH_EDIT, AUTH_MANAGE };

/* false for anything but the four words (case matters, as in MLflow) */
bool auth_level_parse(const char *name, enum auth_level *out);
const char *auth_level_name(enum auth_level level);
/* MLflow's refusal of an unknown word (KEEL_E_INVALID_PARAMETER). */
enum keel_err auth_level_check(struct keel_ctx *ctx, const char *name);

/* ---- passwords (password.c) ---- */
#define AUTH_PASSWORD_MIN 12   /* characters */
#define AUTH_PASSWORD_MAX 1024 /* bytes: a ceiling on what the KDF reads */
#define AUTH_USERNAME_MAX 256  /* bytes */

/* Refuses a username or password keel will not store, saying why. */
enum keel_err auth_username_check(struct keel_ctx *ctx, const char *username);
enum keel_err auth_password_check(struct keel_ctx *ctx, const char *password);
/* A self-describing salted scrypt hash of password, in the arena. Slow on
 * purpose (tens of milliseconds and 32 MiB). */
enum keel_err auth_password_hash(struct keel_ctx *ctx, const char *password, const char **out);
/* Whether password matches a hash made by auth_password_hash; compares in
 * constant time. A malformed hash matches nothing. */
bool auth_password_verify(const char *hash, const char *password);

/* ---- authenticating requests (authn.c) ---- */
struct auth;

/* default_permission: the level a user has on a resource without a
 * permission row (MLflow's default_permission, READ unless configured). */
enum keel_err auth_open(struct auth **out, struct store *st, enum auth_level default_permission,
                        struct keel_ctx *ctx);
void auth_close(struct auth *a); /* NULL is safe */
enum auth_level auth_default_level(const struct auth *a);

enum auth_outcome {
    AUTH_OK,         /* *who is filled */
    AUTH_MISSING,    /* no credentials: 401 asking for them */
    AUTH_REFUSED,    /* wrong or unknown credentials: 401 */
    AUTH_THROTTLED,  /* too many failures for this user lately: 429 */
    AUTH_FAILED,     /* keel could not check (store error): 500, message in ctx */
};

/* Checks the request's Authorization header (NULL when absent). On AUTH_OK
 * *who describes the caller (strings in the arena). On AUTH_THROTTLED
 * *retry_after_s says when to try again. Failed attempts for a username are
 * counted: after AUTH_FREE_FAILURES in a row, each further attempt must wait
 * a delay that doubles up to AUTH_MAX_LOCK_S, and is refused unchecked until
 * then. */
#define AUTH_FREE_FAILURES 5
#define AUTH_MAX_LOCK_S 300
enum auth_outcome auth_authenticate(struct auth *a, struct keel_ctx *ctx,
                                    const char *authorization, struct keel_principal *who,
                                    int *retry_after_s);

/* "Bearer <secret>": how keel server signs in to itself when it resolves a
 * deployment's model through its own API. Made at auth_open, never stored;
 * it acts as an admin named "keel". */
const char *auth_self_credential(const struct auth *a);

/* Who an Authorization header claims to be, for the record of a refusal:
 * the Basic username, "token <id>" for a bearer token, else NULL. */
const char *auth_claimed_user(struct keel_ctx *ctx, const char *authorization);

/* A new bearer token for user_id: *token_text (arena) is shown once and
 * never stored; info is what is kept. expires_ms 0: never expires. */
#define AUTH_TOKEN_NAME_MAX 256
enum keel_err auth_token_issue(struct auth *a, struct keel_ctx *ctx, int64_t user_id,
                               const char *name, int64_t expires_ms, const char **token_text,
                               struct keel_token *info);

#endif
