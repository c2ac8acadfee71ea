/*
 * sqlite_int.h -- internals shared by the SQLite store's files
 * (sqlite.c: connections, the group-commit writer; experiments_sql.c and
 * runs_sql.c: the queries). Not for use outside src/store/.
 */
#ifndef KEEL_STORE_SQLITE_INT_H
#define KEEL_STORE_SQLITE_INT_H

#include <sqlite3.h>

#include "store/store.h"
#include "util/time.h"

#define DB_STMT_CACHE 256

/* A connection with its cache of prepared statements, keyed by the address
 * of the (static) SQL text. */
struct dbconn {
    sqlite3 *db;
    struct {
        const char *sql;
        sqlite3_stmt *stmt;
    } cache[DB_STMT_CACHE];
};

/* A reset, unbound statement for `sql` (a string literal), prepared once per
 * connection. NULL on error (message in ctx). */
sqlite3_stmt *db_stmt(struct dbconn *c, struct keel_ctx *ctx, const char *sql);
/* Prepared on the spot and finalized by the caller (dynamic SQL). */
sqlite3_stmt *db_prepare(struct dbconn *c, struct keel_ctx *ctx, const char *sql);
/* Maps a failed sqlite3 call to KEEL_E_IO with SQLite's message. */
enum keel_err db_fail(struct dbconn *c, struct keel_ctx *ctx, const char *what);
/* Column text copied into the arena (NULL for SQL NULL). */
const char *db_text(struct keel_ctx *ctx, sqlite3_stmt *s, int col);
/* Binds text; NULL binds SQL NULL. */
int db_bind_text(sqlite3_stmt *s, int i, const char *v);
struct search_bind;
/* Binds a compiled filter's values from parameter `idx` on; returns the
 * index after the last one bound. */
int db_bind_search(sqlite3_stmt *s, int idx, const struct search_bind *b, size_t n);

/* Room for one more element in an arena array of n elements (capacity
 * *cap, doubled as needed); NULL when the arena is exhausted. */
void *db_grow(struct keel_ctx *ctx, void *v, size_t n, size_t *cap, size_t size);

/* A write executed by the writer thread inside its own savepoint; a
 * non-OK result rolls back just this write. */
typedef enum keel_err (*store_write_fn)(struct dbconn *c, struct keel_ctx *ctx, void *arg);
enum keel_err store_write(struct store *st, struct keel_ctx *ctx, store_write_fn fn, void *arg);

/* SQL true for the rows whose experiment id / registered model name in
 * `column` the request's principal (ctx->who) may read; "1" when nothing
 * limits them. NULL when out of memory. (auth_sql.c) */
const char *sql_visible(struct keel_ctx *ctx, enum store_resource kind, const char *column);
/* Inside a create: MANAGE on the new resource for the principal, if any. */
enum keel_err sql_grant_creator(struct dbconn *c, struct keel_ctx *ctx, enum store_resource kind,
                                const char *resource);

/* The audit chain's last number and hash (0 and zeros when empty). */
enum keel_err sql_audit_head(struct dbconn *c, struct keel_ctx *ctx, int64_t *seq,
                             unsigned char hash[32]);
/* The chain's end as one transaction of the writer sees it: read from
 * audit_head at the first append (the transaction holds the write lock by
 * then, so no other process moves it), advanced in memory by each append,
 * and written back to audit_head once, before the commit. (audit_sql.c) */
struct audit_tail {
    bool loaded, dirty;
    int64_t seq;
    unsigned char hash[32];
};
/* Appends ctx->audit after *tail, advancing it. */
enum keel_err sql_audit_append(struct dbconn *c, struct keel_ctx *ctx, struct audit_tail *tail);
/* Writes a moved tail to audit_head (within the transaction). */
enum keel_err sql_audit_tail_write(struct dbconn *c, struct keel_ctx *ctx,
                                   const struct audit_tail *tail);

/* Borrow / return a read connection. */
struct dbconn *store_reader(struct store *st);
void store_reader_put(struct store *st, struct dbconn *c);

const char *store_default_artifact_root(const struct store *st);

/* Loaders used by several files. */
enum keel_err sql_experiment_load(struct dbconn *c, struct keel_ctx *ctx, int64_t id,
                                  struct keel_experiment *out);
/* Loads an experiment that must be active (MLflow's message otherwise). */
enum keel_err sql_experiment_active(struct dbconn *c, struct keel_ctx *ctx, int64_t id,
                                    struct keel_experiment *out);
enum keel_err sql_experiment_tags(struct dbconn *c, struct keel_ctx *ctx,
                                  struct keel_experiment *e);
enum keel_err sql_run_info_load(struct dbconn *c, struct keel_ctx *ctx, const char *run_id,
                                struct keel_run_info *out);
enum keel_err sql_run_data_load(struct dbconn *c, struct keel_ctx *ctx, struct keel_run *run);
/* Loads a run that must be active (MLflow's message otherwise). */
enum keel_err sql_run_active(struct dbconn *c, struct keel_ctx *ctx, const char *run_id,
                             struct keel_run_info *info);
/* KEEL_OK for a live (not deleted) logged model, KEEL_E_NOT_FOUND with
 * MLflow's message otherwise. */
enum keel_err sql_lm_exists(struct dbconn *c, struct keel_ctx *ctx, const char *model_id);
/* Records on a live logged model that version `version` of `name` was
 * registered from it (its mlflow.modelVersions tag); KEEL_E_NOT_FOUND when
 * the model does not exist or was deleted. */
enum keel_err sql_lm_note_model_version(struct dbconn *c, struct keel_ctx *ctx,
                                        const char *model_id, const char *name,
                                        int64_t version);


#endif
