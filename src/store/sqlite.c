/*
 * sqlite.c -- the SQLite store's connections and its group-commit writer.
 *
 * Design note (writer):
 *   - One writer connection, owned by the writer thread. Callers enqueue a
 *     struct write_op and sleep on `done_cv`.
 *   - The writer takes every queued op at once, runs BEGIN IMMEDIATE, each op
 *     in SAVEPOINT w / RELEASE w (ROLLBACK TO w when the op fails), COMMIT,
 *     then marks every op done and wakes the callers.
 *   - Invariant: an op is marked done only after the COMMIT that holds it
 *     returned (synchronous=FULL, WAL: durable), or after its transaction was
 *     rolled back, in which case its result is an error. So an acknowledged
 *     write is on disk.
 *   - Shutdown: `stopping` is set, the writer drains the queue, then exits.
 * Readers: a fixed pool of read-only connections; WAL lets them run while the
 * writer commits.
 * Checkpoints: the writer never checkpoints (wal_autocheckpoint=0). Its WAL
 * hook wakes the checkpointer thread once the log passes CHECKPOINT_PAGES,
 * and that thread copies the log into the database (PASSIVE, on its own
 * connection) while the writer goes on committing.
 */
#include "store/sqlite_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/migrations.h"
#include "store/search.h"
#include "util/arena.h"
#include "util/uri.h"

struct write_op {
    store_write_fn fn;
    void *arg;
    struct keel_ctx *ctx;
    enum keel_err result;
    bool done;
    bool recorded; /* its request's audit record went into this transaction */
    struct write_op *next;
};

#define CHECKPOINT_PAGES 4096
/* Past this the writer itself restarts the log (a RESTART checkpoint), so
 * the WAL file cannot grow without bound under a write load that never
 * pauses long enough for a passive checkpoint to finish. */
#define WAL_RESTART_PAGES 32768

struct store {
    char *default_artifact_root;
    struct dbconn writer;
    pthread_t writer_thread;
    struct dbconn checkpointer;
    pthread_t checkpoint_thread;
    pthread_cond_t checkpoint_cv;
    bool checkpoint_wanted;
    int wal_pages;       /* as reported by the last commit; writer thread only */
    int checkpoint_mark; /* wal_pages when the checkpointer was last woken */
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv, reader_cv;
    struct write_op *head, *tail;
    bool stopping;
    struct dbconn *readers;
    bool *reader_busy;
    unsigned n_readers;
};


const char *store_default_artifact_root(const struct store *st)
{
    return st->default_artifact_root;
}

enum keel_err db_fail(struct dbconn *c, struct keel_ctx *ctx, const char *what)
{
    return keel_fail(ctx, KEEL_E_IO, "%s: %s", what, sqlite3_errmsg(c->db));
}

sqlite3_stmt *db_stmt(struct dbconn *c, struct keel_ctx *ctx, const char *sql)
{
    size_t h = ((uintptr_t)sql >> 3) % DB_STMT_CACHE;
    for (size_t i = 0; i < DB_STMT_CACHE; i++) {
        size_t k = (h + i) % DB_STMT_CACHE;
        if (c->cache[k].sql == sql) {
            sqlite3_reset(c->cache[k].stmt);
            sqlite3_clear_bindings(c->cache[k].stmt);
            return c->cache[k].stmt;
        }
        if (!c->cache[k].sql) {
            sqlite3_stmt *s = NULL;
            if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
                SQLITE_OK) {
                db_fail(c, ctx, "prepare");
                return NULL;
            }
            c->cache[k].sql = sql;
            c->cache[k].stmt = s;
            return s;
        }
    }
    keel_fail(ctx, KEEL_E_INTERNAL, "statement cache full (raise DB_STMT_CACHE)");
    return NULL;
}

sqlite3_stmt *db_prepare(struct dbconn *c, struct keel_ctx *ctx, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
        db_fail(c, ctx, "prepare");
        return NULL;
    }
    return s;
}

const char *db_text(struct keel_ctx *ctx, sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    if (!t)
        return NULL;
    return karena_strndup(ctx->arena, (const char *)t, (size_t)sqlite3_column_bytes(s, col));
}

int db_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

void *db_grow(struct keel_ctx *ctx, void *v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return v;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = karena_realloc(ctx->arena, v, *cap * size, ncap * size);
    if (p)
        *cap = ncap;
    return p;
}

int db_bind_search(sqlite3_stmt *s, int idx, const struct search_bind *b, size_t n)
{
    for (size_t i = 0; i < n; i++, idx++) {
        if (b[i].kind == SEARCH_BIND_TEXT)
            db_bind_text(s, idx, b[i].text);
        else if (b[i].kind == SEARCH_BIND_DOUBLE)
            sqlite3_bind_double(s, idx, b[i].d);
        else
            sqlite3_bind_int64(s, idx, b[i].i);
    }
    return idx;
}

static void conn_close(struct dbconn *c)
{
    for (size_t i = 0; i < DB_STMT_CACHE; i++)
        if (c->cache[i].stmt)
            sqlite3_finalize(c->cache[i].stmt);
    memset(c->cache, 0, sizeof c->cache);
    if (c->db)
        sqlite3_close(c->db);
    c->db = NULL;
}

static enum keel_err conn_open(struct dbconn *c, const char *path, bool readonly,
                               struct keel_ctx *ctx)
{
    memset(c, 0, sizeof *c);
    int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        enum keel_err e = keel_fail(ctx, KEEL_E_IO, "cannot open store %s: %s", path,
                                    c->db ? sqlite3_errmsg(c->db) : "out of memory");
        conn_close(c);
        return e;
    }
    sqlite3_busy_timeout(c->db, 10000);
    const char *pragmas = readonly ? "PRAGMA query_only=1;"
                                   : "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                     "PRAGMA foreign_keys=ON;";
    char *msg = NULL;
    if (sqlite3_exec(c->db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;", NULL, NULL,
                     &msg) != SQLITE_OK) {
        enum keel_err e = keel_fail(ctx, KEEL_E_IO, "cannot configure store: %s", msg);
        sqlite3_free(msg);
        conn_close(c);
        return e;
    }
    return KEEL_OK;
}

/* Transaction control through cached statements: the writer runs these
 * for every write, so they are prepared once. */
static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_savepoint[] = "SAVEPOINT w";
static const char sql_rollback_to[] = "ROLLBACK TO w";
static const char sql_release[] = "RELEASE w";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

static bool tx(struct dbconn *c, struct keel_ctx *ctx, const char *sql)
{
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return false;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE;
}

/* The write, then the request's audit record in the same savepoint: a
 * record that cannot be stored undoes its change. */
static enum keel_err run_op(struct dbconn *c, struct write_op *op, struct audit_tail *tail)
{
    enum keel_err e = op->fn(c, op->ctx, op->arg);
    struct keel_audit *audit = op->ctx->audit;
    if (e || !audit || audit->stored)
        return e;
    if ((e = sql_audit_append(c, op->ctx, tail)))
        return e;
    audit->stored = true;
    return KEEL_OK;
}

/* The whole transaction was rolled back, the records it held with it: a
 * later write of the same request must carry its record again. */
static void forget_records(struct write_op *ops)
{
    for (struct write_op *op = ops; op; op = op->next)
        if (op->recorded)
            op->ctx->audit->stored = false;
}

static void run_batch(struct store *st, struct write_op *ops)
{
    struct dbconn *c = &st->writer;
    struct audit_tail tail = {0};
    bool ok = tx(c, ops->ctx, sql_begin);
    for (struct write_op *op = ops; op; op = op->next) {
        if (!ok) {
            op->result = keel_fail(op->ctx, KEEL_E_IO, "store unavailable: %s",
                                   sqlite3_errmsg(c->db));
            continue;
        }
        if (!tx(c, op->ctx, sql_savepoint)) {
            op->result = db_fail(c, op->ctx, "savepoint");
            continue;
        }
        bool had_record = op->ctx->audit && op->ctx->audit->stored;
        struct audit_tail before = tail;
        op->result = run_op(c, op, &tail);
        op->recorded = !had_record && op->ctx->audit && op->ctx->audit->stored;
        if (op->result != KEEL_OK) {
            tx(c, op->ctx, sql_rollback_to);
            tail = before; /* its record, if it made one, went with it */
            if (op->recorded)
                op->ctx->audit->stored = false;
            op->recorded = false;
        }
        tx(c, op->ctx, sql_release);
    }
    /* the chain's new end, once for the whole transaction */
    if (ok && tail.dirty && sql_audit_tail_write(c, ops->ctx, &tail) != KEEL_OK) {
        for (struct write_op *op = ops; op; op = op->next)
            if (op->result == KEEL_OK)
                op->result = keel_fail(op->ctx, KEEL_E_IO, "the audit log's head: %s",
                                       sqlite3_errmsg(c->db));
        tx(c, ops->ctx, sql_rollback);
        ok = false;
        forget_records(ops);
    }
    if (ok && !tx(c, ops->ctx, sql_commit)) {
        const char *why = sqlite3_errmsg(c->db);
        for (struct write_op *op = ops; op; op = op->next)
            if (op->result == KEEL_OK)
                op->result = keel_fail(op->ctx, KEEL_E_IO, "commit failed: %s", why);
        tx(c, ops->ctx, sql_rollback);
        forget_records(ops);
    }
    if (st->wal_pages >= WAL_RESTART_PAGES) {
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        st->wal_pages = 0;
    }
}

static void *writer_main(void *arg)
{
    struct store *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->head && !st->stopping)
            pthread_cond_wait(&st->work_cv, &st->mu);
        if (!st->head && st->stopping)
            break;
        struct write_op *ops = st->head;
        st->head = st->tail = NULL;
        pthread_mutex_unlock(&st->mu);
        run_batch(st, ops);
        pthread_mutex_lock(&st->mu);
        for (struct write_op *op = ops, *next; op; op = next) {
            next = op->next; /* op lives on its caller's stack: read first */
            op->done = true;
        }
        pthread_cond_broadcast(&st->done_cv);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

enum keel_err store_write(struct store *st, struct keel_ctx *ctx, store_write_fn fn, void *arg)
{
    struct write_op op = {.fn = fn, .arg = arg, .ctx = ctx};
    pthread_mutex_lock(&st->mu);
    if (st->stopping) {
        pthread_mutex_unlock(&st->mu);
        return keel_fail(ctx, KEEL_E_INVALID_STATE, "the store is shutting down");
    }
    if (st->tail)
        st->tail->next = &op;
    else
        st->head = &op;
    st->tail = &op;
    pthread_cond_signal(&st->work_cv);
    while (!op.done)
        pthread_cond_wait(&st->done_cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    return op.result;
}

struct dbconn *store_reader(struct store *st)
{
    pthread_mutex_lock(&st->mu);
    for (;;) {
        for (unsigned i = 0; i < st->n_readers; i++) {
            if (!st->reader_busy[i]) {
                st->reader_busy[i] = true;
                pthread_mutex_unlock(&st->mu);
                return &st->readers[i];
            }
        }
        pthread_cond_wait(&st->reader_cv, &st->mu);
    }
}

void store_reader_put(struct store *st, struct dbconn *c)
{
    /* a statement left mid-result would pin this connection's snapshot */
    for (size_t i = 0; i < DB_STMT_CACHE; i++)
        if (c->cache[i].stmt && sqlite3_stmt_busy(c->cache[i].stmt))
            sqlite3_reset(c->cache[i].stmt);
    pthread_mutex_lock(&st->mu);
    st->reader_busy[c - st->readers] = false;
    pthread_cond_signal(&st->reader_cv);
    pthread_mutex_unlock(&st->mu);
}

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db, (void)name;
    struct store *st = arg;
    st->wal_pages = pages;
    if (pages < st->checkpoint_mark)
        st->checkpoint_mark = 0; /* the log was restarted */
    /* wake the checkpointer once per CHECKPOINT_PAGES of new log, not on
     * every commit: each checkpoint also syncs the database file */
    if (pages - st->checkpoint_mark >= CHECKPOINT_PAGES) {
        st->checkpoint_mark = pages;
        pthread_mutex_lock(&st->mu);
        st->checkpoint_wanted = true;
        pthread_cond_signal(&st->checkpoint_cv);
        pthread_mutex_unlock(&st->mu);
    }
    return SQLITE_OK;
}

static void *checkpoint_main(void *arg)
{
    struct store *st = arg;
    pthread_mutex_lock(&st->mu);
    while (!st->stopping) {
        while (!st->checkpoint_wanted && !st->stopping)
            pthread_cond_wait(&st->checkpoint_cv, &st->mu);
        if (st->stopping)
            break;
        st->checkpoint_wanted = false;
        pthread_mutex_unlock(&st->mu);
        sqlite3_wal_checkpoint_v2(st->checkpointer.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                  NULL);
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static enum keel_err ensure_default_experiment(struct store *st, struct keel_ctx *ctx)
{
    sqlite3_stmt *s = db_prepare(&st->writer, ctx,
                                 "INSERT OR IGNORE INTO experiments(experiment_id, name, "
                                 "artifact_location, lifecycle_stage, creation_time, "
                                 "last_update_time) VALUES (0, 'Default', ?, 'active', ?, ?)");
    if (!s)
        return ctx->err;
    const char *loc = uri_append(ctx->arena, st->default_artifact_root, "0");
    int64_t now = keel_now_ms();
    db_bind_text(s, 1, loc);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, now);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(&st->writer, ctx, "create Default experiment");
}

/* Process-wide SQLite settings, before its first use: no memory statistics
 * (they take a global mutex on every allocation). */
static void sqlite_global_config(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

enum keel_err store_open(struct store **out, const struct store_config *cfg,
                         struct keel_ctx *ctx)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_global_config);
    struct store *st = calloc(1, sizeof *st);
    if (!st)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    st->default_artifact_root = strdup(cfg->default_artifact_root);
    st->n_readers = cfg->readers ? cfg->readers : 4;
    st->readers = calloc(st->n_readers, sizeof *st->readers);
    st->reader_busy = calloc(st->n_readers, sizeof *st->reader_busy);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->work_cv, NULL);
    pthread_cond_init(&st->done_cv, NULL);
    pthread_cond_init(&st->reader_cv, NULL);
    pthread_cond_init(&st->checkpoint_cv, NULL);
    enum keel_err e = KEEL_OK;
    if (!st->default_artifact_root || !st->readers || !st->reader_busy)
        e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    if (!e)
        e = conn_open(&st->writer, cfg->path, false, ctx);
    if (!e)
        e = store_migrate(st->writer.db, ctx);
    if (!e)
        e = ensure_default_experiment(st, ctx);
    for (unsigned i = 0; !e && i < st->n_readers; i++)
        e = conn_open(&st->readers[i], cfg->path, true, ctx);
    if (!e)
        e = conn_open(&st->checkpointer, cfg->path, false, ctx);
    if (!e) {
        sqlite3_exec(st->writer.db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL);
        sqlite3_exec(st->checkpointer.db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL);
        sqlite3_wal_hook(st->writer.db, on_wal_commit, st);
    }
    bool writer_started = false;
    if (!e && pthread_create(&st->writer_thread, NULL, writer_main, st) != 0)
        e = keel_fail(ctx, KEEL_E_INTERNAL, "cannot start the store writer");
    else if (!e)
        writer_started = true;
    if (!e && pthread_create(&st->checkpoint_thread, NULL, checkpoint_main, st) != 0)
        e = keel_fail(ctx, KEEL_E_INTERNAL, "cannot start the store checkpointer");
    if (e && writer_started) {
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        pthread_cond_signal(&st->work_cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->writer_thread, NULL);
    }
    if (e) {
        conn_close(&st->checkpointer);
        for (unsigned i = 0; st->readers && i < st->n_readers; i++)
            conn_close(&st->readers[i]);
        conn_close(&st->writer);
        free(st->readers);
        free(st->reader_busy);
        free(st->default_artifact_root);
        free(st);
        return e;
    }
    *out = st;
    return KEEL_OK;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_signal(&st->work_cv);
    pthread_cond_signal(&st->checkpoint_cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->writer_thread, NULL);
    pthread_join(st->checkpoint_thread, NULL);
    for (unsigned i = 0; i < st->n_readers; i++)
        conn_close(&st->readers[i]);
    conn_close(&st->checkpointer);
    /* leave a small database behind: fold the log in and truncate it */
    sqlite3_wal_checkpoint_v2(st->writer.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    conn_close(&st->writer);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->work_cv);
    pthread_cond_destroy(&st->done_cv);
    pthread_cond_destroy(&st->reader_cv);
    pthread_cond_destroy(&st->checkpoint_cv);
    free(st->readers);
    free(st->reader_busy);
    free(st->default_artifact_root);
    free(st);
}
