/*
 * predict.c -- `keel models predict`: score a file with a model, as a job.
 *
 * MLflow's flags (-m, -i, -o, -t; --env-manager accepted and ignored) plus
 * what a batch job needs: --keep-columns, --threads, --on-error skip with a
 * rejects file, --shard i/N for splitting one input across machines, and a
 * record of the job as a run on the tracking server (--tracking-uri or
 * MLFLOW_TRACKING_URI; experiment `batch-inference` unless
 * --experiment-name says otherwise). CSV and JSON-lines inputs stream
 * through batch/predict.c in constant memory; a JSON document in MLflow's
 * scoring format (-t json) is read whole, as MLflow reads it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/batch.h"
#include "cli/cli.h"
#include "client/tracking.h"
#include "model/model.h"
#include "serve/fetch.h"
#include "serve/payload.h"
#include "serve/scoring.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"

#define DEFAULT_CHUNK_ROWS 4096u
#define MAX_JSON_DOCUMENT (1024u << 20)
#define MAX_DOCUMENT_OUTPUT ((size_t)1 << 31) /* -t json's predictions, written whole */

struct predict_opts {
    const char *model_uri, *input, *output, *in_type, *out_type, *keep, *rejects;
    const char *tracking_uri, *cache_dir, *experiment;
    const char *on_error, *shard;
    unsigned threads;
    size_t chunk_rows;
    int progress; /* -1: when stderr is a terminal */
};

static void predict_usage(FILE *f)
{
    fprintf(f,
            "usage: keel models predict -m MODEL_URI -i INPUT -o OUTPUT [options]\n"
            "  -m, --model-uri URI       as for `keel models serve`\n"
            "  -i, --input-path PATH     the input, or - for stdin\n"
            "  -o, --output-path PATH    the output (.csv, .jsonl or .json), or - for stdout\n"
            "  -t, --content-type TYPE   csv, jsonl, or json (MLflow's scoring document);\n"
            "                            default: the input's extension\n"
            "  --output-format FORMAT    csv, jsonl or json, for -o - (default json)\n"
            "  --keep-columns A,B        input columns copied before the prediction\n"
            "  --threads N               scoring threads (the number of cores)\n"
            "  --chunk-rows N            rows scored together (%u)\n"
            "  --on-error fail|skip      stop at the first bad row (default), or set bad\n"
            "                            rows aside in the rejects file and go on\n"
            "  --rejects PATH            where skipped rows go (OUTPUT.rejects.jsonl)\n"
            "  --shard I/N               score only part I (0-based) of N of the input\n"
            "  --progress, --no-progress rows, rows/s and ETA on stderr (default: on a\n"
            "                            terminal)\n"
            "  --tracking-uri URI        record the job as a run there (KEEL_TRACKING_URI,\n"
            "                            MLFLOW_TRACKING_URI); also resolves remote models\n"
            "  --experiment-name NAME    the run's experiment (batch-inference)\n"
            "  --cache-dir DIR           where fetched models are kept\n"
            "  --env-manager NAME        accepted for MLflow compatibility\n",
            DEFAULT_CHUNK_ROWS);
}

static int predict_parse(int argc, char **argv, struct predict_opts *o)
{
    enum { O_OUTFMT = 256, O_KEEP, O_THREADS, O_CHUNK, O_ONERR, O_REJECTS, O_SHARD, O_PROGRESS,
           O_NOPROGRESS, O_TRACKING, O_EXPERIMENT, O_CACHE, O_ENV, O_HELP };
    static const struct option longopts[] = {
        {"model-uri", required_argument, NULL, 'm'},
        {"input-path", required_argument, NULL, 'i'},
        {"output-path", required_argument, NULL, 'o'},
        {"content-type", required_argument, NULL, 't'},
        {"output-format", required_argument, NULL, O_OUTFMT},
        {"keep-columns", required_argument, NULL, O_KEEP},
        {"threads", required_argument, NULL, O_THREADS},
        {"chunk-rows", required_argument, NULL, O_CHUNK},
        {"on-error", required_argument, NULL, O_ONERR},
        {"rejects", required_argument, NULL, O_REJECTS},
        {"shard", required_argument, NULL, O_SHARD},
        {"progress", no_argument, NULL, O_PROGRESS},
        {"no-progress", no_argument, NULL, O_NOPROGRESS},
        {"tracking-uri", required_argument, NULL, O_TRACKING},
        {"experiment-name", required_argument, NULL, O_EXPERIMENT},
        {"cache-dir", required_argument, NULL, O_CACHE},
        {"env-manager", required_argument, NULL, O_ENV},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:i:o:t:", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'm': o->model_uri = optarg; break;
        case 'i': o->input = optarg; break;
        case 'o': o->output = optarg; break;
        case 't': o->in_type = optarg; break;
        case O_OUTFMT: o->out_type = optarg; break;
        case O_KEEP: o->keep = optarg; break;
        case O_THREADS:
            o->threads = (unsigned)strtoul(optarg, &end, 10);
            if (!*optarg || *end || o->threads == 0 || o->threads > 256) {
                fprintf(stderr, "keel models predict: invalid --threads '%s'\n", optarg);
                return 2;
            }
            break;
        case O_CHUNK:
            o->chunk_rows = strtoul(optarg, &end, 10);
            if (!*optarg || *end || o->chunk_rows == 0 || o->chunk_rows > 1000000) {
                fprintf(stderr, "keel models predict: invalid --chunk-rows '%s'\n", optarg);
                return 2;
            }
            break;
        case O_ONERR: o->on_error = optarg; break;
        case O_REJECTS: o->rejects = optarg; break;
        case O_SHARD: o->shard = optarg; break;
        case O_PROGRESS: o->progress = 1; break;
        case O_NOPROGRESS: o->progress = 0; break;
        case O_TRACKING: o->tracking_uri = optarg; break;
        case O_EXPERIMENT: o->experiment = optarg; break;
        case O_CACHE: o->cache_dir = optarg; break;
        case O_ENV: break;
        case O_HELP: predict_usage(stdout); return 0;
        default: predict_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "keel models predict: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->model_uri || !o->input || !o->output) {
        fprintf(stderr, "keel models predict: -m, -i and -o are required\n");
        predict_usage(stderr);
        return 2;
    }
    return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The input format: -t, else the extension. 0 = csv, 1 = jsonl, 2 = json. */
static int input_kind(const struct predict_opts *o)
{
    const char *t = o->in_type;
    if (!t) {
        if (ends_with(o->input, ".csv"))
            return 0;
        if (ends_with(o->input, ".jsonl") || ends_with(o->input, ".ndjson"))
            return 1;
        if (ends_with(o->input, ".json"))
            return 2;
        return -1;
    }
    return strcmp(t, "csv") == 0 ? 0 : strcmp(t, "jsonl") == 0 ? 1 : strcmp(t, "json") == 0 ? 2 : -1;
}

static int output_kind(const struct predict_opts *o, enum batch_output *out)
{
    const char *t = o->out_type;
    if (!t && strcmp(o->output, "-") == 0)
        t = "json";
    if (t) {
        if (strcmp(t, "csv") == 0)
            *out = BATCH_OUT_CSV;
        else if (strcmp(t, "jsonl") == 0)
            *out = BATCH_OUT_JSONL;
        else if (strcmp(t, "json") == 0)
            *out = BATCH_OUT_JSON;
        else
            return -1;
        return 0;
    }
    if (ends_with(o->output, ".csv"))
        *out = BATCH_OUT_CSV;
    else if (ends_with(o->output, ".jsonl") || ends_with(o->output, ".ndjson"))
        *out = BATCH_OUT_JSONL;
    else if (ends_with(o->output, ".json"))
        *out = BATCH_OUT_JSON;
    else
        return -1;
    return 0;
}

/* --keep-columns a,b,c into an arena array. */
static const char **split_keep(struct karena *a, const char *spec, size_t *n)
{
    *n = 0;
    if (!spec || !*spec)
        return NULL;
    size_t cap = 1;
    for (const char *p = spec; *p; p++)
        cap += *p == ',';
    const char **out = karena_alloc(a, cap * sizeof *out);
    char *copy = karena_strdup(a, spec);
    if (!out || !copy)
        return NULL;
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        out[(*n)++] = t;
    return out;
}

/* `-t json`: MLflow's scoring document, read whole (bounded), scored once. */
static enum keel_err predict_document(const struct keel_model *m, const char *in,
                                      const char *outpath, enum batch_output fmt,
                                      struct batch_stats *st, struct keel_ctx *ctx)
{
    FILE *f = strcmp(in, "-") == 0 ? stdin : fopen(in, "rb");
    if (!f)
        return keel_fail(ctx, KEEL_E_IO, "cannot open %s: %s", in, strerror(errno));
    struct kbuf body;
    kbuf_init(&body, MAX_JSON_DOCUMENT);
    char block[65536];
    size_t n;
    enum keel_err e = KEEL_OK;
    while ((n = fread(block, 1, sizeof block, f)) > 0 && e == KEEL_OK)
        if (kbuf_add(&body, block, n) != KEEL_OK)
            e = keel_fail(ctx, KEEL_E_TOO_LARGE,
                          "%s: a JSON document is read whole and must stay under %u bytes; use "
                          "CSV or JSON lines to stream a larger input",
                          in, MAX_JSON_DOCUMENT);
    if (e == KEEL_OK && ferror(f))
        e = keel_fail(ctx, KEEL_E_IO, "cannot read %s: %s", in, strerror(errno));
    if (f != stdin)
        fclose(f);
    struct payload_limits lim = {.max_rows = SIZE_MAX};
    struct payload_frame frame;
    struct keel_prediction p;
    if (e == KEEL_OK)
        e = payload_decode(PAYLOAD_JSON, body.data ? body.data : "", body.len,
                           keel_model_signature(m), keel_model_n_features(m), &lim, &frame, ctx);
    kbuf_free(&body);
    if (e == KEEL_OK && frame.rows)
        e = keel_model_predict(m, frame.x, frame.rows, &p, ctx);
    if (e != KEEL_OK)
        return e;
    struct kbuf out;
    kbuf_init(&out, MAX_DOCUMENT_OUTPUT);
    size_t cols = frame.rows ? (p.flat ? 1 : p.cols) : 1;
    if (fmt == BATCH_OUT_JSON)
        kbuf_adds(&out, "{\"predictions\": [");
    if (fmt == BATCH_OUT_CSV) {
        if (cols == 1 || (frame.rows && p.flat))
            kbuf_adds(&out, "prediction\n");
        else
            for (size_t k = 0; k < cols; k++)
                kbuf_printf(&out, "%sprediction_%zu%s", k ? "," : "", k, k + 1 == cols ? "\n" : "");
    }
    for (size_t r = 0; r < frame.rows; r++) {
        if (fmt == BATCH_OUT_JSON && r)
            kbuf_adds(&out, ", ");
        if (fmt == BATCH_OUT_JSONL)
            kbuf_adds(&out, "{\"prediction\": ");
        if ((fmt != BATCH_OUT_CSV) && !p.flat)
            kbuf_addc(&out, '[');
        for (size_t k = 0; k < cols; k++) {
            size_t i = r * cols + k;
            if (k)
                kbuf_adds(&out, fmt == BATCH_OUT_CSV ? "," : ", ");
            scoring_put_value(&out, &p, i);
        }
        if ((fmt != BATCH_OUT_CSV) && !p.flat)
            kbuf_addc(&out, ']');
        kbuf_adds(&out, fmt == BATCH_OUT_JSONL ? "}\n" : fmt == BATCH_OUT_CSV ? "\n" : "");
    }
    if (fmt == BATCH_OUT_JSON)
        kbuf_adds(&out, "]}");
    /* the appends are checked once, here: nothing is written truncated */
    if (kbuf_failed(&out) != KEEL_OK) {
        e = keel_fail(ctx, kbuf_failed(&out),
                      kbuf_failed(&out) == KEEL_E_TOO_LARGE
                          ? "the predictions pass %zu bytes, the most -t json writes whole; use "
                            "CSV or JSON lines to stream a larger input"
                          : "out of memory writing the predictions (%zu bytes at most)",
                      MAX_DOCUMENT_OUTPUT);
        kbuf_free(&out);
        return e;
    }
    FILE *o = strcmp(outpath, "-") == 0 ? stdout : fopen(outpath, "wb");
    bool written = o && fwrite(out.data ? out.data : "", 1, out.len, o) == out.len;
    /* a stream's errors may show only when it is flushed (a full disk, a closed pipe) */
    if (o == stdout)
        written = fflush(stdout) == 0 && !ferror(stdout) && written;
    else if (o)
        written = fclose(o) == 0 && written;
    if (!written) {
        e = keel_fail(ctx, KEEL_E_IO, "cannot write %s: %s", outpath, strerror(errno));
        if (o != stdout)
            unlink(outpath);
    }
    st->rows = frame.rows;
    st->bytes_out = out.len;
    kbuf_free(&out);
    return e;
}

/* Keeps the first failure of the calls that record the job, naming what
 * was being recorded (later calls replace ctx's message). */
static void note_record(enum keel_err e, const char *what, const char *key, const char **first,
                        struct keel_ctx *ctx)
{
    if (e == KEEL_OK || *first)
        return;
    *first = karena_sprintf(ctx->arena, "%s '%s': %s", what, key,
                            ctx->errmsg ? ctx->errmsg : "tracking server error");
    if (!*first)
        *first = "out of memory";
}

/* The job as a run: what ran, on what, with what result. Returns false,
 * after saying why on stderr, when the run could not be recorded whole
 * (the job's output is complete either way). */
static bool record_job(const struct predict_opts *o, const struct model_fetch_result *fetched,
                       const struct batch_stats *st, enum keel_err outcome,
                       const char *failure, struct keel_ctx *ctx)
{
    const char *uri = cli_tracking_uri(o->tracking_uri);
    if (!uri)
        return true;
    struct tracking_run *run = NULL;
    if (tracking_run_start(uri, o->experiment, NULL, &run, ctx) != KEEL_OK) {
        fprintf(stderr, "keel models predict: the job was not recorded on %s: %s\n", uri,
                ctx->errmsg ? ctx->errmsg : "tracking server error");
        return false;
    }
    /* what is NULL or empty is not recorded */
    const char *const params[][2] = {
        {"model_uri", o->model_uri}, {"model_name", fetched->name},
        {"model_version", fetched->version}, {"model_run_id", fetched->run_id},
        {"input", o->input}, {"output", o->output}, {"shard", o->shard},
    };
    const char *const tags[][2] = {
        {"keel.job", "batch-inference"},
        {"keel.input_sha256", st->input_sha256},
        {"keel.output_sha256", st->output_sha256},
        {"keel.model_sha256", fetched->digest},
        {"keel.error", outcome != KEEL_OK ? failure : NULL},
    };
    const struct {
        const char *key;
        double value;
    } metrics[] = {
        {"rows", (double)st->rows},
        {"rows_rejected", (double)st->rejected},
        {"input_bytes", (double)st->bytes_in},
        {"output_bytes", (double)st->bytes_out},
        {"duration_s", st->seconds},
        {"rows_per_s", st->seconds > 0 ? (double)st->rows / st->seconds : 0},
    };
    const char *first = NULL;
    for (size_t i = 0; i < sizeof params / sizeof *params; i++)
        if (params[i][1] && *params[i][1])
            note_record(tracking_log_param(run, params[i][0], params[i][1], ctx), "param",
                        params[i][0], &first, ctx);
    for (size_t i = 0; i < sizeof tags / sizeof *tags; i++)
        if (tags[i][1] && *tags[i][1])
            note_record(tracking_set_tag(run, tags[i][0], tags[i][1], ctx), "tag", tags[i][0],
                        &first, ctx);
    for (size_t i = 0; i < sizeof metrics / sizeof *metrics; i++)
        note_record(tracking_log_metric(run, metrics[i].key, metrics[i].value, 0, ctx),
                    "metric", metrics[i].key, &first, ctx);
    char id[64];
    snprintf(id, sizeof id, "%s", tracking_run_id(run));
    if (tracking_run_end(run, outcome == KEEL_OK, ctx) != KEEL_OK && !first)
        first = ctx->errmsg ? ctx->errmsg : "tracking server error";
    if (first) {
        fprintf(stderr, "keel models predict: the job's record (run %s in experiment '%s') is "
                        "incomplete: %s\n", id, o->experiment, first);
        return false;
    }
    fprintf(stderr, "keel models predict: recorded as run %s in experiment '%s'\n", id,
            o->experiment);
    return true;
}

int cli_models_predict(int argc, char **argv)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct predict_opts o = {.threads = cores > 0 ? (unsigned)cores : 2,
                             .chunk_rows = DEFAULT_CHUNK_ROWS, .progress = -1,
                             .experiment = "batch-inference", .on_error = "fail"};
    int rc = predict_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct batch_options bo = {.input = o.input, .output = o.output, .threads = o.threads,
                               .chunk_rows = o.chunk_rows, .shards = 1,
                               /* the digests go into the job's run: only with a server */
                               .digests = cli_tracking_uri(o.tracking_uri) != NULL};
    int kind = input_kind(&o);
    if (kind < 0) {
        fprintf(stderr, "keel models predict: say the input's format with -t csv|jsonl|json "
                        "(it is not named .csv, .jsonl or .json)\n");
        return 2;
    }
    bo.in_format = kind == 1 ? BATCH_IN_JSONL : BATCH_IN_CSV;
    if (output_kind(&o, &bo.out_format) != 0) {
        fprintf(stderr, "keel models predict: the output must end in .csv, .jsonl or .json "
                        "(or say --output-format csv|jsonl|json)\n");
        return 2;
    }
    if (strcmp(o.on_error, "fail") != 0 && strcmp(o.on_error, "skip") != 0) {
        fprintf(stderr, "keel models predict: --on-error is fail or skip, not '%s'\n",
                o.on_error);
        return 2;
    }
    bo.skip_errors = strcmp(o.on_error, "skip") == 0;
    if (o.shard) {
        char *end = NULL;
        unsigned long i = strtoul(o.shard, &end, 10);
        unsigned long n = end && *end == '/' ? strtoul(end + 1, &end, 10) : 0;
        if (!end || *end || n == 0 || n > 100000 || i >= n) {
            fprintf(stderr, "keel models predict: --shard is I/N with 0 <= I < N, not '%s'\n",
                    o.shard);
            return 2;
        }
        bo.shard = (unsigned)i;
        bo.shards = (unsigned)n;
    }
    bo.progress = o.progress < 0 ? isatty(STDERR_FILENO) : o.progress;

    struct karena *a = karena_new(64u << 20);
    if (!a)
        return 1;
    struct keel_ctx ctx = {.arena = a};
    bo.keep = split_keep(a, o.keep, &bo.n_keep);
    if (bo.skip_errors)
        bo.rejects = o.rejects ? o.rejects
                               : strcmp(o.output, "-") == 0
                                     ? "rejects.jsonl"
                                     : karena_sprintf(a, "%s.rejects.jsonl", o.output);
    struct model_fetch_result fetched = {0};
    struct model_fetch_config fc = {.tracking_uri = cli_tracking_uri(o.tracking_uri),
                                    .cache_dir = cli_model_cache(a, o.cache_dir)};
    struct keel_model *model = NULL;
    if (model_fetch(o.model_uri, &fc, &fetched, &ctx) != KEEL_OK ||
        keel_model_load(fetched.dir, &model, &ctx) != KEEL_OK) {
        fprintf(stderr, "keel models predict: %s\n", ctx.errmsg ? ctx.errmsg : "no model");
        karena_free(a);
        return 1;
    }
    struct batch_stats st = {0};
    enum keel_err e;
    if (kind == 2) {
        if (bo.n_keep || bo.shards > 1 || bo.skip_errors)
            e = keel_fail(&ctx, KEEL_E_INVALID_PARAMETER,
                          "-t json reads one MLflow scoring document; --keep-columns, --shard "
                          "and --on-error skip work on CSV and JSON-lines inputs");
        else
            e = predict_document(model, o.input, o.output, bo.out_format, &st, &ctx);
    } else {
        e = batch_predict(model, &bo, &st, &ctx);
    }
    char *failure = e != KEEL_OK && ctx.errmsg ? karena_strdup(a, ctx.errmsg) : NULL;
    if (e != KEEL_OK)
        fprintf(stderr, "keel models predict: %s\n", failure ? failure : "failed");
    else
        fprintf(stderr,
                "keel models predict: %llu rows scored, %llu rejected, in %.2f s (%.0f rows/s)%s%s\n",
                (unsigned long long)st.rows, (unsigned long long)st.rejected, st.seconds,
                st.seconds > 0 ? (double)st.rows / st.seconds : 0.0,
                st.rejected ? "; rejected rows in " : "", st.rejected ? bo.rejects : "");
    /* a record asked for and not made fails the command, its output complete */
    bool recorded = record_job(&o, &fetched, &st, e, failure, &ctx);
    keel_model_unref(model);
    karena_free(a);
    return e == KEEL_OK && recorded ? 0 : 1;
}
