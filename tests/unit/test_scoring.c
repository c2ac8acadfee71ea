/*
 * test_scoring.c -- serve/scoring.c's answers when the response cannot hold
 * them: predictions past the response body's ceiling are refused with a
 * whole 413 document, never sent as a 200 with a truncated (or, worse, a
 * valid but shortened) list; at the ceiling they are answered whole.
 *
 * The fixtures are ../shared/fixtures beside the repository (KEEL_FIXTURES
 * overrides); see their README.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"
#include "model/model.h"
#include "serve/scoring.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/jparse.h"

#include "testlib.h"

/* POST /invocations of `rows` CSV rows to fixture model `name`, answered
 * into a response whose body may hold `ceiling` bytes. The caller frees
 * resp->body. */
static void invoke(const char *name, size_t rows, size_t ceiling, struct http_response *resp)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models/%s", fixtures(), name);
    struct keel_ctx ctx = {.arena = arena};
    struct keel_model *m = NULL;
    if (keel_model_load(dir, &m, &ctx) != KEEL_OK)
        fail_msg("load %s: %s", dir, ctx.errmsg ? ctx.errmsg : "");
    /* the signature's columns, then rows of small values that differ */
    const struct keel_signature *sig = keel_model_signature(m);
    assert_true(sig->has_inputs);
    struct kbuf body;
    kbuf_init(&body, 1u << 20);
    for (size_t c = 0; c < sig->n_inputs; c++)
        kbuf_printf(&body, "%s\"%s\"", c ? "," : "", sig->inputs[c].name);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < sig->n_inputs; c++)
            kbuf_printf(&body, "%s%.3f", c ? "," : "\n",
                        (double)((r * 7 + c * 3) % 50) / 10.0 - 2.0);
    kbuf_addc(&body, '\n');
    assert_int_equal(kbuf_failed(&body), KEEL_OK);
    struct http_request req = {.method = "POST", .path = "/invocations",
                               .content_type = "text/csv", .body = body.data,
                               .body_len = body.len};
    struct scoring_target t = {.model = m, .name = name, .version = "",
                               .mlflow_version = "2.12.1", .limits = {.max_rows = 100000}};
    memset(resp, 0, sizeof *resp);
    resp->fd = -1;
    kbuf_init(&resp->body, ceiling);
    assert_true(scoring_handle(&t, "/invocations", &ctx, &req, resp));
    kbuf_free(&body);
    keel_model_unref(m);
}

/* Every ceiling below the whole answer's size gets a whole 413 document;
 * the whole size gets the same 200 bytes as a roomy ceiling. Predictions of
 * a regressor are several digits long, so a value that does not fit leaves
 * room for the closing "]}" after it: the case a check of the last append
 * alone lets through as a 200 with a value missing. */
static void check_ceilings(const char *name)
{
    struct http_response resp;
    invoke(name, 50, 1u << 20, &resp);
    assert_int_equal(resp.status, 200);
    const struct jval *doc = jp_parse(arena, resp.body.data, resp.body.len, NULL);
    const struct jval *preds = jv_get(doc, "predictions");
    assert_true(jv_is_array(preds));
    assert_int_equal(preds->n, 50);
    size_t whole = resp.body.len;
    char *want = karena_strndup(arena, resp.body.data, whole);
    kbuf_free(&resp.body);
    for (size_t ceiling = whole - 40; ceiling < whole; ceiling++) {
        invoke(name, 50, ceiling, &resp);
        if (resp.status != 413)
            fail_msg("%s: ceiling %zu of %zu: status %d, body %s", name, ceiling, whole,
                     resp.status, resp.body.data ? resp.body.data : "");
        doc = jp_parse(arena, resp.body.data, resp.body.len, NULL);
        assert_non_null(doc); /* a whole JSON document, not a cut one */
        assert_string_equal(jv_str(jv_get(doc, "error_code")), "INVALID_PARAMETER_VALUE");
        assert_non_null(strstr(jv_str(jv_get(doc, "message")), "response size limit"));
        kbuf_free(&resp.body);
    }
    invoke(name, 50, whole, &resp);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, whole);
    assert_memory_equal(resp.body.data, want, whole);
    kbuf_free(&resp.body);
}

static void test_predictions_past_the_ceiling_are_refused_not_cut(void **state)
{
    (void)state;
    check_ceilings("xgb-regressor-diabetes");
    check_ceilings("xgb-classifier-iris");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_predictions_past_the_ceiling_are_refused_not_cut,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
