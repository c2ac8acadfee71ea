/*
 * search.h -- MLflow's search language, parsed into a tree and compiled to SQL.
 *
 * search_compile_runs() and search_compile_experiments() take the filter
 * string and order_by list a client sent and produce SQL fragments over the
 * store's tables (see store/migrations.c) whose every value is a bound
 * parameter: no client text is ever spliced into SQL. Errors carry MLflow's
 * exact messages and codes.
 *
 * The fragments assume these aliases in the caller's query:
 *   runs        AS r   (search_compile_runs)
 *   experiments AS e   (search_compile_experiments)
 * and are used as
 *   SELECT ... FROM runs r WHERE <caller's conditions> AND (<where>)
 *   ORDER BY <order_by> LIMIT ? OFFSET ?
 * with the binds applied in text order: the caller's own, then where_binds,
 * then order_binds, then the caller's limit/offset.
 *
 * All memory comes from ctx->arena.
 */
#ifndef KEEL_STORE_SEARCH_H
#define KEEL_STORE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum search_bind_kind { SEARCH_BIND_TEXT, SEARCH_BIND_DOUBLE, SEARCH_BIND_INT };

struct search_bind {
    enum search_bind_kind kind;
    const char *text; /* SEARCH_BIND_TEXT */
    double d;         /* SEARCH_BIND_DOUBLE */
    int64_t i;        /* SEARCH_BIND_INT */
};

struct search_sql {
    const char *where; /* a boolean SQL expression; "1" when there is no filter */
    const char *order_by; /* full ORDER BY list, tie-breakers included */
    struct search_bind *where_binds;
    size_t n_where_binds;
    struct search_bind *order_binds;
    size_t n_order_binds;
};

enum keel_err search_compile_runs(struct keel_ctx *ctx, const char *filter,
                                  const char *const *order_by, size_t n_order_by,
                                  struct search_sql *out);

enum keel_err search_compile_experiments(struct keel_ctx *ctx, const char *filter,
                                         const char *const *order_by, size_t n_order_by,
                                         struct search_sql *out);

/* Page tokens: MLflow's base64 of {"offset": N}. Decoding anything a client
 * forged gives KEEL_E_INVALID_PARAMETER with MLflow's message, never a
 * negative or absurd offset. NULL or "" decodes to 0. */
enum keel_err search_page_token_decode(struct keel_ctx *ctx, const char *token, int64_t *offset);
/* Arena-allocated token for `offset`. */
const char *search_page_token_encode(struct keel_ctx *ctx, int64_t offset);

#endif
