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
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/jparse.h"
#include "util/arena.h"

#define ANSWER_MAX (16u << 20)

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    return kbuf_add(arg, p, size * n) == KEEL_OK ? size * n : 0;
}

static void deployments_usage(FILE *f)
{
    fprintf(f, "usage: keel deployments create|update --name NAME --model-uri URI [--tracking-uri URI]\n"
               "       keel deployments get|delete --name NAME [--tracking-uri URI]\n"
               "       keel deployments list [--tracking-uri URI]\n");
}

int cli_deployments(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        deployments_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1], *name = NULL, *uri = NULL, *tracking = NULL;
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'},
        {"model-uri", required_argument, NULL, 'm'},
        {"tracking-uri", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "n:m:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n': name = optarg; break;
        case 'm': uri = optarg; break;
        case 't': tracking = optarg; break;
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
    const char *base = cli_tracking_uri(tracking);
    if (!base)
        base = "http://127.0.0.1:5000";
    struct karena *a = karena_new(1u << 20);
    CURL *curl = curl_easy_init();
    if (!a || !curl)
        return 1;
    struct kbuf body, answer;
    kbuf_init(&body, 1u << 16);
    kbuf_init(&answer, ANSWER_MAX);
    struct jw w;
    jw_init(&w, &body);
    jw_obj(&w);
    if (name && strcmp(cmd, "get") != 0)
        jw_kstr(&w, "name", name);
    if (uri)
        jw_kstr(&w, "model_uri", uri);
    jw_obj_end(&w);
    char *esc = name ? curl_easy_escape(curl, name, 0) : NULL;
    char *url = strcmp(cmd, "get") == 0
                    ? karena_sprintf(a, "%s/api/2.0/keel/deployments/get?name=%s", base, esc)
                    : karena_sprintf(a, "%s/api/2.0/keel/deployments/%s", base, cmd);
    curl_free(esc);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 600L);
    if (strcmp(cmd, "get") != 0 && strcmp(cmd, "list") != 0)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    int exit_code = 0;
    if (rc != CURLE_OK) {
        fprintf(stderr, "keel deployments: cannot reach %s: %s\n", base, curl_easy_strerror(rc));
        exit_code = 1;
    } else if (status != 200) {
        const struct jval *doc = jp_parse(a, answer.data ? answer.data : "", answer.len, NULL);
        const struct jval *msg = jv_get(doc, "message");
        fprintf(stderr, "keel deployments %s: %s\n", cmd,
                jv_is_string(msg) ? msg->u.s : (answer.data ? answer.data : "error"));
        exit_code = 1;
    } else {
        fwrite(answer.data ? answer.data : "", 1, answer.len, stdout);
        fputc('\n', stdout);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(curl);
    kbuf_free(&body);
    kbuf_free(&answer);
    karena_free(a);
    return exit_code;
}

static void predictions_usage(FILE *f)
{
    fprintf(f, "usage: keel predictions query [--deployment NAME] [--request-id ID]\n"
               "         [--model-version V] [--start-time MS] [--end-time MS]\n"
               "         [--max-results N] [--tracking-uri URI]\n"
               "Prints the matching records of the prediction log, one JSON object a line.\n");
}

int cli_predictions(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "query") != 0) {
        bool help = argc >= 2 && strcmp(argv[1], "--help") == 0;
        predictions_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    static const struct option longopts[] = {
        {"deployment", required_argument, NULL, 'd'},
        {"request-id", required_argument, NULL, 'r'},
        {"model-version", required_argument, NULL, 'v'},
        {"start-time", required_argument, NULL, 's'},
        {"end-time", required_argument, NULL, 'e'},
        {"max-results", required_argument, NULL, 'n'},
        {"tracking-uri", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *keys[] = {"deployment", "request_id", "model_version", "start_time",
                          "end_time", "max_results"};
    const char *vals[6] = {0};
    const char *tracking = NULL;
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        const char *which = strchr("drvsen", ch);
        if (ch == 't')
            tracking = optarg;
        else if (which && ch)
            vals[which - "drvsen"] = optarg;
        else {
            predictions_usage(stderr);
            return 2;
        }
    }
    const char *base = cli_tracking_uri(tracking);
    if (!base)
        base = "http://127.0.0.1:5000";
    struct karena *a = karena_new(1u << 20);
    CURL *curl = curl_easy_init();
    if (!a || !curl)
        return 1;
    struct kbuf url, answer;
    kbuf_init(&url, 1u << 16);
    kbuf_init(&answer, 512u << 20);
    kbuf_printf(&url, "%s/api/2.0/keel/predictions?", base);
    for (int i = 0; i < 6; i++) {
        if (!vals[i])
            continue;
        char *esc = curl_easy_escape(curl, vals[i], 0);
        kbuf_printf(&url, "%s=%s&", keys[i], esc ? esc : "");
        curl_free(esc);
    }
    kbuf_addc(&url, '\0');
    curl_easy_setopt(curl, CURLOPT_URL, url.data);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    int exit_code = 0;
    const struct jval *doc =
        rc == CURLE_OK ? jp_parse(a, answer.data ? answer.data : "", answer.len, NULL) : NULL;
    if (rc != CURLE_OK) {
        fprintf(stderr, "keel predictions: cannot reach %s: %s\n", base, curl_easy_strerror(rc));
        exit_code = 1;
    } else if (status != 200 || !jv_is_array(jv_get(doc, "predictions"))) {
        const struct jval *msg = jv_get(doc, "message");
        fprintf(stderr, "keel predictions query: %s\n",
                jv_is_string(msg) ? msg->u.s : "unexpected answer");
        exit_code = 1;
    } else {
        const struct jval *list = jv_get(doc, "predictions");
        struct kbuf line;
        kbuf_init(&line, 512u << 20);
        for (size_t i = 0; i < list->n; i++) {
            struct jw w;
            kbuf_reset(&line);
            jw_init(&w, &line);
            jw_json(&w, &list->u.items[i]);
            fwrite(line.data, 1, line.len, stdout);
            fputc('\n', stdout);
        }
        kbuf_free(&line);
    }
    curl_easy_cleanup(curl);
    kbuf_free(&url);
    kbuf_free(&answer);
    karena_free(a);
    return exit_code;
}
