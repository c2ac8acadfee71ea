/*
 * ui.h -- keel's web UI, served by keel server at "/".
 *
 * The UI (ui/, TypeScript built with Vite) is compiled at make time into a
 * table of files (tools/embed.c writes build/gen/ui_assets.c), so the binary
 * needs nothing beside it at run time. For UI development, KEEL_UI_DIR names
 * a built directory to serve from disk instead.
 */
#ifndef KEEL_UI_H
#define KEEL_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

struct ui_asset {
    const char *path;         /* "/index.html", "/static-files/index-1a2b.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const unsigned char *gz;  /* gzip'd, or NULL when that is not smaller */
    size_t gz_len;
    const char *etag;         /* "\"<16 hex of SHA-256>\"" */
    const char *gz_etag;      /* the gzip'd copy's: "\"<16 hex>-gz\"" */
};

extern const struct ui_asset ui_assets[];
extern const size_t ui_n_assets;

/* Answers GET "/", "/index.html" and "/static-files/..." from the embedded
 * table, or from dir when it is not NULL. False when the path is not the
 * UI's (the caller routes it on). */
bool ui_serve(const char *dir, struct keel_ctx *ctx, const struct http_request *req,
              struct http_response *resp);

/* "text/css; charset=utf-8" for "x.css": the types of the UI's files. */
const char *ui_content_type(const char *name);

#endif
