/*
 * fuzz_decimal.c -- numbers as text, both ways (util/decimal.c, util/json.c).
 *
 * Differential, one way: every text decimal_parse accepts (holding no NUL)
 * strtod must read whole, to the same bits; the prefix decimal_parse_prefix
 * takes of it (its vector or eight-byte readers when enough bytes follow)
 * must be such a text too, read to the same bits, and the portable reader
 * must agree. Whether decimal_parse accepts every decimal strtod reads is
 * not checked here. Taken as a line of fields, every decimal_parse_line
 * reader must answer as memchr and decimal_parse_fields do. The shortest printer must
 * equal the printf search and read back to the same double, for each value
 * parsed and for the first 8 bytes of the input taken as a double's bits.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/decimal.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_print(double v)
{
    if (!isfinite(v))
        return;
    char fast[40], ref[40];
    json_format_double(v, fast, sizeof fast);
    json_format_double_reference(v, ref, sizeof ref);
    if (strcmp(fast, ref) != 0 || strtod(fast, NULL) != v)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 400)
        return 0;
    char text[401];
    memcpy(text, data, size);
    text[size] = '\0';
    double got;
    bool ok = decimal_parse(text, size, &got);
    if (ok && memchr(text, '\0', size) == NULL) {
        char *end;
        double want = strtod(text, &end);
        if (end != text + size || memcmp(&got, &want, sizeof got) != 0)
            __builtin_trap();
        check_print(got);
    }
    double pre, port;
    size_t k = decimal_parse_prefix(text, size, &pre);
    /* the reader machines without SSSE3/SSE4.1 run agrees */
    size_t kp = decimal_parse_prefix_portable(text, size, &port);
    if (kp != k || (k && memcmp(&pre, &port, sizeof pre) != 0))
        __builtin_trap();
    if (k && memchr(text, '\0', k) == NULL) {
        char saved = text[k];
        text[k] = '\0';
        char *end;
        double want = strtod(text, &end);
        if (end != text + k || memcmp(&pre, &want, sizeof pre) != 0)
            __builtin_trap();
        text[k] = saved;
    }
    /* the input as a line of fields (width from its first byte): every line
     * reader finds the same line and takes it exactly when decimal_parse_fields
     * takes it, to the same values */
    if (size) {
        size_t width = 1 + data[0] % 64, n = size - 1;
        char *body = malloc(n ? n : 1); /* exactly the bytes: reads past them are caught */
        if (!body)
            return 0;
        memcpy(body, data + 1, n);
        const char *lf = memchr(body, '\n', n);
        size_t want = lf ? (size_t)(lf - body) : 0;
        want -= want && body[want - 1] == '\r';
        double want_v[64], got_v[64];
        if (want && !decimal_parse_fields(body, want, width, want_v))
            want = 0;
        for (int r = DECIMAL_READ_PORTABLE; r <= DECIMAL_READ_64_VBMI2; r++) {
            size_t len = decimal_parse_line_using(body, n, width, got_v, (enum decimal_reader)r);
            if (len != want || (len && memcmp(got_v, want_v, width * sizeof *got_v) != 0))
                __builtin_trap();
        }
        free(body);
    }
    if (size >= 8) {
        double bits;
        memcpy(&bits, data, sizeof bits);
        check_print(bits);
    }
    return 0;
}
