/*
 * models.c -- `keel models`: the subcommand table, and `keel models serve`:
 * one model, MLflow's scoring protocol and KServe v2, no Python.
 * (`keel models predict` is in predict.c.)
 *
 * Flags follow `mlflow models serve` (-m, -h, -p, -w; --env-manager is
 * accepted and ignored, since keel runs the model itself). The model is
 * loaded once and shared read-only by every worker thread; requests are
 * scored on those threads, a pool sized to the cores by default.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "http/http.h"
#include "model/model.h"
#include "serve/fetch.h"
#include "serve/scoring.h"
#include "util/arena.h"

#define SERVE_MAX_BODY (100u << 20)
#define SERVE_MAX_ROWS 1000000u
#define SERVE_ARENA_CEILING (1024u << 20)

struct serve_opts {
    const char *model_uri, *host, *name, *tracking_uri, *cache_dir;
    int port;
    unsigned workers;
    size_t max_body, max_rows;
    bool access_log;
};

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: keel models serve -m MODEL_URI [options]\n"
            "  -m, --model-uri URI     a local model directory, file://, runs:/RUN/PATH,\n"
            "                          models:/NAME/VERSION, models:/NAME@ALIAS,\n"
            "                          models:/NAME/STAGE or models:/MODEL_ID\n"
            "  --tracking-uri URI      the tracking server remote URIs resolve through\n"
            "                          (KEEL_TRACKING_URI, MLFLOW_TRACKING_URI)\n"
            "  --cache-dir DIR         where fetched models are kept\n"
            "                          (KEEL_MODEL_CACHE, ~/.cache/keel/models)\n"
            "  -h, --host HOST         address to listen on (127.0.0.1)\n"
            "  -p, --port PORT         port (5000)\n"
            "  -w, --workers N         scoring threads (the number of cores)\n"
            "  --name NAME             the model's name on the KServe v2 routes (model)\n"
            "  --max-body-bytes N      largest accepted request body (%u)\n"
            "  --max-rows N            most rows scored in one request (%u)\n"
            "  --access-log            one JSON line per answered request on stderr\n"
            "  --env-manager NAME      accepted for MLflow compatibility; keel needs no\n"
            "                          Python environment\n",
            SERVE_MAX_BODY, SERVE_MAX_ROWS);
}

static int parse_size(const char *flag, const char *s, size_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || v == 0) {
        fprintf(stderr, "keel models serve: invalid %s '%s'\n", flag, s);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static int serve_parse(int argc, char **argv, struct serve_opts *o)
{
    enum { O_NAME = 256, O_MAXBODY, O_MAXROWS, O_ENV, O_TRACKING, O_CACHE, O_ACCESS, O_HELP };
    static const struct option longopts[] = {
        {"model-uri", required_argument, NULL, 'm'},
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},
        {"name", required_argument, NULL, O_NAME},
        {"max-body-bytes", required_argument, NULL, O_MAXBODY},
        {"max-rows", required_argument, NULL, O_MAXROWS},
        {"env-manager", required_argument, NULL, O_ENV},
        {"tracking-uri", required_argument, NULL, O_TRACKING},
        {"cache-dir", required_argument, NULL, O_CACHE},
        {"access-log", no_argument, NULL, O_ACCESS},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int ch;
    size_t n;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:h:p:w:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': o->model_uri = optarg; break;
        case 'h': o->host = optarg; break;
        case 'p': {
            char *end = NULL;
            long port = strtol(optarg, &end, 10);
            if (!*optarg || *end || port < 0 || port > 65535) {
                fprintf(stderr, "keel models serve: invalid --port '%s'\n", optarg);
                return 2;
            }
            o->port = (int)port;
            break;
        }
        case 'w':
            if (parse_size("--workers", optarg, &n) != 0 || n > 1024)
                return 2;
            o->workers = (unsigned)n;
            break;
        case O_NAME: o->name = optarg; break;
        case O_MAXBODY:
            if (parse_size("--max-body-bytes", optarg, &o->max_body) != 0)
                return 2;
            break;
        case O_MAXROWS:
            if (parse_size("--max-rows", optarg, &o->max_rows) != 0)
                return 2;
            break;
        case O_ENV: break;
        case O_TRACKING: o->tracking_uri = optarg; break;
        case O_CACHE: o->cache_dir = optarg; break;
        case O_ACCESS: o->access_log = true; break;
        case O_HELP: serve_usage(stdout); return 0;
        default: serve_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "keel models serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o->model_uri) {
        fprintf(stderr, "keel models serve: -m MODEL_URI is required\n");
        serve_usage(stderr);
        return 2;
    }
    return -1;
}

/* The scoring front's handler: the target is the app. */
static void serve_handle(void *app, struct keel_ctx *ctx, const struct http_request *req,
                         struct http_response *resp)
{
    const struct scoring_target *t = app;
    if (!scoring_handle(t, req->path, ctx, req, resp))
        http_respond_page(resp, 404);
}

static int models_serve(int argc, char **argv)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct serve_opts o = {.host = "127.0.0.1", .port = 5000, .name = "model",
                           .workers = cores > 0 ? (unsigned)cores : 2,
                           .max_body = SERVE_MAX_BODY, .max_rows = SERVE_MAX_ROWS};
    int rc = serve_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct karena *a = karena_new(1 << 20);
    if (!a)
        return 1;
    struct keel_ctx ctx = {.arena = a};
    struct model_fetch_result fetched;
    struct model_fetch_config fc = {.tracking_uri = cli_tracking_uri(o.tracking_uri),
                                    .cache_dir = cli_model_cache(a, o.cache_dir)};
    if (model_fetch(o.model_uri, &fc, &fetched, &ctx) != KEEL_OK) {
        fprintf(stderr, "keel models serve: %s\n", ctx.errmsg ? ctx.errmsg : "cannot fetch model");
        karena_free(a);
        return 1;
    }
    struct keel_model *model = NULL;
    if (keel_model_load(fetched.dir, &model, &ctx) != KEEL_OK) {
        fprintf(stderr, "keel models serve: %s\n", ctx.errmsg ? ctx.errmsg : "cannot load model");
        karena_free(a);
        return 1;
    }
    struct scoring_target target = {.model = model, .name = o.name, .version = fetched.version,
                                    .mlflow_version = keel_model_mlflow_version(model),
                                    .limits = {.max_rows = o.max_rows}};
    struct http_server_config hc = {.host = o.host, .port = o.port, .max_body = o.max_body,
                                    .arena_ceiling = SERVE_ARENA_CEILING,
                                    .connection_limit = 1024, .timeout_s = 60,
                                    .threads = o.workers, .access_log = o.access_log};
    sigset_t stop;
    cli_block_stop_signals(&stop);
    struct http_server *srv = NULL;
    if (http_server_start(&srv, &hc, serve_handle, NULL, &target, &ctx) != KEEL_OK) {
        fprintf(stderr, "keel models serve: %s\n", ctx.errmsg ? ctx.errmsg : "cannot listen");
        keel_model_unref(model);
        karena_free(a);
        return 1;
    }
    fprintf(stderr, "keel models serve: %s (%s, %s) on http://%s:%d with %u workers\n",
            o.model_uri, keel_model_flavor(model), keel_model_class(model), o.host,
            http_server_port(srv), o.workers);
    cli_wait_stop(&stop, "keel models serve");
    http_server_stop(srv);
    keel_model_unref(model);
    karena_free(a);
    return 0;
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} model_commands[] = {
    {"serve", models_serve, "serve a model over HTTP (MLflow scoring protocol, KServe v2)"},
    {"predict", cli_models_predict, "score a CSV or JSON-lines file with a model, as a job"},
    {"history", cli_models_history, "what a model's aliases and stages pointed to, and when"},
};

int cli_models(int argc, char **argv)
{
    size_t n = sizeof model_commands / sizeof *model_commands;
    if (argc >= 2) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(argv[1], model_commands[i].name) == 0)
                return model_commands[i].run(argc - 1, argv + 1);
    }
    FILE *f = argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr;
    if (argc >= 2 && f == stderr)
        fprintf(stderr, "keel models: unknown command '%s'\n", argv[1]);
    fprintf(f, "usage: keel models <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-8s %s\n", model_commands[i].name, model_commands[i].help);
    return f == stdout ? 0 : 2;
}
