/*
 * history.c -- `keel models history`: which version an alias or stage of a
 * registered model named at a moment, and every move it made, as the
 * server's audit log recorded them (GET /api/2.0/keel/models/history).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "client/rest.h"
#include "util/arena.h"
#include "util/buf.h"

static void history_usage(FILE *f)
{
    fprintf(f, "usage: keel models history -n NAME [--alias A | --stage S] [--at TIME]\n"
               "  -n, --name NAME     the registered model (earlier names are followed)\n"
               "  --alias A           the moves of alias A\n"
               "  --stage S           the transitions into and out of stage S\n"
               "  --at TIME           also say what it named then: milliseconds since the\n"
               "                      epoch, or UTC as 2026-03-03 or 2026-03-03T14:05:00Z\n"
               "  --tracking-uri URI  the server (KEEL_TRACKING_URI, MLFLOW_TRACKING_URI,\n"
               "                      else http://127.0.0.1:5000)\n");
}

/* TIME -> ms since the epoch; -1 when it is neither form. */
static long long parse_time(const char *text)
{
    char *end = NULL;
    long long ms = strtoll(text, &end, 10);
    if (*text && !*end)
        return ms >= 0 ? ms : -1;
    struct tm tm = {0};
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) {
        tm = (struct tm){0};
        rest = strptime(text, "%Y-%m-%d", &tm);
    }
    if (!rest || (*rest && strcmp(rest, "Z") != 0))
        return -1;
    time_t t = timegm(&tm);
    return t < 0 ? -1 : (long long)t * 1000;
}

int cli_models_history(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'},  {"alias", required_argument, NULL, 'a'},
        {"stage", required_argument, NULL, 's'}, {"at", required_argument, NULL, 't'},
        {"tracking-uri", required_argument, NULL, 'u'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL, *alias = NULL, *stage = NULL, *tracking = NULL, *at = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n': name = optarg; break;
        case 'a': alias = optarg; break;
        case 's': stage = optarg; break;
        case 't': at = optarg; break;
        case 'u': tracking = optarg; break;
        case 'h': history_usage(stdout); return 0;
        default: history_usage(stderr); return 2;
        }
    }
    long long at_ms = at ? parse_time(at) : 0;
    if (!name || (alias && stage) || at_ms < 0) {
        if (at_ms < 0)
            fprintf(stderr, "keel models history: invalid --at '%s'\n", at);
        history_usage(stderr);
        return 2;
    }
    struct karena *a = karena_new(1u << 20);
    if (!a)
        return 1;
    struct kbuf path;
    kbuf_init(&path, 1u << 16);
    kbuf_printf(&path, "/api/2.0/keel/models/history?name=%s", rest_url_encode(a, name, false));
    if (alias)
        kbuf_printf(&path, "&alias=%s", rest_url_encode(a, alias, false));
    if (stage)
        kbuf_printf(&path, "&stage=%s", rest_url_encode(a, stage, false));
    if (at)
        kbuf_printf(&path, "&at=%lld", at_ms);
    int rc = path.data ? cli_call_and_print("keel models history", tracking, "GET", path.data,
                                            NULL, NULL)
                       : 1;
    kbuf_free(&path);
    karena_free(a);
    return rc;
}
