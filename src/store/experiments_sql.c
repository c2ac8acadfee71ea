/*
 * experiments_sql.c -- experiments and their tags in the SQLite store.
 *
 * Lifecycle rules are MLflow's: delete and restore are soft and carry the
 * experiment's runs along; a deleted experiment keeps its name, refuses tags,
 * renames and new runs.
 */
#include <stdio.h>
#include <string.h>

#include "store/search.h"
#include "store/sqlite_int.h"
#include "util/arena.h"
#include "util/uri.h"

#define EXP_COLS "experiment_id, name, artifact_location, lifecycle_stage, creation_time, " \
                 "last_update_time"

static void exp_from_row(struct keel_ctx *ctx, sqlite3_stmt *s, struct keel_experiment *e)
{
    memset(e, 0, sizeof *e);
    e->experiment_id = sqlite3_column_int64(s, 0);
    e->name = db_text(ctx, s, 1);
    e->artifact_location = db_text(ctx, s, 2);
    e->lifecycle_stage = db_text(ctx, s, 3);
    e->creation_time = sqlite3_column_int64(s, 4);
    e->last_update_time = sqlite3_column_int64(s, 5);
}

enum keel_err sql_experiment_tags(struct dbconn *c, struct keel_ctx *ctx,
                                  struct keel_experiment *e)
{
    static const char sql[] =
        "SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY rowid";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, e->experiment_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (e->n_tags == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct keel_tag *t = karena_realloc(ctx->arena, e->tags, cap * sizeof *t,
                                                ncap * sizeof *t);
            if (!t)
                return keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
            e->tags = t;
            cap = ncap;
        }
        e->tags[e->n_tags].key = db_text(ctx, s, 0);
        e->tags[e->n_tags].value = db_text(ctx, s, 1);
        e->n_tags++;
    }
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "experiment tags");
}

enum keel_err sql_experiment_load(struct dbconn *c, struct keel_ctx *ctx, int64_t id,
                                  struct keel_experiment *out)
{
    static const char sql[] = "SELECT " EXP_COLS " FROM experiments WHERE experiment_id = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return keel_fail(ctx, KEEL_E_NOT_FOUND, "No Experiment with id=%lld exists",
                         (long long)id);
    if (rc != SQLITE_ROW)
        return db_fail(c, ctx, "experiment");
    exp_from_row(ctx, s, out);
    sqlite3_reset(s);
    return sql_experiment_tags(c, ctx, out);
}

enum keel_err store_experiment_get(struct store *st, struct keel_ctx *ctx, int64_t id,
                                   struct keel_experiment *out)
{
    struct dbconn *c = store_reader(st);
    enum keel_err e = sql_experiment_load(c, ctx, id, out);
    store_reader_put(st, c);
    return e;
}

enum keel_err store_experiment_get_by_name(struct store *st, struct keel_ctx *ctx,
                                           const char *name, struct keel_experiment *out)
{
    static const char sql[] = "SELECT " EXP_COLS " FROM experiments WHERE name = ?";
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s) {
        e = ctx->err;
    } else {
        db_bind_text(s, 1, name);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            exp_from_row(ctx, s, out);
            sqlite3_reset(s);
            e = sql_experiment_tags(c, ctx, out);
        } else if (rc == SQLITE_DONE) {
            e = keel_fail(ctx, KEEL_E_NOT_FOUND, "Could not find experiment with name '%s'",
                          name);
        } else {
            e = db_fail(c, ctx, "experiment by name");
        }
    }
    store_reader_put(st, c);
    return e;
}

struct exp_create_args {
    const char *name, *artifact_location;
    const struct keel_tag *tags;
    size_t n_tags;
    const char *root;
    int64_t id;
};

static enum keel_err upsert_exp_tag(struct dbconn *c, struct keel_ctx *ctx, int64_t id,
                                    const char *key, const char *value)
{
    static const char sql[] = "INSERT INTO experiment_tags(experiment_id, key, value) "
                              "VALUES (?, ?, ?) ON CONFLICT(experiment_id, key) "
                              "DO UPDATE SET value = excluded.value";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, id);
    db_bind_text(s, 2, key);
    db_bind_text(s, 3, value);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "experiment tag");
}

static enum keel_err op_exp_create(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct exp_create_args *a = arg;
    static const char ins[] =
        "INSERT INTO experiments(name, artifact_location, lifecycle_stage, creation_time, "
        "last_update_time) VALUES (?, ?, 'active', ?, ?)";
    sqlite3_stmt *s = db_stmt(c, ctx, ins);
    if (!s)
        return ctx->err;
    int64_t now = keel_now_ms();
    db_bind_text(s, 1, a->name);
    db_bind_text(s, 2, a->artifact_location ? a->artifact_location : "");
    sqlite3_bind_int64(s, 3, now);
    sqlite3_bind_int64(s, 4, now);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT)
        return keel_fail(ctx, KEEL_E_ALREADY_EXISTS,
                         "Experiment(name=%s) already exists. Error: (sqlite3.IntegrityError) "
                         "%s",
                         a->name, sqlite3_errmsg(c->db));
    if (rc != SQLITE_DONE)
        return db_fail(c, ctx, "create experiment");
    a->id = sqlite3_last_insert_rowid(c->db);
    if (!a->artifact_location) {
        static const char upd[] =
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?";
        char idtxt[24];
        snprintf(idtxt, sizeof idtxt, "%lld", (long long)a->id);
        s = db_stmt(c, ctx, upd);
        if (!s)
            return ctx->err;
        db_bind_text(s, 1, uri_append(ctx->arena, a->root, idtxt));
        sqlite3_bind_int64(s, 2, a->id);
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "experiment artifact location");
    }
    for (size_t i = 0; i < a->n_tags; i++) {
        enum keel_err e = upsert_exp_tag(c, ctx, a->id, a->tags[i].key, a->tags[i].value);
        if (e)
            return e;
    }
    char id_text[24];
    snprintf(id_text, sizeof id_text, "%lld", (long long)a->id);
    return sql_grant_creator(c, ctx, STORE_RES_EXPERIMENT, id_text);
}

enum keel_err store_experiment_create(struct store *st, struct keel_ctx *ctx, const char *name,
                                      const char *artifact_location, const struct keel_tag *tags,
                                      size_t n_tags, int64_t *out_id)
{
    struct exp_create_args a = {name, artifact_location, tags, n_tags,
                                store_default_artifact_root(st), 0};
    enum keel_err e = store_write(st, ctx, op_exp_create, &a);
    if (!e)
        *out_id = a.id;
    return e;
}

enum keel_err sql_experiment_active(struct dbconn *c, struct keel_ctx *ctx, int64_t id,
                                    struct keel_experiment *e)
{
    enum keel_err r = sql_experiment_load(c, ctx, id, e);
    if (r)
        return r;
    if (strcmp(e->lifecycle_stage, "active") != 0)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "The experiment %lld must be in the 'active' state. Current state is "
                         "%s.",
                         (long long)id, e->lifecycle_stage);
    return KEEL_OK;
}

struct exp_rename_args {
    int64_t id;
    const char *name;
};

static enum keel_err op_exp_rename(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct exp_rename_args *a = arg;
    struct keel_experiment e;
    enum keel_err r = sql_experiment_load(c, ctx, a->id, &e);
    if (r)
        return r;
    if (strcmp(e.lifecycle_stage, "active") != 0)
        return keel_fail(ctx, KEEL_E_INVALID_STATE, "Cannot rename a non-active experiment.");
    static const char sql[] =
        "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->name);
    sqlite3_bind_int64(s, 2, keel_now_ms());
    sqlite3_bind_int64(s, 3, a->id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT)
        return keel_fail(ctx, KEEL_E_BAD_REQUEST, "(sqlite3.IntegrityError) %s",
                         sqlite3_errmsg(c->db));
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "rename experiment");
}

enum keel_err store_experiment_rename(struct store *st, struct keel_ctx *ctx, int64_t id,
                                      const char *new_name)
{
    struct exp_rename_args a = {id, new_name};
    return store_write(st, ctx, op_exp_rename, &a);
}

struct exp_lifecycle_args {
    int64_t id;
    bool deleted;
};

static enum keel_err op_exp_lifecycle(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct exp_lifecycle_args *a = arg;
    struct keel_experiment e;
    enum keel_err r = sql_experiment_load(c, ctx, a->id, &e);
    if (r)
        return r;
    /* deleting a deleted or restoring an active experiment: not found */
    if (strcmp(e.lifecycle_stage, a->deleted ? "active" : "deleted") != 0)
        return keel_fail(ctx, KEEL_E_NOT_FOUND, "No Experiment with id=%lld exists",
                         (long long)a->id);
    static const char upd_exp[] = "UPDATE experiments SET lifecycle_stage = ?, "
                                  "last_update_time = ? WHERE experiment_id = ?";
    static const char upd_runs[] = "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? "
                                   "WHERE experiment_id = ?";
    const char *stage = a->deleted ? "deleted" : "active";
    int64_t now = keel_now_ms();
    const char *sqls[2] = {upd_exp, upd_runs};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *s = db_stmt(c, ctx, sqls[i]);
        if (!s)
            return ctx->err;
        db_bind_text(s, 1, stage);
        if (i == 1 && !a->deleted)
            sqlite3_bind_null(s, 2);
        else
            sqlite3_bind_int64(s, 2, now);
        sqlite3_bind_int64(s, 3, a->id);
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "experiment lifecycle");
    }
    return KEEL_OK;
}

enum keel_err store_experiment_set_lifecycle(struct store *st, struct keel_ctx *ctx, int64_t id,
                                             bool deleted)
{
    struct exp_lifecycle_args a = {id, deleted};
    return store_write(st, ctx, op_exp_lifecycle, &a);
}

struct exp_tag_args {
    int64_t id;
    const char *key, *value;
};

static enum keel_err op_exp_set_tag(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct exp_tag_args *a = arg;
    struct keel_experiment e;
    enum keel_err r = sql_experiment_active(c, ctx, a->id, &e);
    return r ? r : upsert_exp_tag(c, ctx, a->id, a->key, a->value);
}

enum keel_err store_experiment_set_tag(struct store *st, struct keel_ctx *ctx, int64_t id,
                                       const char *key, const char *value)
{
    struct exp_tag_args a = {id, key, value};
    return store_write(st, ctx, op_exp_set_tag, &a);
}

enum keel_err store_experiment_search(struct store *st, struct keel_ctx *ctx,
                                      enum store_view view, const char *filter,
                                      const char *const *order_by, size_t n_order_by,
                                      struct store_page page, struct keel_experiment **out,
                                      size_t *n_out, const char **next_token)
{
    struct search_sql q;
    int64_t offset = 0;
    *n_out = 0;
    *next_token = NULL;
    enum keel_err e = search_compile_experiments(ctx, filter, order_by, n_order_by, &q);
    if (!e)
        e = search_page_token_decode(ctx, page.page_token, &offset);
    if (e)
        return e;
    const char *stage = view == STORE_VIEW_ACTIVE    ? "e.lifecycle_stage = 'active'"
                        : view == STORE_VIEW_DELETED ? "e.lifecycle_stage = 'deleted'"
                                                     : "1";
    const char *visible = sql_visible(ctx, STORE_RES_EXPERIMENT, "e.experiment_id");
    char *sql = visible ? karena_sprintf(ctx->arena,
                                         "SELECT e.experiment_id, e.name, e.artifact_location, "
                                         "e.lifecycle_stage, e.creation_time, e.last_update_time "
                                         "FROM experiments e WHERE %s AND (%s) AND %s "
                                         "ORDER BY %s LIMIT ? OFFSET ?",
                                         stage, q.where, visible, q.order_by)
                        : NULL;
    if (!sql)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    struct dbconn *c = store_reader(st);
    sqlite3_stmt *s = db_prepare(c, ctx, sql);
    if (!s) {
        store_reader_put(st, c);
        return ctx->err;
    }
    int idx = db_bind_search(s, 1, q.where_binds, q.n_where_binds);
    idx = db_bind_search(s, idx, q.order_binds, q.n_order_binds);
    /* one row past the page tells whether there is a next one */
    sqlite3_bind_int64(s, idx++, page.max_results + 1);
    sqlite3_bind_int64(s, idx++, offset);
    size_t cap = 16, n = 0;
    struct keel_experiment *v = karena_alloc(ctx->arena, cap * sizeof *v);
    while (v && sqlite3_step(s) == SQLITE_ROW) {
        if ((int64_t)n == page.max_results) {
            *next_token = search_page_token_encode(ctx, offset + page.max_results);
            break;
        }
        if (n == cap) {
            v = karena_realloc(ctx->arena, v, cap * sizeof *v, cap * 2 * sizeof *v);
            cap *= 2;
            if (!v)
                break;
        }
        exp_from_row(ctx, s, &v[n++]);
    }
    sqlite3_finalize(s);
    if (!v)
        e = keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
    for (size_t i = 0; !e && i < n; i++)
        e = sql_experiment_tags(c, ctx, &v[i]);
    store_reader_put(st, c);
    *out = v;
    *n_out = n;
    return e;
}
