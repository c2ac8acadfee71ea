/*
 * test_http.c -- the HTTP layer's own parsing (http/server.c): which
 * Accept-Encoding values admit a gzip'd answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "http/http.h"
#include "testlib.h"

static void test_accept_encoding(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "gzip", "gzip, deflate", "deflate, gzip", "gzip;q=1", "gzip;q=1.0", "gzip; q=0.8",
        "deflate, gzip;q=1.0, *;q=0.5", "GZIP", "br, *", "*;q=0.1", "identity, gzip ;q=0.5",
    };
    static const char *const no[] = {
        "", "identity", "deflate", "gzip;q=0", "gzip;q=0.0", "gzip; q=0.000", "*;q=0",
        "gzip;q=0, *", "xgzip", "gzipx", "br, deflate", "gzip;q=abc",
    };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!http_accepts_gzip(yes[i]))
            fail_msg("'%s' should admit gzip", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (http_accepts_gzip(no[i]))
            fail_msg("'%s' should not admit gzip", no[i]);
    assert_false(http_accepts_gzip(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
