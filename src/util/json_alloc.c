/*
 * json_alloc.c -- see json_alloc.h.
 */
#include "util/json_alloc.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/arena.h"

#define TAG_HEAP 0x6865617055ull
#define TAG_ARENA 0x6172656e61ull
#define HEADER 16 /* keeps jansson's blocks 16-byte aligned */

static _Thread_local struct karena *tl_arena;

static void *ja_malloc(size_t n)
{
    unsigned char *p;
    uint64_t tag;
    if (n > SIZE_MAX - HEADER)
        return NULL;
    if (tl_arena) {
        p = karena_alloc(tl_arena, n + HEADER);
        tag = TAG_ARENA;
    } else {
        p = malloc(n + HEADER);
        tag = TAG_HEAP;
    }
    if (!p)
        return NULL;
    *(uint64_t *)p = tag;
    return p + HEADER;
}

static void ja_free(void *ptr)
{
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - HEADER;
    if (*(uint64_t *)p == TAG_HEAP)
        free(p);
    /* arena blocks go when their arena does */
}

void json_alloc_install(void)
{
    json_set_alloc_funcs(ja_malloc, ja_free);
}

void json_alloc_use_arena(struct karena *a)
{
    tl_arena = a;
}
