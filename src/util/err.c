/*
 * err.c -- the one table that maps keel_err to MLflow's wire vocabulary.
 */
#include "util/err.h"

#include <stdio.h>

#include "util/arena.h"

static const struct {
    const char *code;
    int status;
    const char *sqlstate, *error_class; /* MLflow 3's envelope */
} err_table[KEEL_E__COUNT] = {
    [KEEL_OK] = {"OK", 200, "", ""},
    [KEEL_E_INVALID_PARAMETER] = {"INVALID_PARAMETER_VALUE", 400, "KAM00", "INVALID_PARAMETER_VALUE"},
    [KEEL_E_BAD_REQUEST] = {"BAD_REQUEST", 400, "KAM00", "INVALID_PARAMETER_VALUE"},
    [KEEL_E_ALREADY_EXISTS] = {"RESOURCE_ALREADY_EXISTS", 400, "KAM00", "RESOURCE_ALREADY_EXISTS"},
    [KEEL_E_NOT_FOUND] = {"RESOURCE_DOES_NOT_EXIST", 404, "KAM00", "RESOURCE_NOT_FOUND"},
    [KEEL_E_NO_ENDPOINT] = {"ENDPOINT_NOT_FOUND", 404, "KAM00", "RESOURCE_NOT_FOUND"},
    [KEEL_E_TOO_LARGE] = {"INVALID_PARAMETER_VALUE", 413, "KAM00", "INVALID_PARAMETER_VALUE"},
    [KEEL_E_INVALID_STATE] = {"INVALID_STATE", 500, "XXM00", "CLIENT_INTERNAL_ERROR"},
    [KEEL_E_INTERNAL] = {"INTERNAL_ERROR", 500, "XXM00", "CLIENT_INTERNAL_ERROR"},
    [KEEL_E_NOMEM] = {"INTERNAL_ERROR", 500, "XXM00", "CLIENT_INTERNAL_ERROR"},
    [KEEL_E_IO] = {"INTERNAL_ERROR", 500, "XXM00", "CLIENT_INTERNAL_ERROR"},
    [KEEL_E_NOT_IMPLEMENTED] = {"NOT_IMPLEMENTED", 501, "XXM00", "CLIENT_INTERNAL_ERROR"},
    [KEEL_E_NO_ATTRIBUTE] = {"INVALID_PARAMETER_VALUE", 400, "KAM04", "ATTRIBUTE_NOT_FOUND"},
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

const char *keel_err_sqlstate(enum keel_err e)
{
    return err_table[(unsigned)e < KEEL_E__COUNT ? e : KEEL_E_INTERNAL].sqlstate;
}

const char *keel_err_class(enum keel_err e)
{
    return err_table[(unsigned)e < KEEL_E__COUNT ? e : KEEL_E_INTERNAL].error_class;
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
