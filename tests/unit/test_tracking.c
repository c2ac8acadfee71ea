/*
 * test_tracking.c -- the tracking client (client/tracking.h) and the REST
 * client under it (client/rest.h) against a real `keel server`, started once
 * for the group on a free port with a scratch data directory: runs land in
 * the experiment named (created once, reused after, also by jobs starting at
 * the same moment), everything queued arrives -- read back through the REST
 * API -- even past MLflow's per-request limits, too-long values are refused
 * before anything is sent, and failures carry the right code and message.
 *
 * The server is $KEEL_BIN, else build/keel from the directory the test runs
 * in (make runs it from the repository's root); without one the tests that
 * need it are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#include "client/rest.h"
#include "client/tracking.h"
#include "util/arena.h"
#include "util/jparse.h"

#define START_TIMEOUT_MS 30000 /* an ASan build of the server starts slowly */
#define STOP_TIMEOUT_MS 10000

/* The server the group shares. */
static struct {
    pid_t pid;
    char dir[64];  /* its --data-dir, removed at the end */
    char url[64];  /* http://127.0.0.1:<port> */
    const char *skip_why; /* set when there is no server to test against */
} srv;

/* ---- the server ---- */

/* A port nothing listens on right now: the kernel's pick for port 0. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &n) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void dump_server_log(void)
{
    char path[128], line[512];
    snprintf(path, sizeof path, "%s/server.stderr", srv.dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        fprintf(stderr, "  server: %s", line);
    if (f)
        fclose(f);
}

/* GET /health answers 200 (rest_call with no answer wanted: it is not JSON). */
static bool healthy(void)
{
    struct karena *a = karena_new(1 << 20);
    struct keel_ctx ctx = {.arena = a};
    struct rest_client *c = NULL;
    bool ok = a && rest_open(srv.url, a, &c, &ctx) == KEEL_OK &&
              rest_call(c, "GET", "/health", NULL, NULL, &ctx) == KEEL_OK;
    rest_close(c);
    karena_free(a);
    return ok;
}

static void stop_server(void)
{
    if (srv.pid <= 0)
        return;
    kill(srv.pid, SIGTERM);
    int status;
    for (int waited = 0; waitpid(srv.pid, &status, WNOHANG) == 0; waited += 50) {
        if (waited >= STOP_TIMEOUT_MS) { /* a hung server must not hang the test */
            kill(srv.pid, SIGKILL);
            waitpid(srv.pid, &status, 0);
            break;
        }
        sleep_ms(50);
    }
    srv.pid = 0;
}

static int server_start(void **state)
{
    (void)state;
    const char *bin = getenv("KEEL_BIN");
    if (!bin || !*bin)
        bin = "build/keel";
    if (access(bin, X_OK) != 0) {
        srv.skip_why = "no keel binary: run `make build/keel` or set KEEL_BIN";
        return 0;
    }
    int port = free_port();
    if (port <= 0 || !test_tempdir(srv.dir, sizeof srv.dir, "tracking"))
        return -1;
    snprintf(srv.url, sizeof srv.url, "http://127.0.0.1:%d", port);
    char port_s[16], out[128], err[128];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(out, sizeof out, "%s/server.stdout", srv.dir);
    snprintf(err, sizeof err, "%s/server.stderr", srv.dir);
    fflush(NULL);
    srv.pid = fork();
    if (srv.pid < 0)
        return -1;
    if (srv.pid == 0) { /* the server: its output to files, so cmocka's stays readable */
        /* a test that crashes must not leave its server running */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() == 1)
            _exit(125);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || in < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        execl(bin, bin, "server", "--host", "127.0.0.1", "--port", port_s, "--data-dir",
              srv.dir, (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; !healthy(); waited += 100) {
        int status;
        if (waitpid(srv.pid, &status, WNOHANG) == srv.pid) {
            fprintf(stderr, "keel server exited during startup (status %d)\n", status);
            dump_server_log();
            srv.pid = 0;
            return -1;
        }
        if (waited >= START_TIMEOUT_MS) {
            fprintf(stderr, "keel server did not answer /health on %s\n", srv.url);
            dump_server_log();
            stop_server();
            return -1;
        }
        sleep_ms(100);
    }
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    stop_server();
    if (srv.dir[0] && test_rmtree(srv.dir) != 0)
        fprintf(stderr, "could not remove %s\n", srv.dir);
    return 0;
}

#define NEED_SERVER()                                                                          \
    do {                                                                                       \
        if (srv.skip_why) {                                                                    \
            print_message("skipped: %s\n", srv.skip_why);                                      \
            skip();                                                                            \
        }                                                                                      \
    } while (0)

/* ---- reading back through the REST API ---- */

/* GET <REST_API><path> into the test's arena; fails the test on error. */
static const struct jval *api_get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const struct jval *api_get(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *rest = karena_vsprintf(arena, fmt, ap);
    va_end(ap);
    char *path = karena_sprintf(arena, "%s%s", REST_API, rest);
    struct keel_ctx ctx = {.arena = arena};
    struct rest_client *c = NULL;
    const struct jval *v = NULL;
    assert_int_equal(rest_open(srv.url, arena, &c, &ctx), KEEL_OK);
    enum keel_err e = rest_call(c, "GET", path, NULL, &v, &ctx);
    rest_close(c);
    if (e)
        fail_msg("GET %s: %s", path, ctx.errmsg);
    return v;
}

static const struct jval *get_run(const char *run_id)
{
    return jv_get(api_get("/runs/get?run_id=%s", run_id), "run");
}

/* The value of key in a run's params or tags list, NULL when absent. */
static const char *kv(const struct jval *run, const char *list, const char *key)
{
    const struct jval *l = jv_get(jv_get(run, "data"), list);
    for (size_t i = 0; i < jv_len(l); i++)
        if (strcmp(jv_str(jv_get(jv_at(l, i), "key")), key) == 0)
            return jv_str(jv_get(jv_at(l, i), "value"));
    return NULL;
}

static const char *run_status(const char *run_id)
{
    return jv_str(jv_get(jv_get(get_run(run_id), "info"), "status"));
}

static void assert_has(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("'%s' lacks '%s'", text ? text : "(no message)", needle);
}

/* ---- the tests ---- */

static void test_url_encode(void **state)
{
    (void)state;
    assert_string_equal(rest_url_encode(arena, "a-b_c.d~e", false), "a-b_c.d~e");
    assert_string_equal(rest_url_encode(arena, "my exp/1&x=é", false),
                        "my%20exp%2F1%26x%3D%C3%A9");
    assert_string_equal(rest_url_encode(arena, "dir/sub file", true), "dir/sub%20file");
    assert_string_equal(rest_url_encode(arena, "", false), "");
}

static void test_not_a_tracking_uri(void **state)
{
    (void)state;
    struct keel_ctx ctx = {.arena = arena};
    struct tracking_run *r = (struct tracking_run *)&ctx; /* must come back NULL */
    assert_int_equal(tracking_run_start("sqlite:///mlflow.db", "e", NULL, &r, &ctx),
                     KEEL_E_INVALID_PARAMETER);
    assert_null(r);
    assert_has(ctx.errmsg, "sqlite:///mlflow.db");
    assert_int_equal(tracking_run_end(NULL, 1, &ctx), KEEL_OK);
}

static void test_unreachable_server_is_named(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/prefix", free_port()); /* nothing there */
    struct keel_ctx ctx = {.arena = arena};
    struct tracking_run *r = NULL;
    assert_int_equal(tracking_run_start(url, "e", NULL, &r, &ctx), KEEL_E_IO);
    assert_null(r);
    assert_has(ctx.errmsg, "Cannot reach the tracking server at");
    assert_has(ctx.errmsg, url);
}

static void test_everything_queued_arrives(void **state)
{
    (void)state;
    NEED_SERVER();
    struct keel_ctx ctx = {.arena = arena};
    struct tracking_run *r = NULL;
    assert_int_equal(tracking_run_start(srv.url, "tracking test", "job-1", &r, &ctx), KEEL_OK);
    /* 150 params and 120 tags: past the 100 of each one request takes */
    char key[32], value[32];
    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof key, "p%d", i);
        snprintf(value, sizeof value, "v%d", i);
        assert_int_equal(tracking_log_param(r, key, value, &ctx), KEEL_OK);
        /* the same param again with its value (MLflow refuses a key twice in one request) */
        if (i == 5)
            assert_int_equal(tracking_log_param(r, "p0", "v0", &ctx), KEEL_OK);
    }
    for (int i = 0; i < 120; i++) {
        snprintf(key, sizeof key, "t%d", i);
        assert_int_equal(tracking_set_tag(r, key, "x", &ctx), KEEL_OK);
        if (i == 5) /* set twice: the later value wins */
            assert_int_equal(tracking_set_tag(r, "t0", "last", &ctx), KEEL_OK);
    }
    /* 1100 metric keys and 1500 steps of one: 2600 metrics, past the 1000 of a request */
    for (int i = 0; i < 1100; i++) {
        snprintf(key, sizeof key, "m%d", i);
        assert_int_equal(tracking_log_metric(r, key, i * 0.5, 0, &ctx), KEEL_OK);
    }
    for (int step = 0; step < 1500; step++)
        assert_int_equal(tracking_log_metric(r, "loss", 1.0 / (step + 1), step, &ctx), KEEL_OK);
    /* values at MLflow's limits, counted in characters as MLflow counts them */
    char *long_param = calloc(1, 2 * 6000 + 1), *long_tag = calloc(1, 4000 + 1);
    assert_non_null(long_param);
    assert_non_null(long_tag);
    for (int i = 0; i < 6000; i++)
        memcpy(long_param + 2 * i, "\xc3\xa9", 2); /* é: 2 bytes, 1 character */
    memset(long_tag, 'y', 4000);
    assert_int_equal(tracking_log_param(r, "long", long_param, &ctx), KEEL_OK);
    assert_int_equal(tracking_set_tag(r, "long", long_tag, &ctx), KEEL_OK);
    assert_int_equal(tracking_run_flush(r, &ctx), KEEL_OK);
    assert_int_equal(tracking_run_flush(r, &ctx), KEEL_OK); /* nothing left: no request */
    assert_int_equal(tracking_log_metric(r, "after_flush", 7, 3, &ctx), KEEL_OK);

    char *run_id = karena_strdup(arena, tracking_run_id(r));
    char *exp_id = karena_strdup(arena, tracking_experiment_id(r));
    assert_int_equal(tracking_run_end(r, 1, &ctx), KEEL_OK);

    const struct jval *exp = jv_get(api_get("/experiments/get-by-name?experiment_name=%s",
                                            "tracking%20test"),
                                    "experiment");
    assert_string_equal(jv_str(jv_get(exp, "experiment_id")), exp_id);
    const struct jval *run = get_run(run_id);
    const struct jval *info = jv_get(run, "info");
    assert_string_equal(jv_str(jv_get(info, "status")), "FINISHED");
    assert_string_equal(jv_str(jv_get(info, "experiment_id")), exp_id);
    assert_string_equal(jv_str(jv_get(info, "run_name")), "job-1");
    int64_t start = jv_int(jv_get(info, "start_time")), end = jv_int(jv_get(info, "end_time"));
    if (start <= 0 || end < start)
        fail_msg("start_time %lld, end_time %lld", (long long)start, (long long)end);
    assert_string_equal(kv(run, "tags", "mlflow.source.name"), "keel");
    assert_string_equal(kv(run, "tags", "mlflow.source.type"), "JOB");
    assert_string_equal(kv(run, "tags", "mlflow.runName"), "job-1");
    assert_string_equal(kv(run, "tags", "t0"), "last");
    assert_string_equal(kv(run, "tags", "t119"), "x");
    assert_string_equal(kv(run, "tags", "long"), long_tag);
    assert_int_equal(jv_len(jv_get(jv_get(run, "data"), "params")), 151);
    assert_string_equal(kv(run, "params", "p149"), "v149");
    assert_string_equal(kv(run, "params", "long"), long_param);
    const struct jval *metrics = jv_get(jv_get(run, "data"), "metrics");
    assert_int_equal(jv_len(metrics), 1100 + 2);
    for (size_t i = 0; i < jv_len(metrics); i++) {
        const struct jval *m = jv_at(metrics, i);
        if (strcmp(jv_str(jv_get(m, "key")), "m1099") == 0)
            assert_true(jv_number(jv_get(m, "value")) == 549.5);
    }
    const struct jval *loss =
        jv_get(api_get("/metrics/get-history?run_id=%s&metric_key=loss", run_id), "metrics");
    assert_int_equal(jv_len(loss), 1500);
    free(long_param);
    free(long_tag);
}

static void test_the_experiment_is_reused(void **state)
{
    (void)state;
    NEED_SERVER();
    struct keel_ctx ctx = {.arena = arena};
    struct tracking_run *a = NULL, *b = NULL;
    assert_int_equal(tracking_run_start(srv.url, "reused", NULL, &a, &ctx), KEEL_OK);
    assert_int_equal(tracking_run_start(srv.url, "reused", NULL, &b, &ctx), KEEL_OK);
    assert_string_equal(tracking_experiment_id(a), tracking_experiment_id(b));
    assert_string_not_equal(tracking_run_id(a), tracking_run_id(b));
    char *failed = karena_strdup(arena, tracking_run_id(b));
    assert_int_equal(tracking_run_end(a, 1, &ctx), KEEL_OK);
    assert_int_equal(tracking_run_end(b, 0, &ctx), KEEL_OK);
    assert_string_equal(run_status(failed), "FAILED");
    assert_non_null(jv_get(jv_get(get_run(failed), "info"), "end_time"));
}

#define RACERS 6

struct racer {
    pthread_t thread;
    struct karena *arena;
    enum keel_err err;
    const char *errmsg;
    char exp_id[64];
};

static void *race(void *arg)
{
    struct racer *x = arg;
    struct keel_ctx ctx = {.arena = x->arena};
    struct tracking_run *r = NULL;
    x->err = tracking_run_start(srv.url, "started at once", NULL, &r, &ctx);
    if (!x->err)
        snprintf(x->exp_id, sizeof x->exp_id, "%s", tracking_experiment_id(r));
    if (!x->err)
        x->err = tracking_run_end(r, 1, &ctx);
    x->errmsg = ctx.errmsg;
    return NULL;
}

/* Jobs that start together on a new experiment all end up in one. */
static void test_concurrent_starts_share_the_experiment(void **state)
{
    (void)state;
    NEED_SERVER();
    struct racer x[RACERS] = {0};
    for (int i = 0; i < RACERS; i++) {
        assert_non_null(x[i].arena = karena_new(1 << 20));
        assert_int_equal(pthread_create(&x[i].thread, NULL, race, &x[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(x[i].thread, NULL);
    for (int i = 0; i < RACERS; i++) {
        if (x[i].err)
            fail_msg("racer %d: %s", i, x[i].errmsg);
        assert_string_equal(x[i].exp_id, x[0].exp_id);
        karena_free(x[i].arena);
    }
}

static void test_too_long_values_are_refused_when_queued(void **state)
{
    (void)state;
    NEED_SERVER();
    struct keel_ctx ctx = {.arena = arena};
    struct tracking_run *r = NULL;
    assert_int_equal(tracking_run_start(srv.url, "limits", NULL, &r, &ctx), KEEL_OK);
    char *s = calloc(1, 8002);
    assert_non_null(s);
    memset(s, 'z', 6001);
    assert_int_equal(tracking_log_param(r, "p", s, &ctx), KEEL_E_INVALID_PARAMETER);
    assert_has(ctx.errmsg, "Param value 'zzz");
    assert_has(ctx.errmsg, "had length 6001, which exceeded length limit of 6000");
    memset(s, 'z', 8001);
    assert_int_equal(tracking_set_tag(r, "t", s, &ctx), KEEL_E_INVALID_PARAMETER);
    assert_has(ctx.errmsg, "length limit of 8000");
    s[251] = '\0';
    assert_int_equal(tracking_log_metric(r, s, 1, 0, &ctx), KEEL_E_INVALID_PARAMETER);
    assert_has(ctx.errmsg, "Metric name 'zzz");
    assert_int_equal(tracking_log_param(r, "", "v", &ctx), KEEL_E_INVALID_PARAMETER);
    assert_int_equal(tracking_set_tag(r, "bad", "\xff\xfe", &ctx), KEEL_E_INVALID_PARAMETER);
    assert_has(ctx.errmsg, "UTF-8");
    free(s);
    assert_int_equal(tracking_log_param(r, "kept", "1", &ctx), KEEL_OK);
    char *run_id = karena_strdup(arena, tracking_run_id(r));
    assert_int_equal(tracking_run_end(r, 1, &ctx), KEEL_OK);
    const struct jval *run = get_run(run_id);
    assert_int_equal(jv_len(jv_get(jv_get(run, "data"), "params")), 1); /* only "kept" */
    assert_null(kv(run, "tags", "t"));
    assert_null(kv(run, "tags", "bad"));
}

/* The server's refusals come back with its code and message, and the run is
 * still ended. */
static void test_server_errors_are_mapped(void **state)
{
    (void)state;
    NEED_SERVER();
    struct keel_ctx ctx = {.arena = arena};
    struct tracking_run *r = NULL;
    assert_int_equal(tracking_run_start(srv.url, "errors", NULL, &r, &ctx), KEEL_OK);
    assert_int_equal(tracking_log_param(r, "lr", "0.1", &ctx), KEEL_OK);
    assert_int_equal(tracking_run_flush(r, &ctx), KEEL_OK);
    assert_int_equal(tracking_log_param(r, "lr", "0.2", &ctx), KEEL_OK); /* changing a param */
    assert_int_equal(tracking_log_metric(r, "later", 1, 0, &ctx), KEEL_OK);
    assert_int_equal(tracking_run_flush(r, &ctx), KEEL_E_INVALID_PARAMETER);
    assert_has(ctx.errmsg, "lr");
    char *run_id = karena_strdup(arena, tracking_run_id(r));
    ctx.errmsg = NULL;
    /* the refused batch is still queued: end reports it, and ends the run */
    assert_int_equal(tracking_run_end(r, 0, &ctx), KEEL_E_INVALID_PARAMETER);
    assert_has(ctx.errmsg, "lr");
    assert_string_equal(run_status(run_id), "FAILED");
    assert_string_equal(kv(get_run(run_id), "params", "lr"), "0.1");

    struct rest_client *c = NULL;
    const struct jval *v = NULL;
    assert_int_equal(rest_open(karena_sprintf(arena, "%s//", srv.url), arena, &c, &ctx), KEEL_OK);
    assert_string_equal(rest_base(c), srv.url);
    assert_int_equal(rest_call(c, "GET", REST_API "/runs/get?run_id=0123456789abcdef0123456789abcdef", NULL, &v,
                               &ctx),
                     KEEL_E_NOT_FOUND);
    assert_has(ctx.errmsg, "0123456789abcdef0123456789abcdef");
    assert_int_equal(rest_call(c, "POST", REST_API "/experiments/create", "{\"name\": \"errors\"}",
                               &v, &ctx),
                     KEEL_E_ALREADY_EXISTS);
    assert_has(ctx.errmsg, "errors");
    assert_int_equal(rest_call(c, "POST", REST_API "/experiments/create", "{}", &v, &ctx),
                     KEEL_E_INVALID_PARAMETER);
    assert_int_equal(rest_call(c, "GET", "/health", NULL, &v, &ctx), KEEL_E_IO); /* not JSON */
    assert_has(ctx.errmsg, "not JSON");
    rest_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_url_encode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_tracking_uri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_server_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_everything_queued_arrives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_experiment_is_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_starts_share_the_experiment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_long_values_are_refused_when_queued, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_errors_are_mapped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
