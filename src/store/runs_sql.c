/*
 * runs_sql.c -- runs, their metrics, params, tags and dataset inputs in the
 * SQLite store.
 *
 * Rules enforced here because they need the stored state, atomically with
 * the write: a run must exist and be active to be written; params are
 * write-once (the same value again is accepted); the mlflow.runName tag and
 * the run's name are one value; latest_metrics keeps, per key, the largest
 * (step, timestamp, value), as MLflow does.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/search.h"
#include "store/sqlite_int.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/ids.h"
#include "util/json.h"
#include "util/uri.h"

#define RUN_COLS "r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, r.start_time, " \
                 "r.end_time, r.artifact_uri, r.lifecycle_stage, r.run_key"

/* MLflow's SQL store keeps doubles within the finite range */
#define METRIC_MAX 1.7976931348623157e308

static void info_from_row(struct keel_ctx *ctx, sqlite3_stmt *s, struct keel_run_info *i)
{
    memset(i, 0, sizeof *i);
    i->run_id = db_text(ctx, s, 0);
    i->experiment_id = sqlite3_column_int64(s, 1);
    i->run_name = db_text(ctx, s, 2);
    i->user_id = db_text(ctx, s, 3);
    i->status = db_text(ctx, s, 4);
    i->start_time = sqlite3_column_int64(s, 5);
    i->has_end_time = sqlite3_column_type(s, 6) != SQLITE_NULL;
    i->end_time = sqlite3_column_int64(s, 6);
    i->artifact_uri = db_text(ctx, s, 7);
    i->lifecycle_stage = db_text(ctx, s, 8);
    i->run_key = sqlite3_column_int64(s, 9);
}

enum keel_err sql_run_info_load(struct dbconn *c, struct keel_ctx *ctx, const char *run_id,
                                struct keel_run_info *out)
{
    static const char sql[] = "SELECT " RUN_COLS " FROM runs r WHERE r.run_uuid = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, run_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return keel_fail(ctx, KEEL_E_NOT_FOUND, "Run with id=%s not found", run_id);
    if (rc != SQLITE_ROW)
        return db_fail(c, ctx, "run");
    info_from_row(ctx, s, out);
    sqlite3_reset(s);
    return KEEL_OK;
}


/* Key/value rows of `sql`, whose one parameter is text_id, or int_id when
 * text_id is NULL. */
static enum keel_err load_kv(struct dbconn *c, struct keel_ctx *ctx, const char *sql,
                             const char *text_id, int64_t int_id, struct keel_tag **out,
                             size_t *n_out)
{
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    if (text_id)
        db_bind_text(s, 1, text_id);
    else
        sqlite3_bind_int64(s, 1, int_id);
    size_t cap = 0, n = 0;
    struct keel_tag *v = NULL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(v = db_grow(ctx, v, n, &cap, sizeof *v)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
        v[n].key = db_text(ctx, s, 0);
        v[n].value = db_text(ctx, s, 1);
        n++;
    }
    *out = v;
    *n_out = n;
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "run data");
}

static void metric_from_row(struct keel_ctx *ctx, sqlite3_stmt *s, int col0,
                            struct keel_metric *m)
{
    m->key = db_text(ctx, s, col0);
    m->value = sqlite3_column_int(s, col0 + 4) ? NAN : sqlite3_column_double(s, col0 + 1);
    m->timestamp = sqlite3_column_int64(s, col0 + 2);
    m->step = sqlite3_column_int64(s, col0 + 3);
}

static enum keel_err load_inputs(struct dbconn *c, struct keel_ctx *ctx, struct keel_run *run)
{
    static const char sql[] =
        "SELECT i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
        "d.dataset_schema, d.dataset_profile FROM inputs i JOIN datasets d "
        "ON d.dataset_uuid = i.source_id WHERE i.destination_type = 'RUN' AND "
        "i.destination_id = ? AND i.source_type = 'DATASET' ORDER BY i.rowid";
    static const char tags_sql[] =
        "SELECT name, value FROM input_tags WHERE input_uuid = ? ORDER BY rowid";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, run->info.run_id);
    size_t cap = 0, n = 0;
    struct keel_dataset_input *v = NULL;
    const char **uuids = NULL;
    size_t ucap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        size_t cap0 = cap;
        if (!(v = db_grow(ctx, v, n, &cap, sizeof *v)) ||
            !(uuids = db_grow(ctx, uuids, n, &ucap, sizeof *uuids)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
        (void)cap0;
        memset(&v[n], 0, sizeof v[n]);
        uuids[n] = db_text(ctx, s, 0);
        v[n].dataset.name = db_text(ctx, s, 1);
        v[n].dataset.digest = db_text(ctx, s, 2);
        v[n].dataset.source_type = db_text(ctx, s, 3);
        v[n].dataset.source = db_text(ctx, s, 4);
        v[n].dataset.schema = db_text(ctx, s, 5);
        v[n].dataset.profile = db_text(ctx, s, 6);
        n++;
    }
    if (rc != SQLITE_DONE)
        return db_fail(c, ctx, "run inputs");
    for (size_t i = 0; i < n; i++) {
        enum keel_err e = load_kv(c, ctx, tags_sql, uuids[i], 0, &v[i].tags, &v[i].n_tags);
        if (e)
            return e;
    }
    run->inputs = v;
    run->n_inputs = n;
    return KEEL_OK;
}

/* The logged models a run produced (with the step) and used, in model-id
 * order as MLflow lists them. */
static enum keel_err load_model_links(struct dbconn *c, struct keel_ctx *ctx,
                                      struct keel_run *run)
{
    static const char out_sql[] =
        "SELECT model_id, step FROM run_model_outputs WHERE run_key = ? ORDER BY model_id";
    static const char in_sql[] =
        "SELECT model_id FROM run_model_inputs WHERE run_key = ? ORDER BY model_id";
    sqlite3_stmt *s = db_stmt(c, ctx, out_sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, run->info.run_key);
    size_t cap = 0;
    int rc;
    run->n_model_outputs = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(run->model_outputs = db_grow(ctx, run->model_outputs, run->n_model_outputs, &cap,
                                           sizeof *run->model_outputs)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
        run->model_outputs[run->n_model_outputs].model_id = db_text(ctx, s, 0);
        run->model_outputs[run->n_model_outputs++].step = sqlite3_column_int64(s, 1);
    }
    if (rc != SQLITE_DONE)
        return db_fail(c, ctx, "run outputs");
    if (!(s = db_stmt(c, ctx, in_sql)))
        return ctx->err;
    sqlite3_bind_int64(s, 1, run->info.run_key);
    cap = 0;
    run->n_model_inputs = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(run->model_inputs = db_grow(ctx, run->model_inputs, run->n_model_inputs, &cap,
                                          sizeof *run->model_inputs)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
        run->model_inputs[run->n_model_inputs++] = db_text(ctx, s, 0);
    }
    return rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "run model inputs");
}

enum keel_err sql_run_data_load(struct dbconn *c, struct keel_ctx *ctx, struct keel_run *run)
{
    static const char metrics_sql[] = "SELECT key, value, timestamp, step, is_nan FROM "
                                      "latest_metrics WHERE run_key = ?";
    static const char params_sql[] = "SELECT key, value FROM params WHERE run_key = ?";
    static const char tags_sql[] = "SELECT key, value FROM tags WHERE run_key = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, metrics_sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, run->info.run_key);
    size_t cap = 0;
    int rc;
    run->n_metrics = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(run->metrics = db_grow(ctx, run->metrics, run->n_metrics, &cap, sizeof *run->metrics)))
            return keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
        metric_from_row(ctx, s, 0, &run->metrics[run->n_metrics++]);
    }
    if (rc != SQLITE_DONE)
        return db_fail(c, ctx, "run metrics");
    int64_t key = run->info.run_key;
    enum keel_err e = load_kv(c, ctx, params_sql, NULL, key, &run->params, &run->n_params);
    if (!e)
        e = load_kv(c, ctx, tags_sql, NULL, key, &run->tags, &run->n_tags);
    if (!e)
        e = load_inputs(c, ctx, run);
    if (!e)
        e = load_model_links(c, ctx, run);
    return e;
}

enum keel_err store_run_get(struct store *st, struct keel_ctx *ctx, const char *run_id,
                            struct keel_run *out)
{
    memset(out, 0, sizeof *out);
    struct dbconn *c = store_reader(st);
    enum keel_err e = sql_run_info_load(c, ctx, run_id, &out->info);
    if (!e)
        e = sql_run_data_load(c, ctx, out);
    store_reader_put(st, c);
    return e;
}

/* Loads the run and insists it is active. */
enum keel_err sql_run_active(struct dbconn *c, struct keel_ctx *ctx, const char *run_id,
                             struct keel_run_info *info)
{
    enum keel_err e = sql_run_info_load(c, ctx, run_id, info);
    if (e)
        return e;
    if (strcmp(info->lifecycle_stage, "active") != 0)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "The run %s must be in the 'active' state. Current state is %s.", run_id,
                         info->lifecycle_stage);
    return KEEL_OK;
}

static enum keel_err set_tag(struct dbconn *c, struct keel_ctx *ctx, int64_t run_key,
                             const char *key, const char *value)
{
    static const char sql[] = "INSERT INTO tags(run_key, key, value) VALUES (?, ?, ?) "
                              "ON CONFLICT(run_key, key) DO UPDATE SET value = excluded.value";
    static const char rename[] = "UPDATE runs SET name = ? WHERE run_key = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, run_key);
    db_bind_text(s, 2, key);
    db_bind_text(s, 3, value);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "set tag");
    if (strcmp(key, "mlflow.runName") == 0) {
        if (!(s = db_stmt(c, ctx, rename)))
            return ctx->err;
        db_bind_text(s, 1, value);
        sqlite3_bind_int64(s, 2, run_key);
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "rename run");
    }
    return KEEL_OK;
}

struct run_create_args {
    const struct store_run_create *in;
    struct keel_run *out;
};

static enum keel_err op_run_create(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct run_create_args *a = arg;
    const struct store_run_create *in = a->in;
    struct keel_experiment exp;
    enum keel_err e = sql_experiment_active(c, ctx, in->experiment_id, &exp);
    if (e)
        return e;
    char id[33];
    keel_uuid_hex(id);
    const char *run_dir = uri_append(ctx->arena, exp.artifact_location, id);
    const char *uri = run_dir ? uri_append(ctx->arena, run_dir, "artifacts") : NULL;
    static const char sql[] =
        "INSERT INTO runs(run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
        "VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, '', 'active', ?, ?)";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s || !uri)
        return s ? keel_fail(ctx, KEEL_E_NOMEM, "out of memory") : ctx->err;
    db_bind_text(s, 1, id);
    db_bind_text(s, 2, in->run_name);
    db_bind_text(s, 3, in->user_id);
    sqlite3_bind_int64(s, 4, in->start_time);
    db_bind_text(s, 5, uri);
    sqlite3_bind_int64(s, 6, in->experiment_id);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "create run");
    int64_t run_key = sqlite3_last_insert_rowid(c->db);
    for (size_t i = 0; i < in->n_tags; i++)
        if ((e = set_tag(c, ctx, run_key, in->tags[i].key, in->tags[i].value)))
            return e;
    struct keel_run *r = a->out;
    memset(r, 0, sizeof *r);
    r->info = (struct keel_run_info){
        .run_key = run_key,
        .run_id = karena_strdup(ctx->arena, id),
        .experiment_id = in->experiment_id,
        .run_name = in->run_name,
        .user_id = in->user_id,
        .status = "RUNNING",
        .start_time = in->start_time,
        .artifact_uri = uri,
        .lifecycle_stage = "active",
    };
    r->tags = (struct keel_tag *)in->tags;
    r->n_tags = in->n_tags;
    return KEEL_OK;
}

enum keel_err store_run_create(struct store *st, struct keel_ctx *ctx,
                               const struct store_run_create *in, struct keel_run *out)
{
    struct run_create_args a = {in, out};
    return store_write(st, ctx, op_run_create, &a);
}

struct run_update_args {
    const char *run_id;
    const struct store_run_update *in;
    struct keel_run_info *out;
};

static enum keel_err op_run_update(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct run_update_args *a = arg;
    enum keel_err e = sql_run_active(c, ctx, a->run_id, a->out);
    if (e)
        return e;
    static const char sql[] =
        "UPDATE runs SET status = coalesce(?, status), end_time = CASE WHEN ? THEN ? ELSE "
        "end_time END WHERE run_uuid = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->in->status);
    sqlite3_bind_int(s, 2, a->in->has_end_time);
    sqlite3_bind_int64(s, 3, a->in->end_time);
    db_bind_text(s, 4, a->run_id);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "update run");
    if (a->in->run_name &&
        (e = set_tag(c, ctx, a->out->run_key, "mlflow.runName", a->in->run_name)))
        return e;
    return sql_run_info_load(c, ctx, a->run_id, a->out);
}

enum keel_err store_run_update(struct store *st, struct keel_ctx *ctx, const char *run_id,
                               const struct store_run_update *in, struct keel_run_info *out)
{
    struct run_update_args a = {run_id, in, out};
    return store_write(st, ctx, op_run_update, &a);
}

struct run_lifecycle_args {
    const char *run_id;
    bool deleted;
};

static enum keel_err op_run_lifecycle(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct run_lifecycle_args *a = arg;
    struct keel_run_info info;
    enum keel_err e = sql_run_info_load(c, ctx, a->run_id, &info);
    if (e)
        return e;
    static const char sql[] =
        "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->deleted ? "deleted" : "active");
    if (a->deleted)
        sqlite3_bind_int64(s, 2, keel_now_ms());
    else
        sqlite3_bind_null(s, 2);
    db_bind_text(s, 3, a->run_id);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "run lifecycle");
}

enum keel_err store_run_set_lifecycle(struct store *st, struct keel_ctx *ctx, const char *run_id,
                                      bool deleted)
{
    struct run_lifecycle_args a = {run_id, deleted};
    return store_write(st, ctx, op_run_lifecycle, &a);
}

static enum keel_err log_params(struct dbconn *c, struct keel_ctx *ctx,
                                const struct store_log_batch *in, int64_t run_key)
{
    static const char get[] = "SELECT value FROM params WHERE run_key = ? AND key = ?";
    static const char ins[] = "INSERT INTO params(run_key, key, value) VALUES (?, ?, ?)";
    struct kbuf changed;
    kbuf_init(&changed, 1 << 20);
    enum keel_err e = KEEL_OK;
    for (size_t i = 0; !e && i < in->n_params; i++) {
        const struct keel_tag *p = &in->params[i];
        sqlite3_stmt *s = db_stmt(c, ctx, get);
        if (!s) {
            e = ctx->err;
            break;
        }
        sqlite3_bind_int64(s, 1, run_key);
        db_bind_text(s, 2, p->key);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            const char *old = db_text(ctx, s, 0);
            if (old && strcmp(old, p->value) != 0) {
                if (in->single_param) {
                    e = keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                                  "Changing param values is not allowed. Param with key='%s' "
                                  "was already logged with value='%s' for run ID='%s'. "
                                  "Attempted logging new value '%s'.",
                                  p->key, old, in->run_id, p->value);
                    break;
                }
                kbuf_printf(&changed, "%s{'key': '%s', 'old_value': '%s', 'new_value': '%s'}",
                            changed.len ? ", " : "", p->key, old, p->value);
            }
            continue;
        }
        if (rc != SQLITE_DONE) {
            e = db_fail(c, ctx, "read param");
            break;
        }
        if (!(s = db_stmt(c, ctx, ins))) {
            e = ctx->err;
            break;
        }
        sqlite3_bind_int64(s, 1, run_key);
        db_bind_text(s, 2, p->key);
        db_bind_text(s, 3, p->value);
        if (sqlite3_step(s) != SQLITE_DONE)
            e = db_fail(c, ctx, "log param");
    }
    if (!e && changed.len)
        e = keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                      "Changing param values is not allowed. Params were already logged='[%s]' "
                      "for run ID='%s'.",
                      changed.data, in->run_id);
    kbuf_free(&changed);
    return e;
}

/* Rows per multi-row INSERT into the metric history. */
#define HIST_ROWS_PER_STMT 50

static char hist_multi_sql[HIST_ROWS_PER_STMT * 24 + 128];
static pthread_once_t hist_multi_once = PTHREAD_ONCE_INIT;

static void build_hist_multi(void)
{
    size_t o = (size_t)snprintf(hist_multi_sql, sizeof hist_multi_sql,
                                "INSERT OR IGNORE INTO metrics(run_key, key_id, value, "
                                "timestamp, step, is_nan) VALUES ");
    for (int i = 0; i < HIST_ROWS_PER_STMT; i++)
        o += (size_t)snprintf(hist_multi_sql + o, sizeof hist_multi_sql - o, "%s(?,?,?,?,?,?)",
                              i ? "," : "");
}

/* The stored form of a metric value: NaN as 0 with is_nan set, infinities
 * clamped to the largest finite doubles (MLflow's SQL store does both). */
static double stored_value(double v, int *is_nan)
{
    *is_nan = isnan(v);
    if (*is_nan)
        return 0.0;
    if (isinf(v))
        return v > 0 ? METRIC_MAX : -METRIC_MAX;
    return v;
}

/* key_id < 0: bind the key's text (latest_metrics), else its id (history) */
static void bind_metric(sqlite3_stmt *s, int base, int64_t run_key, int64_t key_id,
                        const struct keel_metric *m)
{
    int is_nan;
    double v = stored_value(m->value, &is_nan);
    sqlite3_bind_int64(s, base + 1, run_key);
    if (key_id < 0)
        sqlite3_bind_text(s, base + 2, m->key, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(s, base + 2, key_id);
    sqlite3_bind_double(s, base + 3, v);
    sqlite3_bind_int64(s, base + 4, m->timestamp);
    sqlite3_bind_int64(s, base + 5, m->step);
    sqlite3_bind_int(s, base + 6, is_nan);
}

/* (step, timestamp, stored value) order, which decides the latest value */
static bool metric_after(const struct keel_metric *a, const struct keel_metric *b)
{
    int n;
    double va = stored_value(a->value, &n), vb = stored_value(b->value, &n);
    if (a->step != b->step)
        return a->step > b->step;
    if (a->timestamp != b->timestamp)
        return a->timestamp > b->timestamp;
    return va > vb;
}

/* Values logged with a model_id are the model's metrics too (identical ones
 * once, as in the history). */
static enum keel_err log_model_metrics(struct dbconn *c, struct keel_ctx *ctx,
                                       const struct store_log_batch *in, int64_t run_key)
{
    (void)run_key;
    static const char sql[] =
        "INSERT OR IGNORE INTO logged_model_metrics(model_id, key, value, timestamp, step, "
        "is_nan, run_id, dataset_name, dataset_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    for (size_t i = 0; i < in->n_metrics; i++) {
        const struct keel_metric *m = &in->metrics[i];
        if (!m->model_id || !*m->model_id)
            continue;
        sqlite3_stmt *s = db_stmt(c, ctx, sql);
        if (!s)
            return ctx->err;
        int is_nan;
        double v = stored_value(m->value, &is_nan);
        db_bind_text(s, 1, m->model_id);
        db_bind_text(s, 2, m->key);
        sqlite3_bind_double(s, 3, v);
        sqlite3_bind_int64(s, 4, m->timestamp);
        sqlite3_bind_int64(s, 5, m->step);
        sqlite3_bind_int(s, 6, is_nan);
        db_bind_text(s, 7, in->run_id);
        db_bind_text(s, 8, m->dataset_name ? m->dataset_name : "");
        db_bind_text(s, 9, m->dataset_digest ? m->dataset_digest : "");
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "log model metric");
    }
    return KEEL_OK;
}

static int cmp_metric_key(const void *a, const void *b)
{
    return strcmp((*(const struct keel_metric *const *)a)->key,
                  (*(const struct keel_metric *const *)b)->key);
}

/* The id of a metric key, interned on first use. */
static enum keel_err metric_key_id(struct dbconn *c, struct keel_ctx *ctx, const char *key,
                                   int64_t *id)
{
    static const char get[] = "SELECT key_id FROM metric_keys WHERE key = ?";
    static const char add[] = "INSERT INTO metric_keys(key) VALUES (?)";
    sqlite3_stmt *s = db_stmt(c, ctx, get);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        return KEEL_OK;
    }
    if (rc != SQLITE_DONE || !(s = db_stmt(c, ctx, add)))
        return rc != SQLITE_DONE ? db_fail(c, ctx, "metric key") : ctx->err;
    db_bind_text(s, 1, key);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "metric key");
    *id = sqlite3_last_insert_rowid(c->db);
    return KEEL_OK;
}

/*
 * Per distinct key (the batch sorted by key): intern the key, upsert its
 * latest value (the batch's own latest; the upsert keeps the larger of it and
 * the stored one), then append every value to the history.
 */
static enum keel_err log_metrics(struct dbconn *c, struct keel_ctx *ctx,
                                 const struct store_log_batch *in, int64_t run_key)
{
    static const char hist[] = "INSERT OR IGNORE INTO metrics(run_key, key_id, value, "
                               "timestamp, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)";
    static const char latest[] =
        "INSERT INTO latest_metrics(run_key, key, value, timestamp, step, is_nan) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(run_key, key) DO UPDATE SET "
        "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "
        "is_nan = excluded.is_nan WHERE (excluded.step, excluded.timestamp, excluded.value) > "
        "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)";
    pthread_once(&hist_multi_once, build_hist_multi);
    size_t n = in->n_metrics;
    const struct keel_metric **by_key = karena_alloc(ctx->arena, (n ? n : 1) * sizeof *by_key);
    if (!by_key)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        by_key[i] = &in->metrics[i];
    qsort(by_key, n, sizeof *by_key, cmp_metric_key);
    for (size_t i = 0; i < n;) {
        const struct keel_metric *best = by_key[i];
        size_t j = i + 1;
        for (; j < n && strcmp(by_key[j]->key, best->key) == 0; j++)
            if (metric_after(by_key[j], best))
                best = by_key[j];
        int64_t key_id = 0;
        enum keel_err e = metric_key_id(c, ctx, best->key, &key_id);
        if (e)
            return e;
        sqlite3_stmt *s = db_stmt(c, ctx, latest);
        if (!s)
            return ctx->err;
        bind_metric(s, 0, run_key, -1, best);
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "log metric");
        /* the history, HIST_ROWS_PER_STMT rows a statement */
        while (j - i >= HIST_ROWS_PER_STMT) {
            if (!(s = db_stmt(c, ctx, hist_multi_sql)))
                return ctx->err;
            for (int k = 0; k < HIST_ROWS_PER_STMT; k++)
                bind_metric(s, k * 6, run_key, key_id, by_key[i + (size_t)k]);
            if (sqlite3_step(s) != SQLITE_DONE)
                return db_fail(c, ctx, "log metrics");
            i += HIST_ROWS_PER_STMT;
        }
        for (; i < j; i++) {
            if (!(s = db_stmt(c, ctx, hist)))
                return ctx->err;
            bind_metric(s, 0, run_key, key_id, by_key[i]);
            if (sqlite3_step(s) != SQLITE_DONE)
                return db_fail(c, ctx, "log metric");
        }
    }
    return log_model_metrics(c, ctx, in, run_key);
}

static enum keel_err op_log_batch(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    const struct store_log_batch *in = arg;
    struct keel_run_info info;
    enum keel_err e = sql_run_active(c, ctx, in->run_id, &info);
    if (!e)
        e = log_params(c, ctx, in, info.run_key);
    if (!e)
        e = log_metrics(c, ctx, in, info.run_key);
    for (size_t i = 0; !e && i < in->n_tags; i++)
        e = set_tag(c, ctx, info.run_key, in->tags[i].key, in->tags[i].value);
    return e;
}

enum keel_err store_log_batch(struct store *st, struct keel_ctx *ctx,
                              const struct store_log_batch *in)
{
    return store_write(st, ctx, op_log_batch, (void *)in);
}

struct delete_tag_args {
    const char *run_id, *key;
};

static enum keel_err op_delete_tag(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct delete_tag_args *a = arg;
    struct keel_run_info info;
    enum keel_err e = sql_run_active(c, ctx, a->run_id, &info);
    if (e)
        return e;
    static const char sql[] = "DELETE FROM tags WHERE run_key = ? AND key = ?";
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, info.run_key);
    db_bind_text(s, 2, a->key);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "delete tag");
    if (sqlite3_changes(c->db) == 0)
        return keel_fail(ctx, KEEL_E_NOT_FOUND, "No tag with name: %s in run with id %s", a->key,
                         a->run_id);
    return KEEL_OK;
}

enum keel_err store_run_delete_tag(struct store *st, struct keel_ctx *ctx, const char *run_id,
                                   const char *key)
{
    struct delete_tag_args a = {run_id, key};
    return store_write(st, ctx, op_delete_tag, &a);
}

struct log_inputs_args {
    const char *run_id;
    const struct keel_dataset_input *inputs;
    size_t n;
    const char *const *models;
    size_t n_models;
};

static enum keel_err log_one_input(struct dbconn *c, struct keel_ctx *ctx, const char *run_id,
                                   int64_t exp_id, const struct keel_dataset_input *in)
{
    static const char ins_ds[] =
        "INSERT OR IGNORE INTO datasets(dataset_uuid, experiment_id, name, digest, "
        "dataset_source_type, dataset_source, dataset_schema, dataset_profile) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    static const char get_ds[] =
        "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?";
    static const char ins_in[] =
        "INSERT OR IGNORE INTO inputs(input_uuid, source_type, source_id, destination_type, "
        "destination_id) VALUES (?, 'DATASET', ?, 'RUN', ?)";
    static const char ins_tag[] =
        "INSERT OR REPLACE INTO input_tags(input_uuid, name, value) VALUES (?, ?, ?)";
    char uuid[33];
    keel_uuid_hex(uuid);
    const struct keel_dataset *d = &in->dataset;
    sqlite3_stmt *s = db_stmt(c, ctx, ins_ds);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, uuid);
    sqlite3_bind_int64(s, 2, exp_id);
    db_bind_text(s, 3, d->name);
    db_bind_text(s, 4, d->digest);
    db_bind_text(s, 5, d->source_type);
    db_bind_text(s, 6, d->source);
    db_bind_text(s, 7, d->schema);
    db_bind_text(s, 8, d->profile);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "log dataset");
    if (!(s = db_stmt(c, ctx, get_ds)))
        return ctx->err;
    sqlite3_bind_int64(s, 1, exp_id);
    db_bind_text(s, 2, d->name);
    db_bind_text(s, 3, d->digest);
    if (sqlite3_step(s) != SQLITE_ROW)
        return db_fail(c, ctx, "find dataset");
    const char *ds_uuid = db_text(ctx, s, 0);
    sqlite3_reset(s);
    char in_uuid[33];
    keel_uuid_hex(in_uuid);
    if (!(s = db_stmt(c, ctx, ins_in)))
        return ctx->err;
    db_bind_text(s, 1, in_uuid);
    db_bind_text(s, 2, ds_uuid);
    db_bind_text(s, 3, run_id);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "log input");
    if (sqlite3_changes(c->db) == 0)
        return KEEL_OK; /* already linked: MLflow keeps the first link as it was */
    for (size_t i = 0; i < in->n_tags; i++) {
        if (!(s = db_stmt(c, ctx, ins_tag)))
            return ctx->err;
        db_bind_text(s, 1, in_uuid);
        db_bind_text(s, 2, in->tags[i].key);
        db_bind_text(s, 3, in->tags[i].value);
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "log input tag");
    }
    return KEEL_OK;
}

static enum keel_err op_log_inputs(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct log_inputs_args *a = arg;
    struct keel_run_info info;
    enum keel_err e = sql_run_active(c, ctx, a->run_id, &info);
    static const char model_in[] =
        "INSERT OR IGNORE INTO run_model_inputs(run_key, model_id) VALUES (?, ?)";
    for (size_t i = 0; !e && i < a->n; i++)
        e = log_one_input(c, ctx, a->run_id, info.experiment_id, &a->inputs[i]);
    for (size_t i = 0; !e && i < a->n_models; i++) {
        if ((e = sql_lm_exists(c, ctx, a->models[i])))
            break;
        sqlite3_stmt *s = db_stmt(c, ctx, model_in);
        if (!s)
            return ctx->err;
        sqlite3_bind_int64(s, 1, info.run_key);
        db_bind_text(s, 2, a->models[i]);
        if (sqlite3_step(s) != SQLITE_DONE)
            e = db_fail(c, ctx, "log model input");
    }
    return e;
}

enum keel_err store_log_inputs(struct store *st, struct keel_ctx *ctx, const char *run_id,
                               const struct keel_dataset_input *inputs, size_t n_inputs,
                               const char *const *model_ids, size_t n_models)
{
    struct log_inputs_args a = {run_id, inputs, n_inputs, model_ids, n_models};
    return store_write(st, ctx, op_log_inputs, &a);
}

struct log_model_args {
    const char *run_id, *model_json;
};

static enum keel_err op_log_model(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct log_model_args *a = arg;
    struct keel_run_info info;
    enum keel_err e = sql_run_active(c, ctx, a->run_id, &info);
    if (e)
        return e;
    static const char get[] =
        "SELECT value FROM tags WHERE run_key = ? AND key = 'mlflow.log-model.history'";
    sqlite3_stmt *s = db_stmt(c, ctx, get);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, info.run_key);
    const char *old = sqlite3_step(s) == SQLITE_ROW ? db_text(ctx, s, 0) : NULL;
    sqlite3_reset(s);
    /* the history is a JSON list in Python's json.dumps() form; the new
     * model goes at its end */
    const struct jval *list = old ? jp_parse(ctx->arena, old, strlen(old), NULL) : NULL;
    const struct jval *model =
        jp_parse(ctx->arena, a->model_json, strlen(a->model_json), NULL);
    if (!model)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "model_json is not valid JSON");
    struct kbuf b;
    kbuf_init(&b, 64u << 20);
    e = kbuf_addc(&b, '[');
    for (size_t i = 0; !e && i < jv_len(list) && jv_is_array(list); i++) {
        e = json_dump_python(&b, jv_at(list, i));
        if (!e)
            e = kbuf_adds(&b, ", ");
    }
    if (!e)
        e = json_dump_python(&b, model);
    if (!e)
        e = kbuf_addc(&b, ']');
    if (!e)
        e = set_tag(c, ctx, info.run_key, "mlflow.log-model.history", b.data);
    kbuf_free(&b);
    return e;
}

enum keel_err store_log_model(struct store *st, struct keel_ctx *ctx, const char *run_id,
                              const char *model_json)
{
    struct log_model_args a = {run_id, model_json};
    return store_write(st, ctx, op_log_model, &a);
}

enum keel_err store_metric_history(struct store *st, struct keel_ctx *ctx, const char *run_id,
                                   const char *key, size_t offset, size_t limit,
                                   struct keel_metric **out, size_t *n_out)
{
    /* the primary key's order: a page is a walk of the index, not a sort */
    static const char sql[] =
        "SELECT k.key, m.value, m.timestamp, m.step, m.is_nan FROM runs r "
        "JOIN metric_keys k ON k.key = ?2 "
        "JOIN metrics m ON m.run_key = r.run_key AND m.key_id = k.key_id "
        "WHERE r.run_uuid = ?1 ORDER BY m.timestamp, m.step, m.value, m.is_nan "
        "LIMIT ?3 OFFSET ?4";
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    size_t cap = 0, n = 0;
    struct keel_metric *v = NULL;
    if (!s) {
        e = ctx->err;
    } else {
        db_bind_text(s, 1, run_id);
        db_bind_text(s, 2, key);
        sqlite3_bind_int64(s, 3, limit && limit < INT64_MAX ? (int64_t)limit : -1);
        sqlite3_bind_int64(s, 4, offset < INT64_MAX ? (int64_t)offset : INT64_MAX);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (!(v = db_grow(ctx, v, n, &cap, sizeof *v))) {
                e = keel_fail(ctx, KEEL_E_TOO_LARGE, "metric history too large");
                break;
            }
            metric_from_row(ctx, s, 0, &v[n++]);
        }
        if (!e && rc != SQLITE_DONE)
            e = db_fail(c, ctx, "metric history");
        sqlite3_reset(s);
    }
    store_reader_put(st, c);
    *out = v;
    *n_out = n;
    return e;
}

/*
 * Run search. The general plan sorts every matching run and returns a page.
 * When the first order key is a metric and the page lies within the first
 * LEAD_SCAN_MAX rows, the runs that have a real value for that metric are
 * read in the order of the latest_metrics(key, value) index, each checked
 * against the filter by per-run lookups, and the scan stops at the page's end;
 * the runs where that metric is NaN or missing (which MLflow orders after all
 * real values) follow from the general plan if the page is not yet full.
 */
#define LEAD_SCAN_MAX 2000

/* The values bound to one query, in text order. */
struct qbinds {
    const struct search_bind *lists[8];
    size_t list_n[8];
    size_t n_lists;
};

static void qb_list(struct qbinds *b, const struct search_bind *v, size_t n)
{
    b->lists[b->n_lists] = v;
    b->list_n[b->n_lists++] = n;
}

struct run_query {
    const int64_t *exp_ids;
    size_t n_exp;
    const char *ids_sql; /* "?,?,..." for the experiment ids */
    const char *stage;   /* lifecycle condition */
};

/* Runs one search statement and appends its runs (info only) to *v. The
 * statement's binds are: head (optional text), experiment ids, then lists. */
static enum keel_err run_rows(struct dbconn *c, struct keel_ctx *ctx, const char *sql,
                              const char *head, const struct run_query *rq,
                              const struct qbinds *b, int64_t limit, int64_t offset,
                              struct keel_run **v, size_t *n, size_t *cap)
{
    sqlite3_stmt *s = db_prepare(c, ctx, sql);
    if (!s)
        return ctx->err;
    int idx = 1;
    if (head)
        db_bind_text(s, idx++, head);
    for (size_t i = 0; i < rq->n_exp; i++)
        sqlite3_bind_int64(s, idx++, rq->exp_ids[i]);
    for (size_t l = 0; l < b->n_lists; l++)
        idx = db_bind_search(s, idx, b->lists[l], b->list_n[l]);
    sqlite3_bind_int64(s, idx++, limit);
    sqlite3_bind_int64(s, idx, offset);
    enum keel_err e = KEEL_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(*v = db_grow(ctx, *v, *n, cap, sizeof **v))) {
            e = keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
            break;
        }
        memset(&(*v)[*n], 0, sizeof (*v)[*n]);
        info_from_row(ctx, s, &(*v)[*n].info);
        (*n)++;
    }
    if (!e && rc != SQLITE_DONE)
        e = db_fail(c, ctx, "search runs");
    sqlite3_finalize(s);
    return e;
}

/* Runs matching the filter that have a real value for `metric`. */
static enum keel_err count_with_metric(struct dbconn *c, struct keel_ctx *ctx,
                                       const struct search_sql *q, const struct run_query *rq,
                                       int64_t *count)
{
    const char *sql = karena_sprintf(
        ctx->arena,
        "SELECT count(*) FROM runs r WHERE EXISTS (SELECT 1 FROM latest_metrics WHERE "
        "run_key = r.run_key AND key = ? AND is_nan = 0) AND r.experiment_id IN (%s) AND %s "
        "AND (%s)",
        rq->ids_sql, rq->stage, q->where);
    sqlite3_stmt *s = sql ? db_prepare(c, ctx, sql) : NULL;
    if (!s)
        return sql ? ctx->err : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    int idx = 1;
    db_bind_text(s, idx++, q->lead_metric);
    for (size_t i = 0; i < rq->n_exp; i++)
        sqlite3_bind_int64(s, idx++, rq->exp_ids[i]);
    db_bind_search(s, idx, q->where_binds, q->n_where_binds);
    enum keel_err e = KEEL_OK;
    if (sqlite3_step(s) == SQLITE_ROW)
        *count = sqlite3_column_int64(s, 0);
    else
        e = db_fail(c, ctx, "count runs");
    sqlite3_finalize(s);
    return e;
}

static enum keel_err search_by_lead_metric(struct dbconn *c, struct keel_ctx *ctx,
                                           const struct search_sql *q,
                                           const struct run_query *rq, int64_t limit,
                                           int64_t offset, struct keel_run **v, size_t *n,
                                           size_t *cap)
{
    const char *scan = karena_sprintf(
        ctx->arena,
        "SELECT " RUN_COLS " FROM latest_metrics o INDEXED BY latest_metrics_key_value "
        "CROSS JOIN runs r ON r.run_key = o.run_key WHERE o.key = ? AND o.is_nan = 0 AND "
        "r.experiment_id IN (%s) AND %s AND (%s) ORDER BY o.value %s, %s LIMIT ? OFFSET ?",
        rq->ids_sql, rq->stage, q->where_lookup, q->lead_metric_asc ? "ASC" : "DESC",
        q->order_by_rest);
    const char *tail = karena_sprintf(
        ctx->arena,
        "SELECT " RUN_COLS " FROM runs r WHERE NOT EXISTS (SELECT 1 FROM latest_metrics WHERE "
        "run_key = r.run_key AND key = ? AND is_nan = 0) AND r.experiment_id IN (%s) AND %s AND "
        "(%s) ORDER BY %s LIMIT ? OFFSET ?",
        rq->ids_sql, rq->stage, q->where, q->order_by);
    if (!scan || !tail)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    struct qbinds b = {0};
    qb_list(&b, q->where_binds, q->n_where_binds);
    qb_list(&b, q->order_rest_binds, q->n_order_rest_binds);
    enum keel_err e =
        run_rows(c, ctx, scan, q->lead_metric, rq, &b, limit, offset, v, n, cap);
    if (e || (int64_t)*n == limit)
        return e;
    /* the runs with a real value are exhausted: the page goes on with the rest */
    int64_t with_metric = offset + (int64_t)*n;
    if (*n == 0 && (e = count_with_metric(c, ctx, q, rq, &with_metric)))
        return e;
    struct qbinds bt = {0};
    qb_list(&bt, q->where_binds, q->n_where_binds);
    qb_list(&bt, q->order_binds, q->n_order_binds);
    int64_t tail_offset = offset > with_metric ? offset - with_metric : 0;
    return run_rows(c, ctx, tail, q->lead_metric, rq, &bt, limit - (int64_t)*n, tail_offset, v,
                    n, cap);
}

enum keel_err store_run_search(struct store *st, struct keel_ctx *ctx,
                               const int64_t *experiment_ids, size_t n_experiment_ids,
                               enum store_view view, const char *filter,
                               const char *const *order_by, size_t n_order_by,
                               struct store_page page, struct keel_run **out, size_t *n_out,
                               const char **next_token)
{
    *out = NULL;
    *n_out = 0;
    *next_token = NULL;
    struct search_sql q;
    int64_t offset = 0;
    enum keel_err e = search_compile_runs(ctx, filter, order_by, n_order_by, &q);
    if (!e)
        e = search_page_token_decode(ctx, page.page_token, &offset);
    if (e || n_experiment_ids == 0)
        return e;
    struct kbuf ids;
    kbuf_init(&ids, 1 << 20);
    for (size_t i = 0; i < n_experiment_ids; i++)
        kbuf_adds(&ids, i ? ",?" : "?");
    struct run_query rq = {
        .exp_ids = experiment_ids,
        .n_exp = n_experiment_ids,
        .ids_sql = karena_strdup(ctx->arena, ids.data ? ids.data : ""),
        .stage = view == STORE_VIEW_ACTIVE    ? "r.lifecycle_stage = 'active'"
                 : view == STORE_VIEW_DELETED ? "r.lifecycle_stage = 'deleted'"
                                              : "1",
    };
    kbuf_free(&ids);
    if (!rq.ids_sql)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    size_t cap = 0, n = 0;
    struct keel_run *v = NULL;
    struct dbconn *c = store_reader(st);
    if (q.lead_metric && page.max_results > 0 && offset <= LEAD_SCAN_MAX &&
        page.max_results <= LEAD_SCAN_MAX - offset) {
        e = search_by_lead_metric(c, ctx, &q, &rq, page.max_results, offset, &v, &n, &cap);
    } else {
        const char *sql = karena_sprintf(ctx->arena,
                                         "SELECT " RUN_COLS " FROM runs r WHERE r.experiment_id "
                                         "IN (%s) AND %s AND (%s) ORDER BY %s LIMIT ? OFFSET ?",
                                         rq.ids_sql, rq.stage, q.where, q.order_by);
        struct qbinds b = {0};
        qb_list(&b, q.where_binds, q.n_where_binds);
        qb_list(&b, q.order_binds, q.n_order_binds);
        e = sql ? run_rows(c, ctx, sql, NULL, &rq, &b, page.max_results, offset, &v, &n, &cap)
                : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; !e && i < n; i++)
        e = sql_run_data_load(c, ctx, &v[i]);
    store_reader_put(st, c);
    /* MLflow hands out a token whenever the page is full */
    if (!e && page.max_results >= 0 && (int64_t)n == page.max_results)
        *next_token = search_page_token_encode(ctx, offset + page.max_results);
    *out = v;
    *n_out = n;
    return e;
}

struct purge_args {
    int64_t before;
    const char *const *ids;
    size_t n_ids;
    const char **uris;
    size_t n, cap;
};

static enum keel_err purge_one(struct dbconn *c, struct keel_ctx *ctx, int64_t run_key,
                               const char *run_id)
{
    static const char *const by_key[] = {
        "DELETE FROM metrics WHERE run_key = ?",
        "DELETE FROM latest_metrics WHERE run_key = ?",
        "DELETE FROM params WHERE run_key = ?",
        "DELETE FROM tags WHERE run_key = ?",
    };
    static const char input_tags[] =
        "DELETE FROM input_tags WHERE input_uuid IN (SELECT input_uuid FROM inputs WHERE "
        "destination_type = 'RUN' AND destination_id = ?)";
    static const char inputs[] =
        "DELETE FROM inputs WHERE destination_type = 'RUN' AND destination_id = ?";
    static const char run[] = "DELETE FROM runs WHERE run_key = ?";
    for (size_t i = 0; i < sizeof by_key / sizeof *by_key; i++) {
        sqlite3_stmt *s = db_stmt(c, ctx, by_key[i]);
        if (!s)
            return ctx->err;
        sqlite3_bind_int64(s, 1, run_key);
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "purge run");
    }
    const char *by_id[] = {input_tags, inputs};
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *s = db_stmt(c, ctx, by_id[i]);
        if (!s)
            return ctx->err;
        db_bind_text(s, 1, run_id);
        if (sqlite3_step(s) != SQLITE_DONE)
            return db_fail(c, ctx, "purge run inputs");
    }
    sqlite3_stmt *s = db_stmt(c, ctx, run);
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, run_key);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "purge run");
}

static enum keel_err op_purge(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct purge_args *a = arg;
    static const char by_age[] =
        "SELECT run_key, run_uuid, artifact_uri FROM runs WHERE lifecycle_stage = 'deleted' "
        "AND coalesce(deleted_time, 0) < ?";
    /* the candidates first (a statement is not stepped while rows go) */
    struct cand {
        int64_t key;
        const char *id, *uri;
    } *cands = NULL;
    size_t nc = 0, cc = 0;
    enum keel_err e = KEEL_OK;
    if (a->n_ids) {
        for (size_t i = 0; !e && i < a->n_ids; i++) {
            struct keel_run_info info;
            if ((e = sql_run_info_load(c, ctx, a->ids[i], &info)))
                break;
            if (strcmp(info.lifecycle_stage, "deleted") != 0) {
                e = keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                              "Run %s is not in `deleted` lifecycle stage. Only runs in "
                              "`deleted` lifecycle stage can be deleted.",
                              a->ids[i]);
                break;
            }
            if (!(cands = db_grow(ctx, cands, nc, &cc, sizeof *cands)))
                return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
            cands[nc++] = (struct cand){info.run_key, info.run_id, info.artifact_uri};
        }
    } else {
        sqlite3_stmt *s = db_stmt(c, ctx, by_age);
        if (!s)
            return ctx->err;
        sqlite3_bind_int64(s, 1, a->before);
        while (sqlite3_step(s) == SQLITE_ROW) {
            if (!(cands = db_grow(ctx, cands, nc, &cc, sizeof *cands))) {
                sqlite3_reset(s);
                return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
            }
            cands[nc++] = (struct cand){sqlite3_column_int64(s, 0), db_text(ctx, s, 1),
                                        db_text(ctx, s, 2)};
        }
        sqlite3_reset(s);
    }
    for (size_t i = 0; !e && i < nc; i++) {
        if ((e = purge_one(c, ctx, cands[i].key, cands[i].id)))
            break;
        if (!(a->uris = db_grow(ctx, a->uris, a->n, &a->cap, sizeof *a->uris)))
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        a->uris[a->n++] = cands[i].uri;
    }
    return e;
}

enum keel_err store_runs_purge(struct store *st, struct keel_ctx *ctx, int64_t deleted_before_ms,
                               const char *const *run_ids, size_t n_run_ids,
                               const char ***artifact_uris, size_t *n_purged)
{
    struct purge_args a = {deleted_before_ms, run_ids, n_run_ids, NULL, 0, 0};
    enum keel_err e = store_write(st, ctx, op_purge, &a);
    *artifact_uris = e ? NULL : a.uris;
    *n_purged = e ? 0 : a.n;
    return e;
}
