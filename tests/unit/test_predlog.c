/*
 * test_predlog.c -- the prediction log's segments (deploy/predlog.c): with
 * more partitions written than it keeps descriptors for, each partition
 * still goes on in one segment file (parked ones are reopened for
 * appending), no record is lost, and what was written reads back.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/seal.h"
#include "deploy/predlog.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/time.h"
#include "testlib.h"

/* write(), with the n-th write to a file (not the test's own output)
 * failing with ENOSPC while fail_write_at >= 0 */
static atomic_long fail_write_at = -1, file_writes = 0;

ssize_t write(int fd, const void *buf, size_t n)
{
    if (fd > 2 && atomic_load(&fail_write_at) >= 0 &&
        atomic_fetch_add(&file_writes, 1) == atomic_load(&fail_write_at)) {
        errno = ENOSPC;
        return -1;
    }
    return ((ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write"))(fd, buf, n);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void many_partitions(const struct keel_key *key)
{
    struct keel_ctx ctx = {.arena = arena};
    char dir[256];
    assert_non_null(test_tempdir(dir, sizeof dir, "predlog"));
    struct predlog *l = NULL;
    struct predlog_config cfg = {.dir = dir, .key = key};
    assert_int_equal(predlog_open(&l, &cfg, &ctx), KEEL_OK);
    enum { DEPLOYMENTS = 150, ROUNDS = 4 };
    int64_t now = keel_now_ms();
    for (int round = 0; round < ROUNDS; round++)
        for (int d = 0; d < DEPLOYMENTS; d++) {
            char name[32], json[96];
            snprintf(name, sizeof name, "dep%03d", d);
            int n = snprintf(json, sizeof json,
                             "{\"request_id\":\"r%d-%d\",\"timestamp_ms\":%lld}", d, round,
                             (long long)now);
            /* required: each waits for its write, so every round is several
             * of the writer's passes over more partitions than descriptors */
            assert_int_equal(predlog_append(l, name, now, json, (size_t)n, true, &ctx), KEEL_OK);
        }
    struct predlog_stats st;
    predlog_get_stats(l, &st);
    assert_int_equal(st.written, DEPLOYMENTS * ROUNDS);
    assert_int_equal(st.dropped, 0);
    char date[16];
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    for (int d = 0; d < DEPLOYMENTS; d++) {
        char part[512];
        snprintf(part, sizeof part, "%s/deployment=dep%03d/date=%s", dir, d, date);
        if (count_files(part) != 1)
            fail_msg("%s holds %d segments", part, count_files(part));
    }
    /* every record reads back, from its partition */
    struct predlog_filter f = {.deployment = "dep149", .limit = 100};
    struct kbuf out;
    kbuf_init(&out, 1 << 20);
    size_t found = 0;
    assert_int_equal(predlog_query(l, &f, &out, &found, &ctx), KEEL_OK);
    assert_int_equal(found, ROUNDS);
    assert_non_null(strstr(out.data, "\"r149-3\""));
    kbuf_free(&out);
    predlog_close(l);
    test_rmtree(dir);
}

static void test_many_partitions_keep_one_segment_each(void **state)
{
    (void)state;
    many_partitions(NULL);
}

/* sealed segments too: a parked one goes on with its data key and record
 * numbers, and reads back whole */
static void test_sealed_segments_are_parked_and_reopened(void **state)
{
    (void)state;
    struct keel_ctx ctx = {.arena = arena};
    struct keel_key key;
    assert_int_equal(keel_key_load(&ctx, NULL,
                                   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                                   &key),
                     KEEL_OK);
    many_partitions(&key);
}

/* One partition's records written in several members, a later member
 * failing: the records of the members before it are on disk and counted
 * written, the rest dropped; the counts add up to what was sent and agree
 * with what reads back. */
static void test_a_group_failing_part_way_counts_what_was_written(void **state)
{
    (void)state;
    struct keel_ctx ctx = {.arena = arena};
    char dir[256];
    assert_non_null(test_tempdir(dir, sizeof dir, "predlog"));
    struct predlog *l = NULL;
    struct predlog_config cfg = {.dir = dir};
    assert_int_equal(predlog_open(&l, &cfg, &ctx), KEEL_OK);
    enum { RECORDS = 1400, PAD = 8000 };
    static char json[PAD + 128];
    int64_t now = keel_now_ms();
    atomic_store(&file_writes, 0);
    atomic_store(&fail_write_at, 1); /* the first member goes, the second does not */
    for (int i = 0; i < RECORDS; i++) {
        int n = snprintf(json, sizeof json, "{\"request_id\":\"r%d\",\"timestamp_ms\":%lld,\"pad\":\"%0*d\"}",
                         i, (long long)now, PAD, 0);
        assert_int_equal(predlog_append(l, "big", now, json, (size_t)n, false, &ctx), KEEL_OK);
    }
    struct predlog_stats st = {0};
    for (int waited = 0; waited < 2000 && st.written + st.dropped < RECORDS; waited++) {
        predlog_get_stats(l, &st);
        usleep(5000);
    }
    assert_int_equal(st.written + st.dropped, RECORDS);
    atomic_store(&fail_write_at, -1);
    predlog_close(l);
    assert_int_equal(predlog_open(&l, &cfg, &ctx), KEEL_OK);
    struct predlog_filter f = {.deployment = "big", .limit = RECORDS};
    struct kbuf out;
    kbuf_init(&out, 64u << 20);
    size_t found = 0;
    assert_int_equal(predlog_query(l, &f, &out, &found, &ctx), KEEL_OK);
    kbuf_free(&out);
    predlog_close(l);
    assert_true(st.written > 0 && st.dropped > 0);
    assert_int_equal(found, st.written);
    test_rmtree(dir);
}

/* Newest first: across dates and segments (rolled every few records), the
 * newest records in exactly descending order, and oldest first the oldest
 * ascending; both stop at the limit. */
static void test_newest_first_across_dates_and_segments(void **state)
{
    (void)state;
    struct keel_ctx ctx = {.arena = arena};
    char dir[256];
    assert_non_null(test_tempdir(dir, sizeof dir, "predlog"));
    struct predlog *l = NULL;
    struct predlog_config cfg = {.dir = dir, .segment_bytes = 150};
    assert_int_equal(predlog_open(&l, &cfg, &ctx), KEEL_OK);
    enum { N = 30 };
    int64_t day = 86400000, start = (keel_now_ms() / day - 2) * day;
    for (int i = 0; i < N; i++) {
        int64_t ts = start + (int64_t)i * (day / 10); /* three dates */
        char json[96];
        int n = snprintf(json, sizeof json, "{\"request_id\":\"r%02d\",\"timestamp_ms\":%lld}", i,
                         (long long)ts);
        assert_int_equal(predlog_append(l, "d", ts, json, (size_t)n, true, &ctx), KEEL_OK);
    }
    for (int desc = 0; desc <= 1; desc++) {
        struct predlog_filter f = {.deployment = "d", .limit = 7, .newest_first = desc};
        struct kbuf out;
        kbuf_init(&out, 1 << 20);
        size_t found = 0;
        assert_int_equal(predlog_query(l, &f, &out, &found, &ctx), KEEL_OK);
        assert_int_equal(found, 7);
        const char *p = out.data;
        for (int k = 0; k < 7; k++) {
            char id[16];
            snprintf(id, sizeof id, "\"r%02d\"", desc ? N - 1 - k : k);
            const char *at = strstr(p, id);
            if (!at)
                fail_msg("%s: %s missing or out of order in %s", desc ? "desc" : "asc", id,
                         out.data);
            p = at;
        }
        kbuf_free(&out);
    }
    /* newest first keeps a segment's matches before answering: never more
     * than the answer has room for */
    struct predlog_filter all = {.deployment = "d", .limit = N, .newest_first = true};
    struct kbuf small;
    kbuf_init(&small, 200);
    size_t found = 0;
    assert_int_equal(predlog_query(l, &all, &small, &found, &ctx), KEEL_E_TOO_LARGE);
    kbuf_free(&small);
    predlog_close(l);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_many_partitions_keep_one_segment_each, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sealed_segments_are_parked_and_reopened, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_group_failing_part_way_counts_what_was_written,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_newest_first_across_dates_and_segments, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
