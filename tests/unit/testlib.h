/*
 * testlib.h -- what the cmocka unit tests share: the arena each test
 * allocates from (made by setup, freed by teardown, so a test that fails
 * half-way leaks nothing) and where ../shared/fixtures is.
 *
 * Include it once per test file, after <cmocka.h>, with TEST_ARENA_CEILING
 * defined when the default 64 MiB is not enough.
 */
#ifndef KEEL_TESTLIB_H
#define KEEL_TESTLIB_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"

#ifndef TEST_ARENA_CEILING
#define TEST_ARENA_CEILING (64u << 20)
#endif

/* The current test's arena. */
static struct karena *arena;

static int setup(void **state)
{
    (void)state;
    arena = karena_new(TEST_ARENA_CEILING);
    return arena ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    karena_free(arena);
    arena = NULL;
    return 0;
}

/* $KEEL_FIXTURES, else <repo>/../shared/fixtures, the repository found from
 * this header's path (tests/unit/: two directories below the root; when the
 * compiler was given a relative path, relative to the directory the test
 * runs in, which for make is the root). */
static inline const char *fixtures(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("KEEL_FIXTURES");
    if (env && *env)
        return env;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s", __FILE__);
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            else
                snprintf(dir, sizeof dir, ".");
        }
        size_t n = strlen(dir);
        snprintf(dir + n, sizeof dir - n, "/../shared/fixtures");
    }
    return dir;
}

#endif
