/*
 * testlib.h -- what the cmocka unit tests share: the arena each test
 * allocates from (made by setup, freed by teardown, so a test that fails
 * half-way leaks nothing), where ../shared/fixtures is, whole files read
 * into the arena, and scratch directories made and removed.
 *
 * Include it once per test file, after <cmocka.h>, with TEST_ARENA_CEILING
 * defined when the default 64 MiB is not enough. A file with fixtures of
 * its own need not use setup/teardown and the arena.
 */
#ifndef KEEL_TESTLIB_H
#define KEEL_TESTLIB_H

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"

#ifndef TEST_ARENA_CEILING
#define TEST_ARENA_CEILING (64u << 20)
#endif

/* The current test's arena. */
static struct karena *arena __attribute__((unused));

static inline int setup(void **state)
{
    (void)state;
    arena = karena_new(TEST_ARENA_CEILING);
    return arena ? 0 : -1;
}

static inline int teardown(void **state)
{
    (void)state;
    karena_free(arena);
    arena = NULL;
    return 0;
}

/* A whole file, NUL-terminated, from the current test's arena; *len (may
 * be NULL) gets its size. Fails the test when the file cannot be read. */
static inline char *test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (fixtures: set KEEL_FIXTURES)", path);
    char *buf = NULL;
    size_t n = 0;
    for (size_t cap = 1 << 16;; cap *= 2) {
        buf = karena_realloc(arena, buf, n, cap + 1);
        assert_non_null(buf);
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
    }
    assert_int_equal(ferror(f), 0);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* A new empty directory /tmp/keel-<what>-XXXXXX, its path into dir (n
 * bytes); NULL when it cannot be made. Removed with test_rmtree(). */
static inline char *test_tempdir(char *dir, size_t n, const char *what)
{
    snprintf(dir, n, "/tmp/keel-%s-XXXXXX", what);
    return mkdtemp(dir);
}

static inline int test_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it; 0 when done. */
static inline int test_rmtree(const char *dir)
{
    return nftw(dir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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
