/*
 * fuzz_search.c -- the search languages: filters, order_by, page tokens.
 *
 * The first byte picks the entity (runs, experiments, registered models,
 * model versions, logged models); the rest is split at newlines: the filter,
 * then up to 8 order_by clauses. Compiling must answer SQL or an error with
 * a message, never crash; the page-token decoder takes the whole text too,
 * and a token keel encodes must decode to its offset.
 */
#include <stdint.h>
#include <string.h>

#include "store/search.h"
#include "util/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct karena *a = karena_new(64u << 20);
    if (!a)
        return 0;
    struct keel_ctx ctx = {.arena = a};
    char *text = karena_strndup(a, (const char *)data + 1, size - 1);
    const char *parts[9] = {0};
    size_t np = 0;
    for (char *p = text; p && np < 9;) {
        parts[np++] = p;
        char *nl = strchr(p, '\n');
        if (nl)
            *nl++ = '\0';
        p = nl;
    }
    const char *filter = parts[0];
    const char *const *order = parts + 1;
    size_t n_order = np ? np - 1 : 0;
    struct search_sql sql;
    enum keel_err e;
    switch (data[0] % 5) {
    case 0: e = search_compile_runs(&ctx, filter, order, n_order, &sql); break;
    case 1: e = search_compile_experiments(&ctx, filter, order, n_order, &sql); break;
    case 2:
        e = search_compile_registered_models(&ctx, filter, order, n_order, SEARCH_HIDE_PROMPTS,
                                             &sql);
        break;
    case 3:
        e = search_compile_model_versions(&ctx, filter, order, n_order, 0, &sql);
        break;
    default: {
        struct search_lm_order lo[8];
        for (size_t i = 0; i < n_order; i++)
            lo[i] = (struct search_lm_order){.field_name = order[i], .ascending = (i & 1) != 0};
        e = search_compile_logged_models(&ctx, filter, lo, n_order, &sql);
        break;
    }
    }
    if (e != KEEL_OK && (!ctx.errmsg || !*ctx.errmsg))
        __builtin_trap(); /* refused without saying why */
    ctx.errmsg = NULL;
    int64_t off = 0;
    search_page_token_decode(&ctx, text, &off);
    int64_t want = (int64_t)size * 7919;
    const char *tok = search_page_token_encode(&ctx, want);
    if (tok && (search_page_token_decode(&ctx, tok, &off) != KEEL_OK || off != want))
        __builtin_trap();
    karena_free(a);
    return 0;
}
