/*
 * predict.c -- the batch pipeline: read, cut, decode + score, write in order.
 *
 * Design note. Three roles share one struct job under one mutex:
 *   reader  (one thread)  reads the input in blocks, finds row ends (a '\n'
 *                         outside double quotes, so quoted newlines stay in
 *                         their row) and queues chunks of whole rows on todo;
 *   workers (N threads)   take a chunk, decode it with serve/payload.c as one
 *                         body (the header prepended for CSV, the lines
 *                         wrapped as dataframe_records for JSON lines), score
 *                         it, and format its output; a chunk that does not
 *                         decode or score as a whole is redone row by row, so
 *                         the bad rows are named by line and, with
 *                         --on-error skip, set aside with their reason;
 *   writer  (the caller)  takes finished chunks strictly in sequence, writes
 *                         them, hashes what it writes, reports progress.
 * Invariants: at most `cap` chunks exist at once (the reader waits), so memory
 * is cap x chunk size whatever the input; output order is input order (the
 * writer never writes chunk k+1 before chunk k); after the first failure
 * (job->failed) every role stops at its next step and the caller removes the
 * partial output.
 *
 * Sharding: part i of N owns the rows whose first byte lies in the i-th of N
 * equal byte ranges of the body (after the CSV header). Where a row starts is
 * decided by quote parity counted from the top of the body, the same way in
 * every part, so the parts are disjoint, cover everything, and their outputs
 * concatenate to the unsharded output (only part 0 writes the CSV header).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "batch/batch.h"
#include "serve/payload.h"
#include "serve/scoring.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/csv.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/jparse.h"
#include "util/time.h"

#define READ_BLOCK (128u << 10)       /* what the reader asks read(2) for at a time */
#define FIRST_BUFFER (2u << 20)        /* the reader's first buffer; later ones fit a chunk */
#define MAX_ROW_BYTES (64u << 20)     /* one row; past it the input is refused */
#define MAX_CHUNK_BYTES (16u << 20)   /* a chunk ends at this size even with few rows */
#define MAX_HEADER_BYTES (1u << 20)
#define CHUNK_OUT_CEILING (512u << 20) /* one chunk's output, and its rejects */
#define MAX_KEPT_JSON_BYTES (1u << 20)  /* a kept JSON-lines value that is not a string */
#define WORKER_ARENA_CEILING (1024u << 20)

struct chunk {
    uint64_t seq;
    uint64_t first_line;  /* input line of the chunk's first byte */
    char *mem;            /* the allocation: for CSV the header first, so that a chunk
                             of plain rows decodes where it lies (make_body) */
    char *data;           /* whole rows, after the header in mem; 2 bytes of room after len */
    size_t len;
    uint32_t *ends;       /* where each row ends in data (past its LF), as the reader found */
    size_t n_ends;
    bool quoted;          /* a row holds a quote: lines are counted, not one a row */
    struct kbuf out, rejects;
    uint64_t rows, rejected;
    size_t pred_cols;     /* 0: 1-D predictions */
    struct chunk *next;
};

struct job {
    const struct keel_model *model;
    const struct batch_options *o;
    int in_fd;
    char *header;         /* CSV: the header row with its line end */
    size_t header_len;
    long *keep_at;        /* CSV: keep column -> header index */
    uint64_t body_start, range_start, range_end; /* shard bounds in the input */
    uint64_t total_bytes; /* of the input; 0 when unknown (a pipe) */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct chunk *todo, *todo_tail, *done;
    size_t live, cap;
    uint64_t produced;    /* chunks queued so far */
    bool reader_done, failed;
    enum keel_err err;
    char errmsg[2048];
    uint64_t bytes_read;
    EVP_MD_CTX *in_hash;
};

static void job_fail(struct job *j, enum keel_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void job_fail(struct job *j, enum keel_err e, const char *fmt, ...)
{
    pthread_mutex_lock(&j->mu);
    if (!j->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->errmsg, sizeof j->errmsg, fmt, ap);
        va_end(ap);
        j->failed = true;
        j->err = e;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static bool job_failed(struct job *j)
{
    pthread_mutex_lock(&j->mu);
    bool f = j->failed;
    pthread_mutex_unlock(&j->mu);
    return f;
}

static void chunk_free(struct chunk *c)
{
    if (!c)
        return;
    free(c->mem);
    free(c->ends);
    kbuf_free(&c->out);
    kbuf_free(&c->rejects);
    free(c);
}

/* ---- reading ---- */

/* Row ends: '\n' outside double quotes. *inq carries the quote state across
 * calls. Returns the offset just past the first row end in buf[from..len),
 * or 0 when there is none yet. */
static size_t next_row_end(const char *buf, size_t from, size_t len, bool csv, bool *inq)
{
    /* by memchr, which scans many bytes a step: outside quotes to the next
     * line end, then back for a quote before it; inside, to the closing one */
    size_t i = from;
    while (i < len) {
        if (*inq) {
            const char *q = memchr(buf + i, '"', len - i);
            if (!q)
                return 0;
            *inq = false;
            i = (size_t)(q - buf) + 1;
            continue;
        }
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t stop = nl ? (size_t)(nl - buf) : len;
        const char *q = csv ? memchr(buf + i, '"', stop - i) : NULL;
        if (!q)
            return nl ? stop + 1 : 0;
        *inq = true;
        i = (size_t)(q - buf) + 1;
    }
    return 0;
}

static size_t count_lines(const char *p, size_t n)
{
    size_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        k++;
    return k;
}

static ssize_t read_full(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static void queue_chunk(struct job *j, struct chunk *c)
{
    pthread_mutex_lock(&j->mu);
    while (j->live >= j->cap && !j->failed)
        pthread_cond_wait(&j->cv, &j->mu);
    if (j->failed) {
        pthread_mutex_unlock(&j->mu);
        chunk_free(c);
        return;
    }
    c->seq = j->produced++;
    j->live++;
    if (j->todo_tail)
        j->todo_tail->next = c;
    else
        j->todo = c;
    j->todo_tail = c;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* A reader buffer with room for cap bytes of input (and 2 after them) after
 * `head` bytes, the CSV header copied there; NULL when out of memory. */
static char *buffer_new(const struct job *j, size_t head, size_t cap)
{
    char *mem = malloc(head + cap + 2);
    if (mem)
        memcpy(mem, j->header, head);
    return mem;
}

/* Hands the reader buffer mem (input after `head` bytes), its first cut
 * bytes rows ending at ends[0..n), to the workers as one chunk starting at
 * input line *line, which it advances (one line a row unless quoted); the
 * chunk owns mem from here, even when this fails. False when the job has
 * failed. */
static bool emit_chunk(struct job *j, char *mem, size_t head, size_t cut, const uint32_t *ends,
                       size_t n, bool quoted, uint64_t *line)
{
    struct chunk *c = calloc(1, sizeof *c);
    uint32_t *ce = malloc((n ? n : 1) * sizeof *ce);
    if (!c || !ce) {
        free(c);
        free(mem);
        free(ce);
        job_fail(j, KEEL_E_NOMEM, "out of memory");
        return false;
    }
    char *data = mem + head;
    data[cut] = '\0';
    c->mem = mem;
    c->data = data;
    c->len = cut;
    memcpy(ce, ends, n * sizeof *ce);
    c->ends = ce;
    c->n_ends = n;
    c->quoted = quoted;
    c->first_line = *line;
    /* without quotes every row is one line, ended by its LF */
    *line += quoted ? count_lines(data, cut) : n - (cut && data[cut - 1] != '\n');
    if (j->in_hash)
        EVP_DigestUpdate(j->in_hash, data, cut); /* exactly the bytes this job scores */
    queue_chunk(j, c);
    return !job_failed(j);
}

/* Doubles the reader's row-end array; false when out of memory. */
static bool grow_ends(uint32_t **ends, size_t *cap)
{
    uint32_t *e = realloc(*ends, *cap * 2 * sizeof **ends);
    if (!e)
        return false;
    *ends = e;
    *cap *= 2;
    return true;
}

static void *reader_main(void *arg)
{
    struct job *j = arg;
    bool csv = j->o->in_format == BATCH_IN_CSV;
    /* input is read into buf, after the header in mem, and a chunk's rows go
     * to the workers in the buffer they were read into: only what was read
     * past the chunk's last row is copied, to start the next buffer */
    size_t head = csv ? j->header_len : 0;
    size_t cap = FIRST_BUFFER, len = 0, scanned = 0, cut = 0, rows = 0;
    char *mem = buffer_new(j, head, cap), *buf = mem ? mem + head : NULL;
    bool inq = false, eof = false;
    /* where the next '"' is in buf (len: none up to len; SIZE_MAX: not known),
     * so that rows before it are cut by one memchr each; and whether the
     * chunk being gathered had a row that needed the quote-aware search */
    size_t quote_at = SIZE_MAX;
    bool quoted = false;
    /* the gathered chunk's row ends, handed to the workers with it */
    size_t ends_cap = j->o->chunk_rows < 4096 ? j->o->chunk_rows + 1 : 4096;
    uint32_t *ends = malloc(ends_cap * sizeof *ends);
    uint64_t line = 1 + count_lines(j->header, j->header_len);
    uint64_t pos = j->range_start; /* input offset of buf[0] */
    if (!buf || !ends) {
        job_fail(j, KEEL_E_NOMEM, "out of memory");
        goto out;
    }
    if (j->range_start > j->body_start) {
        /* count the lines before the shard's first row, for error messages */
        if (lseek(j->in_fd, (off_t)j->body_start, SEEK_SET) < 0) {
            job_fail(j, KEEL_E_IO, "cannot seek in %s: %s", j->o->input, strerror(errno));
            goto out;
        }
        for (uint64_t left = j->range_start - j->body_start; left;) {
            ssize_t r = read_full(j->in_fd, buf, left < cap ? left : cap);
            if (r <= 0)
                break;
            line += count_lines(buf, (size_t)r);
            left -= (uint64_t)r;
        }
        if (lseek(j->in_fd, (off_t)j->range_start, SEEK_SET) < 0) {
            job_fail(j, KEEL_E_IO, "cannot seek in %s: %s", j->o->input, strerror(errno));
            goto out;
        }
    }
    while (!job_failed(j)) {
        /* 1. whole rows, while the chunk has room and they are this part's */
        bool need_more = false;
        while (rows < j->o->chunk_rows && cut < MAX_CHUNK_BYTES && pos + cut < j->range_end) {
            size_t e = 0;
            bool found = false; /* e says where the row ends, or that more input is needed */
            if (!inq) {
                if (csv && (quote_at == SIZE_MAX || quote_at < scanned)) {
                    const char *q = memchr(buf + scanned, '"', len - scanned);
                    quote_at = q ? (size_t)(q - buf) : len;
                }
                const char *nl = memchr(buf + scanned, '\n', len - scanned);
                found = !nl || !csv || (size_t)(nl - buf) < quote_at;
                e = found && nl ? (size_t)(nl - buf) + 1 : 0;
            }
            if (!found) { /* a quote before the line end: the quote-aware search */
                e = next_row_end(buf, scanned, len, csv, &inq);
                quoted = true;
            }
            if (!e) {
                scanned = len;
                need_more = true;
                break;
            }
            if (rows == ends_cap && !grow_ends(&ends, &ends_cap)) {
                job_fail(j, KEEL_E_NOMEM, "out of memory");
                break;
            }
            ends[rows++] = (uint32_t)e;
            cut = scanned = e;
        }
        bool range_done = pos + cut >= j->range_end;
        if (need_more && eof) {
            if (cut < len && !range_done) { /* a last row without a line end */
                if (rows == ends_cap && !grow_ends(&ends, &ends_cap)) {
                    job_fail(j, KEEL_E_NOMEM, "out of memory");
                    break;
                }
                cut = scanned = len;
                ends[rows++] = (uint32_t)len;
                quoted = true; /* its lines are counted, not assumed */
            }
            range_done = true;
        }
        /* 2. a full chunk, or the last one */
        if (cut > 0 && (rows >= j->o->chunk_rows || cut >= MAX_CHUNK_BYTES || range_done)) {
            char *next = NULL;
            size_t next_cap = (cut > len - cut ? cut : len - cut) + 2 * READ_BLOCK;
            if (!range_done) {
                if (!(next = buffer_new(j, head, next_cap))) {
                    job_fail(j, KEEL_E_NOMEM, "out of memory");
                    break;
                }
                memcpy(next + head, buf + cut, len - cut);
            }
            bool emitted = emit_chunk(j, mem, head, cut, ends, rows, quoted, &line);
            mem = next; /* mem went with the chunk */
            buf = mem ? mem + head : NULL;
            cap = next_cap;
            if (!emitted)
                break;
            len -= cut;
            pos += cut;
            scanned -= cut;
            quote_at = quote_at != SIZE_MAX && quote_at >= cut ? quote_at - cut : SIZE_MAX;
            cut = rows = 0;
            quoted = false;
        }
        if (range_done)
            break;
        if (!need_more)
            continue;
        /* 3. more input */
        if (cap - len < READ_BLOCK) {
            if (cap >= MAX_ROW_BYTES + MAX_CHUNK_BYTES) {
                job_fail(j, KEEL_E_BAD_REQUEST,
                         "line %llu: a row is longer than %u bytes (an unclosed quote?)",
                         (unsigned long long)line, MAX_ROW_BYTES);
                break;
            }
            char *nm = realloc(mem, head + cap * 2 + 2);
            if (!nm) {
                job_fail(j, KEEL_E_NOMEM, "out of memory");
                break;
            }
            mem = nm;
            buf = mem + head;
            cap *= 2;
        }
        ssize_t r = read_full(j->in_fd, buf + len, READ_BLOCK);
        if (r < 0) {
            job_fail(j, KEEL_E_IO, "cannot read %s: %s", j->o->input, strerror(errno));
            break;
        }
        if (quote_at == len) /* "none up to len" no longer says enough */
            quote_at = SIZE_MAX;
        len += (size_t)r;
        eof = r == 0;
        pthread_mutex_lock(&j->mu);
        j->bytes_read += (uint64_t)r;
        pthread_mutex_unlock(&j->mu);
    }
out:
    free(mem);
    free(ends);
    pthread_mutex_lock(&j->mu);
    j->reader_done = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* ---- scoring ---- */

struct row {
    const char *p;
    size_t len;
    uint64_t line;
};

/* The chunk's non-blank rows with their input lines, from the row ends the
 * reader found. */
static struct row *split_rows(const struct chunk *c, bool csv, size_t *n, struct karena *a)
{
    size_t k = 0, at = 0;
    struct row *rows = karena_alloc(a, (c->n_ends + 1) * sizeof *rows);
    uint64_t line = c->first_line;
    for (size_t i = 0; rows && i < c->n_ends; i++) {
        size_t end = c->ends[i];
        size_t len = end - at;
        while (len && (c->data[at + len - 1] == '\n' || c->data[at + len - 1] == '\r'))
            len--;
        if (!csv) { /* a JSON line of white space only is a blank line */
            size_t w = 0;
            while (w < len && (c->data[at + w] == ' ' || c->data[at + w] == '\t'))
                w++;
            if (w == len)
                len = 0;
        }
        if (len)
            rows[k++] = (struct row){.p = c->data + at, .len = len, .line = line};
        /* without quotes in the chunk a row is one line */
        line += c->quoted ? count_lines(c->data + at, end - at) : c->data[end - 1] == '\n';
        at = end;
    }
    *n = k;
    return rows;
}

/* Whether rows[0..n) are the whole of CSV chunk c, each followed by exactly
 * one LF (no CR, no blank line between): then the header and the chunk as
 * they lie in c->mem are the body make_body would write. */
static bool plain_chunk(const struct chunk *c, const struct row *rows, size_t n)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].p != c->data + at || (at + rows[i].len < c->len &&
                                          c->data[at + rows[i].len] != '\n'))
            return false;
        at += rows[i].len + 1;
    }
    return at == c->len || at == c->len + 1; /* the last row may lack its LF */
}

/* One decodable body for rows[0..n) of chunk c: c's own memory when they
 * are all of a plain CSV chunk (no copy of megabytes), else a copy. */
static const char *make_body(const struct job *j, struct chunk *c, const struct row *rows,
                             size_t n, size_t *len, struct karena *a)
{
    static const char open[] = "{\"dataframe_records\": [", close[] = "]}";
    bool csv = j->o->in_format == BATCH_IN_CSV;
    if (csv && n && plain_chunk(c, rows, n)) {
        if (c->len && c->data[c->len - 1] != '\n') { /* the room after len holds it */
            c->data[c->len] = '\n';
            c->data[c->len + 1] = '\0';
            *len = j->header_len + c->len + 1;
        } else {
            *len = j->header_len + c->len;
        }
        return c->mem;
    }
    size_t total = csv ? j->header_len : sizeof open + sizeof close;
    for (size_t i = 0; i < n; i++)
        total += rows[i].len + 1;
    /* written once, straight into the arena: a chunk is megabytes */
    char *out = karena_alloc(a, total + 1), *w = out;
    if (!out)
        return NULL;
    if (csv) {
        memcpy(w, j->header, j->header_len);
        w += j->header_len;
    } else {
        memcpy(w, open, sizeof open - 1);
        w += sizeof open - 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!csv && i)
            *w++ = ',';
        memcpy(w, rows[i].p, rows[i].len);
        w += rows[i].len;
        if (csv)
            *w++ = '\n';
    }
    if (!csv) {
        memcpy(w, close, sizeof close - 1);
        w += sizeof close - 1;
    }
    *w = '\0';
    *len = (size_t)(w - out);
    return out;
}

/* A kept column's text, for the output. */
struct kept {
    const char *p;
    size_t n;
    bool is_json; /* JSON text (a JSON line's value that is not a string), written as is */
};

/* Row r's keep columns into kv[0..n_keep), from one reading of the row
 * (memory from a). A CSV row shorter than the header keeps "" for the
 * missing columns, a JSON line without the key keeps null. False, the job
 * failed, when the row does not read or a JSON value's text passes
 * MAX_KEPT_JSON_BYTES. */
static bool keep_values(struct job *j, const struct row *r, struct kept *kv, struct karena *a)
{
    unsigned long long line = (unsigned long long)r->line;
    if (j->o->in_format == BATCH_IN_CSV) {
        struct csv_reader rd;
        const struct csv_field *f = NULL;
        size_t nf = 0;
        csv_init(&rd, a, NULL);
        csv_feed(&rd, r->p, r->len, true);
        if (csv_next(&rd, &f, &nf) == CSV_ERROR) {
            enum csv_error ce = csv_error(&rd);
            job_fail(j, ce == CSV_E_NOMEM ? KEEL_E_NOMEM : KEEL_E_BAD_REQUEST,
                     "line %llu: cannot read the kept columns: %s", line, csv_strerror(ce));
            return false;
        }
        for (size_t k = 0; k < j->o->n_keep; k++) {
            size_t at = (size_t)j->keep_at[k];
            kv[k] = at < nf ? (struct kept){f[at].p, f[at].len, false}
                            : (struct kept){"", 0, false};
        }
        return true;
    }
    const char *why = NULL;
    const struct jval *doc = jp_parse(a, r->p, r->len, &why);
    if (!doc) {
        job_fail(j, KEEL_E_BAD_REQUEST, "line %llu: cannot read the kept columns: %s", line,
                 why ? why : "parse error");
        return false;
    }
    for (size_t k = 0; k < j->o->n_keep; k++) {
        const struct jval *v = jv_get(doc, j->o->keep[k]);
        if (!v) {
            kv[k] = (struct kept){"null", 4, true};
            continue;
        }
        if (jv_is_string(v)) {
            kv[k] = (struct kept){v->u.s, v->n, false};
            continue;
        }
        struct kbuf b;
        kbuf_init(&b, MAX_KEPT_JSON_BYTES);
        enum keel_err e = json_dump_python(&b, v);
        kv[k] = (struct kept){e == KEEL_OK ? karena_strndup(a, b.data ? b.data : "", b.len)
                                           : NULL,
                              b.len, true};
        kbuf_free(&b);
        if (e == KEEL_E_TOO_LARGE) {
            job_fail(j, e, "line %llu: column '%s' is longer than %u MiB as JSON text", line,
                     j->o->keep[k], MAX_KEPT_JSON_BYTES >> 20);
            return false;
        }
        if (!kv[k].p) {
            job_fail(j, KEEL_E_NOMEM, "line %llu: out of memory", line);
            return false;
        }
    }
    return true;
}

static void csv_field_out(struct kbuf *b, const char *p, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r';
    if (!quote) {
        kbuf_add(b, p, n);
        return;
    }
    kbuf_addc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"')
            kbuf_addc(b, '"');
        kbuf_addc(b, p[i]);
    }
    kbuf_addc(b, '"');
}

/* Row r's prediction as a JSON value: a number, or a list of them. */
static void put_pred_json(struct kbuf *b, const struct keel_prediction *p, size_t r)
{
    size_t cols = p->flat ? 1 : p->cols;
    if (!p->flat)
        kbuf_addc(b, '[');
    for (size_t k = 0; k < cols; k++) {
        if (k)
            kbuf_adds(b, ", ");
        scoring_put_value(b, p, r * cols + k);
    }
    if (!p->flat)
        kbuf_addc(b, ']');
}

/* Fails the job for a row whose output (or rejects) buffer refused an
 * append: the chunk is then never written, so no row is written truncated.
 * Returns false when it did. */
static bool row_written(struct job *j, const struct kbuf *b, const struct row *row,
                        const char *what)
{
    enum keel_err e = kbuf_failed(b);
    if (e == KEEL_OK)
        return true;
    if (e == KEEL_E_TOO_LARGE)
        job_fail(j, e, "line %llu: the %s of one chunk passes its ceiling of %u MiB; use a "
                 "smaller --chunk-rows", (unsigned long long)row->line, what,
                 CHUNK_OUT_CEILING >> 20);
    else
        job_fail(j, e, "line %llu: cannot write the %s: out of memory",
                 (unsigned long long)row->line, what);
    return false;
}

/* Row r's prediction p[r] in the output format; false when the job failed
 * instead (the row could not be written whole). */
static bool format_row(struct job *j, struct chunk *c, const struct row *row,
                       const struct keel_prediction *p, size_t r, struct karena *a)
{
    struct kbuf *b = &c->out;
    size_t cols = p->flat ? 1 : p->cols;
    if (j->o->out_format == BATCH_OUT_JSON) {
        if (c->rows)
            kbuf_adds(b, ", ");
        put_pred_json(b, p, r);
    } else {
        bool csv = j->o->out_format == BATCH_OUT_CSV;
        struct kept *kv = NULL;
        if (j->o->n_keep) {
            kv = karena_alloc(a, j->o->n_keep * sizeof *kv);
            if (!kv) {
                job_fail(j, KEEL_E_NOMEM, "line %llu: out of memory",
                         (unsigned long long)row->line);
                return false;
            }
            if (!keep_values(j, row, kv, a))
                return false;
        }
        if (!csv)
            kbuf_addc(b, '{');
        for (size_t k = 0; k < j->o->n_keep; k++) {
            if (csv) {
                csv_field_out(b, kv[k].p, kv[k].n);
                kbuf_addc(b, ',');
                continue;
            }
            struct jval key = {.type = J_STRING, .u.s = j->o->keep[k], .n = strlen(j->o->keep[k])};
            struct jval text = {.type = J_STRING, .u.s = kv[k].p, .n = kv[k].n};
            json_dump_python(b, &key);
            kbuf_adds(b, ": ");
            if (kv[k].is_json)
                kbuf_add(b, kv[k].p, kv[k].n);
            else
                json_dump_python(b, &text);
            kbuf_adds(b, ", ");
        }
        if (csv) {
            for (size_t k = 0; k < cols; k++) {
                if (k)
                    kbuf_addc(b, ',');
                scoring_put_value(b, p, r * cols + k);
            }
            kbuf_addc(b, '\n');
        } else {
            kbuf_adds(b, "\"prediction\": ");
            put_pred_json(b, p, r);
            kbuf_adds(b, "}\n");
        }
    }
    if (!row_written(j, b, row, "output"))
        return false;
    c->pred_cols = p->flat ? 0 : p->cols;
    c->rows++;
    return true;
}

/* Sets the row aside in the chunk's rejects; false when the job failed
 * instead (the rejects could not hold it whole). */
static bool reject(struct job *j, struct chunk *c, const struct row *row, const char *why)
{
    struct jval reason = {.type = J_STRING, .u.s = why ? why : "", .n = why ? strlen(why) : 0};
    struct jval text = {.type = J_STRING, .u.s = row->p, .n = row->len};
    kbuf_printf(&c->rejects, "{\"line\": %llu, \"reason\": ", (unsigned long long)row->line);
    json_dump_python(&c->rejects, &reason);
    kbuf_adds(&c->rejects, ", \"row\": ");
    json_dump_python(&c->rejects, &text);
    kbuf_adds(&c->rejects, "}\n");
    if (!row_written(j, &c->rejects, row, "rejects"))
        return false;
    c->rejected++;
    return true;
}

/* Decodes and scores rows[0..n) as one body; false (ctx says why) when any
 * row is refused. */
static bool score_rows(struct job *j, struct chunk *c, const struct row *rows, size_t n,
                       struct keel_prediction *pred, struct keel_ctx *ctx)
{
    if (j->o->in_format == BATCH_IN_JSONL && n == 1) {
        /* say what is wrong with the line itself, not with the body it was wrapped in */
        const char *why = NULL;
        const struct jval *v = jp_parse(ctx->arena, rows[0].p, rows[0].len, &why);
        if (!v) {
            keel_fail(ctx, KEEL_E_BAD_REQUEST, "the line is not valid JSON: %s",
                      why ? why : "parse error");
            return false;
        }
        if (!jv_is_object(v)) {
            keel_fail(ctx, KEEL_E_BAD_REQUEST, "the line is not a JSON object of columns");
            return false;
        }
    }
    size_t len = 0;
    const char *body = make_body(j, c, rows, n, &len, ctx->arena);
    if (!body) {
        keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        return false;
    }
    struct payload_limits lim = {.max_rows = n + 1, .expect_rows = n};
    struct payload_frame f;
    enum payload_format fmt = j->o->in_format == BATCH_IN_CSV ? PAYLOAD_CSV : PAYLOAD_JSON;
    if (payload_decode(fmt, body, len, keel_model_signature(j->model),
                       keel_model_n_features(j->model), &lim, &f, ctx) != KEEL_OK)
        return false;
    if (f.rows != n) {
        keel_fail(ctx, KEEL_E_BAD_REQUEST, "the rows did not decode one for one (%zu of %zu)",
                  f.rows, n);
        return false;
    }
    return keel_model_predict(j->model, f.x, f.rows, pred, ctx) == KEEL_OK;
}

static void score_chunk(struct job *j, struct chunk *c, struct keel_ctx *ctx)
{
    bool csv = j->o->in_format == BATCH_IN_CSV;
    size_t n = 0;
    struct row *rows = split_rows(c, csv, &n, ctx->arena);
    if (!rows) {
        job_fail(j, KEEL_E_NOMEM, "out of memory");
        return;
    }
    struct keel_prediction pred;
    if (n && score_rows(j, c, rows, n, &pred, ctx)) {
        for (size_t r = 0; r < n && format_row(j, c, &rows[r], &pred, r, ctx->arena); r++)
            ;
        return;
    }
    /* something in the chunk is refused: row by row, to name it */
    for (size_t r = 0; r < n && !job_failed(j); r++) {
        ctx->errmsg = NULL;
        if (score_rows(j, c, &rows[r], 1, &pred, ctx)) {
            if (!format_row(j, c, &rows[r], &pred, 0, ctx->arena))
                return;
        } else if (ctx->err == KEEL_E_NOMEM || ctx->err == KEEL_E_IO) {
            job_fail(j, ctx->err, "line %llu: %s", (unsigned long long)rows[r].line,
                     ctx->errmsg ? ctx->errmsg : "failed");
        } else if (j->o->skip_errors) {
            if (!reject(j, c, &rows[r], ctx->errmsg))
                return;
        } else {
            job_fail(j, ctx->err ? ctx->err : KEEL_E_BAD_REQUEST, "line %llu: %s",
                     (unsigned long long)rows[r].line, ctx->errmsg ? ctx->errmsg : "refused");
        }
    }
}

static void *worker_main(void *arg)
{
    struct job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        while (!j->todo && !j->reader_done && !j->failed)
            pthread_cond_wait(&j->cv, &j->mu);
        struct chunk *c = j->failed ? NULL : j->todo;
        if (c) {
            j->todo = c->next;
            if (!j->todo)
                j->todo_tail = NULL;
            c->next = NULL;
        }
        pthread_mutex_unlock(&j->mu);
        if (!c)
            return NULL;
        struct karena *a = karena_new(WORKER_ARENA_CEILING);
        struct keel_ctx ctx = {.arena = a};
        kbuf_init(&c->out, CHUNK_OUT_CEILING);
        kbuf_init(&c->rejects, CHUNK_OUT_CEILING);
        if (!a)
            job_fail(j, KEEL_E_NOMEM, "out of memory");
        else
            score_chunk(j, c, &ctx);
        karena_free(a);
        pthread_mutex_lock(&j->mu);
        c->next = j->done;
        j->done = c;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
}

/* ---- writing ---- */

struct sink {
    int fd;
    const char *path;     /* final path; NULL for stdout */
    char *tmp;            /* the temporary file written until success */
    EVP_MD_CTX *hash;
    uint64_t bytes;
};

static enum keel_err sink_open(struct sink *s, const char *path, bool digest,
                               struct keel_ctx *ctx)
{
    memset(s, 0, sizeof *s);
    if (digest && (!(s->hash = EVP_MD_CTX_new()) ||
                   !EVP_DigestInit_ex(s->hash, EVP_sha256(), NULL)))
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    if (strcmp(path, "-") == 0) {
        s->fd = STDOUT_FILENO;
        return KEEL_OK;
    }
    s->path = path;
    s->tmp = karena_sprintf(ctx->arena, "%s.keel-partial-XXXXXX", path);
    if (!s->tmp)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    s->fd = mkstemp(s->tmp);
    if (s->fd < 0)
        return keel_fail(ctx, KEEL_E_IO, "cannot create %s: %s", path, strerror(errno));
    /* mkstemp makes it private; the output is an ordinary file */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(s->fd, 0666 & ~mask);
    return KEEL_OK;
}

static bool sink_write(struct sink *s, const char *p, size_t n)
{
    if (s->hash)
        EVP_DigestUpdate(s->hash, p, n);
    s->bytes += n;
    while (n) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Success: synced and renamed into place. Failure: removed. */
static enum keel_err sink_close(struct sink *s, bool ok, struct keel_ctx *ctx)
{
    enum keel_err e = KEEL_OK;
    if (s->path && s->fd >= 0) {
        if (ok && (fsync(s->fd) != 0 || rename(s->tmp, s->path) != 0))
            e = keel_fail(ctx, KEEL_E_IO, "cannot write %s: %s", s->path, strerror(errno));
        if (!ok || e != KEEL_OK)
            unlink(s->tmp);
        close(s->fd);
    }
    s->fd = -1;
    return e;
}

/* The SHA-256 *md has taken, as hex into out ("" should it fail); *md is
 * freed and set to NULL. */
static void digest_hex(EVP_MD_CTX **md, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(*md, d, &n) == 1 && n == 32)
        keel_hex_encode(d, 32, out);
    else
        out[0] = '\0';
    EVP_MD_CTX_free(*md);
    *md = NULL;
}

/* Seconds since t0_us (keel_now_us). */
static double seconds_since(int64_t t0_us)
{
    return (double)(keel_now_us() - t0_us) / 1e6;
}

static void progress(struct job *j, uint64_t rows, int64_t t0_us, bool final)
{
    double dt = seconds_since(t0_us);
    double rate = dt > 0 ? (double)rows / dt : 0;
    pthread_mutex_lock(&j->mu);
    uint64_t done = j->bytes_read;
    uint64_t end = j->range_end < j->total_bytes ? j->range_end : j->total_bytes;
    uint64_t total = end - j->range_start + j->body_start;
    pthread_mutex_unlock(&j->mu);
    if (j->total_bytes && done > 0 && !final) {
        double eta = dt * ((double)total / (double)done - 1.0);
        fprintf(stderr, "\rkeel: %llu rows, %.0f rows/s, %3.0f%%, ETA %02d:%02d   ",
                (unsigned long long)rows, rate, 100.0 * (double)done / (double)total,
                (int)(eta / 60), (int)eta % 60);
    } else {
        fprintf(stderr, "\rkeel: %llu rows, %.0f rows/s%s", (unsigned long long)rows, rate,
                final ? "\n" : "   ");
    }
}

/* The CSV output's header: keep columns, then the prediction column(s). */
static void write_csv_header(struct job *j, struct sink *s, size_t pred_cols)
{
    struct kbuf b;
    kbuf_init(&b, MAX_HEADER_BYTES + 4096);
    for (size_t k = 0; k < j->o->n_keep; k++) {
        csv_field_out(&b, j->o->keep[k], strlen(j->o->keep[k]));
        kbuf_addc(&b, ',');
    }
    if (!pred_cols) {
        kbuf_adds(&b, "prediction");
    } else {
        for (size_t k = 0; k < pred_cols; k++)
            kbuf_printf(&b, "%sprediction_%zu", k ? "," : "", k);
    }
    kbuf_addc(&b, '\n');
    if (kbuf_failed(&b) != KEEL_OK)
        job_fail(j, kbuf_failed(&b), "the output's header row passes its ceiling of %u bytes",
                 MAX_HEADER_BYTES + 4096);
    else if (!sink_write(s, b.data, b.len))
        job_fail(j, KEEL_E_IO, "cannot write %s: %s", j->o->output, strerror(errno));
    kbuf_free(&b);
}

/* ---- setup ---- */

/* Reads the CSV header row and finds the keep columns in it. */
static enum keel_err read_header(struct job *j, struct keel_ctx *ctx)
{
    if (j->o->in_format != BATCH_IN_CSV) {
        j->header = karena_strdup(ctx->arena, "");
        return KEEL_OK;
    }
    char *buf = karena_alloc(ctx->arena, MAX_HEADER_BYTES + 1);
    if (!buf)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    size_t len = 0, end = 0;
    bool inq = false;
    /* byte by byte: a pipe must not be read past the header here */
    while (len < MAX_HEADER_BYTES && !end) {
        ssize_t r = read(j->in_fd, buf + len, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return keel_fail(ctx, KEEL_E_IO, "cannot read %s: %s", j->o->input, strerror(errno));
        if (r == 0)
            break;
        len++;
        end = next_row_end(buf, len - 1, len, true, &inq);
    }
    if (!end && len >= MAX_HEADER_BYTES)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "line 1: the header row is longer than %u bytes", MAX_HEADER_BYTES);
    if (len == 0)
        return keel_fail(ctx, KEEL_E_BAD_REQUEST, "%s is empty: a CSV input needs a header row",
                         j->o->input);
    if (!end) {
        buf[len++] = '\n';
    }
    if (j->in_hash)
        EVP_DigestUpdate(j->in_hash, buf, end ? end : len - 1);
    j->bytes_read += end ? end : len - 1;
    j->header = buf;
    j->header_len = len;
    j->body_start = end ? end : len - 1;
    j->keep_at = karena_alloc(ctx->arena, (j->o->n_keep + 1) * sizeof *j->keep_at);
    if (!j->keep_at)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    struct csv_reader rd;
    const struct csv_field *f;
    size_t nf = 0;
    csv_init(&rd, ctx->arena, NULL);
    csv_feed(&rd, buf, len, true);
    if (csv_next(&rd, &f, &nf) != CSV_ROW)
        return keel_fail(ctx, KEEL_E_BAD_REQUEST, "line 1: the header row is malformed: %s",
                         csv_strerror(csv_error(&rd)));
    for (size_t k = 0; k < j->o->n_keep; k++) {
        j->keep_at[k] = -1;
        for (size_t i = 0; i < nf && j->keep_at[k] < 0; i++)
            if (f[i].len == strlen(j->o->keep[k]) && !memcmp(f[i].p, j->o->keep[k], f[i].len))
                j->keep_at[k] = (long)i;
        if (j->keep_at[k] < 0)
            return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                             "--keep-columns: the input has no column '%s'", j->o->keep[k]);
    }
    return KEEL_OK;
}

/* The shard's byte range of the body: the first row start at or after its
 * nominal start, found by quote parity from the top of the body. */
static enum keel_err shard_range(struct job *j, struct keel_ctx *ctx)
{
    uint64_t body = j->total_bytes - j->body_start;
    uint64_t lo = j->body_start + body * j->o->shard / j->o->shards;
    uint64_t hi = j->body_start + body * (j->o->shard + 1) / j->o->shards;
    j->range_end = j->o->shard + 1 == j->o->shards ? j->total_bytes : hi;
    if (lo == j->body_start) {
        j->range_start = lo;
        return KEEL_OK;
    }
    /* the first row start >= lo: after a row end at offset >= lo - 1 */
    char *buf = malloc(READ_BLOCK);
    if (!buf)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    bool inq = false, csv = j->o->in_format == BATCH_IN_CSV;
    uint64_t off = j->body_start, start = j->total_bytes;
    if (lseek(j->in_fd, (off_t)off, SEEK_SET) < 0) {
        free(buf);
        return keel_fail(ctx, KEEL_E_IO, "cannot seek in %s: %s", j->o->input, strerror(errno));
    }
    while (start == j->total_bytes) {
        ssize_t r = read_full(j->in_fd, buf, READ_BLOCK);
        if (r <= 0)
            break;
        size_t at = 0, e;
        while ((e = next_row_end(buf, at, (size_t)r, csv, &inq))) {
            if (off + e >= lo) {
                start = off + e;
                break;
            }
            at = e;
        }
        off += (uint64_t)r;
    }
    free(buf);
    j->range_start = start < j->range_end ? start : j->range_end;
    return KEEL_OK;
}

enum keel_err batch_predict(const struct keel_model *model, const struct batch_options *o,
                            struct batch_stats *stats, struct keel_ctx *ctx)
{
    memset(stats, 0, sizeof *stats);
    if (o->out_format == BATCH_OUT_JSON && o->n_keep)
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "--keep-columns needs a .csv or .jsonl output; .json holds MLflow's "
                         "{\"predictions\": [...]} only");
    if (o->shards > 1 && (o->out_format == BATCH_OUT_JSON || strcmp(o->input, "-") == 0))
        return keel_fail(ctx, KEEL_E_INVALID_PARAMETER,
                         "--shard needs a file input and a .csv or .jsonl output (whose parts "
                         "concatenate)");
    struct job j = {.model = model, .o = o, .in_fd = -1, .cap = 2 * (size_t)o->threads + 2};
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    j.in_hash = o->digests ? EVP_MD_CTX_new() : NULL;
    struct sink out = {.fd = -1}, rej = {.fd = -1};
    enum keel_err e = KEEL_OK;
    pthread_t reader, *workers = calloc(o->threads, sizeof *workers);
    unsigned started = 0;
    bool reader_started = false;
    if (!workers ||
        (o->digests && (!j.in_hash || !EVP_DigestInit_ex(j.in_hash, EVP_sha256(), NULL)))) {
        e = keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        goto done;
    }
    j.in_fd = strcmp(o->input, "-") == 0 ? STDIN_FILENO : open(o->input, O_RDONLY | O_CLOEXEC);
    if (j.in_fd < 0) {
        e = keel_fail(ctx, KEEL_E_IO, "cannot open %s: %s", o->input, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(j.in_fd, &st) == 0 && S_ISREG(st.st_mode))
        j.total_bytes = (uint64_t)st.st_size;
    if ((e = read_header(&j, ctx)) != KEEL_OK)
        goto done;
    j.range_start = j.body_start;
    j.range_end = j.total_bytes ? j.total_bytes : UINT64_MAX;
    if (o->shards > 1) {
        if (!j.total_bytes) {
            e = keel_fail(ctx, KEEL_E_INVALID_PARAMETER, "--shard needs a regular file input");
            goto done;
        }
        if ((e = shard_range(&j, ctx)) != KEEL_OK)
            goto done;
    }
    if ((e = sink_open(&out, o->output, o->digests, ctx)) != KEEL_OK ||
        (o->skip_errors && (e = sink_open(&rej, o->rejects, false, ctx)) != KEEL_OK))
        goto done;

    int64_t t0 = keel_now_us(), last_progress = t0;
    if (pthread_create(&reader, NULL, reader_main, &j) != 0) {
        e = keel_fail(ctx, KEEL_E_NOMEM, "cannot start the reader thread");
        goto done;
    }
    reader_started = true;
    for (; started < o->threads; started++)
        if (pthread_create(&workers[started], NULL, worker_main, &j) != 0)
            break;
    if (!started) {
        job_fail(&j, KEEL_E_NOMEM, "cannot start scoring threads");
    }

    /* the writer: chunks strictly in sequence */
    bool header_done = o->out_format != BATCH_OUT_CSV || o->shard > 0;
    if (o->out_format == BATCH_OUT_JSON && !sink_write(&out, "{\"predictions\": [", 17))
        job_fail(&j, KEEL_E_IO, "cannot write %s: %s", o->output, strerror(errno));
    bool first_values = true;
    for (uint64_t next = 0;; next++) {
        pthread_mutex_lock(&j.mu);
        struct chunk *c = NULL, **pp = NULL;
        for (;;) {
            for (pp = &j.done; *pp && (*pp)->seq != next; pp = &(*pp)->next)
                ;
            if (*pp || j.failed || (j.reader_done && next >= j.produced))
                break;
            pthread_cond_wait(&j.cv, &j.mu);
        }
        if (*pp && !j.failed) {
            c = *pp;
            *pp = c->next;
        }
        pthread_mutex_unlock(&j.mu);
        if (!c)
            break;
        if (!header_done) {
            write_csv_header(&j, &out, c->pred_cols);
            header_done = true;
        }
        if (o->out_format == BATCH_OUT_JSON && c->rows && !first_values &&
            !sink_write(&out, ", ", 2))
            job_fail(&j, KEEL_E_IO, "cannot write %s: %s", o->output, strerror(errno));
        if (c->rows)
            first_values = false;
        if (!sink_write(&out, c->out.data ? c->out.data : "", c->out.len) ||
            (c->rejects.len && !sink_write(&rej, c->rejects.data, c->rejects.len)))
            job_fail(&j, KEEL_E_IO, "cannot write %s: %s", o->output, strerror(errno));
        stats->rows += c->rows;
        stats->rejected += c->rejected;
        chunk_free(c);
        pthread_mutex_lock(&j.mu);
        j.live--;
        pthread_cond_broadcast(&j.cv);
        pthread_mutex_unlock(&j.mu);
        if (o->progress && seconds_since(last_progress) > 0.5) {
            progress(&j, stats->rows, t0, false);
            last_progress = keel_now_us();
        }
    }
    if (!header_done && !j.failed)
        write_csv_header(&j, &out, 0);
    if (o->out_format == BATCH_OUT_JSON && !sink_write(&out, "]}", 2))
        job_fail(&j, KEEL_E_IO, "cannot write %s: %s", o->output, strerror(errno));
    if (o->progress)
        progress(&j, stats->rows, t0, true);
    stats->seconds = seconds_since(t0);
    if (j.failed)
        e = keel_fail(ctx, j.err, "%s", j.errmsg);

done:
    if (e != KEEL_OK)
        job_fail(&j, e, "%s", ctx->errmsg ? ctx->errmsg : "failed");
    if (reader_started)
        pthread_join(reader, NULL);
    for (unsigned i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    free(workers);
    while (j.todo) {
        struct chunk *c = j.todo;
        j.todo = c->next;
        chunk_free(c);
    }
    while (j.done) {
        struct chunk *c = j.done;
        j.done = c->next;
        chunk_free(c);
    }
    enum keel_err ce = sink_close(&out, e == KEEL_OK, ctx);
    enum keel_err re = sink_close(&rej, e == KEEL_OK, ctx);
    if (e == KEEL_OK)
        e = ce != KEEL_OK ? ce : re;
    stats->bytes_in = j.bytes_read;
    stats->bytes_out = out.bytes;
    if (out.hash)
        digest_hex(&out.hash, stats->output_sha256);
    if (j.in_hash)
        digest_hex(&j.in_hash, stats->input_sha256);
    if (j.in_fd > STDIN_FILENO)
        close(j.in_fd);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
    return e;
}
