/*
 * arena.h -- request-scoped bump allocator with a ceiling.
 *
 * A request allocates everything (parsed strings, store results, response
 * text) from one arena and frees it all at once with karena_free(). The arena
 * has a byte ceiling: past it allocations return NULL and callers report
 * KEEL_E_TOO_LARGE/KEEL_E_NOMEM, so no request can take the process's memory.
 */
#ifndef KEEL_ARENA_H
#define KEEL_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct karena;

/* New arena that will hand out at most `ceiling` bytes. Caller frees with
 * karena_free(). Returns NULL when out of memory. */
struct karena *karena_new(size_t ceiling);
/* Frees the arena and every allocation made from it. NULL is safe. */
void karena_free(struct karena *a);

/* Uninitialised memory, 16-byte aligned; NULL past the ceiling. */
void *karena_alloc(struct karena *a, size_t n);
/* Zeroed memory. */
void *karena_calloc(struct karena *a, size_t count, size_t size);
/* Grow a previous allocation (copying); old contents kept. */
void *karena_realloc(struct karena *a, void *old, size_t old_n, size_t new_n);
char *karena_strdup(struct karena *a, const char *s);
char *karena_strndup(struct karena *a, const char *s, size_t n);
char *karena_sprintf(struct karena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *karena_vsprintf(struct karena *a, const char *fmt, va_list ap);
/* Bytes handed out so far. */
size_t karena_used(const struct karena *a);

#endif
