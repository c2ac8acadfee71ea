/*
 * buf.c -- growable byte buffer with a ceiling.
 */
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kbuf_init(struct kbuf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
    b->err = KEEL_OK;
}

void kbuf_free(struct kbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = KEEL_OK;
}

void kbuf_reset(struct kbuf *b)
{
    b->len = 0;
    b->err = KEEL_OK;
    if (b->data)
        b->data[0] = '\0';
}

/* Remembers the first failure (the sticky error) and returns e. */
static enum keel_err failed(struct kbuf *b, enum keel_err e)
{
    if (e != KEEL_OK && b->err == KEEL_OK)
        b->err = e;
    return e;
}

enum keel_err kbuf_failed(const struct kbuf *b)
{
    return b->err;
}

static enum keel_err grow(struct kbuf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return failed(b, KEEL_E_TOO_LARGE);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return KEEL_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return failed(b, KEEL_E_NOMEM);
    b->data = p;
    b->cap = cap;
    return KEEL_OK;
}

enum keel_err kbuf_reserve(struct kbuf *b, size_t n)
{
    return grow(b, n);
}

enum keel_err kbuf_add(struct kbuf *b, const void *p, size_t n)
{
    enum keel_err e = grow(b, n);
    if (e)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return KEEL_OK;
}

enum keel_err kbuf_adds(struct kbuf *b, const char *s)
{
    return kbuf_add(b, s, strlen(s));
}

enum keel_err kbuf_addc(struct kbuf *b, char c)
{
    return kbuf_add(b, &c, 1);
}

enum keel_err kbuf_printf(struct kbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return failed(b, KEEL_E_INTERNAL);
    enum keel_err e = grow(b, (size_t)n);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KEEL_OK;
}

char *kbuf_take(struct kbuf *b, size_t *len)
{
    if (!b->data && grow(b, 0) != KEEL_OK)
        return NULL;
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
