/*
 * arena.c -- chunked bump allocator. Chunks double up to 1 MiB; an
 * allocation larger than a chunk gets a chunk of its own.
 */
#include "util/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct chunk {
    struct chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

struct karena {
    struct chunk *head;
    size_t ceiling, handed;
    size_t next_cap;
};

struct karena *karena_new(size_t ceiling)
{
    struct karena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->ceiling = ceiling;
    a->next_cap = 4096;
    return a;
}

void karena_free(struct karena *a)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *n = c->next;
        free(c);
        c = n;
    }
    free(a);
}

void *karena_alloc(struct karena *a, size_t n)
{
    if (!a)
        return NULL;
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n || need > a->ceiling - a->handed || a->handed > a->ceiling)
        return NULL;
    struct chunk *c = a->head;
    if (!c || c->cap - c->used < need) {
        size_t cap = a->next_cap;
        if (cap < need)
            cap = need;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        /* a big one-off chunk goes behind the current head so the head's
         * free space stays usable for small allocations */
        if (need > a->next_cap && a->head) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
            if (a->next_cap < (1u << 20))
                a->next_cap *= 2;
        }
    }
    void *p = c->data + c->used;
    c->used += need;
    a->handed += need;
    return p;
}

void *karena_calloc(struct karena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = karena_alloc(a, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *karena_realloc(struct karena *a, void *old, size_t old_n, size_t new_n)
{
    void *p = karena_alloc(a, new_n);
    if (p && old)
        memcpy(p, old, old_n < new_n ? old_n : new_n);
    return p;
}

char *karena_strndup(struct karena *a, const char *s, size_t n)
{
    char *p = karena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *karena_strdup(struct karena *a, const char *s)
{
    return s ? karena_strndup(a, s, strlen(s)) : NULL;
}

char *karena_vsprintf(struct karena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *p = karena_alloc(a, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *karena_sprintf(struct karena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = karena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

size_t karena_used(const struct karena *a)
{
    return a ? a->handed : 0;
}
