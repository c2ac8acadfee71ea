/*
 * buf.h -- growable byte buffer with a ceiling (the curl dynbuf idea).
 *
 * Every kbuf is created with its maximum size; an append that would pass it
 * fails with KEEL_E_TOO_LARGE and leaves the buffer as it was. Storage is
 * malloc'd and owned by the kbuf until kbuf_take() hands it to the caller.
 *
 * The first failed append or reserve is also remembered (a sticky error,
 * kbuf_failed()) until kbuf_reset() or kbuf_free(): a writer of a whole
 * document may ignore each append's result and check once at the end, and
 * a buffer that refused one piece is never mistaken for a complete one.
 */
#ifndef KEEL_BUF_H
#define KEEL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/err.h"

struct kbuf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len, cap, max;
    enum keel_err err; /* the first failed append or reserve; KEEL_OK until then */
};

void kbuf_init(struct kbuf *b, size_t max);
/* Releases the storage; the kbuf may be reused after kbuf_init(). */
void kbuf_free(struct kbuf *b);
/* Empties the buffer (keeping its storage) and clears the sticky error. */
void kbuf_reset(struct kbuf *b);
/* Room for n more bytes now (one allocation instead of several). */
enum keel_err kbuf_reserve(struct kbuf *b, size_t n);
enum keel_err kbuf_add(struct kbuf *b, const void *p, size_t n);
enum keel_err kbuf_adds(struct kbuf *b, const char *s);
enum keel_err kbuf_addc(struct kbuf *b, char c);
enum keel_err kbuf_printf(struct kbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the storage (malloc'd, NUL-terminated) to the caller, who frees it;
 * the kbuf is left empty. Never NULL for a buffer that holds no data: an
 * empty string is allocated. Returns NULL only when out of memory. */
char *kbuf_take(struct kbuf *b, size_t *len);
/* The first append or reserve that failed since kbuf_init/reset/free
 * (KEEL_E_TOO_LARGE past the ceiling, KEEL_E_NOMEM), or KEEL_OK: when it is
 * not KEEL_OK the buffer holds an incomplete document. */
enum keel_err kbuf_failed(const struct kbuf *b);

#endif
