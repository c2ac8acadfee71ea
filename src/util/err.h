/*
 * err.h -- keel's one error type and the call context that carries its message.
 *
 * Everything that can fail returns enum keel_err (KEEL_OK == 0). The human
 * message travels in the struct keel_ctx handed down every call chain, so a
 * layer that fails says *why* once, and the HTTP layer maps the code to
 * MLflow's error_code string and HTTP status through the single table in
 * err.c. Nothing else in keel knows those strings or statuses.
 */
#ifndef KEEL_ERR_H
#define KEEL_ERR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum keel_err {
    KEEL_OK = 0,
    KEEL_E_INVALID_PARAMETER, /* INVALID_PARAMETER_VALUE, 400 */
    KEEL_E_BAD_REQUEST,       /* BAD_REQUEST, 400 */
    KEEL_E_ALREADY_EXISTS,    /* RESOURCE_ALREADY_EXISTS, 400 */
    KEEL_E_NOT_FOUND,         /* RESOURCE_DOES_NOT_EXIST, 404 */
    KEEL_E_NO_ENDPOINT,       /* ENDPOINT_NOT_FOUND, 404 */
    KEEL_E_TOO_LARGE,         /* INVALID_PARAMETER_VALUE, 413 */
    KEEL_E_INVALID_STATE,     /* INVALID_STATE, 500 */
    KEEL_E_INTERNAL,          /* INTERNAL_ERROR, 500 */
    KEEL_E_NOMEM,             /* INTERNAL_ERROR, 500 */
    KEEL_E_IO,                /* INTERNAL_ERROR, 500 */
    KEEL_E_NOT_IMPLEMENTED,   /* NOT_IMPLEMENTED, 501 */
    KEEL_E_NO_ATTRIBUTE,      /* INVALID_PARAMETER_VALUE, 400; MLflow 3's ATTRIBUTE_NOT_FOUND */
    KEEL_E__COUNT
};

/* MLflow's error_code string for a code ("INVALID_PARAMETER_VALUE"). */
const char *keel_err_code(enum keel_err e);
/* The HTTP status that goes with a code. */
int keel_err_http_status(enum keel_err e);
/* MLflow 3's extra error fields for a code: sqlstate ("KAM00") and
 * error_class ("RESOURCE_NOT_FOUND"). */
const char *keel_err_sqlstate(enum keel_err e);
const char *keel_err_class(enum keel_err e);

struct karena;

/*
 * A call context: the request-scoped arena every layer allocates from and the
 * message of the last failure. One per request (or per CLI command); not
 * shared between threads except across a blocking hand-off (the store's
 * writer thread fills it while the owner waits).
 */
struct keel_ctx {
    struct karena *arena;
    enum keel_err err;
    char *errmsg; /* arena-owned; NULL until keel_fail() */
    /* who the call acts for when authentication is on (NULL when it is off,
     * and for keel's own work): the store shows searches only what they may
     * read and grants them MANAGE on what they create */
    const struct keel_principal *who;
    /* the request's audit record, stored by the store's writer with the
     * request's first successful write, in its transaction (store.h) */
    struct keel_audit *audit;
};

/* An authenticated user, as the request layer established it (auth/). */
struct keel_principal {
    int64_t user_id;
    const char *username;
    bool is_admin;
    /* whether a resource without a permission row for this user is readable
     * (the server's default permission) */
    bool default_read;
};

/* Record a failure with a printf-style message; returns e so callers can
 * write `return keel_fail(ctx, KEEL_E_NOT_FOUND, "No run ...")`. */
enum keel_err keel_fail(struct keel_ctx *ctx, enum keel_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum keel_err keel_failv(struct keel_ctx *ctx, enum keel_err e, const char *fmt, va_list ap);

#endif
