/*
 * artifacts_sql.c -- the artifact index: which path holds which content.
 *
 * Directories are not stored: a directory is the common prefix of the paths
 * under it. Listing one directory seeks once per entry it returns (after a
 * subdirectory it jumps past everything inside it), so it costs the same
 * whatever lies deeper.
 */
#include <string.h>

#include "store/sqlite_int.h"
#include "util/arena.h"

enum keel_err store_artifact_get(struct store *st, struct keel_ctx *ctx, const char *path,
                                 struct keel_artifact *out)
{
    static const char sql[] = "SELECT digest, size FROM artifact_files WHERE path = ?";
    static const char dir_sql[] =
        "SELECT 1 FROM artifact_files WHERE path > ?1 || '/' AND path < ?1 || '0' LIMIT 1";
    memset(out, 0, sizeof *out);
    out->path = path;
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s) {
        e = ctx->err;
    } else {
        db_bind_text(s, 1, path);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            out->digest = db_text(ctx, s, 0);
            out->size = sqlite3_column_int64(s, 1);
        } else if (rc == SQLITE_DONE) {
            e = keel_fail(ctx, KEEL_E_NOT_FOUND, "No artifact at %s", path);
            if ((s = db_stmt(c, ctx, dir_sql))) {
                db_bind_text(s, 1, path);
                out->is_dir = sqlite3_step(s) == SQLITE_ROW;
            }
        } else {
            e = db_fail(c, ctx, "artifact");
        }
        if (s)
            sqlite3_reset(s);
    }
    store_reader_put(st, c);
    return e;
}

enum keel_err store_artifact_list(struct store *st, struct keel_ctx *ctx, const char *dir,
                                  size_t max, struct keel_artifact **out, size_t *n)
{
    static const char sql[] = "SELECT path, size, digest FROM artifact_files WHERE path >= ? "
                              "ORDER BY path LIMIT 1";
    *out = NULL;
    *n = 0;
    const char *prefix = *dir ? karena_sprintf(ctx->arena, "%s/", dir) : "";
    if (!prefix)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    size_t plen = strlen(prefix), cap = 0;
    const char *cursor = prefix;
    struct keel_artifact *v = NULL;
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    while (!e) {
        sqlite3_stmt *s = db_stmt(c, ctx, sql);
        if (!s) {
            e = ctx->err;
            break;
        }
        db_bind_text(s, 1, cursor);
        int rc = sqlite3_step(s);
        if (rc != SQLITE_ROW) {
            if (rc != SQLITE_DONE)
                e = db_fail(c, ctx, "list artifacts");
            sqlite3_reset(s);
            break;
        }
        const char *path = db_text(ctx, s, 0);
        int64_t size = sqlite3_column_int64(s, 1);
        const char *digest = db_text(ctx, s, 2);
        sqlite3_reset(s);
        if (!path || strncmp(path, prefix, plen) != 0)
            break; /* past the directory */
        if (*n == max) {
            e = keel_fail(ctx, KEEL_E_TOO_LARGE, "more than %zu entries in %s", max, dir);
            break;
        }
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct keel_artifact *nv =
                karena_realloc(ctx->arena, v, cap * sizeof *v, ncap * sizeof *v);
            if (!nv) {
                e = keel_fail(ctx, KEEL_E_TOO_LARGE, "listing too large");
                break;
            }
            v = nv;
            cap = ncap;
        }
        const char *name = path + plen;
        const char *slash = strchr(name, '/');
        struct keel_artifact *a = &v[(*n)++];
        memset(a, 0, sizeof *a);
        if (slash) {
            a->path = karena_strndup(ctx->arena, name, (size_t)(slash - name));
            a->is_dir = true;
            /* '0' follows '/': the first path after everything in this subdirectory */
            cursor = karena_sprintf(ctx->arena, "%.*s0", (int)(slash - path), path);
        } else {
            a->path = name;
            a->size = size;
            a->digest = digest;
            /* the smallest string after this path */
            cursor = karena_sprintf(ctx->arena, "%s\x01", path);
        }
        if (!cursor || !a->path)
            e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    }
    store_reader_put(st, c);
    *out = v;
    return e;
}

struct put_args {
    const char *path, *digest;
    int64_t size;
};

static enum keel_err op_put(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct put_args *a = arg;
    static const char is_dir[] =
        "SELECT 1 FROM artifact_files WHERE path > ?1 || '/' AND path < ?1 || '0' LIMIT 1";
    static const char file_at[] = "SELECT 1 FROM artifact_files WHERE path = ?";
    static const char put[] =
        "INSERT INTO artifact_files(path, digest, size, created_time) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(path) DO UPDATE SET digest = excluded.digest, size = excluded.size, "
        "created_time = excluded.created_time";
    sqlite3_stmt *s = db_stmt(c, ctx, is_dir);
    if (!s)
        return ctx->err;
    db_bind_text(s, 1, a->path);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "Cannot write artifact '%s': it is a directory", a->path);
    /* no parent may be a file */
    for (const char *p = strchr(a->path, '/'); p; p = strchr(p + 1, '/')) {
        if (!(s = db_stmt(c, ctx, file_at)))
            return ctx->err;
        sqlite3_bind_text(s, 1, a->path, (int)(p - a->path), SQLITE_TRANSIENT);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc == SQLITE_ROW)
            return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                             "Cannot write artifact '%s': '%.*s' is a file", a->path,
                             (int)(p - a->path), a->path);
    }
    if (!(s = db_stmt(c, ctx, put)))
        return ctx->err;
    db_bind_text(s, 1, a->path);
    db_bind_text(s, 2, a->digest);
    sqlite3_bind_int64(s, 3, a->size);
    sqlite3_bind_int64(s, 4, keel_now_ms());
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "put artifact");
}

enum keel_err store_artifact_put(struct store *st, struct keel_ctx *ctx, const char *path,
                                 const char *digest, int64_t size)
{
    struct put_args a = {path, digest, size};
    return store_write(st, ctx, op_put, &a);
}

struct delete_args {
    const char *dir;
    int64_t removed;
};

static enum keel_err op_delete_dir(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    struct delete_args *a = arg;
    static const char under[] =
        "DELETE FROM artifact_files WHERE path > ?1 || '/' AND path < ?1 || '0'";
    static const char all[] = "DELETE FROM artifact_files";
    sqlite3_stmt *s = db_stmt(c, ctx, *a->dir ? under : all);
    if (!s)
        return ctx->err;
    if (*a->dir)
        db_bind_text(s, 1, a->dir);
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "delete artifacts");
    a->removed = sqlite3_changes(c->db);
    return KEEL_OK;
}

enum keel_err store_artifact_delete_dir(struct store *st, struct keel_ctx *ctx, const char *dir,
                                        int64_t *n_removed)
{
    struct delete_args a = {dir, 0};
    enum keel_err e = store_write(st, ctx, op_delete_dir, &a);
    *n_removed = a.removed;
    return e;
}

enum keel_err store_artifact_digest_used(struct store *st, struct keel_ctx *ctx,
                                         const char *digest, bool *used)
{
    static const char sql[] = "SELECT 1 FROM artifact_files WHERE digest = ? LIMIT 1";
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx, sql);
    if (!s) {
        e = ctx->err;
    } else {
        db_bind_text(s, 1, digest);
        int rc = sqlite3_step(s);
        *used = rc == SQLITE_ROW;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            e = db_fail(c, ctx, "artifact digest");
        sqlite3_reset(s);
    }
    store_reader_put(st, c);
    return e;
}
