/*
 * json_alloc.h -- jansson's allocations from the request arena.
 *
 * Parsing a log-batch body of 1000 metrics makes thousands of small jansson
 * allocations; taking them from the request's arena (and freeing them all
 * with it) removes most of the parse cost. While a thread has an arena set,
 * jansson allocates from it and its frees are no-ops; otherwise jansson uses
 * the heap as usual. Each block carries a tag saying which, so a value
 * allocated on the heap is always freed correctly.
 *
 * Rule: jansson values made while an arena is set must not outlive it.
 */
#ifndef KEEL_JSON_ALLOC_H
#define KEEL_JSON_ALLOC_H

struct karena;

/* Installs the allocator into jansson; call once before any JSON use. */
void json_alloc_install(void);
/* Sets (or, with NULL, clears) the calling thread's arena. */
void json_alloc_use_arena(struct karena *a);

#endif
