/*
 * err.c -- the one table that maps keel_err to MLflow's wire vocabulary.
 */
#include "util/err.h"

#include <stdio.h>

#include "util/arena.h"

static const struct {
    const char *code;
    int status;
} err_table[KEEL_E__COUNT] = {
    [KEEL_OK] = {"OK", 200},
    [KEEL_E_INVALID_PARAMETER] = {"INVALID_PARAMETER_VALUE", 400},
    [KEEL_E_BAD_REQUEST] = {"BAD_REQUEST", 400},
    [KEEL_E_ALREADY_EXISTS] = {"RESOURCE_ALREADY_EXISTS", 400},
    [KEEL_E_NOT_FOUND] = {"RESOURCE_DOES_NOT_EXIST", 404},
    [KEEL_E_NO_ENDPOINT] = {"ENDPOINT_NOT_FOUND", 404},
    [KEEL_E_TOO_LARGE] = {"INVALID_PARAMETER_VALUE", 413},
    [KEEL_E_INVALID_STATE] = {"INVALID_STATE", 500},
    [KEEL_E_INTERNAL] = {"INTERNAL_ERROR", 500},
    [KEEL_E_NOMEM] = {"INTERNAL_ERROR", 500},
    [KEEL_E_IO] = {"INTERNAL_ERROR", 500},
    [KEEL_E_NOT_IMPLEMENTED] = {"NOT_IMPLEMENTED", 501},
};

const char *keel_err_code(enum keel_err e)
{
    if ((unsigned)e >= KEEL_E__COUNT)
        e = KEEL_E_INTERNAL;
    return err_table[e].code;
}

int keel_err_http_status(enum keel_err e)
{
    if ((unsigned)e >= KEEL_E__COUNT)
        e = KEEL_E_INTERNAL;
    return err_table[e].status;
}

enum keel_err keel_failv(struct keel_ctx *ctx, enum keel_err e, const char *fmt, va_list ap)
{
    if (!ctx)
        return e;
    ctx->err = e;
    ctx->errmsg = karena_vsprintf(ctx->arena, fmt, ap);
    return e;
}

enum keel_err keel_fail(struct keel_ctx *ctx, enum keel_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keel_failv(ctx, e, fmt, ap);
    va_end(ap);
    return e;
}
