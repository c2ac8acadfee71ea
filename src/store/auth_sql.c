/*
 * auth_sql.c -- users, their permissions on experiments and registered
 * models, and their bearer tokens: MLflow's authentication tables, kept in
 * the same database as what they protect so a grant made on creation commits
 * with the creation itself. What a permission allows, and how passwords and
 * tokens are hashed, is auth/'s business; this file stores and finds.
 */
#include <string.h>

#include "store/sqlite_int.h"
#include "store/store.h"
#include "util/arena.h"

/* The two kinds of protected resource differ only in table, column and
 * wording; every statement is a literal so the connection caches it. */
struct perm_kind {
    const char *label_exists; /* MLflow's "already exists" message */
    const char *label_missing;
    const char *ins, *sel, *upd, *del, *list;
};

static const struct perm_kind perm_kinds[] = {
    [STORE_RES_EXPERIMENT] = {
        "Experiment permission (experiment_id=%s, username=%s) already exists.",
        "Experiment permission with experiment_id=%s and username=%s not found",
        "INSERT INTO experiment_permissions(experiment_id, user_id, permission) "
        "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        "SELECT permission FROM experiment_permissions WHERE experiment_id = ?1 AND user_id = ?2",
        "UPDATE experiment_permissions SET permission = ?3 WHERE experiment_id = ?1 "
        "AND user_id = ?2",
        "DELETE FROM experiment_permissions WHERE experiment_id = ?1 AND user_id = ?2",
        "SELECT experiment_id, permission FROM experiment_permissions WHERE user_id = ?1 "
        "ORDER BY experiment_id",
    },
    [STORE_RES_REGISTERED_MODEL] = {
        "Registered model permission (name=%s, username=%s) already exists.",
        "Registered model permission with name=%s and username=%s not found",
        "INSERT INTO registered_model_permissions(name, user_id, permission) "
        "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        "SELECT permission FROM registered_model_permissions WHERE name = ?1 AND user_id = ?2",
        "UPDATE registered_model_permissions SET permission = ?3 WHERE name = ?1 "
        "AND user_id = ?2",
        "DELETE FROM registered_model_permissions WHERE name = ?1 AND user_id = ?2",
        "SELECT name, permission FROM registered_model_permissions WHERE user_id = ?1 "
        "ORDER BY name",
    },
};

/* ---- users ---- */

static enum keel_err no_user(struct keel_ctx *ctx, const char *username)
{
    return keel_fail(ctx, KEEL_E_NOT_FOUND, "User with username=%s not found", username);
}

static enum keel_err user_load(struct dbconn *c, struct keel_ctx *ctx, const char *username,
                               struct keel_user *out)
{
    sqlite3_stmt *s = db_stmt(c, ctx, "SELECT id, username, password_hash, is_admin "
                                      "FROM users WHERE username = ?");
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, username);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return no_user(ctx, username);
    if (rc != SQLITE_ROW)
        return db_fail(c, ctx, "user lookup");
    out->id = sqlite3_column_int64(s, 0);
    out->username = db_text(ctx, s, 1);
    out->password_hash = db_text(ctx, s, 2);
    out->is_admin = sqlite3_column_int(s, 3) != 0;
    sqlite3_reset(s);
    if (!out->username || !out->password_hash)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    return KEEL_OK;
}

enum keel_err store_user_count(struct store *st, struct keel_ctx *ctx, int64_t *n)
{
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, "SELECT count(*) FROM users");
    if (!s)
        e = ctx->err;
    else if (sqlite3_step(s) != SQLITE_ROW)
        e = db_fail(c, ctx, "count users");
    else
        *n = sqlite3_column_int64(s, 0);
    store_reader_put(st, c);
    return e;
}

struct user_create_args {
    const char *username, *password_hash;
    bool is_admin;
    struct keel_user *out;
};

static enum keel_err op_user_create(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct user_create_args *a = arg;
    sqlite3_stmt *s = db_stmt(c, ctx, "INSERT INTO users(username, password_hash, is_admin) "
                                      "VALUES (?, ?, ?) ON CONFLICT(username) DO NOTHING");
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->username);
    db_bind_text(s, 2, a->password_hash);
    sqlite3_bind_int(s, 3, a->is_admin);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "create user");
    if (sqlite3_changes(c->db) == 0)
        return keel_fail(ctx, KEEL_E_ALREADY_EXISTS, "User (username=%s) already exists.",
                         a->username);
    return a->out ? user_load(c, ctx, a->username, a->out) : KEEL_OK;
}

enum keel_err store_user_create(struct store *st, struct keel_ctx *ctx, const char *username,
                                const char *password_hash, bool is_admin, struct keel_user *out)
{
    struct user_create_args a = {username, password_hash, is_admin, out};
    return store_write(st, ctx, op_user_create, &a);
}

enum keel_err store_user_get(struct store *st, struct keel_ctx *ctx, const char *username,
                             struct keel_user *out)
{
    struct dbconn *c = store_reader(st);
    enum keel_err e = user_load(c, ctx, username, out);
    store_reader_put(st, c);
    return e;
}

enum keel_err store_user_list(struct store *st, struct keel_ctx *ctx, struct keel_user **out,
                              size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, "SELECT id, username, is_admin FROM users ORDER BY "
                                      "username");
    int rc = SQLITE_DONE;
    if (!s)
        e = ctx->err;
    while (!e && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(*out = db_grow(ctx, *out, *n, &cap, sizeof **out))) {
            e = keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
            break;
        }
        (*out)[*n] = (struct keel_user){.id = sqlite3_column_int64(s, 0),
                                        .username = db_text(ctx, s, 1),
                                        .is_admin = sqlite3_column_int(s, 2) != 0};
        (*n)++;
    }
    if (!e && rc != SQLITE_DONE)
        e = db_fail(c, ctx, "list users");
    store_reader_put(st, c);
    return e;
}

struct user_update_args {
    const char *username, *password_hash;
    int is_admin;
};

static enum keel_err op_user_update(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct user_update_args *a = arg;
    sqlite3_stmt *s = db_stmt(c, ctx, "UPDATE users SET "
                                      "password_hash = coalesce(?2, password_hash), "
                                      "is_admin = CASE WHEN ?3 < 0 THEN is_admin ELSE ?3 END "
                                      "WHERE username = ?1");
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->username);
    db_bind_text(s, 2, a->password_hash);
    sqlite3_bind_int(s, 3, a->is_admin);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "update user");
    return sqlite3_changes(c->db) ? KEEL_OK : no_user(ctx, a->username);
}

enum keel_err store_user_update(struct store *st, struct keel_ctx *ctx, const char *username,
                                const char *password_hash, int is_admin)
{
    struct user_update_args a = {username, password_hash, is_admin};
    return store_write(st, ctx, op_user_update, &a);
}

static enum keel_err op_user_delete(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    const char *username = arg;
    /* permissions and tokens follow through ON DELETE CASCADE */
    sqlite3_stmt *s = db_stmt(c, ctx, "DELETE FROM users WHERE username = ?");
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, username);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "delete user");
    return sqlite3_changes(c->db) ? KEEL_OK : no_user(ctx, username);
}

enum keel_err store_user_delete(struct store *st, struct keel_ctx *ctx, const char *username)
{
    return store_write(st, ctx, op_user_delete, (void *)username);
}

/* ---- permissions ---- */

struct perm_args {
    const struct perm_kind *k;
    const char *resource, *username, *permission;
    enum { PERM_CREATE, PERM_UPDATE, PERM_DELETE } op;
};

static enum keel_err op_permission(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct perm_args *a = arg;
    struct keel_user u;
    enum keel_err e = user_load(c, ctx, a->username, &u);
    if (e)
        return e;
    const char *sql = a->op == PERM_CREATE   ? a->k->ins
                      : a->op == PERM_UPDATE ? a->k->upd
                                             : a->k->del;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->resource);
    sqlite3_bind_int64(s, 2, u.id);
    if (a->op != PERM_DELETE)
        db_bind_text(s, 3, a->permission);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "permission write");
    if (sqlite3_changes(c->db))
        return KEEL_OK;
    if (a->op == PERM_CREATE)
        return keel_fail(ctx, KEEL_E_ALREADY_EXISTS, a->k->label_exists, a->resource,
                         a->username);
    return keel_fail(ctx, KEEL_E_NOT_FOUND, a->k->label_missing, a->resource, a->username);
}

static enum keel_err permission_write(struct store *st, struct keel_ctx *ctx,
                                      enum store_resource kind, const char *resource,
                                      const char *username, const char *permission, int op)
{
    struct perm_args a = {&perm_kinds[kind], resource, username, permission, op};
    return store_write(st, ctx, op_permission, &a);
}

enum keel_err store_permission_create(struct store *st, struct keel_ctx *ctx,
                                      enum store_resource kind, const char *resource,
                                      const char *username, const char *permission,
                                      struct keel_permission *out)
{
    enum keel_err e = permission_write(st, ctx, kind, resource, username, permission,
                                       PERM_CREATE);
    return e ? e : store_permission_get(st, ctx, kind, resource, username, out);
}

enum keel_err store_permission_update(struct store *st, struct keel_ctx *ctx,
                                      enum store_resource kind, const char *resource,
                                      const char *username, const char *permission)
{
    return permission_write(st, ctx, kind, resource, username, permission, PERM_UPDATE);
}

enum keel_err store_permission_delete(struct store *st, struct keel_ctx *ctx,
                                      enum store_resource kind, const char *resource,
                                      const char *username)
{
    return permission_write(st, ctx, kind, resource, username, NULL, PERM_DELETE);
}

static enum keel_err permission_read(struct dbconn *c, struct keel_ctx *ctx,
                                     enum store_resource kind, const char *resource,
                                     int64_t user_id, const char **permission)
{
    *permission = NULL;
    sqlite3_stmt *s = db_stmt(c, ctx, perm_kinds[kind].sel);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, resource);
    sqlite3_bind_int64(s, 2, user_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && !(*permission = db_text(ctx, s, 0)))
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "permission");
}

enum keel_err store_permission_get(struct store *st, struct keel_ctx *ctx,
                                   enum store_resource kind, const char *resource,
                                   const char *username, struct keel_permission *out)
{
    struct keel_user u;
    struct dbconn *c = store_reader(st);
    enum keel_err e = user_load(c, ctx, username, &u);
    if (!e)
        e = permission_read(c, ctx, kind, resource, u.id, &out->permission);
    store_reader_put(st, c);
    if (!e && !out->permission)
        e = keel_fail(ctx, KEEL_E_NOT_FOUND, perm_kinds[kind].label_missing, resource,
                      username);
    out->resource = resource;
    out->user_id = u.id;
    return e;
}

enum keel_err store_permission_of(struct store *st, struct keel_ctx *ctx,
                                  enum store_resource kind, const char *resource,
                                  int64_t user_id, const char **permission)
{
    struct dbconn *c = store_reader(st);
    enum keel_err e = permission_read(c, ctx, kind, resource, user_id, permission);
    store_reader_put(st, c);
    return e;
}

enum keel_err store_permission_list(struct store *st, struct keel_ctx *ctx,
                                    enum store_resource kind, int64_t user_id,
                                    struct keel_permission **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, perm_kinds[kind].list);
    int rc = SQLITE_DONE;
    if (!s)
        e = ctx->err;
    else
        sqlite3_bind_int64(s, 1, user_id);
    while (!e && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(*out = db_grow(ctx, *out, *n, &cap, sizeof **out))) {
            e = keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
            break;
        }
        (*out)[(*n)++] = (struct keel_permission){db_text(ctx, s, 0), user_id,
                                                  db_text(ctx, s, 1)};
    }
    if (!e && rc != SQLITE_DONE)
        e = db_fail(c, ctx, "list permissions");
    store_reader_put(st, c);
    return e;
}

/* ---- tokens ---- */

static enum keel_err op_token_create(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    const struct keel_token *t = arg;
    sqlite3_stmt *s = db_stmt(c, ctx, "INSERT INTO auth_tokens(id, user_id, name, secret_hash, "
                                      "creation_time, expiration_time) VALUES (?, ?, ?, ?, ?, ?)");
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, t->id);
    sqlite3_bind_int64(s, 2, t->user_id);
    db_bind_text(s, 3, t->name);
    sqlite3_bind_blob(s, 4, t->secret_hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, t->creation_time);
    sqlite3_bind_int64(s, 6, t->expiration_time);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "create token");
}

enum keel_err store_token_create(struct store *st, struct keel_ctx *ctx,
                                 const struct keel_token *t)
{
    return store_write(st, ctx, op_token_create, (void *)t);
}

static enum keel_err token_row(struct keel_ctx *ctx, sqlite3_stmt *s, struct keel_token *t)
{
    *t = (struct keel_token){
        .id = db_text(ctx, s, 0),
        .name = db_text(ctx, s, 1),
        .user_id = sqlite3_column_int64(s, 2),
        .username = db_text(ctx, s, 3),
        .is_admin = sqlite3_column_int(s, 4) != 0,
        .creation_time = sqlite3_column_int64(s, 6),
        .expiration_time = sqlite3_column_int64(s, 7),
    };
    unsigned char *h = karena_alloc(ctx->arena, 32);
    if (h && sqlite3_column_bytes(s, 5) == 32)
        memcpy(h, sqlite3_column_blob(s, 5), 32);
    else if (h)
        memset(h, 0, 32); /* a damaged row matches no secret */
    t->secret_hash = h;
    if (!t->id || !t->name || !t->username || !h)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    return KEEL_OK;
}

#define TOKEN_COLUMNS                                                                          \
    "SELECT t.id, t.name, t.user_id, u.username, u.is_admin, t.secret_hash, t.creation_time, " \
    "t.expiration_time FROM auth_tokens t JOIN users u ON u.id = t.user_id "

enum keel_err store_token_get(struct store *st, struct keel_ctx *ctx, const char *id,
                              struct keel_token *out)
{
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, TOKEN_COLUMNS "WHERE t.id = ?");
    if (!s) {
        e = ctx->err;
    } else {
        db_bind_text(s, 1, id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            e = token_row(ctx, s, out);
        else if (rc == SQLITE_DONE)
            e = keel_fail(ctx, KEEL_E_NOT_FOUND, "Token '%s' not found", id);
        else
            e = db_fail(c, ctx, "token lookup");
        sqlite3_reset(s);
    }
    store_reader_put(st, c);
    return e;
}

enum keel_err store_token_list(struct store *st, struct keel_ctx *ctx, int64_t user_id,
                               struct keel_token **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, TOKEN_COLUMNS "WHERE ?1 = 0 OR t.user_id = ?1 "
                                                    "ORDER BY t.creation_time DESC, t.id");
    int rc = SQLITE_DONE;
    if (!s)
        e = ctx->err;
    else
        sqlite3_bind_int64(s, 1, user_id);
    while (!e && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(*out = db_grow(ctx, *out, *n, &cap, sizeof **out))) {
            e = keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
            break;
        }
        e = token_row(ctx, s, &(*out)[(*n)++]);
    }
    if (!e && rc != SQLITE_DONE)
        e = db_fail(c, ctx, "list tokens");
    store_reader_put(st, c);
    return e;
}

struct token_delete_args {
    const char *id;
    int64_t user_id;
};

static enum keel_err op_token_delete(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct token_delete_args *a = arg;
    sqlite3_stmt *s = db_stmt(c, ctx, "DELETE FROM auth_tokens WHERE id = ?1 "
                                      "AND (?2 = 0 OR user_id = ?2)");
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->id);
    sqlite3_bind_int64(s, 2, a->user_id);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "revoke token");
    return sqlite3_changes(c->db) ? KEEL_OK
                                  : keel_fail(ctx, KEEL_E_NOT_FOUND, "Token '%s' not found",
                                              a->id);
}

enum keel_err store_token_delete(struct store *st, struct keel_ctx *ctx, const char *id,
                                 int64_t user_id)
{
    struct token_delete_args a = {id, user_id};
    return store_write(st, ctx, op_token_delete, &a);
}

/* ---- what the request's principal may see and is granted ---- */

const char *sql_visible(struct keel_ctx *ctx, enum store_resource kind, const char *column)
{
    const struct keel_principal *p = ctx->who;
    if (!p || p->is_admin)
        return "1";
    const char *table = kind == STORE_RES_EXPERIMENT ? "experiment_permissions"
                                                     : "registered_model_permissions";
    const char *key = kind == STORE_RES_EXPERIMENT ? "experiment_id" : "name";
    const char *value = kind == STORE_RES_EXPERIMENT
                            ? karena_sprintf(ctx->arena, "CAST(%s AS TEXT)", column)
                            : column;
    if (!value)
        return NULL;
    /* the user id is keel's own number, never client text */
    if (p->default_read)
        return karena_sprintf(ctx->arena,
                              "NOT EXISTS (SELECT 1 FROM %s vp WHERE vp.user_id = %lld AND "
                              "vp.%s = %s AND vp.permission = 'NO_PERMISSIONS')",
                              table, (long long)p->user_id, key, value);
    return karena_sprintf(ctx->arena,
                          "EXISTS (SELECT 1 FROM %s vp WHERE vp.user_id = %lld AND vp.%s = %s "
                          "AND vp.permission <> 'NO_PERMISSIONS')",
                          table, (long long)p->user_id, key, value);
}

enum keel_err sql_grant_creator(struct dbconn *c, struct keel_ctx *ctx, enum store_resource kind,
                                const char *resource)
{
    if (!ctx->who)
        return KEEL_OK;
    /* the creator manages what they made; a stale row for a reused model
     * name (left by a permission made before the model) is replaced */
    static const char *const sql[] = {
        [STORE_RES_EXPERIMENT] = "INSERT OR REPLACE INTO experiment_permissions(experiment_id, "
                                 "user_id, permission) VALUES (?, ?, 'MANAGE')",
        [STORE_RES_REGISTERED_MODEL] = "INSERT OR REPLACE INTO registered_model_permissions("
                                       "name, user_id, permission) VALUES (?, ?, 'MANAGE')",
    };
    sqlite3_stmt *s = db_stmt(c, ctx, sql[kind]);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, resource);
    sqlite3_bind_int64(s, 2, ctx->who->user_id);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "grant to the creator");
}

enum keel_err store_experiment_of(struct store *st, struct keel_ctx *ctx, bool logged_model,
                                  const char *id, int64_t *experiment_id)
{
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s =
        db_stmt(c, ctx, logged_model ? "SELECT experiment_id FROM logged_models WHERE model_id = ?"
                                     : "SELECT experiment_id FROM runs WHERE run_uuid = ?");
    if (!s) {
        e = ctx->err;
    } else {
        db_bind_text(s, 1, id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            *experiment_id = sqlite3_column_int64(s, 0);
        else if (rc == SQLITE_DONE)
            e = keel_fail(ctx, KEEL_E_NOT_FOUND, "No %s '%s'", logged_model ? "model" : "run",
                          id);
        else
            e = db_fail(c, ctx, "owner lookup");
        sqlite3_reset(s);
    }
    store_reader_put(st, c);
    return e;
}
