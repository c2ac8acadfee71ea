/*
 * logged_models_sql.c -- MLflow 3's logged models in the SQLite store: a
 * model is created PENDING before its files are uploaded and finalized READY
 * (or UPLOAD_FAILED) after; delete is soft; params are write-once; the runs
 * that produced models record them as outputs.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store/search.h"
#include "store/sqlite_int.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/ids.h"
#include "util/jparse.h"
#include "util/json.h"
#include "util/uri.h"

/* ceiling on the mlflow.modelVersions tag keel writes: ~10k registrations */
#define MODEL_VERSIONS_TAG_MAX (1u << 20)

static enum keel_err lm_missing(struct keel_ctx *ctx, const char *id)
{
    return keel_fail(ctx, KEEL_E_NOT_FOUND, "Logged model with ID '%s' not found.", id);
}

static enum keel_err kv_rows(struct dbconn *c, struct keel_ctx *ctx, const char *sql,
                             const char *id, struct keel_tag **out, size_t *n)
{
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, id);
    size_t cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(*out = db_grow(ctx, *out, *n, &cap, sizeof **out)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "too many entries");
        (*out)[*n].key = db_text(ctx, s, 0);
        (*out)[(*n)++].value = db_text(ctx, s, 1);
    }
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "logged model");
}

static enum keel_err lm_metrics(struct dbconn *c, struct keel_ctx *ctx,
                                struct keel_logged_model *m)
{
    static const char sql[] =
        "SELECT key, value, timestamp, step, is_nan, run_id, dataset_name, dataset_digest "
        "FROM logged_model_metrics WHERE model_id = ? ORDER BY timestamp, step, key";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, m->model_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(m->metrics = db_grow(ctx, m->metrics, m->n_metrics, &cap, sizeof *m->metrics)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "too many metrics");
        struct keel_metric *x = &m->metrics[m->n_metrics++];
        memset(x, 0, sizeof *x);
        x->key = db_text(ctx, s, 0);
        x->value = sqlite3_column_int(s, 4) ? NAN : sqlite3_column_double(s, 1);
        x->timestamp = sqlite3_column_int64(s, 2);
        x->step = sqlite3_column_int64(s, 3);
        x->run_id = db_text(ctx, s, 5);
        x->dataset_name = db_text(ctx, s, 6);
        x->dataset_digest = db_text(ctx, s, 7);
        x->model_id = m->model_id;
    }
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "logged model metrics");
}

static enum keel_err lm_load(struct dbconn *c, struct keel_ctx *ctx, const char *id,
                             bool allow_deleted, struct keel_logged_model *out)
{
    static const char sql[] =
        "SELECT model_id, experiment_id, name, artifact_location, model_type, source_run_id, "
        "creation_timestamp_ms, last_updated_timestamp_ms, status, lifecycle_stage "
        "FROM logged_models WHERE model_id = ?";
    static const char tags[] = "SELECT key, value FROM logged_model_tags WHERE model_id = ? "
                               "ORDER BY key";
    static const char params[] = "SELECT key, value FROM logged_model_params WHERE "
                                 "model_id = ? ORDER BY rowid";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return lm_missing(ctx, id);
    if (rc != SQLITE_ROW)
        return db_fail(c, ctx, "logged model");
    memset(out, 0, sizeof *out);
    out->model_id = db_text(ctx, s, 0);
    out->experiment_id = sqlite3_column_int64(s, 1);
    out->name = db_text(ctx, s, 2);
    out->artifact_uri = db_text(ctx, s, 3);
    out->model_type = db_text(ctx, s, 4);
    out->source_run_id = db_text(ctx, s, 5);
    out->creation_time = sqlite3_column_int64(s, 6);
    out->last_updated_time = sqlite3_column_int64(s, 7);
    out->status = sqlite3_column_int(s, 8);
    bool deleted = strcmp((const char *)sqlite3_column_text(s, 9), "deleted") == 0;
    sqlite3_reset(s);
    if (deleted && !allow_deleted)
        return lm_missing(ctx, id);
    enum keel_err e = kv_rows(c, ctx, tags, id, &out->tags, &out->n_tags);
    if (!e)
        e = kv_rows(c, ctx, params, id, &out->params, &out->n_params);
    return e ? e : lm_metrics(c, ctx, out);
}

enum keel_err sql_lm_exists(struct dbconn *c, struct keel_ctx *ctx, const char *model_id)
{
    static const char sql[] = "SELECT 1 FROM logged_models WHERE model_id = ? AND "
                              "lifecycle_stage = 'active'";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, model_id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return KEEL_OK;
    return rc == SQLITE_DONE ? lm_missing(ctx, model_id) : db_fail(c, ctx, "logged model");
}

enum keel_err store_lm_get(struct store *st, struct keel_ctx *ctx, const char *model_id,
                           bool allow_deleted, struct keel_logged_model *out)
{
    struct dbconn *c = store_reader(st);
    enum keel_err e = lm_load(c, ctx, model_id, allow_deleted, out);
    store_reader_put(st, c);
    return e;
}

static enum keel_err put_kv(struct dbconn *c, struct keel_ctx *ctx, const char *sql,
                            const char *id, const struct keel_tag *kv)
{
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, id);
    db_bind_text(s, 2, kv->key);
    db_bind_text(s, 3, kv->value);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : KEEL_E_BAD_REQUEST;
}

static const char tag_upsert[] =
    "INSERT INTO logged_model_tags(model_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT(model_id, key) DO UPDATE SET value = excluded.value";
static const char param_insert[] =
    "INSERT INTO logged_model_params(model_id, key, value) VALUES (?, ?, ?)";

struct lm_create_args {
    const struct store_lm_create *in;
    struct keel_logged_model *out;
};

static enum keel_err op_lm_create(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct lm_create_args *a = arg;
    const struct store_lm_create *in = a->in;
    static const char ins[] =
        "INSERT INTO logged_models(model_id, experiment_id, name, artifact_location, "
        "creation_timestamp_ms, last_updated_timestamp_ms, status, model_type, source_run_id) "
        "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)";
    struct keel_experiment exp;
    enum keel_err e = sql_experiment_active(c, ctx, in->experiment_id, &exp);
    if (e)
        return e;
    char hex[33], id[40];
    keel_uuid_hex(hex);
    snprintf(id, sizeof id, "m-%s", hex);
    const char *dir = uri_append(ctx->arena, exp.artifact_location, "models");
    dir = dir ? uri_append(ctx->arena, dir, id) : NULL;
    const char *uri = dir ? uri_append(ctx->arena, dir, "artifacts") : NULL;
    sqlite3_stmt *s = db_stmt(c, ctx, ins);
    if (!s || !uri)
        return s ? keel_fail(ctx, KEEL_E_NOMEM, "out of memory") : ctx->err;
    int64_t now = keel_now_ms();
    db_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, in->experiment_id);
    db_bind_text(s, 3, in->name);
    db_bind_text(s, 4, uri);
    sqlite3_bind_int64(s, 5, now);
    sqlite3_bind_int64(s, 6, now);
    db_bind_text(s, 7, in->model_type ? in->model_type : "");
    db_bind_text(s, 8, in->source_run_id ? in->source_run_id : "");
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "create logged model");
    for (size_t i = 0; i < in->n_tags; i++)
        if (put_kv(c, ctx, tag_upsert, id, &in->tags[i]))
            return db_fail(c, ctx, "logged model tag");
    for (size_t i = 0; i < in->n_params; i++)
        if (put_kv(c, ctx, param_insert, id, &in->params[i]))
            return keel_fail(ctx, KEEL_E_BAD_REQUEST, "(sqlite3.IntegrityError) %s",
                             sqlite3_errmsg(c->db));
    return lm_load(c, ctx, id, false, a->out);
}

enum keel_err store_lm_create(struct store *st, struct keel_ctx *ctx,
                              const struct store_lm_create *in, struct keel_logged_model *out)
{
    struct lm_create_args a = {in, out};
    return store_write(st, ctx, op_lm_create, &a);
}

struct lm_args {
    const char *id;
    int status;
    const struct keel_tag *kv;
    size_t n;
    const char *key;
    struct keel_logged_model *out;
};

static enum keel_err op_lm_finalize(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct lm_args *a = arg;
    static const char sql[] = "UPDATE logged_models SET status = ?, "
                              "last_updated_timestamp_ms = ? WHERE model_id = ?";
    struct keel_logged_model m;
    enum keel_err e = lm_load(c, ctx, a->id, false, &m);
    if (e)
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int(s, 1, a->status);
    sqlite3_bind_int64(s, 2, keel_now_ms());
    db_bind_text(s, 3, a->id);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "finalize logged model");
    return lm_load(c, ctx, a->id, false, a->out);
}

enum keel_err store_lm_finalize(struct store *st, struct keel_ctx *ctx, const char *model_id,
                                int status, struct keel_logged_model *out)
{
    struct lm_args a = {.id = model_id, .status = status, .out = out};
    return store_write(st, ctx, op_lm_finalize, &a);
}

static enum keel_err op_lm_delete(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct lm_args *a = arg;
    static const char sql[] = "UPDATE logged_models SET lifecycle_stage = 'deleted', "
                              "last_updated_timestamp_ms = ? WHERE model_id = ?";
    struct keel_logged_model m;
    enum keel_err e = lm_load(c, ctx, a->id, true, &m); /* deleting again is fine */
    if (e)
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, keel_now_ms());
    db_bind_text(s, 2, a->id);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "delete logged model");
}

enum keel_err store_lm_delete(struct store *st, struct keel_ctx *ctx, const char *model_id)
{
    struct lm_args a = {.id = model_id};
    return store_write(st, ctx, op_lm_delete, &a);
}

static enum keel_err op_lm_set_tags(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct lm_args *a = arg;
    struct keel_logged_model m;
    enum keel_err e = lm_load(c, ctx, a->id, true, &m); /* MLflow tags deleted models too */
    for (size_t i = 0; !e && i < a->n; i++)
        if (put_kv(c, ctx, tag_upsert, a->id, &a->kv[i]))
            e = db_fail(c, ctx, "logged model tag");
    return e;
}

enum keel_err store_lm_set_tags(struct store *st, struct keel_ctx *ctx, const char *model_id,
                                const struct keel_tag *tags, size_t n)
{
    struct lm_args a = {.id = model_id, .kv = tags, .n = n};
    return store_write(st, ctx, op_lm_set_tags, &a);
}

static enum keel_err op_lm_delete_tag(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct lm_args *a = arg;
    static const char sql[] = "DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?";
    struct keel_logged_model m;
    enum keel_err e = lm_load(c, ctx, a->id, true, &m);
    if (e)
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->id);
    db_bind_text(s, 2, a->key);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "delete logged model tag");
    if (sqlite3_changes(c->db) == 0)
        return keel_fail(ctx, KEEL_E_NOT_FOUND,
                         "No tag with key '%s' found for model with ID '%s'.", a->key, a->id);
    return KEEL_OK;
}

enum keel_err store_lm_delete_tag(struct store *st, struct keel_ctx *ctx, const char *model_id,
                                  const char *key)
{
    struct lm_args a = {.id = model_id, .key = key};
    return store_write(st, ctx, op_lm_delete_tag, &a);
}

static enum keel_err op_lm_log_params(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct lm_args *a = arg;
    struct keel_logged_model m;
    enum keel_err e = lm_load(c, ctx, a->id, false, &m);
    for (size_t i = 0; !e && i < a->n; i++)
        if (put_kv(c, ctx, param_insert, a->id, &a->kv[i]))
            e = keel_fail(ctx, KEEL_E_BAD_REQUEST, "(sqlite3.IntegrityError) %s",
                          sqlite3_errmsg(c->db));
    return e;
}

enum keel_err store_lm_log_params(struct store *st, struct keel_ctx *ctx, const char *model_id,
                                  const struct keel_tag *params, size_t n)
{
    struct lm_args a = {.id = model_id, .kv = params, .n = n};
    return store_write(st, ctx, op_lm_log_params, &a);
}

struct outputs_args {
    const char *run_id;
    const struct keel_model_output *v;
    size_t n;
};

static enum keel_err op_outputs(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct outputs_args *a = arg;
    static const char sql[] =
        "INSERT INTO run_model_outputs(run_key, model_id, step) VALUES (?, ?, ?)";
    struct keel_run_info info;
    enum keel_err e = sql_run_active(c, ctx, a->run_id, &info);
    for (size_t i = 0; !e && i < a->n; i++) {
        sqlite3_stmt *s = db_stmt(c, ctx, sql);
        if (!s)
            return ctx->err;
        sqlite3_bind_int64(s, 1, info.run_key);
        db_bind_text(s, 2, a->v[i].model_id);
        sqlite3_bind_int64(s, 3, a->v[i].step);
        if (sqlite3_step(s) != SQLITE_DONE)
            e = keel_fail(ctx, KEEL_E_BAD_REQUEST, "(sqlite3.IntegrityError) %s",
                          sqlite3_errmsg(c->db));
    }
    return e;
}

enum keel_err store_run_log_outputs(struct store *st, struct keel_ctx *ctx, const char *run_id,
                                    const struct keel_model_output *outputs, size_t n)
{
    struct outputs_args a = {run_id, outputs, n};
    return store_write(st, ctx, op_outputs, &a);
}

/* MLflow keeps, on a logged model, the registered versions made from it: the
 * tag mlflow.modelVersions holds json.dumps([{"name": ..., "version": n}, ...]).
 * A value that is not a JSON list (a client may have written anything) is
 * started afresh rather than failing the registration. */
enum keel_err sql_lm_note_model_version(struct dbconn *c, struct keel_ctx *ctx,
                                        const char *model_id, const char *name,
                                        int64_t version)
{
    static const char get[] = "SELECT value FROM logged_model_tags WHERE model_id = ? AND "
                              "key = 'mlflow.modelVersions'";
    enum keel_err e = sql_lm_exists(c, ctx, model_id);
    if (e)
        return e;
    sqlite3_stmt *s = db_stmt(c, ctx, get);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, model_id);
    int rc = sqlite3_step(s);
    const char *old = rc == SQLITE_ROW ? db_text(ctx, s, 0) : NULL;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(c, ctx, "logged model tag");
    const struct jval *list = old ? jp_parse(ctx->arena, old, strlen(old), NULL) : NULL;
    const struct jval *jname = jv_new_string(ctx->arena, name, strlen(name));
    if (!jname)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    struct kbuf b;
    kbuf_init(&b, MODEL_VERSIONS_TAG_MAX);
    if (jv_is_array(list) && jv_len(list) > 0) {
        e = json_dump_python(&b, list);
        if (!e) {
            b.data[--b.len] = '\0'; /* reopen the list */
            e = kbuf_adds(&b, ", ");
        }
    } else {
        e = kbuf_addc(&b, '[');
    }
    if (!e)
        e = kbuf_adds(&b, "{\"name\": ");
    if (!e)
        e = json_dump_python(&b, jname);
    if (!e)
        e = kbuf_printf(&b, ", \"version\": %lld}]", (long long)version);
    if (e) {
        kbuf_free(&b);
        return keel_fail(ctx, e == KEEL_E_NOMEM ? e : KEEL_E_TOO_LARGE,
                         "The mlflow.modelVersions tag of logged model '%s' is too long to "
                         "record version %lld of '%s'.",
                         model_id, (long long)version, name);
    }
    struct keel_tag kv = {"mlflow.modelVersions", b.data};
    e = put_kv(c, ctx, tag_upsert, model_id, &kv);
    kbuf_free(&b);
    return e ? db_fail(c, ctx, "logged model tag") : KEEL_OK;
}

enum keel_err store_lm_search(struct store *st, struct keel_ctx *ctx,
                              const struct store_lm_search *q, struct keel_logged_model **out,
                              size_t *n_out, bool *more)
{
    *out = NULL;
    *n_out = 0;
    *more = false;
    struct search_sql sql;
    enum keel_err e = search_compile_logged_models_datasets(
        ctx, q->filter, q->datasets, q->n_datasets, q->order_by, q->n_order_by, &sql);
    if (e || q->n_experiment_ids == 0)
        return e;
    struct kbuf text;
    kbuf_init(&text, 1 << 20);
    e = kbuf_adds(&text, "SELECT lm.model_id FROM logged_models AS lm WHERE "
                         "lm.lifecycle_stage = 'active' AND lm.experiment_id IN (");
    for (size_t i = 0; !e && i < q->n_experiment_ids; i++)
        e = kbuf_adds(&text, i ? ",?" : "?");
    if (!e)
        e = kbuf_printf(&text, ") AND (%s) ORDER BY %s LIMIT ? OFFSET ?", sql.where,
                        sql.order_by);
    char *query = e ? NULL : karena_strdup(ctx->arena, text.data);
    kbuf_free(&text);
    if (!query)
        return keel_fail(ctx, e == KEEL_E_TOO_LARGE ? e : KEEL_E_NOMEM,
                         "too many experiment ids");
    /* one row past the page says whether there is a next one (MLflow's
     * max_results + 1; a negative max_results fetches nothing) */
    int64_t fetch = q->max_results < 0 ? 0 : q->max_results + 1;
    struct dbconn *c = store_reader(st);
    sqlite3_stmt *s = db_prepare(c, ctx, query); /* dynamic SQL: never cached */
    const char **ids = NULL;
    size_t n = 0, cap = 0;
    int rc = SQLITE_DONE;
    if (!s) {
        e = ctx->err;
    } else {
        int b = 1;
        for (size_t i = 0; i < q->n_experiment_ids; i++)
            sqlite3_bind_int64(s, b++, q->experiment_ids[i]);
        b = db_bind_search(s, b, sql.where_binds, sql.n_where_binds);
        b = db_bind_search(s, b, sql.order_binds, sql.n_order_binds);
        sqlite3_bind_int64(s, b++, fetch);
        sqlite3_bind_int64(s, b, q->offset > 0 ? q->offset : 0);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (!(ids = db_grow(ctx, ids, n, &cap, sizeof *ids))) {
                e = keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
                break;
            }
            ids[n++] = db_text(ctx, s, 0);
        }
        if (!e && rc != SQLITE_DONE)
            e = db_fail(c, ctx, "search logged models");
        sqlite3_finalize(s);
    }
    int64_t keep = q->max_results < 0 ? 0 : q->max_results;
    *more = (int64_t)n > q->max_results;
    if ((int64_t)n > keep)
        n = (size_t)keep;
    struct keel_logged_model *v = n ? karena_calloc(ctx->arena, n, sizeof *v) : NULL;
    if (!e && n && !v)
        e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    for (size_t i = 0; !e && i < n; i++)
        e = lm_load(c, ctx, ids[i], false, &v[i]);
    store_reader_put(st, c);
    if (e)
        return e;
    *out = v;
    *n_out = n;
    return KEEL_OK;
}
