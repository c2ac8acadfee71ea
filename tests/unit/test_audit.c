/*
 * test_audit.c -- the audit chain on a real SQLite store: a record goes in
 * with its change and only with it, refusals stand alone, and verification
 * names the first bad record for each kind of tampering -- an edited text,
 * a deleted record (in the middle and at the end), reordered records, a
 * record re-hashed by someone who cannot re-hash the rest, and a record
 * appended behind keel's back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "store/store.h"
#include "util/arena.h"
#include "testlib.h"

#define N_RECORDS 6

static char dir[64];

static struct store *open_store(const char *db, struct keel_ctx *ctx)
{
    struct store *st = NULL;
    struct store_config sc = {.path = db, .default_artifact_root = "mlflow-artifacts:/",
                              .readers = 1};
    assert_int_equal(store_open(&st, &sc, ctx), KEEL_OK);
    return st;
}

/* A store with N_RECORDS records: changes and refusals. Returns its path. */
static const char *make_chain(void)
{
    static char db[128];
    snprintf(dir, sizeof dir, "/tmp/keel-audit-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/keel.db", dir);
    struct keel_ctx ctx = {.arena = arena};
    struct store *st = open_store(db, &ctx);
    for (int i = 0; i < N_RECORDS; i++) {
        char fields[128];
        snprintf(fields, sizeof fields, "{\"principal\":\"u%d\",\"outcome\":\"ok\"}", i);
        struct keel_audit a = {.fields = karena_strdup(arena, fields)};
        ctx.audit = &a;
        if (i % 2 == 0) { /* a change, with its record */
            int64_t id = 0;
            char name[32];
            snprintf(name, sizeof name, "exp-%d", i);
            assert_int_equal(store_experiment_create(st, &ctx, name, NULL, NULL, 0, &id),
                             KEEL_OK);
        } else { /* a refusal: the record alone */
            assert_int_equal(store_audit_append(st, &ctx), KEEL_OK);
        }
        assert_true(a.stored);
    }
    ctx.audit = NULL;
    store_close(st);
    return db;
}

static void verdict(const char *db, struct keel_audit_verdict *v)
{
    struct keel_ctx ctx = {.arena = arena};
    struct store *st = open_store(db, &ctx);
    assert_int_equal(store_audit_verify(st, &ctx, v), KEEL_OK);
    store_close(st);
}

static void tamper(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
    sqlite3_close(h);
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void expect_bad(const char *sql, int64_t first_bad, const char *why)
{
    const char *db = make_chain();
    struct keel_audit_verdict v;
    verdict(db, &v);
    assert_true(v.ok);
    assert_int_equal(v.records, N_RECORDS);
    tamper(db, sql);
    verdict(db, &v);
    assert_false(v.ok);
    assert_int_equal(v.first_bad, first_bad);
    assert_non_null(strstr(v.reason, why));
    cleanup();
}

static void test_an_untouched_chain_verifies(void **state)
{
    (void)state;
    const char *db = make_chain();
    struct keel_audit_verdict v;
    verdict(db, &v);
    assert_true(v.ok);
    assert_int_equal(v.records, N_RECORDS);
    /* each record carries its number and time first, then the request's fields */
    struct keel_ctx ctx = {.arena = arena};
    struct store *st = open_store(db, &ctx);
    struct keel_audit_record *r = NULL;
    size_t n = 0;
    assert_int_equal(store_audit_list(st, &ctx, 2, 2, false, &r, &n), KEEL_OK);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].seq, 2);
    assert_true(strncmp(r[0].record, "{\"seq\":2,\"time\":", 16) == 0);
    assert_non_null(strstr(r[0].record, "\"principal\":\"u1\""));
    assert_memory_equal(r[1].prev_hash, r[0].hash, 32);
    store_close(st);
    cleanup();
}

static void test_a_failed_change_leaves_no_record(void **state)
{
    (void)state;
    const char *db = make_chain();
    struct keel_ctx ctx = {.arena = arena};
    struct store *st = open_store(db, &ctx);
    struct keel_audit a = {.fields = "{\"principal\":\"x\"}"};
    ctx.audit = &a;
    int64_t id = 0;
    /* exp-0 exists: the create fails, and so no record is kept */
    assert_int_equal(store_experiment_create(st, &ctx, "exp-0", NULL, NULL, 0, &id),
                     KEEL_E_ALREADY_EXISTS);
    assert_false(a.stored);
    /* the chain continues from where it was */
    ctx.err = KEEL_OK;
    assert_int_equal(store_experiment_create(st, &ctx, "exp-new", NULL, NULL, 0, &id), KEEL_OK);
    assert_true(a.stored);
    /* a second write of the same request adds no second record */
    assert_int_equal(store_experiment_set_tag(st, &ctx, id, "k", "v"), KEEL_OK);
    ctx.audit = NULL;
    struct keel_audit_verdict v;
    assert_int_equal(store_audit_verify(st, &ctx, &v), KEEL_OK);
    assert_true(v.ok);
    assert_int_equal(v.records, N_RECORDS + 1);
    store_close(st);
    cleanup();
}

static void test_a_change_whose_record_cannot_be_made_is_undone(void **state)
{
    (void)state;
    const char *db = make_chain();
    struct keel_ctx ctx = {.arena = arena};
    struct store *st = open_store(db, &ctx);
    struct keel_audit a = {.fields = "not an object"};
    ctx.audit = &a;
    int64_t id = 0;
    assert_int_not_equal(store_experiment_create(st, &ctx, "unrecorded", NULL, NULL, 0, &id),
                         KEEL_OK);
    ctx.audit = NULL;
    ctx.err = KEEL_OK;
    struct keel_experiment e;
    assert_int_equal(store_experiment_get_by_name(st, &ctx, "unrecorded", &e), KEEL_E_NOT_FOUND);
    struct keel_audit_verdict v;
    assert_int_equal(store_audit_verify(st, &ctx, &v), KEEL_OK);
    assert_true(v.ok);
    assert_int_equal(v.records, N_RECORDS);
    store_close(st);
    cleanup();
}

static void test_an_edited_record_is_named(void **state)
{
    (void)state;
    expect_bad("UPDATE audit_log SET record = replace(record, 'u3', 'zz') WHERE seq = 4", 4,
               "changed");
}

static void test_a_deleted_record_is_named(void **state)
{
    (void)state;
    expect_bad("DELETE FROM audit_log WHERE seq = 3", 3, "missing");
}

static void test_reordered_records_are_named(void **state)
{
    (void)state;
    /* the rows of 2 and 3 trade places, hashes and all */
    expect_bad("UPDATE audit_log SET seq = -2 WHERE seq = 2;"
               "UPDATE audit_log SET seq = 2 WHERE seq = 3;"
               "UPDATE audit_log SET seq = 3 WHERE seq = -2;",
               2, "number");
}

static void test_a_deleted_last_record_is_named(void **state)
{
    (void)state;
    expect_bad("DELETE FROM audit_log WHERE seq = 6", 6, "ends before the recorded head");
}

static void chain_hash(const unsigned char prev[32], const char *text, unsigned char out[32])
{
    unsigned int n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_true(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
                EVP_DigestUpdate(md, prev, 32) == 1 &&
                EVP_DigestUpdate(md, text, strlen(text)) == 1 &&
                EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32);
    EVP_MD_CTX_free(md);
}

/* Writes record `seq` as `text` with a correct hash over its stored
 * predecessor's: what someone with the database but not the rest of the
 * chain in hand can do. */
static void forge(const char *db, int64_t seq, const char *text, bool insert)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL;
    unsigned char prev[32], hash[32];
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT hash FROM audit_log WHERE seq = ?", -1, &s,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(s, 1, seq - 1);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    memcpy(prev, sqlite3_column_blob(s, 0), 32);
    sqlite3_finalize(s);
    chain_hash(prev, text, hash);
    const char *sql = insert ? "INSERT INTO audit_log(record, hash, prev_hash, seq) "
                               "VALUES (?1, ?2, ?3, ?4)"
                             : "UPDATE audit_log SET record = ?1, hash = ?2 WHERE seq = ?4";
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, prev, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, seq);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(h);
}

static void test_a_record_appended_behind_keels_back_is_named(void **state)
{
    (void)state;
    const char *db = make_chain();
    forge(db, N_RECORDS + 1, "{\"seq\":7,\"time\":1,\"principal\":\"nobody\"}", true);
    struct keel_audit_verdict v;
    verdict(db, &v);
    assert_false(v.ok);
    assert_int_equal(v.first_bad, N_RECORDS + 1);
    assert_non_null(strstr(v.reason, "past the recorded head"));
    cleanup();
}

/* Someone who edits record 2 and re-hashes it cannot re-hash what follows
 * without changing it too: record 3 no longer links. */
static void test_a_rehashed_record_breaks_the_next_link(void **state)
{
    (void)state;
    const char *db = make_chain();
    forge(db, 2, "{\"seq\":2,\"time\":1,\"principal\":\"nobody\"}", false);
    struct keel_audit_verdict v;
    verdict(db, &v);
    assert_false(v.ok);
    assert_int_equal(v.first_bad, 3);
    assert_non_null(strstr(v.reason, "link"));
    cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_an_untouched_chain_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_change_leaves_no_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_change_whose_record_cannot_be_made_is_undone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_edited_record_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_deleted_record_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reordered_records_are_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_deleted_last_record_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_record_appended_behind_keels_back_is_named, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_rehashed_record_breaks_the_next_link, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
