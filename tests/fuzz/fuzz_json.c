/*
 * fuzz_json.c -- the JSON parser (util/jparse.c) and what is built on it.
 *
 * Any input: jp_parse answers a value or an error with a position, never
 * crashes. A parsed value is written back with the JSON writer and parsed
 * again, which must succeed and write the same text (a fixed point); and
 * printed as Python's repr (error messages quote request values that way).
 * Every number's kept text (jval.lit) must read back as its value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/jparse.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_literals(const struct jval *v, const uint8_t *data, size_t size)
{
    if (v->type == J_ARRAY || v->type == J_OBJECT) {
        for (size_t i = 0; i < v->n; i++)
            check_literals(v->type == J_ARRAY ? &v->u.items[i] : &v->u.members[i].val, data,
                           size);
        return;
    }
    if ((v->type != J_INT && v->type != J_REAL) || !v->lit_len)
        return;
    if (v->lit < (const char *)data || v->lit + v->lit_len > (const char *)data + size)
        __builtin_trap(); /* a view outside the text */
    char text[JP_LIT_MAX + 1];
    memcpy(text, v->lit, v->lit_len);
    text[v->lit_len] = '\0';
    char *end;
    if (v->type == J_INT) {
        long long i = strtoll(text, &end, 10);
        if (*end || i != v->u.i)
            __builtin_trap();
    } else {
        double d = strtod(text, &end);
        if (*end || memcmp(&d, &v->u.d, sizeof d) != 0)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct karena *a = karena_new(256u << 20);
    if (!a)
        return 0;
    const char *err = NULL;
    const struct jval *v = jp_parse(a, (const char *)data, size, &err);
    if (v) {
        check_literals(v, data, size);
        struct kbuf once, twice, py;
        kbuf_init(&once, 64u << 20);
        kbuf_init(&twice, 64u << 20);
        kbuf_init(&py, 64u << 20);
        struct jw w;
        jw_init(&w, &once);
        jw_json(&w, v);
        if (w.err == KEEL_OK) {
            const struct jval *again = jp_parse(a, once.data, once.len, &err);
            if (!again)
                __builtin_trap(); /* the writer wrote what the parser refuses */
            jw_init(&w, &twice);
            jw_json(&w, again);
            if (w.err == KEEL_OK && (once.len != twice.len || memcmp(once.data, twice.data,
                                                                     once.len) != 0))
                __builtin_trap();
        }
        json_pyrepr(&py, v);
        kbuf_free(&once);
        kbuf_free(&twice);
        kbuf_free(&py);
    }
    karena_free(a);
    return 0;
}
