/*
 * predlog.c -- the prediction log's writer, segments and reader.
 *
 * Design note. One writer thread. Request threads put records on `queue`
 * (bounded by queue_max for best-effort records; required ones are always
 * accepted, their requests being the backpressure) and, when required, wait
 * on `done_cv` until the writer marks them done. Best-effort records wait
 * up to LINGER_MS (or until LINGER_RECORDS are queued) so that the writer
 * wakes, compresses and writes once for many of them; a required record
 * ends the wait at once. The writer takes the whole queue at once, groups it by partition (deployment, UTC date), appends each
 * group to the partition's open segment as one gzip member, fsyncs when the
 * group holds a required record, then marks every record done and wakes the
 * waiters. Invariants: a required record is reported done only after the
 * fsync of the bytes that hold it; a segment only ever grows by whole gzip
 * members (a failed write is truncated back), so every segment is a valid
 * gzip file of whole JSON lines at all times. With a key, each member is
 * sealed as one record of the segment (crypto/seal.h), which keeps the same
 * property: a segment is whole sealed records, one per member.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <isa-l/igzip_lib.h>
#include <zlib.h>

#include <openssl/crypto.h>

#include "crypto/seal.h"
#include "deploy/predlog.h"
#include "util/arena.h"
#include "util/fs.h"
#include "util/jparse.h"
#include "util/time.h"

#define OPEN_SEGMENTS 64   /* descriptors the log holds at most */
#define KNOWN_SEGMENTS 256 /* segments it goes on appending to (the others parked) */
#define MAX_RECORD (64u << 20)
#define RETENTION_CHECK_MS 60000
#define LINGER_MS 50
#define LINGER_RECORDS 1024
#define MEMBER_INPUT (4u << 20)

#define DEPLOYMENT_MAX 128
#define SPOOL_MAX (256u << 20) /* bytes of best-effort records waiting */

/* A record the writer handles: a required one (allocated by its request,
 * which waits on `done`), or a view of a spooled best-effort one. */
struct rec {
    int64_t ts;
    char *json;
    size_t len;
    bool required, done;
    enum keel_err err;
    struct rec *next;
    char deployment[DEPLOYMENT_MAX];
};

/* Best-effort records back to back, each a struct spooled, the deployment
 * name and its NUL, the JSON; 8-byte aligned. */
struct spooled {
    uint32_t len, dep_len;
    int64_t ts;
};

struct spool {
    char *buf;
    size_t len, cap;
};

static size_t spooled_size(const struct spooled *h)
{
    return (sizeof *h + h->dep_len + 1 + h->len + 7) & ~(size_t)7;
}

/* A partition's current segment: open (fd >= 0), or parked -- synced and
 * closed to keep descriptors few, reopened for appending when its
 * partition is written again -- or, without `live`, a free slot. */
struct segment {
    bool live;
    char key[160];      /* "<deployment>/<date>" */
    char path[4096];
    int fd;
    uint64_t bytes;
    int64_t opened_ms, used_ms;
    unsigned char data_key[32];  /* with the log's key: its members sealed under this */
    uint64_t records;            /* sealed so far: the next record's number */
};

struct predlog {
    struct predlog_config cfg;
    char dir[4096];
    pthread_t writer;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    struct rec *head, *tail;   /* required records */
    struct spool spool, spare; /* best-effort ones; the writer swaps the two */
    size_t n_queued, n_required;
    bool stop;
    uint64_t seq;
    struct predlog_stats stats;
    struct segment seg[KNOWN_SEGMENTS];
    int n_open; /* segments with a descriptor: at most OPEN_SEGMENTS */
    int64_t last_retention;
    struct keel_key *key; /* seal segments under it; NULL: plain */
    unsigned char *sealbuf; /* a sealed member (the writer's) */
    size_t sealbuf_cap;
    struct isal_zstream *gz; /* the writer's compressor, with its buffers: */
    unsigned char *gz_level; /* igzip level 1's work area */
    char *in, *out;          /* a member's input (MEMBER_INPUT and one record
                                at most) and room for its output */
    size_t in_cap, out_cap;
};

static void date_of(int64_t ms, char out[11])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Done with the segment: synced, closed, forgotten (its file stays). */
static void segment_close(struct predlog *l, struct segment *s)
{
    if (s->fd >= 0) {
        fsync(s->fd); /* best-effort records too reach the disk before we forget the fd */
        close(s->fd);
        l->n_open--;
    }
    OPENSSL_cleanse(s, sizeof *s); /* the data key with the rest */
    s->fd = -1;
}

/* Synced and closed, but remembered: the next record of its partition is
 * appended to the same file. */
static void segment_park(struct predlog *l, struct segment *s)
{
    if (fsync(s->fd) != 0) { /* nothing more goes into a file after a failed fsync */
        segment_close(l, s);
        return;
    }
    close(s->fd);
    s->fd = -1;
    l->n_open--;
}

/* The least recently used segment, of the open ones or of all. */
static struct segment *least_used(struct predlog *l, bool open_only)
{
    struct segment *lru = NULL;
    for (int i = 0; i < KNOWN_SEGMENTS; i++) {
        struct segment *s = &l->seg[i];
        if ((open_only ? s->fd >= 0 : s->live) && (!lru || s->used_ms < lru->used_ms))
            lru = s;
    }
    return lru;
}

/* Room for one more descriptor: the least recently used open segment is
 * parked when OPEN_SEGMENTS are open. */
static void make_room(struct predlog *l)
{
    struct segment *lru = l->n_open >= OPEN_SEGMENTS ? least_used(l, true) : NULL;
    if (lru)
        segment_park(l, lru);
}

/* The segment for (deployment, date), rolled by size and age. */
static struct segment *segment_for(struct predlog *l, const char *deployment, const char *date,
                                   int64_t now)
{
    char key[160];
    snprintf(key, sizeof key, "%s/%s", deployment, date);
    struct segment *s = NULL;
    for (int i = 0; i < KNOWN_SEGMENTS && !s; i++)
        if (l->seg[i].live && strcmp(l->seg[i].key, key) == 0)
            s = &l->seg[i];
    if (s && s->bytes < l->cfg.segment_bytes &&
        now - s->opened_ms < (int64_t)l->cfg.segment_age_s * 1000) {
        if (s->fd < 0) { /* parked: appended to again */
            make_room(l);
            s->fd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC);
            if (s->fd < 0) { /* gone (retention, or removed by hand): a new one */
                segment_close(l, s);
                return segment_for(l, deployment, date, now);
            }
            l->n_open++;
        }
        s->used_ms = now;
        return s;
    }
    if (!s) { /* a free slot, else the least recently used segment's */
        for (int i = 0; i < KNOWN_SEGMENTS && !s; i++)
            if (!l->seg[i].live)
                s = &l->seg[i];
        if (!s)
            s = least_used(l, false);
    }
    segment_close(l, s); /* rolled, or evicted */
    make_room(l);
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/deployment=%s/date=%s", l->dir, deployment, date) >=
            (int)sizeof dir ||
        keel_mkdirs_durable(dir) != 0) /* the partition's name is durable too */
        return NULL;
    if (snprintf(s->path, sizeof s->path, "%s/part-%lld-%06llu.jsonl.gz%s", dir, (long long)now,
                 (unsigned long long)l->seq++, l->key ? ".sealed" : "") >= (int)sizeof s->path)
        return NULL;
    s->fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->fd < 0)
        return NULL;
    s->records = 0;
    if ((l->key && seal_records_start(s->fd, l->key, s->data_key, NULL) != KEEL_OK) ||
        !keel_fsync_dir(dir)) { /* a segment whose name may not survive holds no record */
        close(s->fd);
        unlink(s->path);
        s->fd = -1;
        return NULL;
    }
    l->n_open++;
    s->live = true;
    snprintf(s->key, sizeof s->key, "%s", key);
    s->bytes = l->key ? SEAL_HEADER : 0;
    s->opened_ms = s->used_ms = now;
    return s;
}

static bool reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    char *p = realloc(*buf, need);
    if (!p)
        return false;
    *buf = p;
    *cap = need;
    return true;
}

/* A member's compressed size at most: igzip falls back to stored blocks (5
 * bytes per 64 KiB) when compressing does not pay, plus the gzip frame. */
static size_t member_bound(size_t in_len)
{
    return in_len + in_len / 8 + 1024;
}

/* in[0..in_len) as one gzip member into out (room for member_bound); its
 * length, 0 when it did not fit. igzip level 1 (ISA-L): ordinary gzip that
 * every reader takes, at a fifteenth of libdeflate's level-1 time on these
 * records (docs/decisions/0012). */
static size_t gzip_member(struct predlog *l, const char *in, size_t in_len, unsigned char *out,
                          size_t cap)
{
    struct isal_zstream *z = l->gz;
    isal_deflate_init(z);
    z->gzip_flag = IGZIP_GZIP;
    z->level = 1;
    z->level_buf = l->gz_level;
    z->level_buf_size = ISAL_DEF_LVL1_DEFAULT;
    z->end_of_stream = 1;
    z->flush = NO_FLUSH;
    z->next_in = (uint8_t *)in;
    z->avail_in = (uint32_t)in_len;
    z->next_out = out;
    z->avail_out = (uint32_t)cap;
    if (isal_deflate(z) != COMP_OK || z->avail_in || z->internal_state.state != ZSTATE_END)
        return 0;
    return z->total_out;
}

/* Records recs[0..n) of one partition, each followed by a line end, as one
 * gzip member (compressing is most of what the writer spends on a record);
 * fsync'd when sync. */
static bool write_member(struct predlog *l, struct segment *s, struct rec **recs, size_t n,
                         bool sync)
{
    size_t in_len = 0;
    for (size_t i = 0; i < n; i++)
        in_len += recs[i]->len + 1;
    size_t cap = member_bound(in_len);
    /* the member's input and output buffers are the writer's, kept between
     * members: allocating a megabyte twice per member was a visible cost */
    bool ok = reserve(&l->in, &l->in_cap, in_len) && reserve(&l->out, &l->out_cap, cap);
    char *in = l->in;
    unsigned char *out = (unsigned char *)l->out;
    size_t len = 0;
    if (ok) {
        char *p = in;
        for (size_t i = 0; i < n; i++) {
            memcpy(p, recs[i]->json, recs[i]->len);
            p += recs[i]->len;
            *p++ = '\n';
        }
        len = gzip_member(l, in, in_len, out, cap);
        ok = len > 0;
    }
    if (ok && l->key) { /* the member, sealed as the segment's next record */
        ok = reserve((char **)&l->sealbuf, &l->sealbuf_cap, seal_record_size(len)) &&
             seal_record(s->data_key, s->records, out, len, l->sealbuf);
        out = l->sealbuf;
        len = seal_record_size(len);
    }
    off_t before = (off_t)s->bytes;
    size_t done = 0;
    while (ok && done < len) {
        ssize_t w = write(s->fd, out + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            ok = false;
        else
            done += (size_t)w;
    }
    bool sync_failed = ok && sync && fsync(s->fd) != 0;
    if (sync_failed)
        ok = false;
    if (!ok) {
        /* keep the segment whole: no half member. After a failed fsync the
         * kernel may already have dropped earlier unsynced pages and will
         * not say so twice: nothing more goes into this file */
        bool cut = ftruncate(s->fd, before) == 0;
        /* a sealed segment is left too: its next record would reuse this
         * one's number, a nonce, under the same key over other bytes */
        if (!cut || sync_failed || l->key)
            segment_close(l, s);
        return false;
    }
    s->bytes += len;
    s->records += l->key != NULL;
    return true;
}

/* A partition's records, in members of at most MEMBER_INPUT bytes, each
 * fsync'd when sync; how many of them, from the first, are written (the
 * rest failed). */
static size_t write_group(struct predlog *l, struct rec **recs, size_t n, bool sync, int64_t now)
{
    char date[11];
    date_of(recs[0]->ts, date);
    struct segment *s = segment_for(l, recs[0]->deployment, date, now);
    if (!s)
        return 0;
    size_t first = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += recs[i]->len + 1;
        if (bytes >= MEMBER_INPUT || i + 1 == n) {
            if (!write_member(l, s, recs + first, i + 1 - first, sync))
                return first;
            first = i + 1;
            bytes = 0;
        }
    }
    return n;
}

static void retention(struct predlog *l, int64_t now)
{
    if (!l->cfg.retention_days || now - l->last_retention < RETENTION_CHECK_MS)
        return;
    l->last_retention = now;
    char oldest[11];
    date_of(now - (int64_t)l->cfg.retention_days * 86400000LL, oldest);
    DIR *d = opendir(l->dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "deployment=", 11) != 0)
            continue;
        char sub[4096];
        if (snprintf(sub, sizeof sub, "%s/%s", l->dir, e->d_name) >= (int)sizeof sub)
            continue;
        DIR *dd = opendir(sub);
        struct dirent *p;
        while (dd && (p = readdir(dd)) != NULL) {
            if (strncmp(p->d_name, "date=", 5) != 0 || strcmp(p->d_name + 5, oldest) >= 0)
                continue;
            char part[4096 + 64];
            if (snprintf(part, sizeof part, "%s/%s", sub, p->d_name) >= (int)sizeof part)
                continue;
            for (int i = 0; i < KNOWN_SEGMENTS; i++)
                if (l->seg[i].live && strncmp(l->seg[i].path, part, strlen(part)) == 0)
                    segment_close(l, &l->seg[i]);
            keel_rmtree(part);
        }
        if (dd)
            closedir(dd);
    }
    if (d)
        closedir(d);
}

static size_t linger_records(const struct predlog *l)
{
    return l->cfg.queue_max / 2 < LINGER_RECORDS ? l->cfg.queue_max / 2 + 1 : LINGER_RECORDS;
}

static void *writer_main(void *arg)
{
    struct predlog *l = arg;
    pthread_setname_np(pthread_self(), "keel-predlog");
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->head && !l->spool.len && !l->stop)
            pthread_cond_wait(&l->work_cv, &l->mu);
        if (!l->head && !l->spool.len && l->stop)
            break;
        if (!l->n_required) { /* best-effort only: gather more before writing */
            struct timespec until = keel_deadline_after_us(LINGER_MS * 1000);
            while (!l->stop && !l->n_required && l->n_queued < linger_records(l) &&
                   pthread_cond_timedwait(&l->work_cv, &l->mu, &until) != ETIMEDOUT) {
            }
        }
        struct rec *batch = l->head;
        l->head = l->tail = NULL;
        l->n_queued = l->n_required = 0;
        struct spool spooled = l->spool; /* the filled one is the writer's now */
        l->spool = l->spare;
        l->spool.len = 0;
        pthread_mutex_unlock(&l->mu);

        /* every record as a struct rec (views of the spooled ones), then
         * grouped by partition, keeping arrival order inside each group */
        size_t n = 0, n_spooled = 0;
        for (struct rec *r = batch; r; r = r->next)
            n++;
        for (size_t at = 0; at < spooled.len; n_spooled++)
            at += spooled_size((const struct spooled *)(spooled.buf + at));
        n += n_spooled;
        struct rec **all = malloc((n ? n : 1) * sizeof *all);
        bool *taken = calloc(n ? n : 1, sizeof *taken);
        struct rec *views = malloc((n_spooled ? n_spooled : 1) * sizeof *views);
        size_t k = 0;
        for (struct rec *r = batch; r && all; r = r->next)
            all[k++] = r;
        for (size_t at = 0, v = 0; all && views && at < spooled.len; v++) {
            struct spooled h;
            memcpy(&h, spooled.buf + at, sizeof h);
            struct rec *r = &views[v];
            r->ts = h.ts;
            r->required = false;
            memcpy(r->deployment, spooled.buf + at + sizeof h, h.dep_len + 1);
            r->json = spooled.buf + at + sizeof h + h.dep_len + 1;
            r->len = h.len;
            all[k++] = r;
            at += spooled_size(&h);
        }
        if (!views) /* out of memory: the spooled records are lost, counted */
            n -= n_spooled;
        int64_t now = keel_now_ms();
        uint64_t written = 0, dropped = 0, failed = 0;
        for (size_t i = 0; all && taken && i < n; i++) {
            if (taken[i])
                continue;
            int64_t day = all[i]->ts / 86400000; /* UTC days: the date partition */
            struct rec **group = malloc((n - i) * sizeof *group);
            size_t g = 0;
            bool sync = false;
            for (size_t j = i; group && j < n; j++) {
                if (!taken[j] && strcmp(all[j]->deployment, all[i]->deployment) == 0 &&
                    all[j]->ts / 86400000 == day) {
                    taken[j] = true;
                    group[g++] = all[j];
                    sync |= all[j]->required;
                }
            }
            size_t done = group ? write_group(l, group, g, sync, now) : 0;
            for (size_t j = 0; j < g; j++) {
                bool ok = j < done;
                group[j]->err = ok ? KEEL_OK : KEEL_E_IO;
                if (ok)
                    written++;
                else if (group[j]->required)
                    failed++;
                else
                    dropped++;
            }
            free(group);
        }
        if (!all || !taken)
            for (struct rec *r = batch; r; r = r->next)
                r->err = KEEL_E_NOMEM;
        if (!all || !taken || !views)
            dropped += n_spooled;
        free(all);
        free(taken);
        free(views);

        pthread_mutex_lock(&l->mu);
        l->spare = spooled; /* its buffer is reused for the next batch */
        l->stats.written += written;
        l->stats.dropped += dropped;
        l->stats.failed += failed;
        for (struct rec *r = batch; r; r = r->next)
            r->done = true; /* required: the waiter frees it */
        pthread_cond_broadcast(&l->done_cv);
        /* old partitions go after the waiters are answered, not before */
        pthread_mutex_unlock(&l->mu);
        retention(l, now);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

enum keel_err predlog_open(struct predlog **out, const struct predlog_config *cfg,
                           struct keel_ctx *ctx)
{
    struct predlog *l = calloc(1, sizeof *l);
    if (!l)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    l->cfg = *cfg;
    l->cfg.key = NULL; /* the copy below is the log's own */
    if (cfg->key && !(l->key = malloc(sizeof *l->key))) {
        free(l);
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    }
    if (cfg->key)
        *l->key = *cfg->key;
    if (!l->cfg.queue_max)
        l->cfg.queue_max = 65536;
    if (!l->cfg.segment_bytes)
        l->cfg.segment_bytes = 64u << 20;
    if (!l->cfg.segment_age_s)
        l->cfg.segment_age_s = 3600;
    snprintf(l->dir, sizeof l->dir, "%s", cfg->dir);
    for (int i = 0; i < KNOWN_SEGMENTS; i++)
        l->seg[i].fd = -1;
    if (keel_mkdirs(l->dir) != 0) {
        free(l->key);
        free(l);
        return keel_fail(ctx, KEEL_E_IO, "cannot create %s: %s", cfg->dir, strerror(errno));
    }
    l->gz = malloc(sizeof *l->gz);
    l->gz_level = malloc(ISAL_DEF_LVL1_DEFAULT);
    if (!l->gz || !l->gz_level) {
        free(l->gz);
        free(l->gz_level);
        free(l->key);
        free(l);
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    }
    /* request threads hold it for a copy of one record: spinning a moment
     * beats sleeping in the kernel and being woken (a visible cost under
     * load on two cores) */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&l->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    keel_cond_init_monotonic(&l->work_cv); /* the linger: immune to wall-clock steps */
    pthread_cond_init(&l->done_cv, NULL);
    if (pthread_create(&l->writer, NULL, writer_main, l) != 0) {
        free(l->gz);
        free(l->gz_level);
        free(l->key);
        free(l);
        return keel_fail(ctx, KEEL_E_NOMEM, "cannot start the prediction log writer");
    }
    *out = l;
    return KEEL_OK;
}

void predlog_close(struct predlog *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->writer, NULL);
    for (int i = 0; i < KNOWN_SEGMENTS; i++)
        segment_close(l, &l->seg[i]);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->done_cv);
    free(l->gz);
    free(l->gz_level);
    free(l->in);
    free(l->spool.buf);
    free(l->spare.buf);
    free(l->out);
    free(l->sealbuf);
    if (l->key)
        OPENSSL_cleanse(l->key, sizeof *l->key);
    free(l->key);
    free(l);
}

/* A best-effort record into the spool (lock held): false when full. */
static bool spool_put(struct predlog *l, const char *deployment, int64_t ts_ms, const char *json,
                      size_t len)
{
    struct spooled h = {.len = (uint32_t)len,
                        .dep_len = (uint32_t)strnlen(deployment, DEPLOYMENT_MAX - 1),
                        .ts = ts_ms};
    size_t need = spooled_size(&h);
    struct spool *sp = &l->spool;
    if (sp->len + need > SPOOL_MAX)
        return false;
    if (sp->len + need > sp->cap) {
        size_t cap = sp->cap ? sp->cap : 1u << 20;
        while (cap < sp->len + need)
            cap *= 2;
        char *b = realloc(sp->buf, cap);
        if (!b)
            return false;
        sp->buf = b;
        sp->cap = cap;
    }
    char *w = sp->buf + sp->len;
    memcpy(w, &h, sizeof h);
    memcpy(w + sizeof h, deployment, h.dep_len);
    w[sizeof h + h.dep_len] = '\0';
    memcpy(w + sizeof h + h.dep_len + 1, json, len);
    sp->len += need;
    return true;
}

enum keel_err predlog_append(struct predlog *l, const char *deployment, int64_t ts_ms,
                             const char *json, size_t len, bool required, struct keel_ctx *ctx)
{
    if (len > MAX_RECORD)
        return keel_fail(ctx, KEEL_E_TOO_LARGE, "prediction record of %zu bytes over the %u limit",
                         len, MAX_RECORD);
    if (!required) {
        /* copied into the spool under the lock: no allocation to free on
         * another thread, which was a visible share of a record's cost */
        pthread_mutex_lock(&l->mu);
        bool ok = !l->stop && l->n_queued < l->cfg.queue_max &&
                  spool_put(l, deployment, ts_ms, json, len);
        if (ok) {
            l->n_queued++;
            /* the writer waits for the first record, then lingers for more */
            if (l->n_queued == 1 || l->n_queued == linger_records(l))
                pthread_cond_signal(&l->work_cv);
        } else {
            l->stats.dropped++;
        }
        pthread_mutex_unlock(&l->mu);
        return ok ? KEEL_OK : keel_fail(ctx, KEEL_E_TOO_LARGE, "the prediction log queue is full");
    }
    struct rec *r = calloc(1, sizeof *r);
    char *copy = malloc(len + 1);
    if (!r || !copy) {
        free(r);
        free(copy);
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    }
    memcpy(copy, json, len);
    copy[len] = '\0';
    snprintf(r->deployment, sizeof r->deployment, "%s", deployment);
    r->ts = ts_ms;
    r->json = copy;
    r->len = len;
    r->required = true;
    /* failed until the writer says it is on disk: a record the writer never
     * reached (it ran out of memory) must not be answered as kept */
    r->err = KEEL_E_IO;
    pthread_mutex_lock(&l->mu);
    if (l->stop) {
        l->stats.failed++;
        pthread_mutex_unlock(&l->mu);
        free(copy);
        free(r);
        return keel_fail(ctx, KEEL_E_IO, "the prediction log is closed");
    }
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n_queued++;
    l->n_required++;
    pthread_cond_signal(&l->work_cv);
    while (!r->done)
        pthread_cond_wait(&l->done_cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    enum keel_err e = r->err;
    free(r->json);
    free(r);
    return e == KEEL_OK ? KEEL_OK
                        : keel_fail(ctx, KEEL_E_IO, "the prediction record could not be made "
                                                    "durable");
}

void predlog_get_stats(struct predlog *l, struct predlog_stats *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->stats;
    out->queued = l->n_queued;
    pthread_mutex_unlock(&l->mu);
}

/* ---- reading ---- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir starting with prefix, sorted (arena strings). */
static char **list_sorted(struct karena *a, const char *dir, const char *prefix, size_t *n)
{
    size_t cap = 16;
    char **names = karena_alloc(a, cap * sizeof *names);
    *n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (names && d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (*n == cap) {
            names = karena_realloc(a, names, cap * sizeof *names, cap * 2 * sizeof *names);
            cap *= 2;
            if (!names)
                break;
        }
        names[(*n)++] = karena_strdup(a, e->d_name);
    }
    if (d)
        closedir(d);
    if (names)
        qsort(names, *n, sizeof *names, by_name);
    return names;
}

static bool matches(const struct jval *rec, const struct predlog_filter *f)
{
    const struct jval *ts = jv_get(rec, "timestamp_ms");
    int64_t t = ts && ts->type == J_INT ? ts->u.i : 0;
    if ((f->from_ms && t < f->from_ms) || (f->to_ms && t >= f->to_ms))
        return false;
    const struct jval *id = jv_get(rec, "request_id");
    if (f->request_id && (!jv_is_string(id) || strcmp(id->u.s, f->request_id) != 0))
        return false;
    const struct jval *v = jv_get(rec, "model_version");
    if (f->model_version && (!jv_is_string(v) || strcmp(v->u.s, f->model_version) != 0))
        return false;
    return true;
}

/* A query's pass over segment bytes, line by line. Oldest first, matching
 * records go to out as they come; newest first, a segment's last `keep`
 * matches are kept in a ring and put out last to first when it ends. */
struct scan {
    const struct predlog_filter *f;
    struct kbuf *out, line;
    size_t *found;
    enum keel_err e;
    bool skipping;    /* the current line is over the record limit */
    size_t keep;      /* newest first: the ring's size (0: oldest first) */
    char **ring;      /* copies of the last matches; seen % keep is the next slot */
    size_t *ring_len;
    size_t seen;
    size_t ring_bytes; /* held in the ring: at most what the answer has room for */
};

static void put_record(struct scan *sc, const char *rec, size_t len)
{
    if (*sc->found)
        kbuf_addc(sc->out, ',');
    if (kbuf_add(sc->out, rec, len) != KEEL_OK)
        sc->e = KEEL_E_TOO_LARGE;
    (*sc->found)++;
}

static void scan_line(struct scan *sc)
{
    struct karena *a = karena_new(4 * MAX_RECORD);
    const struct jval *rec = a ? jp_parse(a, sc->line.data, sc->line.len, NULL) : NULL;
    if (rec && matches(rec, sc->f)) {
        if (!sc->keep) {
            put_record(sc, sc->line.data, sc->line.len);
        } else {
            size_t slot = sc->seen++ % sc->keep;
            if (sc->ring[slot])
                sc->ring_bytes -= sc->ring_len[slot];
            free(sc->ring[slot]);
            sc->ring[slot] = NULL;
            sc->ring_len[slot] = 0;
            /* the kept records will be the answer: past its room, refuse now */
            if (sc->ring_bytes + sc->line.len + sc->keep > sc->out->max - sc->out->len) {
                sc->e = KEEL_E_TOO_LARGE;
                karena_free(a);
                return;
            }
            sc->ring_bytes += sc->line.len;
            sc->ring[slot] = malloc(sc->line.len ? sc->line.len : 1);
            if (!sc->ring[slot])
                sc->e = KEEL_E_NOMEM;
            else
                memcpy(sc->ring[slot], sc->line.data, sc->line.len);
            sc->ring_len[slot] = sc->line.len;
        }
    }
    karena_free(a);
}

static void scan_feed(struct scan *sc, const char *block, size_t n)
{
    const char *p = block, *end = block + n;
    while (p < end && (sc->keep || *sc->found < sc->f->limit) && sc->e == KEEL_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (!sc->skipping && kbuf_add(&sc->line, p, (size_t)(stop - p)) != KEEL_OK)
            sc->skipping = true; /* a record over the limit cannot be ours: skip */
        p = stop;
        if (!nl)
            break;
        p++;
        if (!sc->skipping)
            scan_line(sc);
        sc->skipping = false;
        kbuf_reset(&sc->line);
    }
}

/* Newest first: the segment's kept matches, last to first. */
static void scan_flush_ring(struct scan *sc)
{
    size_t n = sc->seen < sc->keep ? sc->seen : sc->keep;
    for (size_t i = 0; i < n && sc->e == KEEL_OK; i++) {
        size_t slot = (sc->seen - 1 - i) % sc->keep;
        put_record(sc, sc->ring[slot], sc->ring_len[slot]);
    }
    for (size_t i = 0; i < sc->keep; i++) {
        free(sc->ring[i]);
        sc->ring[i] = NULL;
    }
    sc->seen = 0;
    sc->ring_bytes = 0;
}

/* A sealed segment: each record is one gzip member. */
static enum keel_err scan_sealed(struct predlog *l, const char *path, struct scan *sc,
                                 struct keel_ctx *ctx)
{
    if (!l->key)
        return keel_fail(ctx, KEEL_E_INVALID_STATE,
                         "the prediction log segment %s is encrypted: start keel with the "
                         "encryption key it was written with",
                         path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return KEEL_OK; /* removed by retention meanwhile */
    struct sealed_records *r = NULL;
    enum keel_err e = sealed_records_open(fd, l->key, &r, ctx);
    if (e)
        return e;
    const unsigned char *member;
    size_t n;
    int got;
    while (sc->e == KEEL_OK && *sc->found < sc->f->limit &&
           (got = sealed_records_next(r, &member, &n)) == 1) {
        z_stream z = {0};
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
            sc->e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
            break;
        }
        z.next_in = (unsigned char *)member;
        z.avail_in = (unsigned)n;
        unsigned char block[65536];
        int zr = Z_OK;
        while (zr == Z_OK && sc->e == KEEL_OK) {
            z.next_out = block;
            z.avail_out = sizeof block;
            zr = inflate(&z, Z_NO_FLUSH);
            if (zr == Z_OK || zr == Z_STREAM_END)
                scan_feed(sc, (const char *)block, sizeof block - z.avail_out);
        }
        inflateEnd(&z);
        if (zr != Z_STREAM_END && sc->e == KEEL_OK)
            sc->e = keel_fail(ctx, KEEL_E_INVALID_STATE, "a sealed member of %s is not gzip",
                              path);
    }
    if (got < 0 && sc->e == KEEL_OK)
        sc->e = keel_fail(ctx, KEEL_E_INVALID_STATE,
                          "a record of the prediction log segment %s does not authenticate: "
                          "it was changed on disk",
                          path);
    sealed_records_close(r);
    return sc->e;
}

static enum keel_err scan_file(struct predlog *l, const char *path,
                               const struct predlog_filter *f, struct kbuf *out, size_t *found,
                               struct keel_ctx *ctx)
{
    struct scan sc = {.f = f, .out = out, .found = found, .e = KEEL_OK};
    if (f->newest_first) {
        sc.keep = f->limit - *found;
        sc.ring = calloc(sc.keep, sizeof *sc.ring);
        sc.ring_len = calloc(sc.keep, sizeof *sc.ring_len);
        if (!sc.ring || !sc.ring_len) {
            free(sc.ring);
            free(sc.ring_len);
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        }
    }
    kbuf_init(&sc.line, MAX_RECORD + 1);
    size_t len = strlen(path);
    gzFile gz = NULL;
    if (len > 7 && strcmp(path + len - 7, ".sealed") == 0) {
        enum keel_err e = scan_sealed(l, path, &sc, ctx);
        if (e != KEEL_OK && sc.e == KEEL_OK)
            sc.e = e;
    } else if ((gz = gzopen(path, "rb")) != NULL) { /* else removed by retention meanwhile */
        char block[65536];
        int n;
        while ((sc.keep || *found < f->limit) && sc.e == KEEL_OK &&
               (n = gzread(gz, block, sizeof block)) > 0)
            scan_feed(&sc, block, (size_t)n);
        gzclose(gz);
    }
    if (sc.keep)
        scan_flush_ring(&sc);
    free(sc.ring);
    free(sc.ring_len);
    kbuf_free(&sc.line);
    if (sc.e == KEEL_E_NOMEM && !ctx->errmsg)
        keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    return sc.e;
}

enum keel_err predlog_query(struct predlog *l, const struct predlog_filter *f, struct kbuf *out,
                            size_t *n_found, struct keel_ctx *ctx)
{
    *n_found = 0;
    char from_date[11] = "", to_date[11] = "";
    if (f->from_ms)
        date_of(f->from_ms, from_date);
    if (f->to_ms)
        date_of(f->to_ms - 1, to_date);
    kbuf_addc(out, '[');
    size_t nd = 0;
    char **deps = list_sorted(ctx->arena, l->dir, "deployment=", &nd);
    enum keel_err e = deps ? KEEL_OK : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    for (size_t i = 0; e == KEEL_OK && i < nd && *n_found < f->limit; i++) {
        if (f->deployment && strcmp(deps[i] + 11, f->deployment) != 0)
            continue;
        char *ddir = karena_sprintf(ctx->arena, "%s/%s", l->dir, deps[i]);
        size_t nt = 0;
        char **dates = ddir ? list_sorted(ctx->arena, ddir, "date=", &nt) : NULL;
        for (size_t jj = 0; dates && jj < nt && e == KEEL_OK && *n_found < f->limit; jj++) {
            size_t j = f->newest_first ? nt - 1 - jj : jj;
            const char *date = dates[j] + 5;
            if ((*from_date && strcmp(date, from_date) < 0) ||
                (*to_date && strcmp(date, to_date) > 0))
                continue;
            char *pdir = karena_sprintf(ctx->arena, "%s/%s", ddir, dates[j]);
            size_t np = 0;
            char **parts = pdir ? list_sorted(ctx->arena, pdir, "part-", &np) : NULL;
            for (size_t kk = 0; parts && kk < np && e == KEEL_OK && *n_found < f->limit; kk++) {
                size_t k = f->newest_first ? np - 1 - kk : kk;
                char *path = karena_sprintf(ctx->arena, "%s/%s", pdir, parts[k]);
                if (path)
                    e = scan_file(l, path, f, out, n_found, ctx);
            }
        }
    }
    kbuf_addc(out, ']');
    if (e == KEEL_E_TOO_LARGE)
        return keel_fail(ctx, e, "the matching records exceed the answer's size limit; narrow "
                                 "the query or lower max_results");
    return e;
}
