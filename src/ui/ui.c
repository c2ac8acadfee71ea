/*
 * ui.c -- serves the web UI's files: index.html at "/", the hashed bundles
 * under "/static-files/". The files carry no data (the UI fetches all of it
 * through the API, with the caller's credentials), so they are served to
 * anyone, before authentication.
 *
 * Hashed bundles are cached by browsers for good; index.html is revalidated
 * by ETag on every load, so a new keel's UI is picked up at once. A strict
 * Content-Security-Policy keeps the page to its own scripts whatever a
 * logged name or artifact contains.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ui/ui.h"
#include "util/arena.h"

#define DISK_FILE_MAX (16u << 20) /* a file served from KEEL_UI_DIR */

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                          "img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; "
                          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static const char assets_prefix[] = "/static-files/";

/* True when If-None-Match names etag (or is "*"). */
static bool not_modified(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    if (strcmp(inm, "*") == 0)
        return true;
    size_t n = strlen(etag);
    for (const char *p = inm; (p = strstr(p, etag)) != NULL; p += n)
        if ((p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/') &&
            (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return true;
    return false;
}

static void common_headers(struct http_response *resp, bool html)
{
    if (!html) /* X-Content-Type-Options: the router's, on every answer */
        return;
    http_response_header(resp, "Content-Security-Policy", csp);
    http_response_header(resp, "X-Frame-Options", "DENY");
    http_response_header(resp, "Referrer-Policy", "no-referrer");
}

static const struct ui_asset *find_asset(const char *path)
{
    for (size_t i = 0; i < ui_n_assets; i++)
        if (strcmp(ui_assets[i].path, path) == 0)
            return &ui_assets[i];
    return NULL;
}

static void serve_asset(const struct ui_asset *a, const struct http_request *req,
                        struct http_response *resp)
{
    bool html = strcmp(a->path, "/index.html") == 0;
    bool gz = a->gz && http_accepts_gzip(http_header(req, "Accept-Encoding"));
    const char *etag = gz ? a->gz_etag : a->etag;
    common_headers(resp, html);
    http_response_header(resp, "ETag", etag);
    http_response_header(resp, "Cache-Control",
                         html ? "no-cache" : "public, max-age=31536000, immutable");
    if (a->gz)
        http_response_header(resp, "Vary", "Accept-Encoding");
    if (not_modified(http_header(req, "If-None-Match"), etag)) {
        resp->status = 304;
        return;
    }
    resp->status = 200;
    resp->content_type = a->content_type;
    if (gz)
        http_response_header(resp, "Content-Encoding", "gzip");
    resp->static_data = gz ? a->gz : a->data;
    resp->static_len = gz ? a->gz_len : a->len;
}

/* A relative name from the address: letters, digits, '.', '_', '-' and '/',
 * no empty, "." or ".." segment. */
static bool safe_name(const char *rel)
{
    if (!*rel || strspn(rel, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") !=
                     strlen(rel))
        return false;
    for (const char *s = rel; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        s += n;
        if (*s == '/')
            s++;
        else
            break;
    }
    return rel[strlen(rel) - 1] != '/';
}

/* KEEL_UI_DIR: the file as it is on disk now (for working on the UI). */
static void serve_disk(const char *dir, struct keel_ctx *ctx, const char *path,
                       struct http_response *resp)
{
    const char *full = karena_sprintf(ctx->arena, "%s%s", dir, path);
    int fd = full && safe_name(path + 1) ? open(full, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > DISK_FILE_MAX) {
        if (fd >= 0)
            close(fd);
        http_respond_page(resp, 404);
        return;
    }
    common_headers(resp, strcmp(path, "/index.html") == 0);
    http_response_header(resp, "Cache-Control", "no-store");
    resp->status = 200;
    resp->content_type = ui_content_type(path);
    resp->fd = fd;
    resp->fd_offset = 0;
    resp->fd_len = (uint64_t)st.st_size;
}

bool ui_serve(const char *dir, struct keel_ctx *ctx, const struct http_request *req,
              struct http_response *resp)
{
    const char *path = req->path;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    else if (strcmp(path, "/index.html") != 0 &&
             strncmp(path, assets_prefix, sizeof assets_prefix - 1) != 0)
        return false;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_respond_page(resp, 405);
        return true;
    }
    if (dir) {
        serve_disk(dir, ctx, path, resp);
        return true;
    }
    const struct ui_asset *a = find_asset(path);
    if (a)
        serve_asset(a, req, resp);
    else
        http_respond_page(resp, 404);
    return true;
}
