/*
 * fuzz_auth.c -- Authorization headers (auth/authn.c) on a real store with a
 * user and one issued token. Any header may be sent; a bearer header signs
 * in only as exactly the issued token (or the server's own credential), and
 * then as its user. Basic headers go through the parsing that names who a
 * refused attempt claimed to be (auth_claimed_user), which must give UTF-8
 * text or nothing; their password check is left out (scrypt makes each one
 * take tens of milliseconds, and it sees only the decoded password).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/auth.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/fs.h"
#include "util/jparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/keel-fuzz-auth-XXXXXX";
static struct store *st;
static struct auth *auth;
static char token_header[128];
static int64_t user_id;

static void teardown(void)
{
    auth_close(auth);
    store_close(st);
    keel_rmtree(dir);
}

static void setup(void)
{
    if (!mkdtemp(dir))
        abort();
    atexit(teardown);
    char db[128];
    snprintf(db, sizeof db, "%s/keel.db", dir);
    struct karena *a = karena_new(1u << 20);
    struct keel_ctx ctx = {.arena = a};
    struct store_config sc = {.path = db, .default_artifact_root = "mlflow-artifacts:/",
                              .readers = 1};
    struct keel_user u;
    const char *text = NULL;
    struct keel_token t;
    if (!a || store_open(&st, &sc, &ctx) != KEEL_OK ||
        store_user_create(st, &ctx, "alice", "scrypt$15$8$1$not$real", false, &u) != KEEL_OK ||
        auth_open(&auth, st, AUTH_READ, &ctx) != KEEL_OK ||
        auth_token_issue(auth, &ctx, u.id, "fuzz", 0, &text, &t) != KEEL_OK)
        abort();
    user_id = u.id;
    snprintf(token_header, sizeof token_header, "Bearer %s", text);
    karena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!st)
        setup();
    if (size > 8192)
        return 0;
    char *header = malloc(size + 1);
    memcpy(header, data, size);
    header[size] = '\0'; /* headers are text up to their first NUL, as MHD gives them */
    struct karena *a = karena_new(1u << 20);
    struct keel_ctx ctx = {.arena = a};
    const char *who = auth_claimed_user(&ctx, header);
    if (who && !jp_utf8_valid(who, strlen(who)))
        abort();
    if (strncasecmp(header, "Basic ", 6) != 0) {
        struct keel_principal p;
        int retry = 0;
        enum auth_outcome o = auth_authenticate(auth, &ctx, header, &p, &retry);
        if (o == AUTH_OK) {
            bool self = strcmp(header + 7, auth_self_credential(auth) + 7) == 0;
            bool token = strcmp(header + 7, token_header + 7) == 0;
            if (!(self && p.is_admin) && !(token && p.user_id == user_id && !p.is_admin))
                abort(); /* signed in with something that was never issued */
        }
    }
    karena_free(a);
    free(header);
    return 0;
}
