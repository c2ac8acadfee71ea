/*
 * audit.c -- `keel audit list|verify`: the audit log read straight from the
 * store file, so it can be checked where it lies (a copy, a backup, a
 * stopped server) without trusting a running server's answers.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/hex.h"

#define LIST_PAGE 1000
#define PAGE_ARENA (64u << 20) /* 1,000 records of at most 8 KiB, and slack */

static void audit_usage(FILE *f)
{
    fprintf(f, "usage: keel audit list|verify [options]\n"
               "  list     the records, one JSON object a line, from --start on\n"
               "  verify   checks every record's number, link and hash, and the head;\n"
               "           names the first bad record (exit 1) or prints the head to keep\n"
               "  --backend-store-uri URI   sqlite:///PATH (DATA_DIR/keel.db)\n"
               "  --data-dir DIR            keel's data directory (./keel-data)\n"
               "  --start N                 list: the first record (1)\n"
               "  --max N                   list: at most N records (all)\n");
}

static int list(struct store *st, int64_t start, int64_t max)
{
    for (int64_t done = 0; max < 0 || done < max;) {
        size_t want = max < 0 || max - done > LIST_PAGE ? LIST_PAGE : (size_t)(max - done);
        struct keel_ctx page = {.arena = karena_new(PAGE_ARENA)}; /* one page at a time */
        struct keel_audit_record *r = NULL;
        size_t n = 0;
        if (!page.arena || store_audit_list(st, &page, start, want, false, &r, &n) != KEEL_OK) {
            fprintf(stderr, "keel audit: %s\n", page.errmsg ? page.errmsg : "out of memory");
            karena_free(page.arena);
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            char h[65];
            keel_hex_encode(r[i].hash, 32, h);
            /* the record's own text, then its hash */
            size_t len = strlen(r[i].record);
            if (len && r[i].record[len - 1] == '}')
                printf("%.*s,\"hash\":\"%s\"}\n", (int)(len - 1), r[i].record, h);
        }
        int64_t next = n ? r[n - 1].seq + 1 : start;
        karena_free(page.arena);
        if (n < want)
            break;
        start = next;
        done += (int64_t)n;
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static int verify(struct store *st, struct keel_ctx *ctx)
{
    struct keel_audit_verdict v;
    if (store_audit_verify(st, ctx, &v) != KEEL_OK) {
        fprintf(stderr, "keel audit: %s\n", ctx->errmsg);
        return 1;
    }
    char h[65];
    keel_hex_encode(v.head, 32, h);
    if (!v.ok) {
        printf("record %lld is bad: %s\n", (long long)v.first_bad, v.reason);
        return 1;
    }
    printf("ok: %lld records, head %s\n", (long long)v.records, h);
    return 0;
}

int cli_audit(int argc, char **argv)
{
    enum { O_BACKEND = 256, O_DATA, O_START, O_MAX, O_HELP };
    static const struct option longopts[] = {
        {"backend-store-uri", required_argument, NULL, O_BACKEND},
        {"data-dir", required_argument, NULL, O_DATA},
        {"start", required_argument, NULL, O_START},
        {"max", required_argument, NULL, O_MAX},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "verify") != 0)) {
        bool help = argc >= 2 && strcmp(argv[1], "--help") == 0;
        audit_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    const char *backend = NULL, *data_dir = "./keel-data";
    long long start = 1, max = -1;
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case O_BACKEND: backend = optarg; break;
        case O_DATA: data_dir = optarg; break;
        case O_START:
        case O_MAX: {
            long long v = strtoll(optarg, &end, 10);
            if (!*optarg || *end || v < 1) {
                fprintf(stderr, "keel audit: invalid --%s '%s' (a number from 1)\n",
                        ch == O_START ? "start" : "max", optarg);
                return 2;
            }
            *(ch == O_START ? &start : &max) = v;
            break;
        }
        case O_HELP: audit_usage(stdout); return 0;
        default: audit_usage(stderr); return 2;
        }
    }
    struct karena *a = karena_new(64u << 20);
    struct keel_ctx ctx = {.arena = a};
    const char *db = a ? cli_store_path(a, backend, data_dir) : NULL;
    if (!db) {
        fprintf(stderr, "keel audit: unsupported --backend-store-uri '%s'\n",
                backend ? backend : "");
        karena_free(a);
        return 2;
    }
    struct store *st = NULL;
    struct store_config sc = {.path = db, .default_artifact_root = "mlflow-artifacts:/",
                              .readers = 1};
    int rc = 1;
    if (store_open(&st, &sc, &ctx) != KEEL_OK)
        fprintf(stderr, "keel audit: %s\n", ctx.errmsg ? ctx.errmsg : "cannot open the store");
    else
        rc = strcmp(argv[1], "list") == 0 ? list(st, start, max) : verify(st, &ctx);
    store_close(st);
    karena_free(a);
    return rc;
}
