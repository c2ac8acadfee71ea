/*
 * audit_sql.c -- the audit log: one record per change made through the API
 * and per refused attempt, chained by SHA-256 so that editing, deleting or
 * reordering a record shows.
 *
 * Design note -- the chain and the writer:
 *  1. A record is appended by the store's writer, inside the transaction
 *     of the write it describes and after that write, so the transaction
 *     already holds the database's write lock: the head (audit_head) it
 *     reads is the committed one, even with another process (keel gc)
 *     appending to the same store. The chain's order is the commit order.
 *     Within one group-commit transaction the end of the chain is carried
 *     in memory (struct audit_tail) and audit_head written once, before
 *     the commit: one head read and one head write per transaction, not
 *     per record.
 *  2. A record is appended inside the savepoint of the write it describes.
 *     If appending fails, the savepoint rolls back the change too; if the
 *     change is rolled back, so is its record.
 *  3. record = {"seq": n, "time": ms, <the request's fields>};
 *     hash(n) = SHA-256(hash(n-1) || record), hash(0) = 32 zero bytes.
 *     Numbers have no gaps; audit_head = (last n, hash(n)).
 *  4. Verification recomputes every hash from the stored text, checks each
 *     link and number, and compares the end of the chain with audit_head.
 *     Whoever can rewrite the database can also rewrite the whole chain:
 *     keep the head printed by `keel audit verify` elsewhere to anchor it.
 */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "store/migrations.h"
#include "store/sqlite_int.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/time.h"

static bool chain_hash(const unsigned char prev[32], const char *record, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(md, prev, 32) == 1 &&
              EVP_DigestUpdate(md, record, strlen(record)) == 1 &&
              EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    return ok;
}

enum keel_err sql_audit_head(struct dbconn *c, struct keel_ctx *ctx, int64_t *seq,
                             unsigned char hash[32])
{
    *seq = 0;
    memset(hash, 0, 32);
    sqlite3_stmt *s = db_stmt(c, ctx, "SELECT seq, hash FROM audit_head WHERE id = 1");
    if (!s)
        return ctx->err;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 1) == 32) {
        *seq = sqlite3_column_int64(s, 0);
        memcpy(hash, sqlite3_column_blob(s, 1), 32);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "audit head");
}

enum keel_err sql_audit_append(struct dbconn *c, struct keel_ctx *ctx, struct audit_tail *tail)
{
    const char *fields = ctx->audit->fields;
    if (!fields || fields[0] != '{')
        return keel_fail(ctx, KEEL_E_INTERNAL, "malformed audit record");
    /* the change came first, so the transaction holds the write lock: the
     * head read now is the committed one, whoever else appends (keel gc) */
    if (!tail->loaded) {
        enum keel_err e = sql_audit_head(c, ctx, &tail->seq, tail->hash);
        if (e)
            return e;
        tail->loaded = true;
    }
    int64_t next = tail->seq + 1;
    /* {"seq":n,"time":t, then the fields past their "{" -- put together by
     * hand: this runs on the writer thread, which every change waits for */
    char lead[64];
    int n = snprintf(lead, sizeof lead, "{\"seq\":%lld,\"time\":%lld%s", (long long)next,
                     (long long)keel_now_ms(), fields[1] == '}' ? "" : ",");
    size_t rest = strlen(fields + 1);
    char *record = karena_alloc(ctx->arena, (size_t)n + rest + 1);
    unsigned char h[32];
    if (!record)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    memcpy(record, lead, (size_t)n);
    memcpy(record + n, fields + 1, rest + 1);
    if (!chain_hash(tail->hash, record, h))
        return keel_fail(ctx, KEEL_E_INTERNAL, "cannot hash the audit record");
    sqlite3_stmt *s = db_stmt(c, ctx, "INSERT INTO audit_log(seq, record, prev_hash, hash, action) "
                                      "VALUES (?, ?, ?, ?, ?)");
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, next);
    db_bind_text(s, 2, record);
    sqlite3_bind_blob(s, 3, tail->hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 4, h, 32, SQLITE_TRANSIENT);
    db_bind_text(s, 5, ctx->audit->action); /* NULL binds NULL */
    if (sqlite3_step(s) != SQLITE_DONE)
        return db_fail(c, ctx, "audit record");
    tail->seq = next;
    memcpy(tail->hash, h, 32);
    tail->dirty = true;
    return KEEL_OK;
}

enum keel_err sql_audit_tail_write(struct dbconn *c, struct keel_ctx *ctx,
                                   const struct audit_tail *tail)
{
    sqlite3_stmt *s =
        db_stmt(c, ctx, "INSERT OR REPLACE INTO audit_head(id, seq, hash) VALUES (1, ?, ?)");
    if (!s)
        return ctx->err;
    sqlite3_bind_int64(s, 1, tail->seq);
    sqlite3_bind_blob(s, 2, tail->hash, 32, SQLITE_TRANSIENT);
    return sqlite3_step(s) == SQLITE_DONE ? KEEL_OK : db_fail(c, ctx, "audit head");
}

static enum keel_err op_nothing(struct dbconn *c, struct keel_ctx *ctx, void *arg)
{
    (void)c, (void)ctx, (void)arg;
    return KEEL_OK; /* the writer appends ctx->audit after this "change" */
}

enum keel_err store_audit_append(struct store *st, struct keel_ctx *ctx)
{
    if (!ctx->audit || ctx->audit->stored)
        return KEEL_OK;
    return store_write(st, ctx, op_nothing, NULL);
}

static enum keel_err record_row(struct keel_ctx *ctx, sqlite3_stmt *s,
                                struct keel_audit_record *r)
{
    r->seq = sqlite3_column_int64(s, 0);
    r->record = db_text(ctx, s, 1);
    memset(r->prev_hash, 0, 32);
    memset(r->hash, 0, 32);
    /* a damaged blob reads as zeros, which no real hash is: verify says so */
    if (sqlite3_column_bytes(s, 2) == 32)
        memcpy(r->prev_hash, sqlite3_column_blob(s, 2), 32);
    if (sqlite3_column_bytes(s, 3) == 32)
        memcpy(r->hash, sqlite3_column_blob(s, 3), 32);
    return r->record ? KEEL_OK : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
}

enum keel_err store_audit_list(struct store *st, struct keel_ctx *ctx, int64_t from, size_t max,
                               bool newest_first, struct keel_audit_record **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    sqlite3_stmt *s = db_stmt(c, ctx,
                              newest_first ? "SELECT seq, record, prev_hash, hash FROM audit_log "
                                             "WHERE seq <= ? ORDER BY seq DESC LIMIT ?"
                                           : "SELECT seq, record, prev_hash, hash FROM audit_log "
                                             "WHERE seq >= ? ORDER BY seq LIMIT ?");
    int rc = SQLITE_DONE;
    if (!s) {
        e = ctx->err;
    } else {
        sqlite3_bind_int64(s, 1, from);
        sqlite3_bind_int64(s, 2, (int64_t)max);
    }
    while (!e && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (!(*out = db_grow(ctx, *out, *n, &cap, sizeof **out))) {
            e = keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
            break;
        }
        e = record_row(ctx, s, &(*out)[(*n)++]);
    }
    if (!e && rc != SQLITE_DONE)
        e = db_fail(c, ctx, "audit list");
    store_reader_put(st, c);
    return e;
}

/* The number a record's text says it has ("seq" comes first), or -1. */
static int64_t seq_in_text(const char *record)
{
    long long v = -1;
    int used = 0;
    if (sscanf(record, "{\"seq\":%lld,%n", &v, &used) != 1 || !used)
        return -1;
    return v;
}

static void bad(struct keel_audit_verdict *v, struct keel_ctx *ctx, int64_t seq,
                const char *reason)
{
    v->ok = false;
    v->first_bad = seq;
    v->reason = karena_strdup(ctx->arena, reason);
}

enum keel_err store_audit_verify(struct store *st, struct keel_ctx *ctx,
                                 struct keel_audit_verdict *v)
{
    *v = (struct keel_audit_verdict){.ok = true};
    struct dbconn *c = store_reader(st);
    int64_t head_seq = 0;
    unsigned char head[32], prev[32] = {0};
    enum keel_err e = sql_audit_head(c, ctx, &head_seq, head);
    sqlite3_stmt *s = e ? NULL : db_prepare(c, ctx, "SELECT seq, record, prev_hash, hash "
                                                    "FROM audit_log ORDER BY seq");
    if (!e && !s)
        e = ctx->err;
    int64_t expect = 1;
    int rc = SQLITE_DONE;
    /* the chain may be long: nothing is kept but the previous hash */
    while (!e && v->ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0);
        const char *record = (const char *)sqlite3_column_text(s, 1);
        unsigned char stored_prev[32] = {0}, stored[32] = {0}, computed[32];
        if (sqlite3_column_bytes(s, 2) == 32)
            memcpy(stored_prev, sqlite3_column_blob(s, 2), 32);
        if (sqlite3_column_bytes(s, 3) == 32)
            memcpy(stored, sqlite3_column_blob(s, 3), 32);
        if (seq != expect)
            bad(v, ctx, expect, seq > expect ? "missing: the numbers jump past it"
                                             : "numbered out of order");
        else if (!record || seq_in_text(record) != seq)
            bad(v, ctx, seq, "its text does not carry its number");
        else if (CRYPTO_memcmp(stored_prev, prev, 32) != 0)
            bad(v, ctx, seq, "it does not link to the record before it");
        else if (!chain_hash(prev, record, computed) || CRYPTO_memcmp(computed, stored, 32))
            bad(v, ctx, seq, "its text was changed after it was written");
        memcpy(prev, stored, 32);
        expect++;
        v->records++;
    }
    if (!e && v->ok && rc != SQLITE_DONE)
        e = db_fail(c, ctx, "audit verify");
    if (s)
        sqlite3_finalize(s);
    store_reader_put(st, c);
    if (e)
        return e;
    int64_t last = expect - 1;
    if (v->ok && head_seq > last)
        bad(v, ctx, last + 1, "missing: the log ends before the recorded head");
    else if (v->ok && head_seq < last)
        bad(v, ctx, head_seq + 1, "not written by keel: it lies past the recorded head");
    else if (v->ok && CRYPTO_memcmp(head, prev, 32) != 0)
        bad(v, ctx, last, "the recorded head does not match the last record");
    memcpy(v->head, prev, 32);
    return KEEL_OK;
}

/* ---- the registry's history, read from the chain ---- */

/* One row per successful change of an alias, a stage, a version's or a
 * model's existence or name; the method and endpoint say which. */
static const struct {
    const char *method, *suffix;
    enum registry_event_kind kind;
} registry_actions[] = {
    {"POST", "/mlflow/registered-models/alias", REG_ALIAS_SET},
    {"DELETE", "/mlflow/registered-models/alias", REG_ALIAS_DELETE},
    {"POST", "/mlflow/model-versions/transition-stage", REG_TRANSITION},
    {"DELETE", "/mlflow/model-versions/delete", REG_VERSION_DELETE},
    {"POST", "/mlflow/registered-models/rename", REG_RENAME},
    {"DELETE", "/mlflow/registered-models/delete", REG_MODEL_DELETE},
    {"POST", "/mlflow/registered-models/create", REG_MODEL_CREATE},
};

static bool registry_kind(const char *action, enum registry_event_kind *kind)
{
    for (size_t i = 0; action && i < sizeof registry_actions / sizeof *registry_actions; i++) {
        size_t m = strlen(registry_actions[i].method), n = strlen(action),
               k = strlen(registry_actions[i].suffix);
        if (strncmp(action, registry_actions[i].method, m) == 0 && action[m] == ' ' &&
            n >= k && strcmp(action + n - k, registry_actions[i].suffix) == 0) {
            *kind = registry_actions[i].kind;
            return true;
        }
    }
    return false;
}

enum keel_err store_registry_events(struct store *st, struct keel_ctx *ctx,
                                    struct keel_registry_event **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    struct dbconn *c = store_reader(st);
    enum keel_err e = KEEL_OK;
    /* the registry's records only, by their index (migration 9): not a pass
     * over every record of the log */
    sqlite3_stmt *s = db_stmt(
        c, ctx,
        "SELECT seq, json_extract(record, '$.time'), json_extract(record, '$.principal'), "
        "json_extract(record, '$.action'), json_extract(record, '$.request.name'), "
        "json_extract(record, '$.request.new_name'), json_extract(record, '$.request.alias'), "
        "json_extract(record, '$.request.stage'), json_extract(record, '$.request.version'), "
        "json_extract(record, '$.request.archive_existing_versions') "
        "FROM audit_log INDEXED BY audit_log_registry WHERE " AUDIT_REGISTRY_ACTIONS " "
        "AND json_valid(record) AND json_extract(record, '$.outcome') = 'ok' ORDER BY seq");
    int rc = SQLITE_DONE;
    if (!s)
        e = ctx->err;
    while (!e && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        enum registry_event_kind kind;
        if (!registry_kind((const char *)sqlite3_column_text(s, 3), &kind))
            continue;
        if (!(*out = db_grow(ctx, *out, *n, &cap, sizeof **out))) {
            e = keel_fail(ctx, KEEL_E_TOO_LARGE, "result too large");
            break;
        }
        const unsigned char *archive = sqlite3_column_text(s, 9);
        (*out)[(*n)++] = (struct keel_registry_event){
            .seq = sqlite3_column_int64(s, 0),
            .time = sqlite3_column_int64(s, 1),
            .principal = db_text(ctx, s, 2),
            .kind = kind,
            .name = db_text(ctx, s, 4),
            .new_name = db_text(ctx, s, 5),
            .alias = db_text(ctx, s, 6),
            .stage = db_text(ctx, s, 7),
            .version = sqlite3_column_int64(s, 8),
            /* JSON true reads as 1; MLflow also takes the text "true" */
            .archive_existing = archive && (strcmp((const char *)archive, "1") == 0 ||
                                            strcasecmp((const char *)archive, "true") == 0),
        };
    }
    if (!e && rc != SQLITE_DONE)
        e = db_fail(c, ctx, "registry history");
    store_reader_put(st, c);
    return e;
}
