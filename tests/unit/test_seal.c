/*
 * test_seal.c -- sealed files: what goes in comes out, at any offset and
 * size (chunk edges included); a changed byte, a dropped or reordered chunk,
 * a file cut short, a wrong key and a tampered header are each refused,
 * never read as garbage; re-keying keeps the data and retires the old key;
 * master keys load from their three written forms only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/seal.h"
#include "util/arena.h"
#include "testlib.h"

static char path[64];

static void key_from_hex(struct keel_key *k, char fill)
{
    char hex[65];
    memset(hex, fill, 64);
    hex[64] = '\0';
    struct keel_ctx ctx = {.arena = arena};
    assert_int_equal(keel_key_load(&ctx, NULL, hex, k), KEEL_OK);
}

static unsigned char *pattern(size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 2654435761u >> 13);
    return p;
}

/* Seals n bytes of pattern into a new file; returns its fd (read-write). */
static int seal_file(const struct keel_key *k, const unsigned char *data, size_t n, size_t piece)
{
    snprintf(path, sizeof path, "/tmp/keel-seal-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    struct keel_ctx ctx = {.arena = arena};
    struct sealed_writer *w = NULL;
    assert_int_equal(sealed_writer_new(fd, k, &w, &ctx), KEEL_OK);
    for (size_t at = 0; at < n; at += piece)
        assert_int_equal(sealed_write(w, data + at, n - at < piece ? n - at : piece), KEEL_OK);
    assert_int_equal(sealed_finish(w), KEEL_OK);
    sealed_writer_free(w);
    return fd;
}

static struct sealed_reader *open_reader(int fd, const struct keel_key *k, uint64_t *size,
                                         enum keel_err want, struct keel_ctx *ctx)
{
    struct sealed_reader *r = NULL;
    assert_int_equal(sealed_reader_open(dup(fd), k, NULL, &r, size, ctx), want);
    return r;
}

static void test_what_goes_in_comes_out(void **state)
{
    (void)state;
    struct keel_key k;
    key_from_hex(&k, 'a');
    const size_t sizes[] = {0, 1, SEAL_CHUNK - 1, SEAL_CHUNK, SEAL_CHUNK + 1, 3 * SEAL_CHUNK,
                            200001};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        unsigned char *data = pattern(n), *back = malloc(n + 1);
        int fd = seal_file(&k, data, n, 7777);
        struct stat sb;
        assert_int_equal(fstat(fd, &sb), 0);
        uint64_t plain = 0;
        assert_true(seal_plain_size((uint64_t)sb.st_size, &plain));
        assert_int_equal(plain, n);
        struct keel_ctx ctx = {.arena = arena};
        uint64_t size = 0;
        struct sealed_reader *r = open_reader(fd, &k, &size, KEEL_OK, &ctx);
        assert_int_equal(size, n);
        assert_int_equal(sealed_read(r, 0, back, n + 1), (ssize_t)n);
        assert_memory_equal(back, data, n);
        /* ranges across chunk edges */
        for (uint64_t from = 0; from < n; from += n / 7 + 1) {
            size_t len = n - from < 70000 ? n - from : 70000;
            assert_int_equal(sealed_read(r, from, back, len), (ssize_t)len);
            assert_memory_equal(back, data + from, len);
        }
        assert_int_equal(sealed_read(r, n, back, 10), 0);
        sealed_reader_close(r);
        close(fd);
        free(data);
        free(back);
    }
}

static void test_no_plaintext_on_disk(void **state)
{
    (void)state;
    struct keel_key k;
    key_from_hex(&k, 'b');
    const char secret[] = "customer 4711 earns 123456 a year; customer 4711 earns 123456";
    int fd = seal_file(&k, (const unsigned char *)secret, sizeof secret, sizeof secret);
    char disk[4096];
    ssize_t n = pread(fd, disk, sizeof disk, 0);
    assert_true(n > 0);
    assert_null(memmem(disk, (size_t)n, "4711", 4));
    close(fd);
}

static void flip(int fd, off_t at)
{
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
}

static void test_a_changed_byte_is_refused(void **state)
{
    (void)state;
    struct keel_key k;
    key_from_hex(&k, 'c');
    size_t n = 3 * SEAL_CHUNK;
    unsigned char *data = pattern(n), *back = malloc(n);
    /* a byte of the second chunk's ciphertext, then of its tag */
    const off_t spots[] = {SEAL_HEADER + (SEAL_CHUNK + SEAL_TAG) + 100,
                           SEAL_HEADER + 2 * (SEAL_CHUNK + SEAL_TAG) - 3};
    for (size_t s = 0; s < 2; s++) {
        int fd = seal_file(&k, data, n, n);
        flip(fd, spots[s]);
        struct keel_ctx ctx = {.arena = arena};
        uint64_t size;
        struct sealed_reader *r = open_reader(fd, &k, &size, KEEL_OK, &ctx);
        assert_int_equal(sealed_read(r, 0, back, SEAL_CHUNK), SEAL_CHUNK); /* chunk 0 is fine */
        errno = 0;
        assert_int_equal(sealed_read(r, SEAL_CHUNK, back, 10), -1);
        assert_int_equal(errno, EBADMSG);
        sealed_reader_close(r);
        close(fd);
    }
    free(data);
    free(back);
}

static void test_cut_or_reordered_files_are_refused(void **state)
{
    (void)state;
    struct keel_key k;
    key_from_hex(&k, 'd');
    size_t n = 3 * SEAL_CHUNK + 10;
    unsigned char *data = pattern(n), *back = malloc(n);
    const off_t disk_chunk = SEAL_CHUNK + SEAL_TAG;
    /* cut at a chunk edge: what is now the last chunk was not sealed as the last */
    int fd = seal_file(&k, data, n, n);
    assert_int_equal(ftruncate(fd, SEAL_HEADER + 2 * disk_chunk), 0);
    struct keel_ctx ctx = {.arena = arena};
    uint64_t size;
    struct sealed_reader *r = open_reader(fd, &k, &size, KEEL_OK, &ctx);
    assert_int_equal(sealed_read(r, SEAL_CHUNK, back, 10), -1);
    assert_int_equal(errno, EBADMSG);
    sealed_reader_close(r);
    /* cut inside a tag: no sealed file has that size */
    assert_int_equal(ftruncate(fd, SEAL_HEADER + 2 * disk_chunk + 5), 0);
    ctx.errmsg = NULL;
    assert_null(open_reader(fd, &k, &size, KEEL_E_INVALID_STATE, &ctx));
    assert_non_null(strstr(ctx.errmsg, "cut short"));
    close(fd);
    /* cut to the shape of an empty file (a header and one tag's worth) */
    fd = seal_file(&k, data, 5, 5);
    assert_int_equal(ftruncate(fd, SEAL_HEADER + SEAL_TAG), 0);
    ctx.errmsg = NULL;
    assert_null(open_reader(fd, &k, &size, KEEL_E_INVALID_STATE, &ctx));
    close(fd);
    /* chunks 0 and 1 swapped */
    fd = seal_file(&k, data, n, n);
    unsigned char *c0 = malloc(disk_chunk), *c1 = malloc(disk_chunk);
    assert_int_equal(pread(fd, c0, disk_chunk, SEAL_HEADER), disk_chunk);
    assert_int_equal(pread(fd, c1, disk_chunk, SEAL_HEADER + disk_chunk), disk_chunk);
    assert_int_equal(pwrite(fd, c1, disk_chunk, SEAL_HEADER), disk_chunk);
    assert_int_equal(pwrite(fd, c0, disk_chunk, SEAL_HEADER + disk_chunk), disk_chunk);
    r = open_reader(fd, &k, &size, KEEL_OK, &ctx);
    assert_int_equal(sealed_read(r, 0, back, 10), -1);
    assert_int_equal(errno, EBADMSG);
    sealed_reader_close(r);
    close(fd);
    free(c0);
    free(c1);
    free(data);
    free(back);
}

static void test_a_bound_file_opens_only_as_what_it_is_bound_to(void **state)
{
    (void)state;
    struct keel_key k;
    key_from_hex(&k, '4');
    unsigned char *data = pattern(100), this[SEAL_BIND], that[SEAL_BIND];
    memset(this, 0x11, sizeof this);
    memset(that, 0x22, sizeof that);
    snprintf(path, sizeof path, "/tmp/keel-bind-XXXXXX");
    int fd = mkstemp(path);
    unlink(path);
    struct keel_ctx ctx = {.arena = arena};
    struct sealed_writer *w = NULL;
    assert_int_equal(sealed_writer_new(fd, &k, &w, &ctx), KEEL_OK);
    assert_int_equal(sealed_write(w, data, 100), KEEL_OK);
    assert_int_equal(sealed_finish(w), KEEL_OK);
    assert_int_equal(sealed_writer_bind(w, this, &ctx), KEEL_OK);
    sealed_writer_free(w);
    struct sealed_reader *r = NULL;
    uint64_t size;
    assert_int_equal(sealed_reader_open(dup(fd), &k, this, &r, &size, &ctx), KEEL_OK);
    sealed_reader_close(r);
    assert_int_equal(sealed_reader_open(dup(fd), &k, that, &r, &size, &ctx),
                     KEEL_E_INVALID_STATE);
    assert_int_equal(sealed_reader_open(dup(fd), &k, NULL, &r, &size, &ctx),
                     KEEL_E_INVALID_STATE);
    /* re-keyed, it stays bound */
    struct keel_key other;
    key_from_hex(&other, '5');
    assert_int_equal(seal_rewrap(fd, &k, &other, this, &ctx), KEEL_OK);
    assert_int_equal(sealed_reader_open(dup(fd), &other, this, &r, &size, &ctx), KEEL_OK);
    sealed_reader_close(r);
    assert_int_equal(sealed_reader_open(dup(fd), &other, that, &r, &size, &ctx),
                     KEEL_E_INVALID_STATE);
    close(fd);
    free(data);
}

static void test_the_wrong_key_and_a_tampered_header_say_so(void **state)
{
    (void)state;
    struct keel_key k, other;
    key_from_hex(&k, 'e');
    key_from_hex(&other, 'f');
    assert_string_not_equal(k.id, other.id);
    unsigned char *data = pattern(1000);
    int fd = seal_file(&k, data, 1000, 1000);
    struct keel_ctx ctx = {.arena = arena};
    uint64_t size;
    assert_null(open_reader(fd, &other, &size, KEEL_E_INVALID_STATE, &ctx));
    assert_non_null(strstr(ctx.errmsg, k.id));     /* the key it needs */
    assert_non_null(strstr(ctx.errmsg, other.id)); /* and the one it was given */
    flip(fd, 16 + 30); /* inside slot 0's wrapped data key */
    ctx.errmsg = NULL;
    assert_null(open_reader(fd, &k, &size, KEEL_E_INVALID_STATE, &ctx));
    assert_non_null(strstr(ctx.errmsg, "tampered"));
    close(fd);
    free(data);
}

static void test_rekeying_keeps_the_data_and_retires_the_old_key(void **state)
{
    (void)state;
    struct keel_key old, new;
    key_from_hex(&old, '1');
    key_from_hex(&new, '2');
    size_t n = 2 * SEAL_CHUNK + 3;
    unsigned char *data = pattern(n), *back = malloc(n);
    int fd = seal_file(&old, data, n, 1000);
    unsigned char before[SEAL_CHUNK];
    assert_int_equal(pread(fd, before, sizeof before, SEAL_HEADER), (ssize_t)sizeof before);
    struct keel_ctx ctx = {.arena = arena};
    assert_int_equal(seal_rewrap(fd, &old, &new, NULL, &ctx), KEEL_OK);
    assert_int_equal(seal_rewrap(fd, &old, &new, NULL, &ctx), KEEL_OK); /* again: nothing to do */
    unsigned char after[SEAL_CHUNK];
    assert_int_equal(pread(fd, after, sizeof after, SEAL_HEADER), (ssize_t)sizeof after);
    assert_memory_equal(before, after, sizeof before); /* the data was not rewritten */
    uint64_t size;
    struct sealed_reader *r = open_reader(fd, &new, &size, KEEL_OK, &ctx);
    assert_int_equal(sealed_read(r, 0, back, n), (ssize_t)n);
    assert_memory_equal(back, data, n);
    sealed_reader_close(r);
    assert_null(open_reader(fd, &old, &size, KEEL_E_INVALID_STATE, &ctx));
    /* a rotation stopped between writing the new slot and clearing the old
     * one: running it again clears the old slot too */
    unsigned char header[SEAL_HEADER];
    assert_int_equal(pread(fd, header, sizeof header, 0), (ssize_t)sizeof header);
    assert_int_equal(seal_rewrap(fd, &new, &old, NULL, &ctx), KEEL_OK);
    unsigned char rotated[SEAL_HEADER];
    assert_int_equal(pread(fd, rotated, sizeof rotated, 0), (ssize_t)sizeof rotated);
    for (size_t i = 16; i < SEAL_HEADER; i++) /* both slots filled: the old one back */
        if (header[i] != 0 && rotated[i] == 0)
            rotated[i] = header[i];
    assert_int_equal(pwrite(fd, rotated, sizeof rotated, 0), (ssize_t)sizeof rotated);
    r = open_reader(fd, &new, &size, KEEL_OK, &ctx); /* the "retired" key still opens it */
    sealed_reader_close(r);
    assert_int_equal(seal_rewrap(fd, &new, &old, NULL, &ctx), KEEL_OK);
    assert_null(open_reader(fd, &new, &size, KEEL_E_INVALID_STATE, &ctx));
    assert_int_equal(seal_rewrap(fd, &old, &new, NULL, &ctx), KEEL_OK);
    /* and back again, through the other slot */
    assert_int_equal(seal_rewrap(fd, &new, &old, NULL, &ctx), KEEL_OK);
    r = open_reader(fd, &old, &size, KEEL_OK, &ctx);
    assert_int_equal(sealed_read(r, n - 3, back, 3), 3);
    assert_memory_equal(back, data + n - 3, 3);
    sealed_reader_close(r);
    close(fd);
    free(data);
    free(back);
}

static void test_keys_load_from_their_written_forms(void **state)
{
    (void)state;
    struct keel_ctx ctx = {.arena = arena};
    struct keel_key hex, b64, raw;
    const char *hex_text = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    assert_int_equal(keel_key_load(&ctx, NULL, hex_text, &hex), KEEL_OK);
    assert_int_equal(keel_key_load(&ctx, NULL, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                                   &b64),
                     KEEL_OK);
    char file[] = "/tmp/keel-key-XXXXXX";
    int fd = mkstemp(file);
    unsigned char bytes[32];
    for (int i = 0; i < 32; i++)
        bytes[i] = (unsigned char)i;
    assert_int_equal(write(fd, bytes, 32), 32);
    close(fd);
    assert_int_equal(keel_key_load(&ctx, file, NULL, &raw), KEEL_OK);
    unlink(file);
    assert_memory_equal(hex.key, bytes, 32);
    assert_memory_equal(b64.key, bytes, 32);
    assert_memory_equal(raw.key, bytes, 32);
    assert_string_equal(hex.id, raw.id);
    const char *bad[] = {"", "abc", "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                         "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct keel_key k;
        ctx.errmsg = NULL;
        assert_int_equal(keel_key_load(&ctx, NULL, bad[i], &k), KEEL_E_INVALID_PARAMETER);
        assert_non_null(strstr(ctx.errmsg, "256-bit"));
    }
    struct keel_key k;
    assert_int_equal(keel_key_load(&ctx, "/nonexistent/key", NULL, &k), KEEL_E_INVALID_PARAMETER);
}

static void test_sealed_records_append_and_read_back(void **state)
{
    (void)state;
    struct keel_key k;
    key_from_hex(&k, '3');
    snprintf(path, sizeof path, "/tmp/keel-rec-XXXXXX");
    int fd = mkstemp(path);
    unlink(path);
    struct keel_ctx ctx = {.arena = arena};
    unsigned char data_key[32];
    assert_int_equal(seal_records_start(fd, &k, data_key, &ctx), KEEL_OK);
    const char *recs[] = {"first", "", "the third record, a longer one"};
    off_t ends[3];
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(recs[i]);
        unsigned char out[128];
        assert_true(seal_record(data_key, (uint64_t)i, recs[i], n, out));
        assert_int_equal(write(fd, out, seal_record_size(n)), (ssize_t)seal_record_size(n));
        ends[i] = lseek(fd, 0, SEEK_CUR);
    }
    /* all three, in order */
    struct sealed_records *r = NULL;
    assert_int_equal(sealed_records_open(dup(fd), &k, &r, &ctx), KEEL_OK);
    const unsigned char *p;
    size_t n;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sealed_records_next(r, &p, &n), 1);
        assert_int_equal(n, strlen(recs[i]));
        assert_memory_equal(p, recs[i], n);
    }
    assert_int_equal(sealed_records_next(r, &p, &n), 0);
    sealed_records_close(r);
    /* a record cut short at the end (a crash mid-append) reads as the end */
    assert_int_equal(ftruncate(fd, ends[2] - 3), 0);
    assert_int_equal(sealed_records_open(dup(fd), &k, &r, &ctx), KEEL_OK);
    assert_int_equal(sealed_records_next(r, &p, &n), 1);
    assert_int_equal(sealed_records_next(r, &p, &n), 1);
    assert_int_equal(sealed_records_next(r, &p, &n), 0);
    sealed_records_close(r);
    /* a changed byte in the first record: refused, never returned */
    flip(fd, SEAL_HEADER + 6);
    assert_int_equal(sealed_records_open(dup(fd), &k, &r, &ctx), KEEL_OK);
    assert_int_equal(sealed_records_next(r, &p, &n), -1);
    assert_int_equal(errno, EBADMSG);
    sealed_records_close(r);
    /* a record file is not a chunked one, nor the other way round */
    uint64_t size;
    assert_null(open_reader(fd, &k, &size, KEEL_E_INVALID_STATE, &ctx));
    close(fd);
    unsigned char one = 1;
    fd = seal_file(&k, &one, 1, 1);
    assert_int_equal(sealed_records_open(dup(fd), &k, &r, &ctx), KEEL_E_INVALID_STATE);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_what_goes_in_comes_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_plaintext_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_changed_byte_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_or_reordered_files_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_wrong_key_and_a_tampered_header_say_so, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_bound_file_opens_only_as_what_it_is_bound_to,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rekeying_keeps_the_data_and_retires_the_old_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_load_from_their_written_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_records_append_and_read_back, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
