/*
 * args.c -- request arguments with MLflow's validation messages.
 *
 * MLflow's messages print the offending value as Python's str() would (a
 * string bare, anything else as its repr) and name its Python type; a value
 * from a query string is always a 'str'.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/arena.h"

#define API_MSG_VALUE_CEILING (1u << 20)

enum keel_err api_fail_missing(struct api_call *c, const char *name)
{
    return keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                     "Missing value for required parameter '%s'. See the API docs for more "
                     "information about request parameters.",
                     name);
}

enum keel_err api_fail_invalid(struct api_call *c, const char *name, const struct jval *value)
{
    struct kbuf b;
    kbuf_init(&b, API_MSG_VALUE_CEILING);
    /* MLflow 2 prints str(value); MLflow 3 its JSON text, and words it differently */
    if (c->mlflow3)
        json_dump_python(&b, value);
    else if (jv_is_string(value))
        kbuf_add(&b, jv_str(value), jv_len(value));
    else
        json_pyrepr(&b, value);
    enum keel_err e = keel_fail(c->ctx, KEEL_E_INVALID_PARAMETER,
                                c->mlflow3 ? "Invalid value %s for parameter '%s' supplied:  Hint: "
                                             "Value was of type '%s'. See the API docs for more "
                                             "information about request parameters."
                                           : "Invalid value %s for parameter '%s' supplied. Hint: "
                                             "Value was of type '%s'. See the API docs for more "
                                             "information about request parameters.",
                                b.data ? b.data : "", name, json_pytype(value));
    kbuf_free(&b);
    return e;
}

enum keel_err api_arg_str(struct api_call *c, const char *name, bool required, const char **out)
{
    const struct jval *v = jv_get(c->args, name);
    *out = NULL;
    if (!v || jv_is_null(v) || (jv_is_string(v) && jv_len(v) == 0)) {
        if (required)
            return api_fail_missing(c, name);
        if (v && jv_is_string(v))
            *out = "";
        return KEEL_OK;
    }
    if (jv_is_array(v) && c->from_query && jv_len(v) > 0)
        v = jv_at(v, jv_len(v) - 1); /* last one wins, as in Flask */
    if (!jv_is_string(v))
        return api_fail_invalid(c, name, v);
    *out = jv_str(v);
    return KEEL_OK;
}

static bool parse_int_text(const char *s, int64_t *out)
{
    if (!*s)
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

enum keel_err api_arg_int(struct api_call *c, const char *name, bool required, int64_t *out,
                          bool *present)
{
    const struct jval *v = jv_get(c->args, name);
    if (present)
        *present = false;
    if (!v || jv_is_null(v)) {
        if (required)
            return api_fail_missing(c, name);
        return KEEL_OK;
    }
    if (jv_is_int(v)) {
        *out = jv_int(v);
    } else if (jv_is_real(v) && jv_real(v) >= -0x1p63 && jv_real(v) < 0x1p63 &&
               jv_real(v) == (double)(int64_t)jv_real(v)) { /* cast only what fits */
        *out = (int64_t)jv_real(v);
    } else if (!jv_is_string(v) || !parse_int_text(jv_str(v), out)) {
        return api_fail_invalid(c, name, v);
    }
    if (present)
        *present = true;
    return KEEL_OK;
}

enum keel_err api_arg_str_list(struct api_call *c, const char *name, const char ***out,
                               size_t *n)
{
    const struct jval *v = jv_get(c->args, name);
    *out = NULL;
    *n = 0;
    if (!v || jv_is_null(v))
        return KEEL_OK;
    if (jv_is_string(v)) {
        const char **l = karena_alloc(c->ctx->arena, sizeof *l);
        if (!l)
            return keel_fail(c->ctx, KEEL_E_NOMEM, "out of memory");
        l[0] = jv_str(v);
        *out = l;
        *n = 1;
        return KEEL_OK;
    }
    if (!jv_is_array(v))
        return api_fail_invalid(c, name, v);
    size_t len = jv_len(v);
    const char **l = karena_alloc(c->ctx->arena, (len ? len : 1) * sizeof *l);
    if (!l)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many values for '%s'", name);
    for (size_t i = 0; i < len; i++) {
        const struct jval *e = jv_at(v, i);
        if (!jv_is_string(e))
            return api_fail_invalid(c, name, v);
        l[i] = jv_str(e);
    }
    *out = l;
    *n = len;
    return KEEL_OK;
}

enum keel_err api_arg_run_id(struct api_call *c, const char **out)
{
    enum keel_err e = api_arg_str(c, "run_id", false, out);
    if (e || (*out && **out))
        return e;
    e = api_arg_str(c, "run_uuid", false, out);
    if (e)
        return e;
    if (!*out || !**out)
        return api_fail_missing(c, "run_id");
    return KEEL_OK;
}

enum keel_err api_parse_experiment_id(struct api_call *c, const char *text, int64_t *out)
{
    if (!parse_int_text(text, out) || *out < 0)
        return keel_fail(c->ctx, KEEL_E_NOT_FOUND, "No Experiment with id=%s exists", text);
    return KEEL_OK;
}

enum keel_err api_arg_kv_list(struct api_call *c, const char *name, bool strict,
                              struct keel_tag **out, size_t *n)
{
    const struct jval *v = jv_get(c->args, name);
    *out = NULL;
    *n = 0;
    if (!v || jv_is_null(v))
        return KEEL_OK;
    if (!jv_is_array(v))
        return api_fail_invalid(c, name, v);
    size_t len = jv_len(v);
    struct keel_tag *t = karena_calloc(c->ctx->arena, len ? len : 1, sizeof *t);
    if (!t)
        return keel_fail(c->ctx, KEEL_E_TOO_LARGE, "too many entries in '%s'", name);
    for (size_t i = 0; i < len; i++) {
        const struct jval *o = jv_at(v, i);
        const struct jval *k = jv_get(o, "key"), *val = jv_get(o, "value");
        if (strict && (!jv_is_object(o) || (k && !jv_is_string(k)) || (val && !jv_is_string(val))))
            return api_fail_invalid(c, name, v);
        t[i].key = jv_str(k) ? jv_str(k) : "";
        t[i].value = jv_str(val) ? jv_str(val) : "";
    }
    *out = t;
    *n = len;
    return KEEL_OK;
}
