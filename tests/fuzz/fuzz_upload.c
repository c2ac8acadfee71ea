/*
 * fuzz_upload.c -- the streamed artifact upload (api_stream_ops: open, the
 * body in pieces, then finish or abort) on a real store and blob store,
 * with any path and any body cut anywhere.
 *
 * Input: byte 0 seeds the piece sizes and, in bit 7, asks for an abort
 * instead of a finish; then the artifact path up to a newline; the rest is
 * the body. Every answer must be a status in 200..599 (JSON answers parse);
 * an upload answered 200 must download byte for byte; an aborted one must
 * leave what was at its path (nothing, or an earlier input's bytes) as it was.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "http/http.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/jparse.h"

#include "../harness/app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keel_app app;
static char dir[] = "/tmp/keel-fuzz-upload-XXXXXX";

static void teardown(void)
{
    harness_app_close(&app);
    keel_rmtree(dir);
}

static void setup(void)
{
    if (!mkdtemp(dir) || harness_app_open(&app, dir) != 0)
        abort();
    atexit(teardown);
}

static void check_answer(struct karena *a, const struct http_response *r)
{
    if (r->status < 200 || r->status > 599)
        __builtin_trap();
    if (r->content_type && strstr(r->content_type, "json") && r->body.len &&
        !jp_parse(a, r->body.data, r->body.len, NULL))
        __builtin_trap();
}

/* GET the artifact at path: its bytes (arena) and length, or NULL. */
static const char *download(struct karena *a, const char *path, size_t *n)
{
    struct keel_ctx ctx = {.arena = a};
    struct http_request req = {.method = "GET", .path = path, .body = "", .body_len = 0};
    struct http_response resp = {.fd = -1};
    kbuf_init(&resp.body, 1u << 20);
    api_handle(&app, &ctx, &req, &resp);
    check_answer(a, &resp);
    char *out = NULL;
    *n = 0;
    if (resp.status == 200 && resp.fd >= 0) {
        out = karena_alloc(a, resp.fd_len + 1);
        if (!out || pread(resp.fd, out, resp.fd_len, (off_t)resp.fd_offset) != (ssize_t)resp.fd_len)
            __builtin_trap();
        *n = resp.fd_len;
    }
    if (resp.fd >= 0)
        close(resp.fd);
    kbuf_free(&resp.body);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!app.store)
        setup();
    if (size < 2)
        return 0;
    bool abort_it = data[0] & 0x80;
    unsigned seed = data[0] & 0x7f;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(rest, '\n', n);
    size_t line = nl ? (size_t)(nl - rest) : n;
    if (memchr(rest, '\0', line))
        return 0; /* a URL path cannot hold a NUL */
    struct karena *a = karena_new(64u << 20);
    struct keel_ctx ctx = {.arena = a};
    char *path = karena_sprintf(a, "/api/2.0/mlflow-artifacts/artifacts/%.*s", (int)line, rest);
    const char *body = nl ? nl + 1 : rest + n;
    size_t body_len = (size_t)(rest + n - body);
    struct http_request req = {.method = "PUT", .path = path, .body = "", .body_len = 0,
                               .content_type = "application/octet-stream"};
    struct http_response early = {.fd = -1}, resp = {.fd = -1};
    kbuf_init(&early.body, 1u << 20);
    kbuf_init(&resp.body, 1u << 20);
    size_t before_len = 0;
    const char *before = abort_it ? download(a, path, &before_len) : NULL;
    void *stream = api_stream_ops.open(&app, &ctx, &req, &early);
    if (!stream) {
        if (early.status)
            check_answer(a, &early);
    } else {
        bool failed = false;
        for (size_t at = 0, k = 0; at < body_len && !failed; k++) {
            size_t piece = 1 + (seed * 31 + k * 17) % 97;
            if (piece > body_len - at)
                piece = body_len - at;
            failed = api_stream_ops.write(stream, body + at, piece) != KEEL_OK;
            at += piece;
        }
        if (abort_it) {
            api_stream_ops.abort(stream);
            size_t after_len = 0;
            const char *after = download(a, path, &after_len);
            if (!before != !after || before_len != after_len ||
                (before && memcmp(before, after, after_len) != 0))
                __builtin_trap(); /* an upload that never finished changed the artifact */
        } else {
            api_stream_ops.finish(stream, &ctx, &req, &resp);
            check_answer(a, &resp);
            if (resp.status == 200) {
                size_t got = 0;
                const char *back = download(a, path, &got);
                if (!back || got != body_len || memcmp(back, body, got) != 0)
                    __builtin_trap(); /* acknowledged, but not what was sent */
            }
        }
    }
    kbuf_free(&early.body);
    kbuf_free(&resp.body);
    karena_free(a);
    return 0;
}
