/*
 * local.c -- artifact directories on the local file system.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "artifacts/artifacts.h"
#include "util/arena.h"
#include "util/uri.h"

#define ARTIFACT_MAX_LIST 100000

enum keel_err artifact_check_path(struct keel_ctx *ctx, const char *path, const char **out)
{
    /* a NUL would cut the path short where the check cannot see it */
    if (strstr(path, "%00") || strlen(path) > ARTIFACT_MAX_PATH)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "Invalid path");
    char *p = uri_unquote_all(ctx->arena, path);
    if (!p)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    if (strlen(p) >= 7 && memcmp(p, "file://", 7) == 0)
        p += 7;
    /* MLflow's rules (no "..", no absolute or drive path, no backslash or
     * '#'), and keel's own: no empty segment, no control character, no
     * over-long name */
    bool bad = p[0] == '/' || strchr(p, '\\') || strchr(p, '#') ||
               (p[0] && p[1] == ':' && ((p[0] | 32) >= 'a' && (p[0] | 32) <= 'z'));
    for (const char *c = p; !bad && *c; c++)
        bad = (unsigned char)*c < 0x20 || *c == 0x7f;
    for (const char *s = p; !bad && *s;) {
        size_t len = strcspn(s, "/");
        bad = (len == 2 && s[0] == '.' && s[1] == '.') || len > ARTIFACT_MAX_NAME ||
              (len == 0 && s[len] == '/');
        s += len;
        if (*s == '/')
            s++;
    }
    if (bad)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "Invalid path");
    size_t n = strlen(p); /* a trailing '/' names the same directory */
    while (n && p[n - 1] == '/')
        p[--n] = '\0';
    *out = p;
    return KEEL_OK;
}

const char *artifact_proxied_path(struct keel_ctx *ctx, const char *uri)
{
    static const char proxied[] = "mlflow-artifacts:";
    if (strncmp(uri, proxied, sizeof proxied - 1) != 0)
        return NULL;
    const char *p = uri + sizeof proxied - 1;
    if (strncmp(p, "//", 2) == 0) /* mlflow-artifacts://host:port/path */
        p = strchr(p + 2, '/') ? strchr(p + 2, '/') : "";
    while (*p == '/')
        p++;
    size_t n = strlen(p);
    while (n && p[n - 1] == '/')
        n--;
    return karena_strndup(ctx->arena, p, n);
}

enum keel_err artifact_resolve_local(struct keel_ctx *ctx, const char *uri,
                                     const char *destination, const char **dir)
{
    static const char proxied[] = "mlflow-artifacts:";
    static const char file[] = "file://";
    if (strncmp(uri, proxied, sizeof proxied - 1) == 0) {
        const char *p = uri + sizeof proxied - 1;
        if (strncmp(p, "//", 2) == 0) /* mlflow-artifacts://host:port/path */
            p = strchr(p + 2, '/') ? strchr(p + 2, '/') : "";
        while (*p == '/')
            p++;
        *dir = karena_sprintf(ctx->arena, "%s/%s", destination, p);
    } else if (strncmp(uri, file, sizeof file - 1) == 0) {
        *dir = karena_strdup(ctx->arena, uri + sizeof file - 1);
    } else if (uri[0] == '/') {
        *dir = karena_strdup(ctx->arena, uri);
    } else {
        return keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                         "Artifacts at '%s' are not on a store this keel server can read", uri);
    }
    return *dir ? KEEL_OK : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(((const struct artifact_file *)a)->path, ((const struct artifact_file *)b)->path);
}

/* Where openat2 is missing: rel walked one name at a time, none of them a
 * symbolic link. */
static int walk_beneath(int dfd, const char *rel, int flags)
{
    int cur = dup(dfd);
    while (cur >= 0 && *rel) {
        size_t len = strcspn(rel, "/");
        char name[ARTIFACT_MAX_NAME + 1];
        if (len == 0 || len > ARTIFACT_MAX_NAME || (len <= 2 && strncmp(rel, "..", len) == 0)) {
            close(cur);
            errno = EXDEV;
            return -1;
        }
        memcpy(name, rel, len);
        name[len] = '\0';
        rel += len + (rel[len] == '/');
        int how = *rel ? O_RDONLY | O_DIRECTORY : flags;
        int next = openat(cur, name, how | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        int saved = errno;
        close(cur);
        errno = saved;
        cur = next;
    }
    return cur;
}

int artifact_open_beneath(const char *dir, const char *rel, int flags)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || !rel || !*rel) {
        if (dfd >= 0 && !(flags & O_DIRECTORY)) {
            close(dfd);
            errno = EISDIR;
            return -1;
        }
        return dfd;
    }
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NONBLOCK),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    int fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS)
        fd = walk_beneath(dfd, rel, flags);
    int saved = errno;
    close(dfd);
    errno = saved;
    return fd;
}

enum keel_err artifact_list(struct keel_ctx *ctx, const char *dir, const char *rel,
                            struct artifact_file **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int dfd = artifact_open_beneath(dir, rel, O_RDONLY | O_DIRECTORY);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return KEEL_OK; /* missing, a file, or out of the root: nothing to list */
    }
    size_t cap = 0;
    struct artifact_file *v = NULL;
    struct dirent *de;
    enum keel_err e = KEEL_OK;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (*n >= ARTIFACT_MAX_LIST) {
            e = keel_fail(ctx, KEEL_E_TOO_LARGE, "more than %d entries in one directory",
                          ARTIFACT_MAX_LIST);
            break;
        }
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct artifact_file *nv =
                karena_realloc(ctx->arena, v, cap * sizeof *v, ncap * sizeof *v);
            if (!nv) {
                e = keel_fail(ctx, KEEL_E_TOO_LARGE, "listing too large");
                break;
            }
            v = nv;
            cap = ncap;
        }
        struct stat sb; /* a link is listed as what it is, never followed */
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        struct artifact_file *f = &v[(*n)++];
        f->path = rel && *rel ? karena_sprintf(ctx->arena, "%s/%s", rel, de->d_name)
                              : karena_strdup(ctx->arena, de->d_name);
        f->is_dir = S_ISDIR(sb.st_mode);
        f->file_size = f->is_dir ? 0 : (int64_t)sb.st_size;
    }
    closedir(d);
    if (v)
        qsort(v, *n, sizeof *v, cmp_path);
    *out = v;
    return e;
}
