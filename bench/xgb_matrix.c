/*
 * xgb_matrix.c -- the batch benchmark's reference: XGBoost predicting a whole
 * in-memory matrix, the fastest a file could possibly be scored.
 *
 * Usage: xgb_matrix MODEL_FILE INPUT.csv THREADS
 * Reads the CSV (header, then numbers only) into one float64 matrix -- not
 * timed -- then times XGBoosterPredictFromDense on all of it with THREADS
 * XGBoost threads and prints rows per second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xgboost/c_api.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL_FILE INPUT.csv THREADS\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f)
        return 1;
    static char line[1 << 16];
    if (!fgets(line, sizeof line, f))
        return 1;
    size_t cols = 1;
    for (char *p = line; *p; p++)
        cols += *p == ',';
    size_t cap = 1 << 20, n = 0;
    double *x = malloc(cap * sizeof *x);
    while (x && fgets(line, sizeof line, f)) {
        char *p = line;
        for (size_t c = 0; c < cols; c++) {
            if (n == cap) {
                cap *= 2;
                x = realloc(x, cap * sizeof *x);
                if (!x)
                    return 1;
            }
            x[n++] = strtod(p, &p);
            if (*p == ',')
                p++;
        }
    }
    fclose(f);
    size_t rows = n / cols;
    FILE *mf = fopen(argv[1], "rb");
    if (!mf)
        return 1;
    fseek(mf, 0, SEEK_END);
    long msz = ftell(mf);
    fseek(mf, 0, SEEK_SET);
    char *mbuf = malloc((size_t)msz);
    if (!mbuf || fread(mbuf, 1, (size_t)msz, mf) != (size_t)msz)
        return 1;
    fclose(mf);
    BoosterHandle h;
    if (XGBoosterCreate(NULL, 0, &h) || XGBoosterLoadModelFromBuffer(h, mbuf, (bst_ulong)msz) ||
        XGBoosterSetParam(h, "nthread", argv[3])) {
        fprintf(stderr, "xgboost: %s\n", XGBGetLastError());
        return 1;
    }
    char iface[256];
    snprintf(iface, sizeof iface,
             "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f8\", "
             "\"version\": 3}",
             (unsigned long long)(uintptr_t)x, rows, cols);
    const char *config = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                         "\"iteration_end\": 0, \"strict_shape\": false, \"missing\": NaN, "
                         "\"cache_id\": 0}";
    bst_ulong const *shape;
    bst_ulong dim;
    float const *out;
    double best = 1e30;
    for (int round = 0; round < 3; round++) {
        double t0 = now_s();
        if (XGBoosterPredictFromDense(h, iface, config, NULL, &shape, &dim, &out)) {
            fprintf(stderr, "xgboost: %s\n", XGBGetLastError());
            return 1;
        }
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    printf("XGB_MATRIX rows=%zu cols=%zu threads=%s seconds=%.3f rows_per_s=%.0f\n", rows, cols,
           argv[3], best, (double)rows / best);
    XGBoosterFree(h);
    free(x);
    free(mbuf);
    return 0;
}
