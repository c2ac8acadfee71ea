/*
 * fuzz_sealed.c -- sealed files (crypto/seal.c) never yield bytes other than
 * the ones sealed. The input is a plaintext and edits to its sealed form:
 *
 *   byte 0: the layout (even: chunked file, odd: record file);
 *   bytes 1-2: the plaintext's length L (little-endian, cut to what is left);
 *   the next L bytes: the plaintext (for a record file, split into records
 *   at each '\n');
 *   the rest, 5 bytes at a time: an offset (4 bytes) and a byte to XOR there
 *   -- or, with the top bit of the offset set, a length to cut the file to.
 *
 * The plaintext is sealed under a fixed key, edited, and read back whole and
 * by ranges. Every read must give exactly the plaintext's bytes or fail
 * (open refused, or a read of -1); with no edits, everything must read back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keel_key key;
static char path[] = "/tmp/keel-fuzz-sealed-XXXXXX";
static int fd = -1;

static void setup(void)
{
    struct keel_ctx ctx = {0};
    if (keel_key_load(&ctx, NULL,
                      "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e",
                      &key) != KEEL_OK ||
        (fd = mkstemp(path)) < 0)
        abort();
    unlink(path);
}

static void edit(const uint8_t *p, size_t n, bool *edited)
{
    for (; n >= 5; p += 5, n -= 5) {
        uint32_t off = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                       (uint32_t)p[3] << 24;
        struct stat sb;
        if (fstat(fd, &sb) != 0 || sb.st_size == 0)
            return;
        if (off & 0x80000000u) {
            if (ftruncate(fd, (off_t)((off & 0x7fffffffu) % (uint64_t)sb.st_size)) != 0)
                abort();
        } else {
            unsigned char c;
            off_t at = (off_t)(off % (uint64_t)sb.st_size);
            if (p[4] == 0 || pread(fd, &c, 1, at) != 1)
                continue;
            c ^= p[4];
            if (pwrite(fd, &c, 1, at) != 1)
                abort();
        }
        *edited = true;
    }
}

static void check_chunked(const uint8_t *plain, size_t len, bool edited)
{
    struct keel_ctx ctx = {0};
    struct sealed_reader *r = NULL;
    uint64_t size = 0;
    if (sealed_reader_open(dup(fd), &key, NULL, &r, &size, &ctx) != KEEL_OK) {
        if (!edited)
            abort(); /* an untouched file must open */
        return;
    }
    if (size != len) { /* only an edit changes the size, and reading what it claims fails */
        uint8_t *all = malloc(size + 1);
        if (!edited || !all || sealed_read(r, 0, all, size) >= 0)
            abort();
        free(all);
        sealed_reader_close(r);
        return;
    }
    uint8_t *back = malloc(len + 1);
    ssize_t got = sealed_read(r, 0, back, len + 1);
    if (got >= 0 && ((size_t)got != len || memcmp(back, plain, len) != 0))
        abort(); /* bytes that were not sealed */
    if (got < 0 && !edited)
        abort();
    for (uint64_t from = 0; got >= 0 && from < len; from += len / 3 + 1) {
        ssize_t n = sealed_read(r, from, back, len - from);
        if (n >= 0 && ((size_t)n != len - from || memcmp(back, plain + from, (size_t)n) != 0))
            abort();
    }
    free(back);
    sealed_reader_close(r);
}

static void check_records(const uint8_t *plain, size_t len, bool edited)
{
    struct keel_ctx ctx = {0};
    struct sealed_records *r = NULL;
    if (sealed_records_open(dup(fd), &key, &r, &ctx) != KEEL_OK) {
        if (!edited)
            abort();
        return;
    }
    const uint8_t *want = plain, *end = plain + len;
    const unsigned char *p;
    size_t n;
    int got;
    while ((got = sealed_records_next(r, &p, &n)) == 1) {
        const uint8_t *nl = memchr(want, '\n', (size_t)(end - want));
        size_t wn = nl ? (size_t)(nl - want) : (size_t)(end - want);
        if (want > end || n != wn || memcmp(p, want, n) != 0)
            abort(); /* a record that was not sealed, or out of order */
        want += wn + 1;
    }
    if (!edited && (got != 0 || want <= end))
        abort(); /* an untouched file gives every record */
    sealed_records_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0)
        setup();
    if (size < 3)
        return 0;
    bool records = data[0] & 1;
    size_t len = (size_t)data[1] | (size_t)data[2] << 8;
    if (len > size - 3)
        len = size - 3;
    const uint8_t *plain = data + 3;
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        abort();
    struct keel_ctx ctx = {0};
    if (records) {
        unsigned char dk[32];
        if (seal_records_start(fd, &key, dk, &ctx) != KEEL_OK)
            abort();
        for (size_t i = 0, start = 0; i <= len; i++) {
            if (i < len && plain[i] != '\n')
                continue;
            size_t n = i - start;
            unsigned char *out = malloc(seal_record_size(n));
            static uint64_t index;
            if (start == 0)
                index = 0;
            if (!seal_record(dk, index++, plain + start, n, out) ||
                write(fd, out, seal_record_size(n)) != (ssize_t)seal_record_size(n))
                abort();
            free(out);
            start = i + 1;
        }
    } else {
        struct sealed_writer *w = NULL;
        if (sealed_writer_new(fd, &key, &w, &ctx) != KEEL_OK ||
            sealed_write(w, plain, len) != KEEL_OK || sealed_finish(w) != KEEL_OK)
            abort();
        sealed_writer_free(w);
    }
    bool edited = false;
    edit(data + 3 + len, size - 3 - len, &edited);
    if (records)
        check_records(plain, len, edited);
    else
        check_chunked(plain, len, edited);
    return 0;
}
