/*
 * batcher.c -- leader/follower batching without a thread of its own.
 *
 * Design note. A batch is FORMING (requests join it), then CLOSED (its
 * leader scores it), then DONE (every member has its slice). The first
 * request to find no forming batch for its model becomes the leader: it
 * waits until the batch holds max_rows rows or max_wait_us has passed,
 * closes it (later arrivals start the next batch), scores the concatenated
 * rows with one model call outside the lock, copies each member's slice
 * into that member's arena (the member is blocked until DONE, so nobody else
 * touches its arena), and wakes them. Invariants: a member returns only when
 * its batch is DONE; the leader returns only after every follower has seen
 * DONE (the batch lives on the leader's stack); a batch holds one model's
 * requests only; at most max_rows rows are scored together unless a single
 * request is larger.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deploy/batcher.h"
#include "util/arena.h"
#include "util/time.h"

struct member {
    const double *x;
    size_t rows;
    struct keel_ctx *ctx;
    struct keel_prediction *out;
    enum keel_err err;
    struct member *next;
};

struct batch {
    const struct keel_model *model;
    struct member *head, *tail;
    size_t rows;
    int state;        /* 0 forming, 1 closed, 2 done */
    size_t followers; /* still to see DONE: the batch lives on its leader's stack */
};

struct batcher {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t max_rows;
    unsigned max_wait_us;
    struct batch *forming;
    struct batcher_sizes sizes;
};

enum keel_err batcher_new(struct batcher **out, size_t max_rows, unsigned max_wait_us,
                          struct keel_ctx *ctx)
{
    struct batcher *b = calloc(1, sizeof *b);
    if (!b)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    pthread_mutex_init(&b->mu, NULL);
    keel_cond_init_monotonic(&b->cv); /* the batch's wait: immune to wall-clock steps */
    b->max_rows = max_rows;
    b->max_wait_us = max_wait_us;
    *out = b;
    return KEEL_OK;
}

void batcher_configure(struct batcher *b, size_t max_rows, unsigned max_wait_us)
{
    pthread_mutex_lock(&b->mu);
    b->max_rows = max_rows;
    b->max_wait_us = max_wait_us;
    pthread_mutex_unlock(&b->mu);
}

void batcher_free(struct batcher *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
}

void batcher_sizes(struct batcher *b, struct batcher_sizes *out)
{
    pthread_mutex_lock(&b->mu);
    *out = b->sizes;
    pthread_mutex_unlock(&b->mu);
}

/* Scores a closed batch (lock not held) and fills every member's result.
 * A batch of several requests is put together and scored in an arena of
 * its own, sized by the batch: the leader's request arena holds its own
 * request and could not be counted on to hold everyone's. */
static void score(struct batch *bt, struct keel_ctx *leader_ctx)
{
    size_t cols = keel_model_n_features(bt->model);
    bool shared = bt->head->next != NULL;
    /* the matrix, and the model's outputs (a few values a row; 64 MiB holds
     * 160 class scores a row for the largest batch, 100,000 rows) */
    struct keel_ctx batch_ctx = {
        .arena = shared ? karena_new(bt->rows * cols * sizeof(double) + (64u << 20))
                        : leader_ctx->arena,
    };
    double *x = !shared ? (double *)bt->head->x
                : batch_ctx.arena ? karena_alloc(batch_ctx.arena, bt->rows * cols * sizeof *x + 1)
                                  : NULL;
    enum keel_err e = x ? KEEL_OK : keel_fail(leader_ctx, KEEL_E_NOMEM, "out of memory");
    if (e == KEEL_OK && shared) {
        size_t at = 0;
        for (struct member *m = bt->head; m; m = m->next) {
            memcpy(x + at * cols, m->x, m->rows * cols * sizeof *x);
            at += m->rows;
        }
    }
    struct keel_prediction all;
    if (e == KEEL_OK)
        e = keel_model_predict(bt->model, x, bt->rows, &all, &batch_ctx);
    const char *why = batch_ctx.errmsg ? batch_ctx.errmsg
                      : leader_ctx->errmsg ? leader_ctx->errmsg
                                           : "failed";
    size_t at = 0;
    for (struct member *m = bt->head; m; m = m->next) {
        m->err = e;
        if (e != KEEL_OK) {
            keel_fail(m->ctx, e, "%s", why);
            continue;
        }
        struct keel_prediction *p = m->out;
        *p = all;
        p->rows = m->rows;
        size_t per = all.cols ? all.cols : 1, n = m->rows * per;
        if (all.kind == KEEL_PRED_INT64) {
            p->i64 = karena_alloc(m->ctx->arena, n * sizeof *p->i64 + 1);
            if (p->i64)
                memcpy(p->i64, all.i64 + at * per, n * sizeof *p->i64);
        } else {
            p->f32 = karena_alloc(m->ctx->arena, n * sizeof *p->f32 + 1);
            if (p->f32)
                memcpy(p->f32, all.f32 + at * per, n * sizeof *p->f32);
        }
        if (!(all.kind == KEEL_PRED_INT64 ? (void *)p->i64 : (void *)p->f32))
            m->err = keel_fail(m->ctx, KEEL_E_NOMEM, "out of memory");
        at += m->rows;
    }
    if (shared)
        karena_free(batch_ctx.arena);
}

enum keel_err batcher_predict(struct batcher *b, const struct keel_model *m, const double *x,
                              size_t rows, struct keel_prediction *out, struct keel_ctx *ctx)
{
    struct member me = {.x = x, .rows = rows, .ctx = ctx, .out = out};
    struct batch mine = {0};
    pthread_mutex_lock(&b->mu);
    if (rows >= b->max_rows || rows == 0) { /* off, or too big to share */
        pthread_mutex_unlock(&b->mu);
        return keel_model_predict(m, x, rows, out, ctx);
    }
    for (;;) {
        struct batch *bt = b->forming;
        if (bt && bt->model == m && bt->rows + rows <= b->max_rows) {
            /* a follower: join, wait for the leader */
            bt->tail->next = &me;
            bt->tail = &me;
            bt->rows += rows;
            bt->followers++;
            pthread_cond_broadcast(&b->cv);
            while (bt->state != 2)
                pthread_cond_wait(&b->cv, &b->mu);
            bt->followers--;
            pthread_cond_broadcast(&b->cv);
            pthread_mutex_unlock(&b->mu);
            return me.err;
        }
        if (!bt)
            break;
        /* another model's batch, or full: wait for it to close */
        while (b->forming == bt)
            pthread_cond_wait(&b->cv, &b->mu);
    }
    /* the leader */
    mine.model = m;
    mine.head = mine.tail = &me;
    mine.rows = rows;
    b->forming = &mine;
    struct timespec until = keel_deadline_after_us((int64_t)b->max_wait_us);
    while (mine.rows < b->max_rows &&
           pthread_cond_timedwait(&b->cv, &b->mu, &until) == 0)
        ;
    b->forming = NULL;
    mine.state = 1;
    b->sizes.batches++;
    b->sizes.rows += mine.rows;
    size_t bucket = 0; /* the first power of two >= rows, else +Inf */
    while (bucket < BATCHER_SIZE_BUCKETS && mine.rows > ((size_t)1 << bucket))
        bucket++;
    b->sizes.by_size[bucket]++;
    pthread_cond_broadcast(&b->cv); /* requests waiting for a closed batch may start one */
    pthread_mutex_unlock(&b->mu);

    score(&mine, ctx);

    pthread_mutex_lock(&b->mu);
    mine.state = 2;
    pthread_cond_broadcast(&b->cv);
    while (mine.followers)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    return me.err;
}
