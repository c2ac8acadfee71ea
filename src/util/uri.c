/*
 * uri.c -- see uri.h.
 */
#include "util/uri.h"

#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/hex.h"

size_t uri_scheme_len(const char *uri)
{
    if (!isalpha((unsigned char)uri[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)uri[i]) || uri[i] == '+' || uri[i] == '-' || uri[i] == '.')
        i++;
    return uri[i] == ':' ? i + 1 : 0;
}

/* posixpath.join(prefix, leaf) for a relative leaf */
static const char *join(struct karena *a, const char *prefix, size_t n, const char *leaf)
{
    while (*leaf == '/')
        leaf++; /* MLflow appends absolute suffixes instead of replacing */
    if (n == 0)
        return karena_strdup(a, leaf);
    return karena_sprintf(a, "%.*s%s%s", (int)n, prefix, prefix[n - 1] == '/' ? "" : "/", leaf);
}

const char *uri_append(struct karena *a, const char *uri, const char *leaf)
{
    size_t s = uri_scheme_len(uri);
    if (s == 0 || (s == 2 && isalpha((unsigned char)uri[0]))) /* a path ("C:" aside) */
        return join(a, uri, strlen(uri), leaf);
    const char *rest = uri + s;
    const char *path = rest;
    bool authority = strncmp(rest, "//", 2) == 0;
    if (authority) { /* up to the next '/', '?' or '#' */
        path = rest + 2;
        path += strcspn(path, "/?#");
    }
    size_t path_len = strcspn(path, "?#");
    const char *joined = join(a, path, path_len, leaf);
    if (joined && authority && joined[0] != '/')
        joined = karena_sprintf(a, "/%s", joined); /* after an authority a path is absolute */
    if (!joined)
        return NULL;
    return karena_sprintf(a, "%.*s%s%s", (int)(path - uri), uri, joined, path + path_len);
}

const char *uri_resolve_local(struct karena *a, const char *uri)
{
    size_t s = uri_scheme_len(uri);
    const char *path = uri;
    const char *prefix = "";
    if (s) {
        if (strncmp(uri, "file:", 5) != 0)
            return karena_strdup(a, uri);
        path = uri + 5;
        if (strncmp(path, "//", 2) == 0)
            return karena_strdup(a, uri); /* file://host/abs or file:///abs */
        prefix = "file://";
    }
    if (path[0] == '/')
        return karena_strdup(a, uri);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return NULL;
    while (strncmp(path, "./", 2) == 0)
        path += 2;
    if (strcmp(path, ".") == 0 || !*path)
        return karena_sprintf(a, "%s%s", prefix, cwd);
    return karena_sprintf(a, "%s%s/%s", prefix, cwd, path);
}

char *uri_unquote_all(struct karena *a, const char *s)
{
    char *cur = karena_strdup(a, s);
    for (int round = 0; cur && round < 16; round++) {
        char *out = karena_alloc(a, strlen(cur) + 1);
        if (!out)
            return NULL;
        size_t o = 0;
        bool changed = false;
        for (size_t i = 0; cur[i]; i++) {
            int h, l;
            if (cur[i] == '%' && (h = keel_hex_digit(cur[i + 1])) >= 0 &&
                (l = keel_hex_digit(cur[i + 2])) >= 0) {
                out[o++] = (char)(h * 16 + l);
                i += 2;
                changed = true;
            } else {
                out[o++] = cur[i];
            }
        }
        out[o] = '\0';
        cur = out;
        if (!changed)
            break;
    }
    return cur;
}
