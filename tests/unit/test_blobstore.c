/*
 * test_blobstore.c -- the local blob backend: content named by its SHA-256,
 * stored once, never visible half written; aborts and gc leave nothing but
 * what is referenced (or younger than the grace period).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "artifacts/blobstore.h"
#include "util/arena.h"

#include "testlib.h"

struct fx {
    char dir[64];
    struct blobstore *bs;
    struct keel_ctx ctx;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(test_tempdir(f->dir, sizeof f->dir, "blobs"));
    f->ctx.arena = karena_new(1 << 20);
    assert_int_equal(blobstore_open(&f->bs, f->dir, 1 << 20, &f->ctx), KEEL_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    blobstore_close(f->bs);
    karena_free(f->ctx.arena);
    assert_int_equal(test_rmtree(f->dir), 0);
    free(f);
    return 0;
}

static int count_files(const char *dir)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "find %s -type f | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static void put(struct fx *f, const char *text, char digest[BLOB_DIGEST_HEX + 1])
{
    struct blob_upload *u;
    uint64_t size;
    assert_int_equal(blob_upload_begin(f->bs, &f->ctx, &u), KEEL_OK);
    /* in two pieces: hashing and writing follow the stream */
    size_t half = strlen(text) / 2;
    assert_int_equal(blob_upload_write(u, text, half), KEEL_OK);
    assert_int_equal(blob_upload_write(u, text + half, strlen(text) - half), KEEL_OK);
    assert_int_equal(blob_upload_commit(u, &f->ctx, digest, &size), KEEL_OK);
    assert_int_equal(size, strlen(text));
}

static void test_digest_dedup_and_read_back(void **state)
{
    struct fx *f = *state;
    char d1[BLOB_DIGEST_HEX + 1], d2[BLOB_DIGEST_HEX + 1], d3[BLOB_DIGEST_HEX + 1];
    put(f, "abc", d1);
    assert_string_equal(d1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    put(f, "abc", d2);
    put(f, "abd", d3);
    assert_string_equal(d1, d2);
    assert_int_equal(count_files(f->dir), 2); /* two contents, no temporary file left */
    int fd;
    uint64_t size;
    char buf[8] = {0};
    assert_int_equal(blob_open(f->bs, &f->ctx, d1, &fd, &size), KEEL_OK);
    assert_int_equal(size, 3);
    assert_int_equal(read(fd, buf, sizeof buf), 3);
    close(fd);
    assert_string_equal(buf, "abc");
    assert_int_equal(blob_open(f->bs, &f->ctx, "../../etc/passwd", &fd, &size), KEEL_E_NOT_FOUND);
}

static void test_abort_and_ceiling_leave_nothing(void **state)
{
    struct fx *f = *state;
    struct blob_upload *u;
    assert_int_equal(blob_upload_begin(f->bs, &f->ctx, &u), KEEL_OK);
    assert_int_equal(blob_upload_write(u, "partial", 7), KEEL_OK);
    blob_upload_abort(u);
    assert_int_equal(count_files(f->dir), 0);
    static char big[(1 << 20) + 1];
    assert_int_equal(blob_upload_begin(f->bs, &f->ctx, &u), KEEL_OK);
    assert_int_equal(blob_upload_write(u, big, sizeof big), KEEL_E_TOO_LARGE);
    char d[BLOB_DIGEST_HEX + 1];
    uint64_t size;
    assert_int_not_equal(blob_upload_commit(u, &f->ctx, d, &size), KEEL_OK);
    assert_int_equal(count_files(f->dir), 0);
}

static bool keep_abc(void *arg, const char *digest)
{
    (void)arg;
    return strcmp(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0;
}

static void test_gc_respects_references_and_grace(void **state)
{
    struct fx *f = *state;
    char d[BLOB_DIGEST_HEX + 1];
    put(f, "abc", d);
    put(f, "orphan", d);
    struct blob_upload *u; /* an upload in progress: a temporary file */
    assert_int_equal(blob_upload_begin(f->bs, &f->ctx, &u), KEEL_OK);
    uint64_t n, bytes;
    assert_int_equal(blobstore_gc(f->bs, &f->ctx, 3600, keep_abc, NULL, &n, &bytes), KEEL_OK);
    assert_int_equal(n, 0); /* everything is younger than the grace */
    assert_int_equal(blobstore_gc(f->bs, &f->ctx, -1, keep_abc, NULL, &n, &bytes), KEEL_OK);
    assert_int_equal(n, 1);
    assert_int_equal(bytes, 6);
    assert_int_equal(count_files(f->dir), 1); /* "abc"; the temporary file went too */
    blob_upload_abort(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_digest_dedup_and_read_back, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_ceiling_leave_nothing, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_gc_respects_references_and_grace, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
