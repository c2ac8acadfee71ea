/*
 * mlmodel.c -- reads an MLflow MLmodel file: its flavors and input signature.
 *
 * MLmodel is YAML, loaded whole with libyaml's document API (the file is
 * capped at MLMODEL_MAX_BYTES, so the node tree is bounded too); the
 * signature inside it is JSON held in YAML strings, parsed with jp_parse.
 * keel reads only what scoring needs -- the flavor names and their scalar
 * settings, mlflow_version, signature.inputs -- and accepts every other key,
 * so files written by newer MLflow versions (MLflow 3 adds model_id, prompts,
 * ...) load unchanged. Where a key is repeated, the last one counts, as in
 * PyYAML, which is what MLflow reads the file with.
 */
#include "model/model_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "util/arena.h"
#include "util/jparse.h"

/* The signature's JSON tree is parsed into a scratch arena of its own and
 * dropped once the columns are copied out; JSON of MLMODEL_MAX_BYTES needs
 * far less than this. */
#define SIG_SCRATCH_CEILING ((size_t)64 << 20)

enum keel_err mlmodel_read_file(const char *path, const char *what, size_t max, char **buf,
                                size_t *len, struct keel_ctx *ctx)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return keel_fail(ctx, KEEL_E_NOT_FOUND, "%s not found: %s", what, path);
        return keel_fail(ctx, KEEL_E_IO, "cannot open %s %s: %s", what, path, strerror(errno));
    }
    struct stat st;
    enum keel_err e = KEEL_OK;
    char *p = NULL;
    size_t n = 0;
    if (fstat(fd, &st) != 0) {
        e = keel_fail(ctx, KEEL_E_IO, "cannot stat %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        e = keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "%s %s is not a regular file", what, path);
        goto out;
    }
    if ((uintmax_t)st.st_size > max) {
        e = keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                      "%s %s is %jd bytes; keel reads at most %zu", what, path,
                      (intmax_t)st.st_size, max);
        goto out;
    }
    size_t cap = (size_t)st.st_size;
    /* one spare byte shows a file that grew after fstat, one holds the NUL */
    p = malloc(cap + 2);
    if (!p) {
        e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory reading %s %s", what, path);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, p + n, cap + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = keel_fail(ctx, KEEL_E_IO, "cannot read %s %s: %s", what, path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > cap) {
            e = keel_fail(ctx, KEEL_E_IO, "%s %s changed while it was read", what, path);
            goto out;
        }
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    p = NULL;
out:
    free(p);
    close(fd);
    return e;
}

const char *mlmodel_flavor_get(const struct mlmodel_flavor *f, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; f && i < f->n_conf; i++)
        if (strcmp(f->conf[i].key, key) == 0)
            v = f->conf[i].value; /* the last one wins, as in PyYAML */
    return v;
}

/* ---- YAML ---------------------------------------------------------------- */

struct yml {
    yaml_document_t *doc;
    struct karena *a;
    struct keel_ctx *ctx;
};

static const yaml_node_t *node(const struct yml *y, int id)
{
    return yaml_document_get_node(y->doc, id);
}

static const char *scalar_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* YAML 1.1's null as PyYAML resolves it: only for plain (unquoted) scalars. */
static int is_null(const yaml_node_t *n)
{
    if (!n)
        return 1;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(scalar_text(n), nulls[i]) == 0)
            return 1;
    return 0;
}

/* A scalar's text copied into the arena; refused when it holds a NUL byte,
 * which no C string can carry. */
static enum keel_err scalar_dup(const struct yml *y, const yaml_node_t *n, const char *what,
                                const char **out)
{
    size_t len = n->data.scalar.length;
    if (memchr(n->data.scalar.value, '\0', len))
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER, "MLmodel: %s holds a NUL character",
                         what);
    if (!(*out = karena_strndup(y->a, scalar_text(n), len)))
        return keel_fail(y->ctx, KEEL_E_NOMEM, "out of memory reading MLmodel");
    return KEEL_OK;
}

/* The value under scalar key `key` in mapping m (the last one when the key
 * repeats); NULL when m is not a mapping or has no such key. */
static const yaml_node_t *map_get(const struct yml *y, const yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    const yaml_node_t *found = NULL;
    size_t klen = strlen(key);
    for (const yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = node(y, p->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
            memcmp(k->data.scalar.value, key, klen) == 0)
            found = node(y, p->value);
    }
    return found;
}

static size_t map_len(const yaml_node_t *m)
{
    return (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
}

/* One flavor: its name and scalar settings. A null value (`xgboost:` with
 * nothing under it) is a flavor without settings. */
static enum keel_err read_flavor(const struct yml *y, const yaml_node_t *k, const yaml_node_t *v,
                                 struct mlmodel_flavor *f)
{
    *f = (struct mlmodel_flavor){0};
    if (!k || k->type != YAML_SCALAR_NODE)
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: a flavor name is not a string");
    enum keel_err e = scalar_dup(y, k, "a flavor name", &f->name);
    if (e)
        return e;
    if (is_null(v))
        return KEEL_OK;
    if (v->type != YAML_MAPPING_NODE)
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: flavor '%s' is not a mapping", f->name);
    struct mlmodel_kv *conf = karena_calloc(y->a, map_len(v) + 1, sizeof *conf);
    if (!conf)
        return keel_fail(y->ctx, KEEL_E_NOMEM, "out of memory reading MLmodel");
    size_t n = 0;
    for (const yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *ck = node(y, p->key), *cv = node(y, p->value);
        if (!ck || ck->type != YAML_SCALAR_NODE || !cv || cv->type != YAML_SCALAR_NODE)
            continue; /* nested settings (env: {...}) are no runner's business */
        if ((e = scalar_dup(y, ck, "a flavor setting", &conf[n].key)) != KEEL_OK)
            return e;
        if (!is_null(cv) && (e = scalar_dup(y, cv, "a flavor setting", &conf[n].value)) != KEEL_OK)
            return e;
        n++;
    }
    f->conf = conf;
    f->n_conf = n;
    return KEEL_OK;
}

static enum keel_err read_flavors(const struct yml *y, const yaml_node_t *m, struct mlmodel *out)
{
    if (is_null(m))
        return KEEL_OK; /* no flavors: nothing keel can run, which load reports */
    if (m->type != YAML_MAPPING_NODE)
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER, "MLmodel: 'flavors' is not a mapping");
    struct mlmodel_flavor *fl = karena_calloc(y->a, map_len(m) + 1, sizeof *fl);
    if (!fl)
        return keel_fail(y->ctx, KEEL_E_NOMEM, "out of memory reading MLmodel");
    size_t n = 0;
    for (const yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
         p++) {
        enum keel_err e = read_flavor(y, node(y, p->key), node(y, p->value), &fl[n]);
        if (e)
            return e;
        /* a repeated flavor name replaces the earlier entry, as in PyYAML */
        size_t i = 0;
        while (i < n && strcmp(fl[i].name, fl[n].name) != 0)
            i++;
        if (i < n)
            fl[i] = fl[n];
        else
            n++;
    }
    out->flavors = fl;
    out->n_flavors = n;
    return KEEL_OK;
}

/* ---- signature ----------------------------------------------------------- */

static enum keel_err dtype_parse(const char *name, enum keel_dtype *out)
{
    for (enum keel_dtype t = KEEL_DT_DOUBLE; t <= KEEL_DT_DATETIME; t++) {
        if (strcmp(keel_dtype_name(t), name) == 0) {
            *out = t;
            return KEEL_OK;
        }
    }
    return KEEL_E_NOT_IMPLEMENTED;
}

/* One ColSpec, {"type": "double", "name": "x", "required": true}; its name
 * is copied into the model's arena. */
static enum keel_err read_colspec(const struct yml *y, const struct jval *c, size_t i,
                                  struct keel_colspec *out)
{
    const struct jval *name = jv_get(c, "name"), *req = jv_get(c, "required");
    if (name && !jv_is_string(name))
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: signature input %zu has a name that is not a string", i);
    if (name && !(out->name = karena_strndup(y->a, name->u.s, name->n)))
        return keel_fail(y->ctx, KEEL_E_NOMEM, "out of memory reading MLmodel");
    const char *type = jv_str(jv_get(c, "type"));
    const char *label = out->name ? out->name : "(unnamed)";
    if (!type)
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: signature input '%s' has no type", label);
    if (dtype_parse(type, &out->type) != KEEL_OK)
        /* array, object, map, any...: valid MLflow, but nothing a flavor keel
         * runs takes them */
        return keel_fail(y->ctx, KEEL_E_NOT_IMPLEMENTED,
                         "MLmodel: signature input '%s' has type '%s', which keel cannot score",
                         label, type);
    if (req && !jv_is_bool(req))
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: signature input '%s' has a 'required' that is not a boolean",
                         label);
    out->required = req ? jv_is_true(req) : 1;
    return KEEL_OK;
}

/* The columns of a parsed `inputs` list into out->sig. */
static enum keel_err read_columns(const struct yml *y, const struct jval *list, struct mlmodel *out)
{
    if (!jv_is_array(list) || list->n == 0)
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: signature inputs is not a non-empty JSON list");
    if (list->n > MLMODEL_MAX_COLUMNS)
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: the signature has %zu inputs; keel takes at most %zu", list->n,
                         MLMODEL_MAX_COLUMNS);
    size_t tensors = 0, named = 0;
    for (size_t i = 0; i < list->n; i++) {
        const struct jval *c = jv_at(list, i);
        if (!jv_is_object(c))
            return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                             "MLmodel: signature input %zu is not a JSON object", i);
        const char *type = jv_str(jv_get(c, "type"));
        tensors += type && strcmp(type, "tensor") == 0;
        named += jv_get(c, "name") != NULL;
    }
    if ((tensors && tensors != list->n) || (named && named != list->n))
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: the signature mixes %s inputs",
                         tensors ? "tensor and column" : "named and unnamed");
    /* A tensor signature ({"type": "tensor", "tensor-spec": ...}) or unnamed
     * columns describe inputs by position: recorded as has_inputs 0 for now,
     * so inputs are taken by position and the model's feature count rules. */
    if (tensors || !named)
        return KEEL_OK;
    struct keel_colspec *cols = karena_calloc(y->a, list->n, sizeof *cols);
    if (!cols)
        return keel_fail(y->ctx, KEEL_E_NOMEM, "out of memory reading MLmodel");
    for (size_t i = 0; i < list->n; i++) {
        enum keel_err e = read_colspec(y, jv_at(list, i), i, &cols[i]);
        if (e)
            return e;
    }
    out->sig.has_inputs = 1;
    out->sig.inputs = cols;
    out->sig.n_inputs = list->n;
    return KEEL_OK;
}

/* signature.inputs: a JSON list held in a YAML string. */
static enum keel_err read_signature(const struct yml *y, const yaml_node_t *sig,
                                    struct mlmodel *out)
{
    if (is_null(sig))
        return KEEL_OK;
    if (sig->type != YAML_MAPPING_NODE)
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER, "MLmodel: 'signature' is not a mapping");
    const yaml_node_t *in = map_get(y, sig, "inputs");
    if (is_null(in))
        return KEEL_OK;
    if (in->type != YAML_SCALAR_NODE)
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel: signature inputs is not a JSON string");
    struct karena *scratch = karena_new(SIG_SCRATCH_CEILING);
    if (!scratch)
        return keel_fail(y->ctx, KEEL_E_NOMEM, "out of memory reading MLmodel");
    const char *why = NULL;
    const struct jval *list = jp_parse(scratch, scalar_text(in), in->data.scalar.length, &why);
    enum keel_err e = list ? read_columns(y, list, out)
                           : keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                                       "MLmodel: signature inputs is not valid JSON: %s", why);
    karena_free(scratch);
    return e;
}

/* ---- the file ------------------------------------------------------------ */

static enum keel_err read_document(const struct yml *y, struct mlmodel *out)
{
    const yaml_node_t *root = yaml_document_get_root_node(y->doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER, "MLmodel is not a YAML mapping");
    enum keel_err e = read_flavors(y, map_get(y, root, "flavors"), out);
    if (e)
        return e;
    const yaml_node_t *v = map_get(y, root, "mlflow_version");
    out->mlflow_version = "";
    if (!is_null(v)) {
        if (v->type != YAML_SCALAR_NODE)
            return keel_fail(y->ctx, KEEL_E_INVALID_PARAMETER,
                             "MLmodel: 'mlflow_version' is not a string");
        if ((e = scalar_dup(y, v, "mlflow_version", &out->mlflow_version)) != KEEL_OK)
            return e;
    }
    return read_signature(y, map_get(y, root, "signature"), out);
}

enum keel_err mlmodel_parse(struct karena *a, const char *text, size_t len, struct mlmodel *out,
                            struct keel_ctx *ctx)
{
    memset(out, 0, sizeof *out);
    out->mlflow_version = "";
    if (len > MLMODEL_MAX_BYTES)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "MLmodel is %zu bytes; keel reads at most %zu", len, MLMODEL_MAX_BYTES);
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory reading MLmodel");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    enum keel_err e;
    if (!yaml_parser_load(&parser, &doc)) {
        if (parser.error == YAML_MEMORY_ERROR)
            e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory reading MLmodel");
        else
            e = keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                          "MLmodel is not valid YAML: %s at line %zu, column %zu",
                          parser.problem ? parser.problem : "syntax error",
                          parser.problem_mark.line + 1, parser.problem_mark.column + 1);
        yaml_parser_delete(&parser);
        return e;
    }
    struct yml y = {.doc = &doc, .a = a, .ctx = ctx};
    e = read_document(&y, out);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (e)
        memset(out, 0, sizeof *out);
    return e;
}
