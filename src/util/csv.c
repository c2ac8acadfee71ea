/*
 * csv.c -- the CSV reader: a resumable byte-level state machine.
 *
 * Design note. The reader is always in one of the states below and each
 * input byte moves it along; nothing depends on how the input is cut into
 * pieces, so a row may straddle any number of csv_feed() calls.
 *
 *   ROW_START   --'"'--> QUOTED   --'"'--> QUOTE --'"'--> QUOTED (a literal ")
 *       | other             ^                | ',' / line end: field done
 *       v                   |                v other: CSV_E_BAD_QUOTE
 *   UNQUOTED --','--> FIELD_START (same moves as ROW_START)
 *       | line end: row done (CR goes through AFTER_CR to swallow an LF)
 *
 * Invariants:
 *   1. A completed field is either borrowed (spill[i] == SIZE_MAX, p points
 *      into the current piece) or spilled (its bytes are scratch[spill[i] ..
 *      + len)); pointers into scratch are made only when the row is handed
 *      out, because scratch moves when it grows.
 *   2. A field starts spilling only after every earlier field of its row has
 *      been spilled, and nothing is appended to scratch while a spilled field
 *      is in progress except that field's own bytes; so each spilled field is
 *      contiguous in scratch.
 *   3. When a piece runs out mid-row, every field of the row is spilled
 *      before CSV_MORE is answered: nothing refers to an old piece.
 *   4. scratch and the field arrays are reset when the next row starts, so
 *      they never hold more than one row.
 */
#include "util/csv.h"

#include <string.h>

#include "util/arena.h"

enum {
    ST_ROW_START,
    ST_FIELD_START,
    ST_UNQUOTED,
    ST_QUOTED,
    ST_QUOTE, /* a '"' seen inside a quoted field: closing, or half of "" */
    ST_AFTER_CR,
    ST_DONE,
};

void csv_init(struct csv_reader *r, struct karena *arena, const struct csv_limits *lim)
{
    memset(r, 0, sizeof *r);
    r->arena = arena;
    r->max_field = lim && lim->max_field ? lim->max_field : CSV_DEFAULT_MAX_FIELD;
    r->max_cols = lim && lim->max_cols ? lim->max_cols : CSV_DEFAULT_MAX_COLS;
    r->state = ST_ROW_START;
    r->line = 1;
    r->row_line = 1;
}

void csv_feed(struct csv_reader *r, const char *buf, size_t len, bool last)
{
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    r->last = last;
    r->next_quote = r->next_cr = SIZE_MAX;
}

/* Where the next ch is in the piece, from pos (len: none), remembered in
 * *at until pos passes it. */
static size_t next_of(const struct csv_reader *r, char ch, size_t *at)
{
    if (*at == SIZE_MAX || *at < r->pos) {
        const char *hit = memchr(r->buf + r->pos, ch, r->len - r->pos);
        *at = hit ? (size_t)(hit - r->buf) : r->len;
    }
    return *at;
}

bool csv_peek_plain(struct csv_reader *r, const char **line, size_t *len)
{
    if (r->err || !r->bom_done || r->state != ST_ROW_START || r->pos >= r->len)
        return false;
    const char *p = r->buf + r->pos;
    size_t rest = r->len - r->pos;
    const char *nl = memchr(p, '\n', rest);
    if (!nl)
        return false;
    size_t n = (size_t)(nl - p);
    if (n && p[n - 1] == '\r')
        n--;
    if (next_of(r, '"', &r->next_quote) < r->pos + n || next_of(r, '\r', &r->next_cr) < r->pos + n ||
        n > r->max_field)
        return false;
    /* the column ceiling, as csv_next() keeps it: n bytes hold at most n + 1
     * fields, so only a line that long is counted */
    if (n >= r->max_cols) {
        size_t fields = 1;
        for (const char *c = p, *e = p + n; (c = memchr(c, ',', (size_t)(e - c))) != NULL; c++)
            if (++fields > r->max_cols)
                return false;
    }
    *line = p;
    *len = n;
    return true;
}

bool csv_rest(const struct csv_reader *r, const char **rest, size_t *n)
{
    if (r->err || !r->bom_done || r->state != ST_ROW_START || r->pos >= r->len)
        return false;
    *rest = r->buf + r->pos;
    /* a line longer than a field may be is not within reach */
    *n = r->len - r->pos <= r->max_field ? r->len - r->pos : r->max_field + 1;
    return true;
}

void csv_skip_plain(struct csv_reader *r, size_t len)
{
    r->row_line = r->line;
    r->pos += len + (r->buf[r->pos + len] == '\r' ? 2 : 1);
    r->line++;
}

enum csv_error csv_error(const struct csv_reader *r) { return r->err; }

uint64_t csv_line(const struct csv_reader *r) { return r->err ? r->err_line : r->row_line; }

const char *csv_strerror(enum csv_error e)
{
    static const char *const text[] = {
        [CSV_OK] = "no error",
        [CSV_E_FIELD_TOO_LONG] = "a field is longer than the limit",
        [CSV_E_TOO_MANY_COLUMNS] = "a row has more fields than the limit",
        [CSV_E_UNTERMINATED] = "a quoted field is not closed before the end of the input",
        [CSV_E_BAD_QUOTE] = "a closing quote is followed by something other than a delimiter",
        [CSV_E_NOMEM] = "out of memory",
    };
    return (unsigned)e < sizeof text / sizeof *text ? text[e] : "unknown error";
}

static enum csv_status fail(struct csv_reader *r, enum csv_error e, uint64_t line)
{
    r->err = e;
    r->err_line = line;
    return CSV_ERROR;
}

/* Appends n bytes to scratch; false (error set) past the arena's ceiling. */
static bool scratch_add(struct csv_reader *r, const char *p, size_t n)
{
    if (n > r->scratch_cap - r->scratch_len) {
        size_t cap = r->scratch_cap ? r->scratch_cap : 256;
        while (cap - r->scratch_len < n) {
            if (cap > SIZE_MAX / 2) {
                fail(r, CSV_E_NOMEM, r->row_line);
                return false;
            }
            cap *= 2;
        }
        char *s = karena_realloc(r->arena, r->scratch, r->scratch_len, cap);
        if (!s) {
            fail(r, CSV_E_NOMEM, r->row_line);
            return false;
        }
        r->scratch = s;
        r->scratch_cap = cap;
    }
    if (n)
        memcpy(r->scratch + r->scratch_len, p, n);
    r->scratch_len += n;
    return true;
}

/* Copies every still-borrowed completed field of the row into scratch. */
static bool pin_completed(struct csv_reader *r)
{
    for (size_t i = 0; i < r->nfields; i++) {
        if (r->spill[i] != SIZE_MAX)
            continue;
        size_t off = r->scratch_len;
        if (!scratch_add(r, r->fields[i].p, r->fields[i].len))
            return false;
        r->spill[i] = off;
    }
    return true;
}

/* Moves the field in progress (its bytes buf[f_seg..end)) to scratch. */
static bool spill_current(struct csv_reader *r, size_t end)
{
    if (!r->f_spilled) {
        if (!pin_completed(r))
            return false;
        r->f_spilled = true;
        r->f_start = r->scratch_len;
    }
    size_t have = r->scratch_len - r->f_start;
    if (have > r->max_field || end - r->f_seg > r->max_field - have) {
        fail(r, CSV_E_FIELD_TOO_LONG, r->row_line);
        return false;
    }
    bool ok = scratch_add(r, r->buf + r->f_seg, end - r->f_seg);
    r->f_seg = end;
    return ok;
}

static bool push_field(struct csv_reader *r, const char *p, size_t len, size_t spill)
{
    if (r->nfields == r->max_cols) {
        fail(r, CSV_E_TOO_MANY_COLUMNS, r->row_line);
        return false;
    }
    if (r->nfields == r->cap_fields) {
        size_t cap = r->cap_fields ? r->cap_fields * 2 : 16;
        if (cap > r->max_cols)
            cap = r->max_cols;
        struct csv_field *f = karena_realloc(r->arena, r->fields, r->nfields * sizeof *f,
                                             cap * sizeof *f);
        size_t *s = karena_realloc(r->arena, r->spill, r->nfields * sizeof *s, cap * sizeof *s);
        if (!f || !s) {
            fail(r, CSV_E_NOMEM, r->row_line);
            return false;
        }
        r->fields = f;
        r->spill = s;
        r->cap_fields = cap;
    }
    r->fields[r->nfields] = (struct csv_field){.p = p, .len = len, .quoted = r->f_quoted};
    r->spill[r->nfields] = spill;
    r->nfields++;
    return true;
}

/* Whether the field in progress, read up to buf[end], is past max_field.
 * Checked as bytes are read, so the answer does not depend on where the
 * input was cut into pieces. */
static bool field_too_long(struct csv_reader *r, size_t end)
{
    size_t have = r->f_spilled ? r->scratch_len - r->f_start : 0;
    if (have > r->max_field || end - r->f_seg > r->max_field - have) {
        fail(r, CSV_E_FIELD_TOO_LONG, r->row_line);
        return true;
    }
    return false;
}

/* Ends the field in progress, whose last byte is before buf[end]. */
static bool finish_field(struct csv_reader *r, size_t end)
{
    if (r->f_spilled) {
        if (!spill_current(r, end))
            return false;
        return push_field(r, NULL, r->scratch_len - r->f_start, r->f_start);
    }
    if (end - r->f_seg > r->max_field) {
        fail(r, CSV_E_FIELD_TOO_LONG, r->row_line);
        return false;
    }
    return push_field(r, r->buf + r->f_seg, end - r->f_seg, SIZE_MAX);
}

static void start_field(struct csv_reader *r, size_t seg, bool quoted)
{
    r->f_seg = seg;
    r->f_quoted = quoted;
    r->f_spilled = false;
    r->q_cr = false;
}

/* Hands out the completed row (invariant 1: spilled fields get pointers now). */
static enum csv_status emit(struct csv_reader *r, const struct csv_field **fields, size_t *n)
{
    for (size_t i = 0; i < r->nfields; i++)
        if (r->spill[i] != SIZE_MAX) /* empty spilled fields may find no scratch yet */
            r->fields[i].p = r->scratch ? r->scratch + r->spill[i] : "";
    r->row_done = true;
    *fields = r->fields;
    *n = r->nfields;
    return CSV_ROW;
}

/* A line break ends the row; CR may be half of CRLF. */
static enum csv_status end_line(struct csv_reader *r, char c, const struct csv_field **fields,
                                size_t *n)
{
    r->pos++;
    r->line++;
    r->state = c == '\r' ? ST_AFTER_CR : ST_ROW_START;
    return emit(r, fields, n);
}

/* The piece ran out mid-row and another follows (invariant 3). */
static enum csv_status need_more(struct csv_reader *r)
{
    bool ok = true;
    switch (r->state) {
    case ST_UNQUOTED:
    case ST_QUOTED:
        ok = spill_current(r, r->len);
        r->f_seg = 0;
        break;
    case ST_QUOTE:
        /* the quote itself (last byte of the piece) is not content */
        ok = spill_current(r, r->f_end);
        r->f_seg = r->f_end = 0;
        break;
    default:
        ok = pin_completed(r);
        break;
    }
    return ok ? CSV_MORE : CSV_ERROR;
}

/* The last piece ran out. */
static enum csv_status at_end(struct csv_reader *r, const struct csv_field **fields, size_t *n)
{
    switch (r->state) {
    case ST_ROW_START:
    case ST_AFTER_CR:
        r->state = ST_DONE;
        return CSV_END;
    case ST_FIELD_START: /* "a," ends with an empty field */
        start_field(r, r->len, false);
        break;
    case ST_QUOTED:
        return fail(r, CSV_E_UNTERMINATED, r->quote_line);
    default:
        break;
    }
    bool ok = finish_field(r, r->state == ST_QUOTE ? r->f_end : r->len);
    r->state = ST_DONE;
    return ok ? emit(r, fields, n) : CSV_ERROR;
}

/*
 * A UTF-8 BOM is skipped only at the very start. A first piece shorter than
 * the BOM is held back; if the bytes turn out not to be a BOM they are the
 * start of the first field, which then begins in scratch. Returns false when
 * the caller must answer CSV_MORE or CSV_ERROR (*st says which).
 */
static bool skip_bom(struct csv_reader *r, enum csv_status *st)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    while (r->bom_have < 3) {
        if (r->pos == r->len && !r->last) {
            *st = CSV_MORE;
            return false;
        }
        if (r->pos < r->len && (unsigned char)r->buf[r->pos] == bom[r->bom_have]) {
            r->bom_buf[r->bom_have++] = (uint8_t)r->buf[r->pos++];
            continue;
        }
        r->bom_done = true;
        if (r->pos >= r->bom_have) { /* every held byte is in this piece: reread them */
            r->pos -= r->bom_have;
            return true;
        }
        start_field(r, r->pos, false);
        r->f_spilled = true;
        r->f_start = 0;
        r->state = ST_UNQUOTED;
        if (scratch_add(r, (const char *)r->bom_buf, r->bom_have))
            return true;
        *st = CSV_ERROR;
        return false;
    }
    r->bom_done = true;
    return true;
}

enum csv_status csv_next(struct csv_reader *r, const struct csv_field **fields, size_t *n)
{
    *fields = NULL;
    *n = 0;
    if (r->err)
        return CSV_ERROR;
    if (r->row_done) { /* invariant 4 */
        r->nfields = 0;
        r->scratch_len = 0;
        r->row_done = false;
    }
    if (r->state == ST_DONE)
        return CSV_END;
    enum csv_status st;
    if (!r->bom_done && !skip_bom(r, &st))
        return st;
    const char *buf = r->buf;
    for (;;) {
        if (r->pos == r->len)
            return r->last ? at_end(r, fields, n) : need_more(r);
        char c = buf[r->pos];
        switch (r->state) {
        case ST_AFTER_CR:
            r->state = ST_ROW_START;
            if (c == '\n') {
                r->pos++;
                continue;
            }
            /* fall through */
        case ST_ROW_START:
            r->row_line = r->line;
            if (c == '\n' || c == '\r')
                return end_line(r, c, fields, n); /* a blank line: no fields */
            /* fall through */
        case ST_FIELD_START:
            if (c == '"') {
                start_field(r, r->pos + 1, true);
                r->quote_line = r->line;
                r->state = ST_QUOTED;
                r->pos++;
            } else {
                start_field(r, r->pos, false);
                r->state = ST_UNQUOTED;
            }
            continue;
        case ST_UNQUOTED: {
            size_t p = r->pos;
            while (p < r->len && buf[p] != ',' && buf[p] != '\n' && buf[p] != '\r')
                p++;
            r->pos = p;
            if (field_too_long(r, p))
                return CSV_ERROR;
            if (p == r->len)
                continue;
            if (!finish_field(r, p))
                return CSV_ERROR;
            if (buf[p] == ',') {
                r->state = ST_FIELD_START;
                r->pos++;
                continue;
            }
            return end_line(r, buf[p], fields, n);
        }
        case ST_QUOTED: {
            size_t p = r->pos;
            bool cr = r->q_cr;
            for (; p < r->len && buf[p] != '"'; p++) {
                /* count physical lines inside the field, CRLF once, even
                 * when the CR ended the previous piece */
                if (buf[p] == '\r' || (buf[p] == '\n' && !cr))
                    r->line++;
                cr = buf[p] == '\r';
            }
            r->q_cr = cr;
            r->pos = p;
            if (field_too_long(r, p))
                return CSV_ERROR;
            if (p < r->len) {
                r->state = ST_QUOTE;
                r->f_end = p;
                r->q_cr = false;
                r->pos++;
            }
            continue;
        }
        case ST_QUOTE:
            if (c == '"') { /* "" is one literal quote: the field must be unescaped */
                if (!spill_current(r, r->f_end) || !scratch_add(r, "\"", 1))
                    return CSV_ERROR;
                r->f_seg = r->pos + 1;
                r->state = ST_QUOTED;
                r->pos++;
                continue;
            }
            if (c == ',' || c == '\n' || c == '\r') {
                if (!finish_field(r, r->f_end))
                    return CSV_ERROR;
                if (c == ',') {
                    r->state = ST_FIELD_START;
                    r->pos++;
                    continue;
                }
                return end_line(r, c, fields, n);
            }
            return fail(r, CSV_E_BAD_QUOTE, r->line);
        default:
            return CSV_END;
        }
    }
}
