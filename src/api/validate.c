/*
 * validate.c -- MLflow's key-name and length rules.
 *
 * A key may hold word characters (Unicode letters, digits, underscore),
 * '/', '.', '-' and space, and must be a normalised relative path (no "..",
 * no leading '/', no "//" or "./" pieces), so that it can name a file.
 */
#include "api/validate.h"

#include <stdbool.h>
#include <string.h>

#include "util/arena.h"

size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static bool key_chars_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x80)
            continue; /* non-ASCII letters are word characters to Python's \w */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '/' || c == '.' || c == '-' || c == ' '))
            return false;
    }
    return true;
}

/* posixpath.normpath into the arena */
static char *normpath(struct keel_ctx *ctx, const char *path)
{
    size_t n = strlen(path);
    if (n == 0)
        return karena_strdup(ctx->arena, ".");
    bool abs = path[0] == '/';
    char *out = karena_alloc(ctx->arena, n + 2);
    const char **parts = karena_alloc(ctx->arena, (n + 1) * sizeof *parts);
    size_t *lens = karena_alloc(ctx->arena, (n + 1) * sizeof *lens);
    if (!out || !parts || !lens)
        return NULL;
    size_t np = 0;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.' &&
                   (np > 0 && !(lens[np - 1] == 2 && parts[np - 1][0] == '.' &&
                                parts[np - 1][1] == '.'))) {
            np--;
        } else if (len == 2 && p[0] == '.' && p[1] == '.' && abs) {
            /* "/.." is "/" */
        } else {
            parts[np] = p;
            lens[np++] = len;
        }
        p += len;
    }
    size_t o = 0;
    if (abs)
        out[o++] = '/';
    for (size_t i = 0; i < np; i++) {
        if (i)
            out[o++] = '/';
        memcpy(out + o, parts[i], lens[i]);
        o += lens[i];
    }
    if (o == 0)
        out[o++] = '.';
    out[o] = '\0';
    return out;
}

enum keel_err validate_key_name(struct keel_ctx *ctx, const char *kind, const char *name)
{
    if (!key_chars_ok(name))
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Invalid %s name: '%s'. Names may only contain alphanumerics, "
                         "underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).",
                         kind, name);
    const char *norm = normpath(ctx, name);
    if (!norm)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    if (strcmp(norm, name) != 0 || strcmp(norm, ".") == 0 || strncmp(norm, "..", 2) == 0 ||
        norm[0] == '/')
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Invalid %s name: '%s'. Names may be treated as files in certain cases, "
                         "and must not resolve to other names when treated as such. This name "
                         "would resolve to '%s'",
                         kind, name, norm);
    return KEEL_OK;
}

/* byte offset of the n-th code point (or the end) */
static size_t utf8_prefix(const char *s, size_t n)
{
    size_t i = 0, cps = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (cps == n)
                return i;
            cps++;
        }
    }
    return i;
}

enum keel_err validate_length(struct keel_ctx *ctx, const char *entity, const char *value,
                              size_t limit)
{
    size_t len = utf8_len(value);
    if (len <= limit)
        return KEEL_OK;
    return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                     "%s '%.*s' had length %zu, which exceeded length limit of %zu", entity,
                     (int)utf8_prefix(value, 250), value, len, limit);
}

const char *validate_truncate(struct keel_ctx *ctx, const char *value, size_t limit)
{
    if (utf8_len(value) <= limit)
        return value;
    return karena_strndup(ctx->arena, value, utf8_prefix(value, limit));
}
