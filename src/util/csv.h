/*
 * csv.h -- an RFC 4180 CSV reader that takes its input whole or in pieces.
 *
 * Serving hands it a request body in one piece; batch inference will hand it
 * a file a buffer at a time. Both ask the same question -- "the next row,
 * please" -- and get the row as an array of (pointer, length) fields plus the
 * 1-based line it started on, for error messages.
 *
 * What it reads: fields separated by ',', rows ended by LF, CRLF or a lone
 * CR; fields in double quotes may hold commas, line breaks and doubled quotes
 * (""); a UTF-8 byte order mark at the very start is skipped. Each field has
 * a length ceiling and each row a column ceiling, and past either the reader
 * stops with an error naming the line. A quote inside an unquoted field is
 * kept as text (as pandas and Python's csv module do); text between a closing
 * quote and the next delimiter is an error.
 *
 * Fields are borrowed from the caller's buffer when they can be (unquoted
 * fields, and quoted ones without "" inside); a field that has to be
 * unescaped, or a row that straddles two buffers, is copied into the reader's
 * scratch space. Either way a row's fields stay valid until the next call to
 * csv_next() or csv_feed(). The scratch space and the field array come from
 * the arena given to csv_init() and grow only to fit the largest row seen, so
 * a reader streaming a file of any length uses memory bounded by the limits.
 *
 * Usage:
 *
 *     struct csv_reader r;
 *     csv_init(&r, arena, NULL);
 *     csv_feed(&r, buf, n, is_last_piece);
 *     while ((st = csv_next(&r, &fields, &nfields)) == CSV_ROW) { ... }
 *     // CSV_MORE: feed the next piece (the reader no longer needs buf);
 *     // CSV_END: no more rows; CSV_ERROR: csv_error()/csv_line() say why, where.
 *
 * A blank line is a row with no fields (nfields == 0): whether to skip it is
 * the caller's business (pandas skips them; for a one-column file it is an
 * empty value).
 */
#ifndef KEEL_CSV_H
#define KEEL_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct karena;

#define CSV_DEFAULT_MAX_FIELD ((size_t)1 << 20) /* bytes in one field */
#define CSV_DEFAULT_MAX_COLS ((size_t)1 << 16)  /* fields in one row */

struct csv_field {
    const char *p; /* not NUL-terminated */
    size_t len;
    bool quoted;   /* was written in double quotes ("" is an empty quoted field) */
};

struct csv_limits {
    size_t max_field; /* 0: CSV_DEFAULT_MAX_FIELD */
    size_t max_cols;  /* 0: CSV_DEFAULT_MAX_COLS */
};

enum csv_status {
    CSV_ROW,   /* a row is ready */
    CSV_MORE,  /* the piece is used up: feed the next one */
    CSV_END,   /* the last piece is used up; no more rows */
    CSV_ERROR, /* see csv_error(); every later call answers CSV_ERROR again */
};

enum csv_error {
    CSV_OK,
    CSV_E_FIELD_TOO_LONG,   /* a field passed max_field bytes */
    CSV_E_TOO_MANY_COLUMNS, /* a row passed max_cols fields */
    CSV_E_UNTERMINATED,     /* the input ended inside a quoted field */
    CSV_E_BAD_QUOTE,        /* text between a closing quote and the delimiter */
    CSV_E_NOMEM,            /* the arena is exhausted */
};

/* The reader's state; all members are private to csv.c. */
struct csv_reader {
    struct karena *arena;
    size_t max_field, max_cols;
    /* the piece being read */
    const char *buf;
    size_t len, pos;
    bool last;
    int state;
    /* the row being built: fields[i].p is valid only for borrowed fields
     * until the row is complete; spilled ones live at spill[i] in scratch */
    struct csv_field *fields;
    size_t *spill;
    size_t nfields, cap_fields;
    char *scratch;
    size_t scratch_len, scratch_cap;
    /* the field being read */
    bool f_spilled, f_quoted, q_cr;
    size_t f_seg;       /* where its not-yet-copied bytes start in buf */
    size_t f_end;       /* in state QUOTE: where the quote is in buf */
    size_t f_start;     /* its first byte in scratch, when spilled */
    /* the fast lane's memory of the piece: the first '"' and CR at or after
     * where it last looked (len: none; SIZE_MAX, or below pos: look again),
     * so each is searched for once per stretch, not once per line */
    size_t next_quote, next_cr;
    uint8_t bom_have;   /* bytes of a possible BOM held back (first piece < 3 bytes) */
    uint8_t bom_buf[3];
    bool bom_done, row_done;
    uint64_t line, row_line, quote_line;
    enum csv_error err;
    uint64_t err_line;
};

/* Prepares r to read a new input. Memory for rows comes from arena (which
 * must outlive the reader; nothing needs freeing separately). lim may be
 * NULL for the defaults. */
void csv_init(struct csv_reader *r, struct karena *arena, const struct csv_limits *lim);

/* Hands r the next piece of input (len bytes at buf, borrowed until
 * csv_next() answers CSV_MORE or CSV_END). last: no piece follows this one.
 * Call it at the start and after each CSV_MORE only. */
void csv_feed(struct csv_reader *r, const char *buf, size_t len, bool last);

/* The next row: *fields (an array of *nfields) valid until the next call. */
enum csv_status csv_next(struct csv_reader *r, const struct csv_field **fields, size_t *nfields);

/*
 * A fast lane for plain rows. When the reader stands at the start of a row
 * whose line is whole in the piece, ends in LF or CRLF and holds no quote
 * and no other CR, csv_peek_plain() gives that line's bytes (without the
 * line end) and returns true; the row is its text split at every ',' (an
 * empty line is a blank row, with no fields). The
 * caller either reads it itself and calls csv_skip_plain() -- exactly as if
 * csv_next() had returned it -- or leaves it to csv_next(). False: read the
 * row with csv_next().
 */
bool csv_peek_plain(struct csv_reader *r, const char **line, size_t *len);
void csv_skip_plain(struct csv_reader *r, size_t len);
/* Faster still when the caller recognises its own lines: the unread bytes
 * when the reader stands at the start of a row (false otherwise), cut at
 * max_field + 1 bytes. A line the caller finds there -- up to an LF or CRLF,
 * with no quote, no other CR, no field past max_field and at most max_cols
 * fields -- is then skipped with csv_skip_plain() (given its length without
 * the line end) as if csv_peek_plain() had given it. */
bool csv_rest(const struct csv_reader *r, const char **rest, size_t *n);

/* Why csv_next() answered CSV_ERROR (CSV_OK otherwise). */
enum csv_error csv_error(const struct csv_reader *r);
/* A sentence for an error ("a quoted field is not closed"), static. */
const char *csv_strerror(enum csv_error e);
/* The 1-based line on which the last row returned began, or, after an error,
 * the line the error is about (for an unclosed quote, the line it opened on). */
uint64_t csv_line(const struct csv_reader *r);

#endif
