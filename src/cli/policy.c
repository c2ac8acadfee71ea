/*
 * policy.c -- `keel policy`: the guard table of api/policy.c as JSON lines,
 * one endpoint a line, so whoever reviews keel's access rules reads the rules
 * the server enforces rather than a description of them (and the API tests
 * walk the same lines).
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "cli/cli.h"
#include "util/buf.h"
#include "util/json.h"

int cli_policy(int argc, char **argv)
{
    if (argc > 1) {
        FILE *f = strcmp(argv[1], "--help") == 0 ? stdout : stderr;
        fprintf(f, "usage: keel policy\n"
                   "  prints, one JSON object a line, each endpoint's method, path and the\n"
                   "  checks keel server --auth makes: on what resource (taken from which\n"
                   "  argument) which permission is needed. Admins pass every check.\n");
        return f == stdout ? 0 : 2;
    }
    struct kbuf b;
    kbuf_init(&b, 1 << 16);
    for (const struct api_guard *g = api_guards; g->method; g++) {
        struct jw w;
        kbuf_reset(&b);
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kstr(&w, "method", g->method);
        jw_kstr(&w, "path", g->path);
        jw_key(&w, "checks");
        jw_arr(&w);
        for (size_t i = 0; i < sizeof g->check / sizeof *g->check; i++) {
            const struct api_check *k = &g->check[i];
            if (k->kind == G_NONE)
                continue;
            jw_obj(&w);
            jw_kstr(&w, "resource", api_guard_kind_name(k->kind));
            jw_kstr(&w, "permission", auth_level_name((enum auth_level)k->need));
            jw_kstr_opt(&w, "argument", k->arg);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
        jw_obj_end(&w);
        if (w.err != KEEL_OK || fwrite(b.data, 1, b.len, stdout) != b.len || putchar('\n') == EOF)
            break;
    }
    kbuf_free(&b);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
