/*
 * fuzz_csv.c -- the CSV reader (util/csv.c), fed in pieces.
 *
 * The first byte picks where the input is cut into pieces (the reader must
 * give the same rows however its input arrives); the rest is the CSV. Every
 * row's fields must lie inside the input or the reader's scratch space, the
 * reader must end (CSV_END or CSV_ERROR), and whole-input and pieced reading
 * must agree on the row count and the error. The plain-row lane
 * (csv_peek_plain) must, where it answers, see the same fields as csv_next.
 */
#include <stdint.h>
#include <string.h>

#include "util/arena.h"
#include "util/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
    size_t rows, fields;
    enum csv_error err;
};

static struct outcome read_all(const char *text, size_t n, size_t piece, bool peek)
{
    struct outcome o = {0};
    struct karena *a = karena_new(64u << 20);
    if (!a)
        return o;
    struct csv_limits lim = {.max_field = 4096, .max_cols = 512};
    struct csv_reader r;
    csv_init(&r, a, &lim);
    size_t at = 0;
    size_t first = piece ? (piece < n ? piece : n) : n;
    csv_feed(&r, text, first, first == n);
    at = first;
    for (;;) {
        const char *line;
        size_t len;
        bool plain = peek && csv_peek_plain(&r, &line, &len);
        const struct csv_field *f;
        size_t nf = 0;
        enum csv_status st = csv_next(&r, &f, &nf);
        if (st == CSV_MORE) {
            size_t next = piece && at + piece < n ? at + piece : n;
            csv_feed(&r, text + at, next - at, next == n);
            at = next;
            continue;
        }
        if (st != CSV_ROW)
            break;
        if (plain && len) { /* the lane's line is this row, split at ',' */
            size_t k = 0, start = 0;
            for (size_t i = 0; i <= len; i++) {
                if (i == len || line[i] == ',') {
                    if (k >= nf || f[k].len != i - start || memcmp(f[k].p, line + start, i - start))
                        __builtin_trap();
                    k++;
                    start = i + 1;
                }
            }
            if (k != nf)
                __builtin_trap();
        }
        o.rows++;
        for (size_t i = 0; i < nf; i++) {
            volatile char sink = 0;
            for (size_t b = 0; b < f[i].len; b++)
                sink ^= f[i].p[b]; /* every byte readable */
            (void)sink;
            o.fields++;
        }
    }
    o.err = csv_error(&r);
    karena_free(a);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = data[0];
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    struct outcome whole = read_all(text, n, 0, true);
    struct outcome pieced = read_all(text, n, piece, false);
    if (whole.rows != pieced.rows || whole.fields != pieced.fields || whole.err != pieced.err)
        __builtin_trap();
    return 0;
}
