/*
 * registry_sql.c -- the model registry in the SQLite store.
 *
 * MLflow's rules: a registered model's rename and delete carry its versions,
 * tags and aliases (foreign keys with ON UPDATE/DELETE CASCADE); deleting a
 * version keeps its row under the internal stage Deleted_Internal with its
 * fields redacted, so version numbers are never reused; every read skips
 * such rows. A registered model's latest_versions are, per stage, its
 * highest version.
 */
#include <stdio.h>
#include <string.h>

#include "store/search.h"
#include "store/sqlite_int.h"
#include "util/arena.h"

#define MV_COLS "v.name, v.version, v.creation_time, v.last_updated_time, v.description, " \
                "v.user_id, v.current_stage, v.source, v.run_id, v.run_link, v.status, "   \
                "v.status_message, v.storage_location"

static enum keel_err rm_missing(struct keel_ctx *ctx, const char *name)
{
    return keel_fail(ctx, KEEL_E_NOT_FOUND, "Registered Model with name=%s not found", name);
}

static enum keel_err mv_missing(struct keel_ctx *ctx, const char *name, int64_t version)
{
    return keel_fail(ctx, KEEL_E_NOT_FOUND, "Model Version (name=%s, version=%lld) not found",
                     name, (long long)version);
}


static void mv_from_row(struct keel_ctx *ctx, sqlite3_stmt *s, struct keel_model_version *m)
{
    memset(m, 0, sizeof *m);
    m->name = db_text(ctx, s, 0);
    m->version = sqlite3_column_int64(s, 1);
    m->creation_time = sqlite3_column_int64(s, 2);
    m->last_updated_time = sqlite3_column_int64(s, 3);
    m->description = db_text(ctx, s, 4);
    m->user_id = db_text(ctx, s, 5);
    m->current_stage = db_text(ctx, s, 6);
    m->source = db_text(ctx, s, 7);
    m->run_id = db_text(ctx, s, 8);
    m->run_link = db_text(ctx, s, 9);
    m->status = db_text(ctx, s, 10);
    m->status_message = db_text(ctx, s, 11);
    m->storage_location = db_text(ctx, s, 12);
}

/* key/value rows of a one- or two-parameter query */
static enum keel_err load_tags(struct dbconn *c, struct keel_ctx *ctx, const char *sql,
                               const char *name, int64_t version, struct keel_tag **out,
                               size_t *n)
{
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, name);
    if (version >= 0)
        sqlite3_bind_int64(s, 2, version);
    size_t cap = 0;
    *n = 0;
    *out = NULL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(*out = db_grow(ctx, *out, *n, &cap, sizeof **out)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "too many tags");
        (*out)[*n].key = db_text(ctx, s, 0);
        (*out)[(*n)++].value = db_text(ctx, s, 1);
    }
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "registry tags");
}

/* tags and aliases of a version */
static enum keel_err mv_details(struct dbconn *c, struct keel_ctx *ctx,
                                struct keel_model_version *m, bool with_aliases)
{
    static const char tags[] = "SELECT key, value FROM model_version_tags WHERE name = ? AND "
                               "version = ? ORDER BY rowid";
    static const char aliases[] = "SELECT alias FROM registered_model_aliases WHERE name = ? "
                                  "AND version = ? ORDER BY alias";
    enum keel_err e = load_tags(c, ctx, tags, m->name, m->version, &m->tags, &m->n_tags);
    if (e || !with_aliases)
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, aliases);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, m->name);
    sqlite3_bind_int64(s, 2, m->version);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(m->aliases = db_grow(ctx, m->aliases, m->n_aliases, &cap, sizeof *m->aliases)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "too many aliases");
        m->aliases[m->n_aliases++] = db_text(ctx, s, 0);
    }
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "aliases");
}

static enum keel_err mv_load(struct dbconn *c, struct keel_ctx *ctx, const char *name,
                             int64_t version, struct keel_model_version *out)
{
    static const char sql[] = "SELECT " MV_COLS " FROM model_versions v WHERE v.name = ? AND "
                              "v.version = ? AND v.current_stage <> '" REGISTRY_STAGE_DELETED "'";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, name);
    sqlite3_bind_int64(s, 2, version);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return mv_missing(ctx, name, version);
    if (rc != SQLITE_ROW)
        return db_fail(c, ctx, "model version");
    mv_from_row(ctx, s, out);
    sqlite3_reset(s);
    return mv_details(c, ctx, out, true);
}

/* the registered model's row only (NOT_FOUND when absent) */
static enum keel_err rm_row(struct dbconn *c, struct keel_ctx *ctx, const char *name,
                            struct keel_registered_model *out)
{
    static const char sql[] = "SELECT name, creation_time, last_updated_time, description FROM "
                              "registered_models WHERE name = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return rm_missing(ctx, name);
    if (rc != SQLITE_ROW)
        return db_fail(c, ctx, "registered model");
    memset(out, 0, sizeof *out);
    out->name = db_text(ctx, s, 0);
    out->creation_time = sqlite3_column_int64(s, 1);
    out->last_updated_time = sqlite3_column_int64(s, 2);
    out->description = db_text(ctx, s, 3);
    sqlite3_reset(s);
    return KEEL_OK;
}

/* the whole registered model: row, latest versions, tags, aliases */
enum keel_err sql_rm_load(struct dbconn *c, struct keel_ctx *ctx, const char *name,
                          struct keel_registered_model *out);
enum keel_err sql_rm_load(struct dbconn *c, struct keel_ctx *ctx, const char *name,
                          struct keel_registered_model *out)
{
    static const char latest[] =
        "SELECT " MV_COLS " FROM model_versions v WHERE v.name = ? AND v.current_stage <> '"
        REGISTRY_STAGE_DELETED "' AND v.version = (SELECT max(w.version) FROM model_versions w "
        "WHERE w.name = v.name AND w.current_stage = v.current_stage) ORDER BY v.version";
    static const char tags[] =
        "SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY rowid";
    static const char aliases[] =
        "SELECT alias, version FROM registered_model_aliases WHERE name = ? ORDER BY alias";
    enum keel_err e = rm_row(c, ctx, name, out);
    if (e)
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, latest);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, name);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(out->latest = db_grow(ctx, out->latest, out->n_latest, &cap, sizeof *out->latest)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "too many versions");
        mv_from_row(ctx, s, &out->latest[out->n_latest++]);
    }
    if (rc != SQLITE_DONE)
        return db_fail(c, ctx, "latest versions");
    for (size_t i = 0; i < out->n_latest; i++)
        if ((e = mv_details(c, ctx, &out->latest[i], false)))
            return e;
    if ((e = load_tags(c, ctx, tags, name, -1, &out->tags, &out->n_tags)))
        return e;
    if (!(s = db_stmt(c, ctx, aliases)))
        return ctx->err;
    db_bind_text(s, 1, name);
    cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(out->aliases = db_grow(ctx, out->aliases, out->n_aliases, &cap, sizeof *out->aliases)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "too many aliases");
        out->aliases[out->n_aliases].alias = db_text(ctx, s, 0);
        out->aliases[out->n_aliases++].version = sqlite3_column_int64(s, 1);
    }
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "aliases");
}

enum keel_err store_rm_get(struct store *st, struct keel_ctx *ctx, const char *name,
                           struct keel_registered_model *out)
{
    struct dbconn *c = store_reader(st);
    enum keel_err e = sql_rm_load(c, ctx, name, out);
    store_reader_put(st, c);
    return e;
}

enum keel_err store_mv_get(struct store *st, struct keel_ctx *ctx, const char *name,
                           int64_t version, struct keel_model_version *out)
{
    struct dbconn *c = store_reader(st);
    enum keel_err e = mv_load(c, ctx, name, version, out);
    store_reader_put(st, c);
    return e;
}

/* ---- writes ---- */

static enum keel_err exec1(struct dbconn *c, struct keel_ctx *ctx, const char *sql,
                           const char *t1, const char *t2, const char *t3, int64_t i1,
                           bool use_i1)
{
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    int idx = 1;
    if (t1)
        db_bind_text(s, idx++, t1);
    if (use_i1)
        sqlite3_bind_int64(s, idx++, i1);
    if (t2)
        db_bind_text(s, idx++, t2);
    if (t3)
        db_bind_text(s, idx++, t3);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "registry write");
}

static enum keel_err touch_rm(struct dbconn *c, struct keel_ctx *ctx, const char *name)
{
    static const char sql[] = "UPDATE registered_models SET last_updated_time = ? WHERE name = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, keel_now_ms());
    db_bind_text(s, 2, name);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "registered model");
}

struct rm_args {
    const char *name, *other; /* description or new name */
    const struct keel_tag *tags;
    size_t n_tags;
    struct keel_registered_model *out;
};

static enum keel_err op_rm_create(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct rm_args *a = arg;
    static const char ins[] = "INSERT INTO registered_models(name, creation_time, "
                              "last_updated_time, description) VALUES (?, ?, ?, ?)";
    static const char tag[] = "INSERT INTO registered_model_tags(name, key, value) VALUES "
                              "(?, ?, ?) ON CONFLICT(name, key) DO UPDATE SET value = "
                              "excluded.value";
    sqlite3_stmt *s = db_stmt(c, ctx, ins);
    if (!s)
        return ctx->err;
    int64_t now = keel_now_ms();
    db_bind_text(s, 1, a->name);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, now);
    db_bind_text(s, 4, a->other);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT)
        return keel_fail(ctx, KEEL_E_ALREADY_EXISTS,
                         "Registered Model (name=%s) already exists. Error: "
                         "(sqlite3.IntegrityError) %s",
                         a->name, sqlite3_errmsg(c->db));
    if (rc != SQLITE_DONE)
        return db_fail(c, ctx, "create registered model");
    for (size_t i = 0; i < a->n_tags; i++) {
        enum keel_err e = exec1(c, ctx, tag, a->name, a->tags[i].key, a->tags[i].value, 0, false);
        if (e)
            return e;
    }
    enum keel_err e = sql_grant_creator(c, ctx, STORE_RES_REGISTERED_MODEL, a->name);
    return e ? e : sql_rm_load(c, ctx, a->name, a->out);
}

enum keel_err store_rm_create(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *description, const struct keel_tag *tags, size_t n_tags,
                              struct keel_registered_model *out)
{
    struct rm_args a = {name, description, tags, n_tags, out};
    return store_write(st, ctx, op_rm_create, &a);
}

static enum keel_err op_rm_update(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct rm_args *a = arg;
    static const char sql[] = "UPDATE registered_models SET description = ?, "
                              "last_updated_time = ? WHERE name = ?";
    struct keel_registered_model rm;
    enum keel_err e = rm_row(c, ctx, a->name, &rm);
    if (e)
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->other);
    sqlite3_bind_int64(s, 2, keel_now_ms());
    db_bind_text(s, 3, a->name);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "update registered model");
    return sql_rm_load(c, ctx, a->name, a->out);
}

enum keel_err store_rm_update(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *description, struct keel_registered_model *out)
{
    struct rm_args a = {name, description, NULL, 0, out};
    return store_write(st, ctx, op_rm_update, &a);
}

static enum keel_err op_rm_rename(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct rm_args *a = arg;
    static const char sql[] = "UPDATE registered_models SET name = ?, last_updated_time = ? "
                              "WHERE name = ?";
    static const char versions[] = "UPDATE model_versions SET last_updated_time = ? WHERE name = ?";
    struct keel_registered_model rm;
    enum keel_err e = rm_row(c, ctx, a->name, &rm);
    if (e)
        return e;
    int64_t now = keel_now_ms();
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->other);
    sqlite3_bind_int64(s, 2, now);
    db_bind_text(s, 3, a->name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_CONSTRAINT)
        return keel_fail(ctx, KEEL_E_ALREADY_EXISTS,
                         "Registered Model (name=%s) already exists. Error: "
                         "(sqlite3.IntegrityError) %s",
                         a->other, sqlite3_errmsg(c->db));
    if (rc != SQLITE_DONE)
        return db_fail(c, ctx, "rename registered model");
    if (!(s = db_stmt(c, ctx, versions)))
        return ctx->err;
    sqlite3_bind_int64(s, 1, now);
    db_bind_text(s, 2, a->other);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "rename versions");
    /* permissions follow the model; any left on the new name by a grant
     * made before the model existed give way */
    static const char stale[] = "DELETE FROM registered_model_permissions WHERE name = ?";
    static const char follow[] = "UPDATE registered_model_permissions SET name = ? WHERE name = ?";
    if ((e = exec1(c, ctx, stale, a->other, NULL, NULL, 0, false)) ||
        (e = exec1(c, ctx, follow, a->other, a->name, NULL, 0, false)))
        return e;
    return sql_rm_load(c, ctx, a->other, a->out);
}

enum keel_err store_rm_rename(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *new_name, struct keel_registered_model *out)
{
    struct rm_args a = {name, new_name, NULL, 0, out};
    return store_write(st, ctx, op_rm_rename, &a);
}

static enum keel_err op_rm_delete(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct rm_args *a = arg;
    static const char sql[] = "DELETE FROM registered_models WHERE name = ?";
    /* a model registered later under the same name starts with no grants */
    static const char perms[] = "DELETE FROM registered_model_permissions WHERE name = ?";
    struct keel_registered_model rm;
    enum keel_err e = rm_row(c, ctx, a->name, &rm);
    if (!e)
        e = exec1(c, ctx, sql, a->name, NULL, NULL, 0, false);
    return e ? e : exec1(c, ctx, perms, a->name, NULL, NULL, 0, false);
}

enum keel_err store_rm_delete(struct store *st, struct keel_ctx *ctx, const char *name)
{
    struct rm_args a = {name, NULL, NULL, 0, NULL};
    return store_write(st, ctx, op_rm_delete, &a);
}

struct tag_args {
    const char *name;
    int64_t version; /* < 0: the registered model's tag */
    const char *key, *value;
    bool remove;
};

static enum keel_err op_tag(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct tag_args *a = arg;
    static const char rm_set[] = "INSERT INTO registered_model_tags(name, key, value) VALUES "
                                 "(?, ?, ?) ON CONFLICT(name, key) DO UPDATE SET value = "
                                 "excluded.value";
    static const char rm_del[] = "DELETE FROM registered_model_tags WHERE name = ? AND key = ?";
    static const char mv_set[] =
        "INSERT INTO model_version_tags(name, version, key, value) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(name, version, key) DO UPDATE SET value = excluded.value";
    static const char mv_del[] =
        "DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?";
    enum keel_err e;
    if (a->version < 0) {
        struct keel_registered_model rm;
        if ((e = rm_row(c, ctx, a->name, &rm)))
            return e;
        return a->remove ? exec1(c, ctx, rm_del, a->name, a->key, NULL, 0, false)
                         : exec1(c, ctx, rm_set, a->name, a->key, a->value, 0, false);
    }
    struct keel_model_version mv;
    if ((e = mv_load(c, ctx, a->name, a->version, &mv)))
        return e;
    return a->remove ? exec1(c, ctx, mv_del, a->name, a->key, NULL, a->version, true)
                     : exec1(c, ctx, mv_set, a->name, a->key, a->value, a->version, true);
}

enum keel_err store_rm_set_tag(struct store *st, struct keel_ctx *ctx, const char *name,
                               const char *key, const char *value)
{
    struct tag_args a = {name, -1, key, value, false};
    return store_write(st, ctx, op_tag, &a);
}

enum keel_err store_rm_delete_tag(struct store *st, struct keel_ctx *ctx, const char *name,
                                  const char *key)
{
    struct tag_args a = {name, -1, key, NULL, true};
    return store_write(st, ctx, op_tag, &a);
}

enum keel_err store_mv_set_tag(struct store *st, struct keel_ctx *ctx, const char *name,
                               int64_t version, const char *key, const char *value)
{
    struct tag_args a = {name, version, key, value, false};
    return store_write(st, ctx, op_tag, &a);
}

enum keel_err store_mv_delete_tag(struct store *st, struct keel_ctx *ctx, const char *name,
                                  int64_t version, const char *key)
{
    struct tag_args a = {name, version, key, NULL, true};
    return store_write(st, ctx, op_tag, &a);
}

struct mv_create_args {
    const struct store_mv_create *in;
    struct keel_model_version *out;
};

static enum keel_err op_mv_create(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct mv_create_args *a = arg;
    const struct store_mv_create *in = a->in;
    static const char next[] = "SELECT coalesce(max(version), 0) + 1 FROM model_versions "
                               "WHERE name = ?";
    static const char ins[] =
        "INSERT INTO model_versions(name, version, creation_time, last_updated_time, "
        "description, current_stage, source, run_id, run_link, status, storage_location) "
        "VALUES (?, ?, ?, ?, ?, 'None', ?, ?, ?, 'READY', ?)";
    static const char tag[] =
        "INSERT INTO model_version_tags(name, version, key, value) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(name, version, key) DO UPDATE SET value = excluded.value";
    struct keel_registered_model rm;
    enum keel_err e = rm_row(c, ctx, in->name, &rm);
    if (e)
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, next);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, in->name);
    if (sqlite3_step(s) != SQLITE_ROW)
        return db_fail(c, ctx, "next version");
    int64_t version = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    int64_t now = keel_now_ms();
    if (!(s = db_stmt(c, ctx, ins)))
        return ctx->err;
    db_bind_text(s, 1, in->name);
    sqlite3_bind_int64(s, 2, version);
    sqlite3_bind_int64(s, 3, now);
    sqlite3_bind_int64(s, 4, now);
    db_bind_text(s, 5, in->description ? in->description : "");
    db_bind_text(s, 6, in->source);
    db_bind_text(s, 7, in->run_id ? in->run_id : "");
    db_bind_text(s, 8, in->run_link ? in->run_link : "");
    db_bind_text(s, 9, in->storage_location);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "create model version");
    for (size_t i = 0; i < in->n_tags; i++)
        if ((e = exec1(c, ctx, tag, in->name, in->tags[i].key, in->tags[i].value, version, true)))
            return e;
    if (in->model_id && (e = sql_lm_note_model_version(c, ctx, in->model_id, in->name, version)))
        return e;
    if ((e = touch_rm(c, ctx, in->name)))
        return e;
    return mv_load(c, ctx, in->name, version, a->out);
}

enum keel_err store_mv_create(struct store *st, struct keel_ctx *ctx,
                              const struct store_mv_create *in, struct keel_model_version *out)
{
    struct mv_create_args a = {in, out};
    return store_write(st, ctx, op_mv_create, &a);
}

struct mv_args {
    const char *name;
    int64_t version;
    const char *text; /* description, stage or alias */
    bool flag;        /* set_description / archive_existing */
    struct keel_model_version *out;
};

static enum keel_err op_mv_update(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct mv_args *a = arg;
    static const char sql[] = "UPDATE model_versions SET description = CASE WHEN ? THEN ? ELSE "
                              "description END, last_updated_time = ? WHERE name = ? AND "
                              "version = ?";
    enum keel_err e = mv_load(c, ctx, a->name, a->version, a->out);
    if (e)
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int(s, 1, a->flag);
    db_bind_text(s, 2, a->text);
    sqlite3_bind_int64(s, 3, keel_now_ms());
    db_bind_text(s, 4, a->name);
    sqlite3_bind_int64(s, 5, a->version);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "update model version");
    return mv_load(c, ctx, a->name, a->version, a->out);
}

enum keel_err store_mv_update(struct store *st, struct keel_ctx *ctx, const char *name,
                              int64_t version, bool set_description, const char *description,
                              struct keel_model_version *out)
{
    struct mv_args a = {name, version, description, set_description, out};
    return store_write(st, ctx, op_mv_update, &a);
}

static enum keel_err op_mv_transition(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct mv_args *a = arg;
    static const char archive[] =
        "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ?1 "
        "WHERE name = ?2 AND version <> ?3 AND current_stage = ?4";
    static const char move[] = "UPDATE model_versions SET current_stage = ?4, "
                               "last_updated_time = ?1 WHERE name = ?2 AND version = ?3";
    enum keel_err e = mv_load(c, ctx, a->name, a->version, a->out);
    if (e)
        return e;
    int64_t now = keel_now_ms();
    const char *sqls[2] = {archive, move};
    for (int i = a->flag ? 0 : 1; i < 2; i++) {
        sqlite3_stmt *s = db_stmt(c, ctx, sqls[i]);
        if (!s)
            return ctx->err;
        sqlite3_bind_int64(s, 1, now);
        db_bind_text(s, 2, a->name);
        sqlite3_bind_int64(s, 3, a->version);
        db_bind_text(s, 4, a->text);
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "transition");
    }
    if ((e = touch_rm(c, ctx, a->name)))
        return e;
    return mv_load(c, ctx, a->name, a->version, a->out);
}

enum keel_err store_mv_transition(struct store *st, struct keel_ctx *ctx, const char *name,
                                  int64_t version, const char *stage, bool archive_existing,
                                  struct keel_model_version *out)
{
    struct mv_args a = {name, version, stage, archive_existing, out};
    return store_write(st, ctx, op_mv_transition, &a);
}

static enum keel_err op_mv_delete(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct mv_args *a = arg;
    static const char aliases[] =
        "DELETE FROM registered_model_aliases WHERE name = ? AND version = ?";
    /* the row stays (numbers are never reused), its content goes */
    static const char redact[] =
        "UPDATE model_versions SET current_stage = '" REGISTRY_STAGE_DELETED "', "
        "last_updated_time = ?3, description = NULL, user_id = NULL, "
        "source = 'REDACTED-SOURCE-PATH', run_id = 'REDACTED-RUN-ID', "
        "run_link = 'REDACTED-RUN-LINK', status_message = NULL, storage_location = NULL "
        "WHERE name = ?1 AND version = ?2";
    struct keel_model_version mv;
    enum keel_err e = mv_load(c, ctx, a->name, a->version, &mv);
    if (e)
        return e;
    const char *sqls[2] = {aliases, redact};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *s = db_stmt(c, ctx, sqls[i]);
        if (!s)
            return ctx->err;
        db_bind_text(s, 1, a->name);
        sqlite3_bind_int64(s, 2, a->version);
        if (i == 1)
            sqlite3_bind_int64(s, 3, keel_now_ms());
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "delete model version");
    }
    return touch_rm(c, ctx, a->name);
}

enum keel_err store_mv_delete(struct store *st, struct keel_ctx *ctx, const char *name,
                              int64_t version)
{
    struct mv_args a = {name, version, NULL, false, NULL};
    return store_write(st, ctx, op_mv_delete, &a);
}

static enum keel_err op_alias(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct mv_args *a = arg;
    static const char set[] =
        "INSERT INTO registered_model_aliases(name, alias, version) VALUES (?, ?, ?) "
        "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version";
    static const char del[] = "DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?";
    enum keel_err e;
    if (a->flag) { /* delete */
        struct keel_registered_model rm;
        if ((e = rm_row(c, ctx, a->name, &rm)))
            return e;
        return exec1(c, ctx, del, a->name, a->text, NULL, 0, false);
    }
    struct keel_model_version mv;
    if ((e = mv_load(c, ctx, a->name, a->version, &mv)))
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, set);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->name);
    db_bind_text(s, 2, a->text);
    sqlite3_bind_int64(s, 3, a->version);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "set alias");
}

enum keel_err store_alias_set(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *alias, int64_t version)
{
    struct mv_args a = {name, version, alias, false, NULL};
    return store_write(st, ctx, op_alias, &a);
}

enum keel_err store_alias_delete(struct store *st, struct keel_ctx *ctx, const char *name,
                                 const char *alias)
{
    struct mv_args a = {name, 0, alias, true, NULL};
    return store_write(st, ctx, op_alias, &a);
}

enum keel_err store_alias_get(struct store *st, struct keel_ctx *ctx, const char *name,
                              const char *alias, struct keel_model_version *out)
{
    static const char sql[] =
        "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?";
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s) {
        e = ctx->err;
    } else {
        db_bind_text(s, 1, name);
        db_bind_text(s, 2, alias);
        int rc = sqlite3_step(s);
        int64_t version = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_reset(s);
        if (rc == SQLITE_ROW)
            e = mv_load(c, ctx, name, version, out);
        else if (rc == SQLITE_DONE)
            e = keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "Registered model alias %s not found.",
                          alias);
        else
            e = db_fail(c, ctx, "alias");
    }
    store_reader_put(st, c);
    return e;
}

/* ---- searches ---- */

/* One page of names (and versions) matching a compiled search, reading one
 * row past the page to know whether another follows (MLflow's rule for the
 * registry: a token only when more rows exist). */
static enum keel_err registry_page(struct dbconn *c, struct keel_ctx *ctx, const char *sql,
                                   const struct search_sql *q, int64_t max_results,
                                   int64_t offset, bool versions, const char ***names,
                                   int64_t **nums, size_t *n, bool *more)
{
    sqlite3_stmt *s = db_prepare(c, ctx, sql);
    if (!s)
        return ctx->err;
    int idx = db_bind_search(s, 1, q->where_binds, q->n_where_binds);
    idx = db_bind_search(s, idx, q->order_binds, q->n_order_binds);
    sqlite3_bind_int64(s, idx++, max_results + 1);
    sqlite3_bind_int64(s, idx, offset);
    size_t cap = 0, ncap = 0;
    enum keel_err e = KEEL_OK;
    int rc;
    *n = 0;
    *more = false;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((int64_t)*n == max_results) {
            *more = true;
            break;
        }
        if (!(*names = db_grow(ctx, *names, *n, &cap, sizeof **names)) ||
            (versions && !(*nums = db_grow(ctx, *nums, *n, &ncap, sizeof **nums)))) {
            e = keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
            break;
        }
        (*names)[*n] = db_text(ctx, s, 0);
        if (versions)
            (*nums)[*n] = sqlite3_column_int64(s, 1);
        (*n)++;
    }
    if (!e && rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = db_fail(c, ctx, "registry search");
    sqlite3_finalize(s);
    return e;
}

/* A registry search: compile, decode the token, read one page of keys, then
 * load each entity with `load` into `out` (an array of `size`-byte items). */
struct registry_search {
    enum keel_err (*compile)(struct keel_ctx *, const char *, const char *const *, size_t,
                             unsigned, struct search_sql *);
    const char *select; /* "SELECT <key columns> FROM <table> <alias>" */
    bool versions;      /* the keys are (name, version) */
    const char *name_column; /* the registered model's name in `select` */
};

static enum keel_err load_rm(struct dbconn *c, struct keel_ctx *ctx, const char *name,
                             int64_t version, void *out)
{
    (void)version;
    return sql_rm_load(c, ctx, name, out);
}

static enum keel_err load_mv(struct dbconn *c, struct keel_ctx *ctx, const char *name,
                             int64_t version, void *out)
{
    return mv_load(c, ctx, name, version, out);
}

static enum keel_err registry_search(struct store *st, struct keel_ctx *ctx,
                                     const struct registry_search *rs, const char *filter,
                                     const char *const *order_by, size_t n_order_by,
                                     struct store_page page, bool hide_prompts, size_t size,
                                     enum keel_err (*load)(struct dbconn *, struct keel_ctx *,
                                                           const char *, int64_t, void *),
                                     void **out, size_t *n_out, const char **next_token)
{
    struct search_sql q;
    int64_t offset = 0;
    *out = NULL;
    *n_out = 0;
    *next_token = NULL;
    enum keel_err e = rs->compile(ctx, filter, order_by, n_order_by,
                                  hide_prompts ? SEARCH_HIDE_PROMPTS : 0, &q);
    if (!e)
        e = search_page_token_decode(ctx, page.page_token, &offset);
    if (e)
        return e;
    const char *visible = sql_visible(ctx, STORE_RES_REGISTERED_MODEL, rs->name_column);
    const char *sql = visible ? karena_sprintf(ctx->arena,
                                               "%s WHERE (%s) AND %s ORDER BY %s LIMIT ? OFFSET ?",
                                               rs->select, q.where, visible, q.order_by)
                              : NULL;
    if (!sql)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    const char **names = NULL;
    int64_t *versions = NULL;
    size_t n = 0;
    bool more = false;
    struct dbconn *c = store_reader(st);
    e = registry_page(c, ctx, sql, &q, page.max_results, offset, rs->versions, &names,
                      &versions, &n, &more);
    unsigned char *v = n ? karena_calloc(ctx->arena, n, size) : NULL;
    if (!e && n && !v)
        e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    for (size_t i = 0; !e && i < n; i++)
        e = load(c, ctx, names[i], versions ? versions[i] : 0, v + i * size);
    store_reader_put(st, c);
    if (e)
        return e;
    if (more)
        *next_token = search_page_token_encode(ctx, offset + page.max_results);
    *out = v;
    *n_out = n;
    return KEEL_OK;
}

enum keel_err store_rm_search(struct store *st, struct keel_ctx *ctx, const char *filter,
                              const char *const *order_by, size_t n_order_by,
                              struct store_page page, bool hide_prompts,
                              struct keel_registered_model **out, size_t *n_out,
                              const char **next_token)
{
    static const struct registry_search rs = {search_compile_registered_models,
                                              "SELECT m.name FROM registered_models m", false,
                                              "m.name"};
    return registry_search(st, ctx, &rs, filter, order_by, n_order_by, page, hide_prompts,
                           sizeof **out, load_rm, (void **)out, n_out, next_token);
}

enum keel_err store_mv_search(struct store *st, struct keel_ctx *ctx, const char *filter,
                              const char *const *order_by, size_t n_order_by,
                              struct store_page page, bool hide_prompts,
                              struct keel_model_version **out, size_t *n_out,
                              const char **next_token)
{
    static const struct registry_search rs = {search_compile_model_versions,
                                              "SELECT v.name, v.version FROM model_versions v",
                                              true, "v.name"};
    return registry_search(st, ctx, &rs, filter, order_by, n_order_by, page, hide_prompts,
                           sizeof **out, load_mv, (void **)out, n_out, next_token);
}
