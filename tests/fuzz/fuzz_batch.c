/*
 * fuzz_batch.c -- `keel models predict`'s pipeline (batch/predict.c) on a
 * real fixture model with any input: JSON lines (byte 0 even) or CSV (odd),
 * cut into chunks of 1 to 8 rows (bits 1-3), rejected rows kept aside or
 * stopping the job (bit 4). A job either completes, every input row scored
 * or set aside, or fails leaving no output file; it never crashes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch/batch.h"
#include "model/model.h"
#include "util/arena.h"
#include "util/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keel_model *model;
static char dir[] = "/tmp/keel-fuzz-batch-XXXXXX";
static char in_path[128], out_path[128], rej_path[128];

/* The model stays loaded to the end (freed at exit, libxgboost's own
 * statics may already be gone, as for fuzz_scoring's models). */
static void teardown(void)
{
    keel_rmtree(dir);
}

static void setup(void)
{
    const char *fx = getenv("KEEL_FIXTURES");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/xgb-classifier-iris",
             fx && *fx ? fx : "../shared/fixtures");
    struct karena *a = karena_new(1u << 20);
    struct keel_ctx ctx = {.arena = a};
    if (!mkdtemp(dir) || keel_model_load(path, &model, &ctx) != KEEL_OK)
        abort();
    karena_free(a);
    snprintf(in_path, sizeof in_path, "%s/in", dir);
    snprintf(out_path, sizeof out_path, "%s/out.csv", dir);
    snprintf(rej_path, sizeof rej_path, "%s/out.rejects.jsonl", dir);
    atexit(teardown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!model)
        setup();
    if (size < 1 || size > 65536)
        return 0;
    FILE *f = fopen(in_path, "wb");
    if (!f || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f) != 0)
        abort();
    unlink(out_path);
    unlink(rej_path);
    struct batch_options o = {
        .input = in_path, .output = out_path,
        .in_format = data[0] & 1 ? BATCH_IN_CSV : BATCH_IN_JSONL,
        .out_format = BATCH_OUT_CSV, .threads = 1,
        .chunk_rows = 1 + ((data[0] >> 1) & 7),
        .skip_errors = (data[0] >> 4) & 1, .rejects = rej_path,
    };
    struct karena *a = karena_new(256u << 20);
    struct keel_ctx ctx = {.arena = a};
    struct batch_stats st = {0};
    enum keel_err e = batch_predict(model, &o, &st, &ctx);
    struct stat sb;
    bool out_exists = stat(out_path, &sb) == 0;
    if (e != KEEL_OK && out_exists)
        __builtin_trap(); /* a failed job leaves no output */
    if (e == KEEL_OK && !out_exists)
        __builtin_trap(); /* a finished one does */
    if (e != KEEL_OK && (!ctx.errmsg || !*ctx.errmsg))
        __builtin_trap(); /* and says why */
    karena_free(a);
    return 0;
}
