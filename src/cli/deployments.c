/*
 * deployments.c -- `keel deployments create|update|get|list|delete` and
 * `keel predictions query`: the deployment and prediction-log APIs of a
 * running keel server from the shell.
 *
 * Each command is one request to /api/2.0/keel/deployments/... on the
 * server named by --tracking-uri (KEEL_TRACKING_URI, MLFLOW_TRACKING_URI,
 * else http://127.0.0.1:5000); the answer's JSON goes to stdout, an error's
 * message to stderr with a non-zero exit.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "client/rest.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/jparse.h"


static void deployments_usage(FILE *f)
{
    fprintf(f, "usage: keel deployments create|update --name NAME --model-uri URI\n"
               "                          [--prediction-log best-effort|required|off]\n"
               "                          [--max-batch-rows N] [--max-batch-wait-us N]\n"
               "       keel deployments get|delete --name NAME\n"
               "       keel deployments list\n"
               "   all take --tracking-uri URI (KEEL_TRACKING_URI, MLFLOW_TRACKING_URI,\n"
               "   else http://127.0.0.1:5000)\n");
}

int cli_deployments(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        deployments_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1], *name = NULL, *uri = NULL, *tracking = NULL, *log = NULL;
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'},
        {"model-uri", required_argument, NULL, 'm'},
        {"prediction-log", required_argument, NULL, 'l'},
        {"tracking-uri", required_argument, NULL, 't'},
        {"max-batch-rows", required_argument, NULL, 'r'},
        {"max-batch-wait-us", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    /* server-side batching: sent as given; the server checks the ranges */
    long long rows = -1, wait = -1;
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "n:m:", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'n': name = optarg; break;
        case 'm': uri = optarg; break;
        case 'l': log = optarg; break;
        case 't': tracking = optarg; break;
        case 'r':
        case 'w': {
            long long v = optarg[0] >= '0' && optarg[0] <= '9' ? strtoll(optarg, &end, 10) : -1;
            if (v < 0 || !end || *end) {
                fprintf(stderr, "keel deployments: invalid --%s '%s' (a whole number)\n",
                        ch == 'r' ? "max-batch-rows" : "max-batch-wait-us", optarg);
                return 2;
            }
            *(ch == 'r' ? &rows : &wait) = v;
            break;
        }
        default: deployments_usage(stderr); return 2;
        }
    }
    bool put = strcmp(cmd, "create") == 0 || strcmp(cmd, "update") == 0;
    bool named = put || strcmp(cmd, "get") == 0 || strcmp(cmd, "delete") == 0;
    if ((!named && strcmp(cmd, "list") != 0) || (named && !name) || (put && !uri) ||
        optind < argc) {
        deployments_usage(stderr);
        return 2;
    }
    struct karena *a = karena_new(1u << 20);
    if (!a)
        return 1;
    struct kbuf body;
    kbuf_init(&body, 1u << 16);
    struct jw w;
    jw_init(&w, &body);
    jw_obj(&w);
    jw_kstr_opt(&w, "name", name);
    jw_kstr_opt(&w, "model_uri", uri);
    jw_kstr_opt(&w, "prediction_log", log);
    if (rows >= 0)
        jw_kint(&w, "max_batch_rows", rows);
    if (wait >= 0)
        jw_kint(&w, "max_batch_wait_us", wait);
    jw_obj_end(&w);
    char *json = karena_strndup(a, body.data ? body.data : "{}", body.len);
    const char *path = strcmp(cmd, "get") == 0
                           ? karena_sprintf(a, "/api/2.0/keel/deployments/get?name=%s",
                                            rest_url_encode(a, name, false))
                           : karena_sprintf(a, "/api/2.0/keel/deployments/%s", cmd);
    char *who = karena_sprintf(a, "keel deployments %s", cmd);
    int rc = cli_call_and_print(who, tracking, named && strcmp(cmd, "get") != 0 ? "POST" : "GET",
                            path, strcmp(cmd, "get") && strcmp(cmd, "list") ? json : NULL,
                            NULL);
    kbuf_free(&body);
    karena_free(a);
    return rc;
}

static void predictions_usage(FILE *f)
{
    fprintf(f, "usage: keel predictions query [--deployment NAME] [--request-id ID]\n"
               "         [--model-version V] [--start-time MS] [--end-time MS]\n"
               "         [--max-results N] [--order asc|desc] [--tracking-uri URI]\n"
               "Prints the matching records of the prediction log, one JSON object a line\n"
               "(--order desc: each deployment's newest first).\n");
}

int cli_predictions(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "query") != 0) {
        bool help = argc >= 2 && strcmp(argv[1], "--help") == 0;
        predictions_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    /* each flag is the query parameter of the same name */
    static const struct option longopts[] = {
        {"deployment", required_argument, NULL, 0},
        {"request-id", required_argument, NULL, 1},
        {"model-version", required_argument, NULL, 2},
        {"start-time", required_argument, NULL, 3},
        {"end-time", required_argument, NULL, 4},
        {"max-results", required_argument, NULL, 5},
        {"order", required_argument, NULL, 6},
        {"tracking-uri", required_argument, NULL, 7},
        {NULL, 0, NULL, 0},
    };
    static const char *const params[] = {"deployment", "request_id", "model_version",
                                         "start_time", "end_time", "max_results", "order"};
    enum { N_PARAMS = sizeof params / sizeof *params, TRACKING_URI = N_PARAMS };
    const char *vals[N_PARAMS + 1] = {0};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch < 0 || ch > TRACKING_URI) {
            predictions_usage(stderr);
            return 2;
        }
        vals[ch] = optarg;
    }
    struct karena *a = karena_new(1u << 20);
    if (!a)
        return 1;
    struct kbuf path;
    kbuf_init(&path, 1u << 16);
    kbuf_adds(&path, "/api/2.0/keel/predictions?");
    for (int i = 0; i < N_PARAMS; i++)
        if (vals[i])
            kbuf_printf(&path, "%s=%s&", params[i], rest_url_encode(a, vals[i], false));
    kbuf_addc(&path, '\0');
    int rc = cli_call_and_print("keel predictions query", vals[TRACKING_URI], "GET", path.data,
                                NULL, "predictions");
    kbuf_free(&path);
    karena_free(a);
    return rc;
}
