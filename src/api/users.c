/*
 * users.c -- MLflow's user and permission endpoints (/api/2.0/mlflow/users/...,
 * .../experiments/permissions/..., .../registered-models/permissions/...),
 * so mlflow.server.get_app_client("basic-auth") and existing tooling work
 * against keel, and keel's bearer tokens (/api/2.0/keel/tokens/...).
 *
 * Who may call each is policy.c's table; the handlers assume that check has
 * passed. With authentication off the router does not route these paths
 * (api_route_needs_auth), as an MLflow server started without its auth app
 * does not.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "auth/auth.h"
#include "util/arena.h"
#include "util/time.h"

#define TOKEN_MAX_DAYS 3650

/* {"<resource_key>": ..., "user_id": ..., "permission": ...}, as MLflow writes one */
static void write_permission(struct jw *w, const char *resource_key,
                             const struct keel_permission *p)
{
    jw_obj(w);
    jw_kstr(w, resource_key, p->resource);
    jw_kint(w, "user_id", p->user_id);
    jw_kstr(w, "permission", p->permission);
    jw_obj_end(w);
}

static enum keel_err write_user(struct api_call *c, const struct keel_user *u)
{
    static const struct {
        enum store_resource kind;
        const char *list, *resource_key;
    } kinds[] = {
        {STORE_RES_EXPERIMENT, "experiment_permissions", "experiment_id"},
        {STORE_RES_REGISTERED_MODEL, "registered_model_permissions", "name"},
    };
    struct jw *w = &c->out;
    jw_obj(w);
    jw_kint(w, "id", u->id);
    jw_kstr(w, "username", u->username);
    jw_key(w, "is_admin");
    jw_bool(w, u->is_admin);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        struct keel_permission *p = NULL;
        size_t n = 0;
        enum keel_err e = store_permission_list(c->app->store, c->ctx, kinds[k].kind, u->id, &p,
                                                &n);
        if (e)
            return e;
        jw_key(w, kinds[k].list);
        jw_arr(w);
        for (size_t i = 0; i < n; i++)
            write_permission(w, kinds[k].resource_key, &p[i]);
        jw_arr_end(w);
    }
    jw_obj_end(w);
    return KEEL_OK;
}

/* {"user": ...} */
static enum keel_err answer_user(struct api_call *c, const struct keel_user *u)
{
    jw_obj(&c->out);
    jw_key(&c->out, "user");
    enum keel_err e = write_user(c, u);
    jw_obj_end(&c->out);
    return e;
}

static enum keel_err empty_answer(struct api_call *c)
{
    jw_obj(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

/* ---- users ---- */

/* The stored form of a new password, after MLflow's checks and keel's. */
static enum keel_err new_password(struct api_call *c, const char *password, const char **hash)
{
    enum keel_err e = auth_password_check(c->ctx, password);
    return e ? e : auth_password_hash(c->ctx, password, hash);
}

static enum keel_err h_user_create(struct api_call *c)
{
    const char *username = NULL, *password = NULL, *hash = NULL;
    struct keel_user u;
    enum keel_err e;
    if ((e = api_arg_str(c, "username", true, &username)) ||
        (e = api_arg_str(c, "password", true, &password)) ||
        (e = auth_username_check(c->ctx, username)) ||
        (e = new_password(c, password, &hash)) ||
        (e = store_user_create(c->app->store, c->ctx, username, hash, false, &u)))
        return e;
    return answer_user(c, &u);
}

static enum keel_err h_user_get(struct api_call *c)
{
    const char *username = NULL;
    struct keel_user u;
    enum keel_err e;
    if ((e = api_arg_str(c, "username", true, &username)) ||
        (e = store_user_get(c->app->store, c->ctx, username, &u)))
        return e;
    return answer_user(c, &u);
}

static enum keel_err h_user_list(struct api_call *c)
{
    struct keel_user *u = NULL;
    size_t n = 0;
    enum keel_err e = store_user_list(c->app->store, c->ctx, &u, &n);
    if (e)
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "users");
    jw_arr(&c->out);
    for (size_t i = 0; i < n && !e; i++)
        e = write_user(c, &u[i]);
    jw_arr_end(&c->out);
    jw_obj_end(&c->out);
    return e;
}

static enum keel_err h_user_password(struct api_call *c)
{
    const char *username = NULL, *password = NULL, *hash = NULL;
    enum keel_err e;
    if ((e = api_arg_str(c, "username", true, &username)) ||
        (e = api_arg_str(c, "password", true, &password)) ||
        (e = new_password(c, password, &hash)) ||
        (e = store_user_update(c->app->store, c->ctx, username, hash, -1)))
        return e;
    return empty_answer(c);
}

static enum keel_err h_user_admin(struct api_call *c)
{
    const char *username = NULL;
    enum keel_err e = api_arg_str(c, "username", true, &username);
    if (e)
        return e;
    /* a JSON boolean, or its text as a form or query would carry it */
    const struct jval *v = jv_get(c->args, "is_admin");
    int is_admin = -1;
    if (jv_is_bool(v))
        is_admin = jv_is_true(v);
    else if (jv_is_string(v) && strcasecmp(v->u.s, "true") == 0)
        is_admin = 1;
    else if (jv_is_string(v) && strcasecmp(v->u.s, "false") == 0)
        is_admin = 0;
    if (!v)
        return api_fail_missing(c, "is_admin");
    if (is_admin < 0)
        return api_fail_invalid(c, "is_admin", v);
    if (c->ctx->who && strcmp(username, c->ctx->who->username) == 0 && !is_admin)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "An admin cannot take away their own admin rights; another admin "
                         "must.");
    e = store_user_update(c->app->store, c->ctx, username, NULL, is_admin);
    return e ? e : empty_answer(c);
}

static enum keel_err h_user_delete(struct api_call *c)
{
    const char *username = NULL;
    enum keel_err e = api_arg_str(c, "username", true, &username);
    if (e)
        return e;
    if (c->ctx->who && strcmp(username, c->ctx->who->username) == 0)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "An admin cannot delete themselves; another admin must.");
    e = store_user_delete(c->app->store, c->ctx, username);
    return e ? e : empty_answer(c);
}

/* ---- permissions ---- */

struct perm_family {
    enum store_resource kind;
    const char *resource_arg; /* "experiment_id" or "name" */
    const char *answer_key;   /* "experiment_permission"... */
};

static const struct perm_family experiment_perms = {STORE_RES_EXPERIMENT, "experiment_id",
                                                    "experiment_permission"};
static const struct perm_family model_perms = {STORE_RES_REGISTERED_MODEL, "name",
                                               "registered_model_permission"};

static enum keel_err perm_args(struct api_call *c, const struct perm_family *f,
                               const char **resource, const char **username,
                               const char **permission)
{
    enum keel_err e;
    if ((e = api_arg_str(c, f->resource_arg, true, resource)) ||
        (e = api_arg_str(c, "username", true, username)))
        return e;
    if (f->kind == STORE_RES_EXPERIMENT)
        *resource = api_experiment_key(c, *resource);
    if (!permission)
        return KEEL_OK;
    if ((e = api_arg_str(c, "permission", true, permission)))
        return e;
    return auth_level_check(c->ctx, *permission);
}

static enum keel_err perm_create(struct api_call *c, const struct perm_family *f)
{
    const char *resource, *username, *permission;
    struct keel_permission p;
    enum keel_err e;
    if ((e = perm_args(c, f, &resource, &username, &permission)) ||
        (e = store_permission_create(c->app->store, c->ctx, f->kind, resource, username,
                                     permission, &p)))
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, f->answer_key);
    write_permission(&c->out, f->resource_arg, &p);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err perm_get(struct api_call *c, const struct perm_family *f)
{
    const char *resource, *username;
    struct keel_permission p;
    enum keel_err e;
    if ((e = perm_args(c, f, &resource, &username, NULL)) ||
        (e = store_permission_get(c->app->store, c->ctx, f->kind, resource, username, &p)))
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, f->answer_key);
    write_permission(&c->out, f->resource_arg, &p);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err perm_update(struct api_call *c, const struct perm_family *f)
{
    const char *resource, *username, *permission;
    enum keel_err e;
    if ((e = perm_args(c, f, &resource, &username, &permission)) ||
        (e = store_permission_update(c->app->store, c->ctx, f->kind, resource, username,
                                     permission)))
        return e;
    return empty_answer(c);
}

static enum keel_err perm_delete(struct api_call *c, const struct perm_family *f)
{
    const char *resource, *username;
    enum keel_err e;
    if ((e = perm_args(c, f, &resource, &username, NULL)) ||
        (e = store_permission_delete(c->app->store, c->ctx, f->kind, resource, username)))
        return e;
    return empty_answer(c);
}

static enum keel_err h_ep_create(struct api_call *c) { return perm_create(c, &experiment_perms); }
static enum keel_err h_ep_get(struct api_call *c) { return perm_get(c, &experiment_perms); }
static enum keel_err h_ep_update(struct api_call *c) { return perm_update(c, &experiment_perms); }
static enum keel_err h_ep_delete(struct api_call *c) { return perm_delete(c, &experiment_perms); }
static enum keel_err h_mp_create(struct api_call *c) { return perm_create(c, &model_perms); }
static enum keel_err h_mp_get(struct api_call *c) { return perm_get(c, &model_perms); }
static enum keel_err h_mp_update(struct api_call *c) { return perm_update(c, &model_perms); }
static enum keel_err h_mp_delete(struct api_call *c) { return perm_delete(c, &model_perms); }

/* ---- bearer tokens ---- */

static void write_token(struct jw *w, const struct keel_token *t, const char *username)
{
    jw_obj(w);
    jw_kstr(w, "id", t->id);
    jw_kstr(w, "name", t->name);
    jw_kstr(w, "username", username);
    jw_kint(w, "creation_time", t->creation_time);
    if (t->expiration_time)
        jw_kint(w, "expiration_time", t->expiration_time);
    jw_obj_end(w);
}

/* The user a token call is about: `username` when given (policy lets only
 * admins name another), else the caller. */
static enum keel_err token_owner(struct api_call *c, struct keel_user *u)
{
    const char *username = NULL;
    enum keel_err e = api_arg_str(c, "username", false, &username);
    if (e)
        return e;
    if (!username && !c->ctx->who)
        return api_fail_missing(c, "username");
    return store_user_get(c->app->store, c->ctx, username ? username : c->ctx->who->username, u);
}

static enum keel_err h_token_create(struct api_call *c)
{
    struct keel_user u;
    const char *name = NULL, *text = NULL;
    int64_t days = 0;
    bool has_days = false;
    struct keel_token t;
    enum keel_err e;
    if ((e = token_owner(c, &u)) || (e = api_arg_str(c, "name", false, &name)) ||
        (e = api_arg_int(c, "expires_in_days", false, &days, &has_days)))
        return e;
    if (name && strlen(name) > AUTH_TOKEN_NAME_MAX)
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "Token name must be at most %d bytes long.", AUTH_TOKEN_NAME_MAX);
    if (has_days && (days < 1 || days > TOKEN_MAX_DAYS))
        return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                         "expires_in_days must be between 1 and %d.", TOKEN_MAX_DAYS);
    int64_t expires = has_days ? keel_now_ms() + days * 86400000 : 0;
    if ((e = auth_token_issue(c->app->auth, c->ctx, u.id, name, expires, &text, &t)))
        return e;
    jw_obj(&c->out);
    jw_kstr(&c->out, "token", text);
    jw_key(&c->out, "token_info");
    write_token(&c->out, &t, u.username);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_token_list(struct api_call *c)
{
    struct keel_user u;
    struct keel_token *t = NULL;
    size_t n = 0;
    enum keel_err e;
    if ((e = token_owner(c, &u)) || (e = store_token_list(c->app->store, c->ctx, u.id, &t, &n)))
        return e;
    jw_obj(&c->out);
    jw_key(&c->out, "tokens");
    jw_arr(&c->out);
    for (size_t i = 0; i < n; i++)
        write_token(&c->out, &t[i], t[i].username);
    jw_arr_end(&c->out);
    jw_obj_end(&c->out);
    return KEEL_OK;
}

static enum keel_err h_token_revoke(struct api_call *c)
{
    const char *id = NULL;
    enum keel_err e = api_arg_str(c, "id", true, &id);
    if (e)
        return e;
    /* a user revokes their own tokens; an admin anyone's */
    int64_t owner = c->ctx->who && !c->ctx->who->is_admin ? c->ctx->who->user_id : 0;
    e = store_token_delete(c->app->store, c->ctx, id, owner);
    return e ? e : empty_answer(c);
}

const struct api_route api_user_routes[] = {
    {"POST", "mlflow/users/create", h_user_create},
    {"GET", "mlflow/users/get", h_user_get},
    {"GET", "mlflow/users/list", h_user_list},
    {"PATCH", "mlflow/users/update-password", h_user_password},
    {"PATCH", "mlflow/users/update-admin", h_user_admin},
    {"DELETE", "mlflow/users/delete", h_user_delete},
    {"POST", "mlflow/experiments/permissions/create", h_ep_create},
    {"GET", "mlflow/experiments/permissions/get", h_ep_get},
    {"PATCH", "mlflow/experiments/permissions/update", h_ep_update},
    {"DELETE", "mlflow/experiments/permissions/delete", h_ep_delete},
    {"POST", "mlflow/registered-models/permissions/create", h_mp_create},
    {"GET", "mlflow/registered-models/permissions/get", h_mp_get},
    {"PATCH", "mlflow/registered-models/permissions/update", h_mp_update},
    {"DELETE", "mlflow/registered-models/permissions/delete", h_mp_delete},
    {"POST", "keel/tokens/create", h_token_create},
    {"GET", "keel/tokens/list", h_token_list},
    {"POST", "keel/tokens/revoke", h_token_revoke},
    {"DELETE", "keel/tokens/revoke", h_token_revoke},
    {NULL, NULL, NULL},
};

bool api_route_needs_auth(const struct api_route *r)
{
    size_t n = sizeof api_user_routes / sizeof *api_user_routes - 1;
    return r >= api_user_routes && r < api_user_routes + n;
}
