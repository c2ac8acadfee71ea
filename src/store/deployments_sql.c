/*
 * deployments_sql.c -- the deployments keel server serves: a name and the
 * model URI it follows. What is loaded right now lives in memory
 * (deploy/deploy.c); this table is what survives a restart.
 */
#include <string.h>

#include "store/sqlite_int.h"
#include "store/store.h"
#include "util/time.h"

struct put_args {
    const struct keel_deployment *d;
    bool update;
};

static enum keel_err op_put(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    const struct put_args *a = arg;
    static const char ins[] = "INSERT INTO deployments(name, model_uri, last_updated_time, "
                              "prediction_log, max_batch_rows, max_batch_wait_us, creation_time) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?3) ON CONFLICT(name) DO NOTHING";
    static const char upd[] = "UPDATE deployments SET model_uri = ?2, last_updated_time = ?3, "
                              "prediction_log = ?4, max_batch_rows = ?5, max_batch_wait_us = ?6 "
                              "WHERE name = ?1";
    sqlite3_stmt *s = db_stmt(c, ctx, a->update ? upd : ins);
    if (!s)
        return ctx->err;
    int64_t now = keel_now_ms();
    db_bind_text(s, 1, a->d->name);
    db_bind_text(s, 2, a->d->model_uri);
    sqlite3_bind_int64(s, 3, now);
    db_bind_text(s, 4, a->d->prediction_log ? a->d->prediction_log : "best-effort");
    sqlite3_bind_int64(s, 5, a->d->max_batch_rows);
    sqlite3_bind_int64(s, 6, a->d->max_batch_wait_us);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "deployment write");
    if (sqlite3_changes(c->db) == 0)
        return a->update ? keel_fail(ctx, KEEL_E_NOT_FOUND, "Deployment '%s' does not exist.",
                                     a->d->name)
                         : keel_fail(ctx, KEEL_E_ALREADY_EXISTS,
                                     "Deployment '%s' already exists.", a->d->name);
    return KEEL_OK;
}

enum keel_err store_deployment_put(struct store *st, struct keel_ctx *ctx,
                                   const struct keel_deployment *d, bool update)
{
    struct put_args a = {d, update};
    return store_write(st, ctx, op_put, &a);
}

static enum keel_err op_delete(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    sqlite3_stmt *s = db_stmt(c, ctx, "DELETE FROM deployments WHERE name = ?");
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, arg);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "deployment delete");
    return sqlite3_changes(c->db) ? KEEL_OK
                                         : keel_fail(ctx, KEEL_E_NOT_FOUND,
                                                     "Deployment '%s' does not exist.",
                                                     (const char *)arg);
}

enum keel_err store_deployment_delete(struct store *st, struct keel_ctx *ctx, const char *name)
{
    return store_write(st, ctx, op_delete, (void *)name);
}


static void row(struct keel_ctx *ctx, sqlite3_stmt *s, struct keel_deployment *d)
{
    d->name = db_text(ctx, s, 0);
    d->model_uri = db_text(ctx, s, 1);
    d->creation_time = sqlite3_column_int64(s, 2);
    d->last_updated_time = sqlite3_column_int64(s, 3);
    d->prediction_log = db_text(ctx, s, 4);
    d->max_batch_rows = sqlite3_column_int64(s, 5);
    d->max_batch_wait_us = sqlite3_column_int64(s, 6);
}

enum keel_err store_deployment_get(struct store *st, struct keel_ctx *ctx, const char *name,
                                   struct keel_deployment *out)
{
    static const char sql[] =
        "SELECT name, model_uri, creation_time, last_updated_time, prediction_log, "
        "max_batch_rows, max_batch_wait_us FROM deployments "
        "WHERE name = ?";
    struct dbconn *c = store_reader(st);
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    enum keel_err e = s ? KEEL_OK : ctx->err;
    if (s) {
        db_bind_text(s, 1, name);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            row(ctx, s, out);
        else if (rc == SQLITE_DONE)
            e = keel_fail(ctx, KEEL_E_NOT_FOUND, "Deployment '%s' does not exist.", name);
        else
            e = db_fail(c, ctx, "deployment read");
        sqlite3_reset(s);
    }
    store_reader_put(st, c);
    return e;
}

enum keel_err store_deployment_list(struct store *st, struct keel_ctx *ctx,
                                    struct keel_deployment **out, size_t *n)
{
    static const char sql[] =
        "SELECT name, model_uri, creation_time, last_updated_time, prediction_log, "
        "max_batch_rows, max_batch_wait_us FROM deployments "
        "ORDER BY name";
    struct dbconn *c = store_reader(st);
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    enum keel_err e = s ? KEEL_OK : ctx->err;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    while (s && e == KEEL_OK) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            e = db_fail(c, ctx, "deployment list");
            break;
        }
        struct keel_deployment *d = db_grow(ctx, *out, *n, &cap, sizeof *d);
        if (!d) {
            e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
            break;
        }
        *out = d;
        row(ctx, s, &(*out)[(*n)++]);
    }
    if (s)
        sqlite3_reset(s);
    store_reader_put(st, c);
    return e;
}
