/*
 * audit.c -- what goes into the audit log about a request, and reading the
 * log back (/api/2.0/keel/audit, .../audit/verify; admins only).
 *
 * A record names the principal, the action (method and endpoint), the
 * resource the endpoint's guard acts on, the request's essential fields and
 * the outcome. Essential, not whole: secrets (passwords, tokens) are
 * replaced by "***", long strings are cut, and lists and objects are
 * counted rather than copied (a log-batch of 1,000 metrics is "[1000
 * items]"); a record never exceeds AUDIT_RECORD_MAX bytes. The store keeps
 * the record with the change (store/audit_sql.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/hex.h"
#include "util/json.h"

#define AUDIT_RECORD_MAX 8192
#define AUDIT_STRING_MAX 256
#define AUDIT_LIST_MAX 10000

static bool is_secret(const char *key)
{
    static const char *const secrets[] = {"password", "new_password", "token", "secret"};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
        if (strcmp(key, secrets[i]) == 0)
            return true;
    return false;
}

static void put_essential(struct jw *w, const char *key, const struct jval *v)
{
    char count[48];
    if (is_secret(key)) {
        jw_str(w, "***");
    } else if (jv_is_string(v)) {
        jw_strn(w, v->u.s, v->n > AUDIT_STRING_MAX ? AUDIT_STRING_MAX : v->n);
    } else if (jv_is_array(v) || jv_is_object(v)) {
        snprintf(count, sizeof count, jv_is_array(v) ? "[%zu items]" : "{%zu keys}", v->n);
        jw_str(w, count);
    } else {
        jw_json(w, v);
    }
}

static const char *guard_value(const struct api_check *k, const struct jval *args,
                               const char *tail, char *buf, size_t n)
{
    const struct jval *v = k->arg && args ? jv_get(args, k->arg) : NULL;
    if (!k->arg)
        return tail;
    if (jv_is_string(v))
        return v->u.s;
    if (jv_is_int(v)) {
        snprintf(buf, n, "%lld", (long long)v->u.i);
        return buf;
    }
    if (jv_is_array(v) && v->n == 1 && jv_is_string(jv_at(v, 0)))
        return jv_at(v, 0)->u.s;
    return NULL;
}

static bool write_fields(struct jw *w, const char *principal, const char *action,
                         const struct api_guard *g, const struct jval *args, const char *tail,
                         const char *outcome, bool with_request)
{
    jw_obj(w);
    jw_kstr(w, "principal", principal ? principal : "");
    jw_kstr(w, "action", action);
    jw_key(w, "resource");
    jw_arr(w);
    for (size_t i = 0; g && i < sizeof g->check / sizeof *g->check; i++) {
        const struct api_check *k = &g->check[i];
        char buf[32];
        const char *value = guard_value(k, args, tail, buf, sizeof buf);
        if (k->kind == G_NONE || k->kind == G_SIGNED_IN || !value)
            continue;
        jw_obj(w);
        jw_kstr(w, "type", api_guard_kind_name(k->kind));
        jw_key(w, "id");
        jw_strn(w, value, strlen(value) > AUDIT_STRING_MAX ? AUDIT_STRING_MAX : strlen(value));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "request");
    jw_obj(w);
    for (size_t i = 0; with_request && jv_is_object(args) && i < args->n; i++) {
        const struct jmember *m = &args->u.members[i];
        /* a key sent twice is written once, with the value the handler
         * used (jv_get's, the last): the record must say what was done */
        bool later = false;
        for (size_t j = i + 1; j < args->n && !later; j++)
            later = strcmp(args->u.members[j].key, m->key) == 0;
        if (later)
            continue;
        jw_key(w, m->key);
        put_essential(w, m->key, &m->val);
    }
    jw_obj_end(w);
    jw_kstr(w, "outcome", outcome);
    jw_obj_end(w);
    return w->err == KEEL_OK;
}

struct keel_audit *api_audit_new(struct keel_ctx *ctx, const char *who, const char *method,
                                 const char *path, const struct api_guard *g,
                                 const struct jval *args, const char *tail, const char *outcome)
{
    struct keel_audit *a = karena_calloc(ctx->arena, 1, sizeof *a);
    /* the path is cut like any string: a record always fits */
    const char *action = karena_sprintf(ctx->arena, "%s %.*s", method, AUDIT_STRING_MAX, path);
    if (!a || !action)
        return NULL;
    struct kbuf b;
    kbuf_init(&b, AUDIT_RECORD_MAX);
    struct jw w;
    jw_init(&w, &b);
    bool ok = write_fields(&w, who, action, g, args, tail, outcome, true);
    if (!ok) { /* too large even cut down: keep who, what and the outcome */
        kbuf_reset(&b);
        jw_init(&w, &b);
        ok = write_fields(&w, who, action, g, NULL, NULL, outcome, false);
    }
    a->fields = ok ? karena_strndup(ctx->arena, b.data, b.len) : NULL;
    a->action = action;
    kbuf_free(&b);
    return a->fields ? a : NULL;
}

/* ---- reading the log ---- */

static enum keel_err h_list(struct api_call *c)
{
    int64_t from = 1, max = 100;
    bool has_from = false, has_max = false;
    const char *order = NULL;
    enum keel_err e;
    if ((e = api_arg_int(c, "start_seq", false, &from, &has_from)) ||
        (e = api_arg_int(c, "max_results", false, &max, &has_max)) ||
        (e = api_arg_str(c, "order", false, &order)))
        return e;
    /* order=desc: newest first, from start_seq (default: the last) back */
    bool desc = order && strcmp(order, "desc") == 0;
    if (order && !desc && strcmp(order, "asc") != 0)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER, "order must be 'asc' or 'desc'");
    if (desc && !has_from)
        from = INT64_MAX;
    if (from < 1 || max < 1 || max > AUDIT_LIST_MAX)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "start_seq must be at least 1 and max_results between 1 and %d",
                         AUDIT_LIST_MAX);
    struct keel_audit_record *r = NULL;
    size_t n = 0;
    if ((e = store_audit_list(c->app->store, c->ctx, from, (size_t)max, desc, &r, &n)))
        return e;
    struct jw *w = &c->out;
    jw_obj(w);
    jw_key(w, "records");
    jw_arr(w);
    for (size_t i = 0; i < n; i++) {
        char prev[65], hash[65];
        keel_hex_encode(r[i].prev_hash, 32, prev);
        keel_hex_encode(r[i].hash, 32, hash);
        jw_obj(w);
        jw_kint(w, "seq", r[i].seq);
        jw_key(w, "record");
        /* the stored text itself, so a reader can recompute the hash */
        jw_str(w, r[i].record);
        jw_kstr(w, "prev_hash", prev);
        jw_kstr(w, "hash", hash);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    if (n == (size_t)max && (!desc || r[n - 1].seq > 1))
        jw_kint(w, "next_start_seq", desc ? r[n - 1].seq - 1 : r[n - 1].seq + 1);
    jw_obj_end(w);
    return KEEL_OK;
}

static enum keel_err h_verify(struct api_call *c)
{
    struct keel_audit_verdict v;
    enum keel_err e = store_audit_verify(c->app->store, c->ctx, &v);
    if (e)
        return e;
    char head[65];
    keel_hex_encode(v.head, 32, head);
    struct jw *w = &c->out;
    jw_obj(w);
    jw_key(w, "ok");
    jw_bool(w, v.ok);
    jw_kint(w, "records", v.records);
    jw_kstr(w, "head", head);
    if (!v.ok) {
        jw_kint(w, "first_bad_seq", v.first_bad);
        jw_kstr(w, "reason", v.reason);
    }
    jw_obj_end(w);
    return KEEL_OK;
}

const struct api_route api_audit_routes[] = {
    {"GET", "keel/audit", h_list},
    {"GET", "keel/audit/verify", h_verify},
    {NULL, NULL, NULL},
};
