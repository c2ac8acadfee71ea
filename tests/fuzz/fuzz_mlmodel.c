/*
 * fuzz_mlmodel.c -- MLmodel YAML (model/mlmodel.c): flavors, the signature
 * and its column specs. Any text: parsed or refused with a message.
 */
#include <stdint.h>
#include <string.h>

#include "model/model_int.h"
#include "util/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct karena *a = karena_new(64u << 20);
    if (!a)
        return 0;
    struct keel_ctx ctx = {.arena = a};
    char *text = karena_alloc(a, size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct mlmodel ml;
    if (mlmodel_parse(a, text, size, &ml, &ctx) != KEEL_OK && (!ctx.errmsg || !*ctx.errmsg))
        __builtin_trap();
    karena_free(a);
    return 0;
}
