/*
 * payload.c -- MLflow scoring request bodies into one matrix, with MLflow's
 * refusals.
 *
 * Every input form ends in the same place: a list of input columns (a name,
 * or a position when the client sent bare lists) and their cells, matched by
 * name to the signature (struct frame). Cells are converted as MLflow 2.12
 * converts them -- pandas' astype for JSON (ints and numeric strings accepted
 * into float columns, null -> NaN), read_csv's float parser for CSV (empty
 * cells and pandas' NA spellings -> NaN) -- straight into the double matrix.
 * The first conversion failure in signature-column order is the one
 * reported, as MLflow casts column by column. Missing required columns are
 * checked last, as MLflow's schema enforcement runs after parsing.
 *
 * Messages are MLflow's, except where MLflow prints pandas or numpy reprs of
 * the whole input (docs/decisions/0010-native-scoring.md): there keel writes
 * "<R rows x C columns>" in place of the repr and keeps the rest. Malformed
 * JSON is described as Python's json module describes it ("Expecting ','
 * delimiter: line 1 column 566 (char 565)") by a small scanner that follows
 * its rules, since clients and people read those positions.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve/payload.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/csv.h"
#include "util/decimal.h"
#include "util/json.h"
#include "util/jparse.h"

#define MAX_MSG (64u << 10)   /* bytes of a message before the echoed input */
#define MAX_ECHO (1u << 20)   /* bytes of a malformed body echoed back */

static const char required_format[] =
    "The input must be a JSON dictionary with exactly one of the input fields "
    "{'dataframe_records', 'dataframe_split', 'instances', 'inputs'}";

const char payload_protocol_change_info[] =
    "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are "
    "seeing this error, you are likely using an outdated scoring request format. To resolve the "
    "error, either update your request format or adjust your MLflow Model's requirements file "
    "to specify an older version of MLflow (for example, change the 'mlflow' requirement "
    "specifier to 'mlflow==1.30.0'). If you are making a request using the MLflow client (e.g. "
    "via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in order "
    "to use the new request format. For more information about the updated MLflow Model "
    "scoring protocol in MLflow 2.0, see "
    "https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.";

static const char csv_failed[] =
    "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid "
    "CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method.";

/* The accepted top-level keys, in the order MLflow's messages list them. */
static const char *const input_keys[] = {"dataframe_split", "dataframe_records", "instances",
                                         "inputs"};
enum input_key { K_SPLIT, K_RECORDS, K_INSTANCES, K_INPUTS, K__COUNT };

/* ---- messages ---- */

/* keel_fail with a message assembled in a kbuf (long names, echoed bodies). */
static enum keel_err fail_buf(struct keel_ctx *ctx, enum keel_err e, struct kbuf *b)
{
    enum keel_err r = keel_fail(ctx, e, "%.*s", (int)b->len, b->data ? b->data : "");
    kbuf_free(b);
    return r;
}

/* numpy's dtype name for a signature type, as MLflow's cast messages print it. */
static const char *pandas_dtype(enum keel_dtype t)
{
    switch (t) {
    case KEEL_DT_DOUBLE: return "float64";
    case KEEL_DT_FLOAT: return "float32";
    case KEEL_DT_LONG: return "int64";
    case KEEL_DT_INTEGER: return "int32";
    case KEEL_DT_BOOLEAN: return "bool";
    default: return "object";
    }
}

/* MLflow's Schema repr: ['a': double (required), 'b': long (optional)] */
static void put_schema(struct kbuf *b, const struct keel_signature *sig)
{
    kbuf_addc(b, '[');
    for (size_t i = 0; i < sig->n_inputs; i++) {
        if (i)
            kbuf_adds(b, ", ");
        json_pyrepr_str(b, sig->inputs[i].name, strlen(sig->inputs[i].name));
        kbuf_printf(b, ": %s (%s)", keel_dtype_name(sig->inputs[i].type),
                    sig->inputs[i].required ? "required" : "optional");
    }
    kbuf_addc(b, ']');
}

/* ---- Python's json error positions ---- */

struct pyscan {
    const char *s;
    size_t n, pos;
    const char *msg; /* set at the first error */
    size_t at;
    int depth;
};

static void py_ws(struct pyscan *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static bool py_err(struct pyscan *p, const char *msg, size_t at)
{
    p->msg = msg;
    p->at = at;
    return false;
}

static bool py_string(struct pyscan *p)
{
    size_t start = p->pos++; /* the opening quote */
    while (p->pos < p->n) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            return true;
        }
        if (c < 0x20)
            return py_err(p, "Invalid control character at", p->pos);
        if (c == '\\') {
            if (p->pos + 1 >= p->n)
                break;
            char e = p->s[p->pos + 1];
            if (e == 'u') {
                for (size_t k = 2; k < 6; k++)
                    if (p->pos + k >= p->n || !isxdigit((unsigned char)p->s[p->pos + k]))
                        return py_err(p, "Invalid \\uXXXX escape", p->pos + 1);
                p->pos += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e))
                return py_err(p, "Invalid \\escape", p->pos);
            p->pos += 2;
            continue;
        }
        p->pos++;
    }
    return py_err(p, "Unterminated string starting at", start);
}

static bool py_value(struct pyscan *p);

static bool py_container(struct pyscan *p, bool object)
{
    char close = object ? '}' : ']';
    if (++p->depth > 1000)
        return py_err(p, "Expecting value", p->pos);
    p->pos++;
    py_ws(p);
    if (p->pos < p->n && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            if (p->pos >= p->n || p->s[p->pos] != '"')
                return py_err(p, "Expecting property name enclosed in double quotes", p->pos);
            if (!py_string(p))
                return false;
            py_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':')
                return py_err(p, "Expecting ':' delimiter", p->pos);
            p->pos++;
            py_ws(p);
        }
        if (!py_value(p))
            return false;
        py_ws(p);
        if (p->pos < p->n && p->s[p->pos] == close) {
            p->pos++;
            p->depth--;
            return true;
        }
        if (p->pos >= p->n || p->s[p->pos] != ',')
            return py_err(p, "Expecting ',' delimiter", p->pos);
        p->pos++;
        py_ws(p);
    }
}

static bool py_value(struct pyscan *p)
{
    if (p->pos >= p->n)
        return py_err(p, "Expecting value", p->pos);
    const char *s = p->s + p->pos;
    size_t left = p->n - p->pos;
    switch (*s) {
    case '"': return py_string(p);
    case '{': return py_container(p, true);
    case '[': return py_container(p, false);
    default: break;
    }
    static const char *const words[] = {"null", "true", "false", "NaN", "Infinity", "-Infinity"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t wl = strlen(words[i]);
        if (left >= wl && memcmp(s, words[i], wl) == 0) {
            p->pos += wl;
            return true;
        }
    }
    /* Python's number pattern: -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)? */
    size_t i = 0;
    if (i < left && s[i] == '-')
        i++;
    if (i < left && s[i] == '0') {
        i++;
    } else if (i < left && s[i] >= '1' && s[i] <= '9') {
        while (i < left && isdigit((unsigned char)s[i]))
            i++;
    } else {
        return py_err(p, "Expecting value", p->pos);
    }
    if (i + 1 < left && s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
        i++;
        while (i < left && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i < left && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < left && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < left && isdigit((unsigned char)s[j])) {
            while (j < left && isdigit((unsigned char)s[j]))
                j++;
            i = j;
        }
    }
    p->pos += i;
    return true;
}

/* Python's JSONDecodeError text for s, or NULL when Python would accept it. */
static char *py_json_error(struct karena *a, const char *s, size_t n)
{
    struct pyscan p = {.s = s, .n = n};
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        p.msg = "Unexpected UTF-8 BOM (decode using utf-8-sig)";
    } else if (py_ws(&p), py_value(&p)) {
        py_ws(&p);
        if (p.pos == n)
            return NULL;
        py_err(&p, "Extra data", p.pos);
    }
    /* Python counts characters, not bytes */
    size_t line = 1, col = 1, chr = 0;
    for (size_t i = 0; i < p.at && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) == 0x80)
            continue;
        chr++;
        if (c == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return karena_sprintf(a, "%s: line %zu column %zu (char %zu)", p.msg, line, col, chr);
}

static enum keel_err fail_json_syntax(const char *body, size_t len, const char *why,
                                      struct keel_ctx *ctx)
{
    struct kbuf b;
    kbuf_init(&b, MAX_MSG + MAX_ECHO);
    kbuf_adds(&b, "Invalid input. Ensure that input is a valid JSON formatted string. Error: '");
    /* repr(JSONDecodeError(msg)): the message in Python's quotes */
    kbuf_adds(&b, why == NULL ? "JSONDecodeError(" : "ValueError(");
    const char *msg = why ? why : py_json_error(ctx->arena, body, len);
    json_pyrepr_str(&b, msg ? msg : "", msg ? strlen(msg) : 0);
    kbuf_adds(&b, ")'\nInput: \n");
    kbuf_add(&b, body, len < MAX_ECHO ? len : MAX_ECHO);
    kbuf_addc(&b, '\n');
    return fail_buf(ctx, KEEL_E_BAD_REQUEST, &b);
}

/* ---- cells ---- */

/* Python's float(str): surrounding white space, an optional sign, decimal or
 * exponent notation, inf/infinity/nan in any case. */
static bool py_float(const char *s, size_t n, double *out)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (!n || n > 400)
        return false;
    if (decimal_parse(s, n, out))
        return true;
    /* the words Python's float() also reads, in any case */
    const char *t = s + (s[0] == '+' || s[0] == '-');
    size_t tn = n - (size_t)(t - s);
    if ((tn == 3 && !strncasecmp(t, "inf", 3)) || (tn == 8 && !strncasecmp(t, "infinity", 8))) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (tn == 3 && !strncasecmp(t, "nan", 3)) {
        *out = NAN;
        return true;
    }
    return false;
}

/* pandas' default NA spellings in read_csv. */
static bool pandas_na(const char *s, size_t n)
{
    static const char *const na[] = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN",
                                     "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
                                     "NULL", "NaN", "None", "n/a", "nan", "null"};
    if (n == 0)
        return true;
    /* most cells are numbers: none of the spellings starts with a digit
     * other than "1.#..." or is longer than 8 bytes */
    if (n > 8 || (s[0] >= '0' && s[0] <= '9' && s[0] != '1'))
        return false;
    for (size_t i = 0; i < sizeof na / sizeof *na; i++)
        if (na[i][0] == s[0] && strlen(na[i]) == n && memcmp(na[i], s, n) == 0)
            return true;
    return false;
}

/* A conversion failure, kept for the message: Python's exception text and
 * its repr (ValueError("could not convert string to float: 'abc'")). */
struct cell_err {
    size_t col; /* signature column; SIZE_MAX: none yet */
    char *msg;
    char *exc;
};

/* Records the failure of column col unless an earlier column failed: MLflow
 * casts column by column, so the first column's error is the one it reports.
 * msg is the exception's text up to the value, which is appended in Python's
 * repr when val is not NULL. */
static void note_err(struct cell_err *e, size_t col, struct karena *a, const char *exc_name,
                     const char *msg, const char *val, size_t n)
{
    if (col >= e->col)
        return;
    struct kbuf b;
    kbuf_init(&b, 8192);
    kbuf_adds(&b, msg);
    if (val)
        json_pyrepr_str(&b, val, n < 1000 ? n : 1000);
    e->msg = karena_strndup(a, b.data ? b.data : "", b.len);
    kbuf_reset(&b);
    kbuf_printf(&b, "%s(", exc_name);
    json_pyrepr_str(&b, e->msg ? e->msg : "", e->msg ? strlen(e->msg) : 0);
    kbuf_addc(&b, ')');
    e->exc = karena_strndup(a, b.data ? b.data : "", b.len);
    e->col = col;
    kbuf_free(&b);
}

static const char non_finite[] = "Cannot convert non-finite values (NA or inf) to integer";

static bool int_type(enum keel_dtype t)
{
    return t == KEEL_DT_LONG || t == KEEL_DT_INTEGER;
}

/* A text cell into a column of type t. csv: read_csv's rules (NA spellings),
 * else astype's on a Python str. */
static bool text_cell(const char *s, size_t n, enum keel_dtype t, bool csv, double *out,
                      struct cell_err *e, size_t col, struct karena *a)
{
    if (csv && pandas_na(s, n)) {
        *out = NAN;
        return true;
    }
    if (t == KEEL_DT_BOOLEAN && !csv) {
        *out = n > 0; /* astype(bool) on a str: its truthiness */
        return true;
    }
    if (t == KEEL_DT_BOOLEAN) { /* read_csv's spellings of a bool */
        static const char *const truth[] = {"True", "true", "TRUE", "False", "false", "FALSE"};
        for (size_t i = 0; i < sizeof truth / sizeof *truth; i++) {
            if (strlen(truth[i]) == n && memcmp(truth[i], s, n) == 0) {
                *out = i < 3;
                return true;
            }
        }
    }
    double d;
    bool ok = py_float(s, n, &d);
    if (ok && (!int_type(t) || (isfinite(d) && d == floor(d)))) {
        *out = d;
        return true;
    }
    if (int_type(t))
        note_err(e, col, a, "ValueError", "invalid literal for int() with base 10: ", s, n);
    else
        note_err(e, col, a, "ValueError", "could not convert string to float: ", s, n);
    return false;
}

static bool json_cell(const struct jval *v, enum keel_dtype t, double *out, struct cell_err *e,
                      size_t col, struct karena *a)
{
    switch (v->type) {
    case J_INT: *out = (double)v->u.i; return true;
    case J_REAL:
        if (int_type(t) && !isfinite(v->u.d)) {
            note_err(e, col, a, "IntCastingNaNError", non_finite, NULL, 0);
            return false;
        }
        *out = int_type(t) ? trunc(v->u.d) : v->u.d; /* astype truncates */
        return true;
    case J_TRUE: *out = 1.0; return true;
    case J_FALSE: *out = 0.0; return true;
    case J_NULL:
        if (int_type(t)) {
            note_err(e, col, a, "IntCastingNaNError", non_finite, NULL, 0);
            return false;
        }
        *out = t == KEEL_DT_BOOLEAN ? 0.0 : NAN;
        return true;
    case J_STRING: return text_cell(v->u.s, v->n, t, false, out, e, col, a);
    default:
        note_err(e, col, a, "TypeError",
                 v->type == J_ARRAY
                     ? "float() argument must be a string or a real number, not 'list'"
                     : "float() argument must be a string or a real number, not 'dict'",
                 NULL, 0);
        return false;
    }
}

/* ---- the frame every form is read into ---- */

struct colname {
    const char *s; /* NULL for a positional column */
    size_t n;
    size_t pos;
};

struct frame {
    const struct keel_signature *sig;
    size_t out_cols;         /* matrix width */
    const struct payload_limits *lim;
    struct karena *a;
    struct colname *names;   /* input columns, in input order */
    long *map;               /* input column -> matrix column, -1 = not used */
    size_t n_names, cap_names;
    double *x;
    struct payload_text *text; /* beside x when lim->keep_text */
    struct plain_col *plain;   /* CSV: each field's fate in plain_line and plain_row */
    bool plain_all;            /* every field a number the matrix takes */
    bool plain_direct;         /* and field c is real column c of all out_cols: read in place */
    double *fields;            /* one line's fields, when plain_all */
    size_t rows, cap_rows;
    struct cell_err err;
    unsigned *hash;          /* signature name -> index + 1, open addressing */
    size_t hash_mask;
    long *input_of;          /* matrix column -> its input column, -1: none (a missing input) */
    bool csv;                /* read_csv's messages, not astype's */
};

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static enum keel_err frame_init(struct frame *f, const struct keel_signature *sig,
                                size_t n_features, const struct payload_limits *lim,
                                struct keel_ctx *ctx)
{
    memset(f, 0, sizeof *f);
    f->sig = sig;
    f->lim = lim;
    f->a = ctx->arena;
    f->err.col = SIZE_MAX;
    f->out_cols = sig->has_inputs ? sig->n_inputs : n_features;
    for (size_t i = 0; sig->has_inputs && i < sig->n_inputs; i++) {
        enum keel_dtype t = sig->inputs[i].type;
        if (t == KEEL_DT_STRING || t == KEEL_DT_BINARY || t == KEEL_DT_DATETIME)
            return keel_fail(ctx, KEEL_E_NOT_IMPLEMENTED,
                             "keel scores numeric columns only; column '%s' is %s",
                             sig->inputs[i].name, keel_dtype_name(t));
    }
    f->input_of = karena_alloc(f->a, (f->out_cols + 1) * sizeof *f->input_of);
    if (!f->input_of)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    for (size_t c = 0; c < f->out_cols; c++)
        f->input_of[c] = -1;
    if (sig->has_inputs) {
        size_t size = 16;
        while (size < sig->n_inputs * 2)
            size <<= 1;
        f->hash = karena_calloc(f->a, size, sizeof *f->hash);
        if (!f->hash)
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        f->hash_mask = size - 1;
        for (size_t i = 0; i < sig->n_inputs; i++) {
            const char *nm = sig->inputs[i].name;
            size_t h = fnv(nm, strlen(nm)) & f->hash_mask;
            while (f->hash[h])
                h = (h + 1) & f->hash_mask;
            f->hash[h] = (unsigned)i + 1;
        }
    }
    return KEEL_OK;
}

static long sig_index(const struct frame *f, const char *s, size_t n)
{
    if (!f->hash)
        return -1;
    for (size_t h = fnv(s, n) & f->hash_mask; f->hash[h]; h = (h + 1) & f->hash_mask) {
        const char *nm = f->sig->inputs[f->hash[h] - 1].name;
        if (strlen(nm) == n && memcmp(nm, s, n) == 0)
            return (long)f->hash[h] - 1;
    }
    return -1;
}

/* Adds an input column (a name, or a position when s is NULL); returns its
 * index, or -1 when out of memory. A name seen before is the same column:
 * found through the signature in constant time, or, for the few names the
 * signature lacks, by looking back over those. Without a signature columns
 * are taken by position, in input order, as MLflow hands them to the model. */
static long frame_column(struct frame *f, const char *s, size_t n, size_t pos)
{
    long col = -1;
    if (f->sig->has_inputs) {
        col = s ? sig_index(f, s, n) : -1;
        if (col >= 0 && f->input_of[col] >= 0)
            return f->input_of[col];
    }
    if (s && col < 0) /* a name the signature lacks (or no signature): look back */
        for (size_t i = 0; i < f->n_names; i++)
            if (f->names[i].s && f->names[i].n == n && !memcmp(f->names[i].s, s, n))
                return (long)i;
    if (!f->sig->has_inputs)
        col = f->n_names < f->out_cols ? (long)f->n_names : -1;
    if (f->n_names == f->cap_names) {
        size_t cap = f->cap_names ? f->cap_names * 2 : 32;
        struct colname *nn = karena_realloc(f->a, f->names, f->cap_names * sizeof *nn,
                                            cap * sizeof *nn);
        long *nm = karena_realloc(f->a, f->map, f->cap_names * sizeof *nm, cap * sizeof *nm);
        if (!nn || !nm)
            return -1;
        f->names = nn;
        f->map = nm;
        f->cap_names = cap;
    }
    f->names[f->n_names] = (struct colname){.s = s, .n = n, .pos = pos};
    f->map[f->n_names] = col;
    if (col >= 0)
        f->input_of[col] = (long)f->n_names;
    return (long)f->n_names++;
}

/* Row r (within the capacity) before any cell is read: every cell missing
 * (NaN) and without text. */
static void row_clear(struct frame *f, size_t r)
{
    for (size_t c = 0; c < f->out_cols; c++)
        f->x[r * f->out_cols + c] = NAN;
    if (f->text)
        memset(&f->text[r * f->out_cols], 0, f->out_cols * sizeof *f->text);
}

/* Makes room for row r; KEEL_E_TOO_LARGE past the row limit. */
static enum keel_err frame_room(struct frame *f, size_t r, struct keel_ctx *ctx)
{
    if (r >= f->lim->max_rows)
        return keel_fail(ctx, KEEL_E_TOO_LARGE,
                         "The request has more than %zu rows, the most scored in one request.",
                         f->lim->max_rows);
    if (r >= f->cap_rows) {
        /* doubling copies the matrix each time: a known row count is room at once */
        size_t cap = f->cap_rows ? f->cap_rows * 2
                                 : f->lim->expect_rows > 16 ? f->lim->expect_rows : 16;
        if (cap > f->lim->max_rows)
            cap = f->lim->max_rows;
        if (cap <= r)
            cap = r + 1;
        double *x = karena_realloc(f->a, f->x, f->cap_rows * f->out_cols * sizeof *x,
                                   (cap * f->out_cols + 1) * sizeof *x);
        if (!x)
            return keel_fail(ctx, KEEL_E_NOMEM, "The request is too large to score.");
        f->x = x;
        if (f->lim->keep_text) {
            struct payload_text *t =
                karena_realloc(f->a, f->text, f->cap_rows * f->out_cols * sizeof *t,
                               (cap * f->out_cols + 1) * sizeof *t);
            if (!t)
                return keel_fail(ctx, KEEL_E_NOMEM, "The request is too large to score.");
            f->text = t;
        }
        f->cap_rows = cap;
    }
    return KEEL_OK;
}

/* Makes room for row r (NaN-filled); KEEL_E_TOO_LARGE past the row limit. */
static enum keel_err frame_row(struct frame *f, size_t r, struct keel_ctx *ctx)
{
    enum keel_err e = frame_room(f, r, ctx);
    if (e)
        return e;
    row_clear(f, r);
    if (r + 1 > f->rows)
        f->rows = r + 1;
    return KEEL_OK;
}

static enum keel_dtype col_type(const struct frame *f, long col)
{
    return f->sig->has_inputs ? f->sig->inputs[col].type : KEEL_DT_DOUBLE;
}

static void frame_json_cell(struct frame *f, size_t r, long in_col, const struct jval *v)
{
    long col = f->map[in_col];
    if (col < 0)
        return;
    enum keel_dtype t = col_type(f, col);
    size_t at = r * f->out_cols + (size_t)col;
    if (!json_cell(v, t, &f->x[at], &f->err, (size_t)col, f->a) || !f->text || !v->lit_len)
        return;
    /* the text is the value only where the cell's double is the number itself:
     * a real truncated into an integer column, or an integer a double cannot
     * hold, are printed from what the model was given */
    if (v->type == J_REAL ? !int_type(t) : v->u.i >= -(1LL << 53) && v->u.i <= (1LL << 53))
        f->text[at] = (struct payload_text){.s = v->lit, .n = v->lit_len};
}

static enum keel_err csv_fail(struct keel_ctx *ctx, const char *why);

/* An integer column holds no missing values: a cell left out (a record
 * without the key, an empty CSV cell) is refused as an explicit null is. */
static enum keel_err check_int_columns(struct frame *f, struct keel_ctx *ctx)
{
    for (size_t c = 0; f->sig->has_inputs && c < f->out_cols; c++) {
        if (!int_type(f->sig->inputs[c].type) || f->input_of[c] < 0)
            continue;
        for (size_t r = 0; r < f->rows; r++) {
            if (!isnan(f->x[r * f->out_cols + c]))
                continue;
            if (f->csv) {
                char *why = karena_sprintf(f->a, "Integer column has NA values in column %ld",
                                           f->input_of[c]);
                return csv_fail(ctx, why ? why : "Integer column has NA values");
            }
            note_err(&f->err, c, f->a, "IntCastingNaNError", non_finite, NULL, 0);
            break;
        }
    }
    return KEEL_OK;
}

/* The end of every form: conversion failures, then missing columns. */
static enum keel_err frame_finish(struct frame *f, struct payload_frame *out,
                                  struct keel_ctx *ctx)
{
    enum keel_err e = check_int_columns(f, ctx);
    if (e != KEEL_OK)
        return e;
    if (f->err.col != SIZE_MAX) {
        const struct keel_colspec *cs = f->sig->has_inputs ? &f->sig->inputs[f->err.col] : NULL;
        char pos[32];
        snprintf(pos, sizeof pos, "%zu", f->err.col);
        return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                         "Invalid input. Data is not compatible with model signature. Failed to "
                         "convert column %s to type '%s'. Error: '%s'",
                         cs ? cs->name : pos, pandas_dtype(cs ? cs->type : KEEL_DT_DOUBLE),
                         f->err.exc ? f->err.exc : "");
    }
    if (f->sig->has_inputs) {
        struct kbuf missing;
        kbuf_init(&missing, MAX_MSG);
        for (size_t c = 0; c < f->sig->n_inputs; c++) {
            if (f->input_of[c] >= 0 || !f->sig->inputs[c].required)
                continue;
            kbuf_adds(&missing, missing.len ? ", " : "[");
            json_pyrepr_str(&missing, f->sig->inputs[c].name, strlen(f->sig->inputs[c].name));
        }
        if (missing.len) {
            kbuf_addc(&missing, ']');
            struct kbuf b;
            kbuf_init(&b, 4 * MAX_MSG);
            char *shape = karena_sprintf(f->a, "<%zu rows x %zu columns>", f->rows, f->n_names);
            kbuf_printf(&b, "Failed to predict data '%s'. \nError: Failed to enforce schema of "
                        "data '%s' with schema '", shape ? shape : "", shape ? shape : "");
            put_schema(&b, f->sig);
            kbuf_printf(&b, "'. Error: Model is missing inputs %.*s.", (int)missing.len,
                        missing.data);
            bool extra = false;
            for (size_t i = 0; i < f->n_names; i++) {
                if (f->map[i] >= 0)
                    continue;
                kbuf_adds(&b, extra ? ", " : " Note that there were extra inputs: [");
                extra = true;
                if (f->names[i].s)
                    json_pyrepr_str(&b, f->names[i].s, f->names[i].n);
                else
                    kbuf_printf(&b, "%zu", f->names[i].pos);
            }
            if (extra)
                kbuf_addc(&b, ']');
            kbuf_free(&missing);
            return fail_buf(ctx, KEEL_E_INVALID_PARAMETER, &b);
        }
        kbuf_free(&missing);
    } else {
        if (f->rows && f->n_names != f->out_cols)
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "Invalid input. The model takes %zu features; the input has %zu "
                             "columns.",
                             f->out_cols, f->n_names);
    }
    out->rows = f->rows;
    out->cols = f->out_cols;
    out->x = f->x ? f->x : karena_calloc(f->a, 1, sizeof *out->x);
    out->text = f->text;
    return out->x ? KEEL_OK : keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
}

/* ---- JSON forms ---- */

static const char *py_type_repr(const struct jval *v)
{
    switch (v->type) {
    case J_NULL: return "<class 'NoneType'>";
    case J_TRUE:
    case J_FALSE: return "<class 'bool'>";
    case J_INT: return "<class 'int'>";
    case J_REAL: return "<class 'float'>";
    case J_STRING: return "<class 'str'>";
    case J_ARRAY: return "<class 'list'>";
    default: return "<class 'dict'>";
    }
}

/* Rows of objects: columns in order of first appearance; a missing key is a
 * null cell. */
static enum keel_err read_records(struct frame *f, const struct jval *list, struct keel_ctx *ctx)
{
    for (size_t r = 0; r < list->n; r++) {
        const struct jval *rec = &list->u.items[r];
        enum keel_err e = frame_row(f, r, ctx);
        if (e != KEEL_OK)
            return e;
        for (size_t k = 0; k < rec->n; k++) {
            const struct jmember *m = &rec->u.members[k];
            long c = frame_column(f, m->key, m->key_len, 0);
            if (c < 0)
                return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
            frame_json_cell(f, r, c, &m->val);
        }
    }
    return KEEL_OK;
}

/* Rows of lists: positional columns 0..k-1 (pandas names them so). */
static enum keel_err read_lists(struct frame *f, const struct jval *list,
                                const struct jval *columns, const char *form,
                                struct keel_ctx *ctx)
{
    size_t width = columns ? columns->n : 0;
    if (!columns && list->n)
        width = jv_is_array(&list->u.items[0]) ? list->u.items[0].n : 1;
    long *cols = karena_alloc(f->a, (width + 1) * sizeof *cols);
    if (!cols)
        return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    for (size_t c = 0; c < width; c++) {
        const struct jval *name = columns ? &columns->u.items[c] : NULL;
        if (name && name->type == J_STRING)
            cols[c] = frame_column(f, name->u.s, name->n, c);
        else
            cols[c] = frame_column(f, NULL, 0, name && name->type == J_INT ? (size_t)name->u.i : c);
        if (cols[c] < 0)
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
    }
    for (size_t r = 0; r < list->n; r++) {
        const struct jval *row = &list->u.items[r];
        size_t n = jv_is_array(row) ? row->n : 1;
        if (n != width)
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "Invalid input. Provided %s field is not a valid dataframe "
                             "representation in 'split' format. Error: '%zu columns passed, "
                             "passed data had %zu columns'",
                             form, width, n);
        enum keel_err e = frame_row(f, r, ctx);
        if (e != KEEL_OK)
            return e;
        for (size_t c = 0; c < width; c++)
            frame_json_cell(f, r, cols[c], jv_is_array(row) ? &row->u.items[c] : row);
    }
    return KEEL_OK;
}

/* {column: [values...]} */
static enum keel_err read_columnar(struct frame *f, const struct jval *obj, struct keel_ctx *ctx)
{
    size_t rows = SIZE_MAX;
    for (size_t k = 0; k < obj->n; k++) {
        const struct jval *v = &obj->u.members[k].val;
        size_t n = jv_is_array(v) ? v->n : 1;
        if (rows != SIZE_MAX && n != rows)
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "Invalid input. The length of values for each input/column name "
                             "are not the same");
        rows = n;
    }
    for (size_t r = 0; rows != SIZE_MAX && r < rows; r++) {
        enum keel_err e = frame_row(f, r, ctx);
        if (e != KEEL_OK)
            return e;
    }
    for (size_t k = 0; k < obj->n; k++) {
        const struct jmember *m = &obj->u.members[k];
        long c = frame_column(f, m->key, m->key_len, 0);
        if (c < 0)
            return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
        for (size_t r = 0; r < rows; r++)
            frame_json_cell(f, r, c, jv_is_array(&m->val) ? &m->val.u.items[r] : &m->val);
    }
    return KEEL_OK;
}

static enum keel_err read_split(struct frame *f, const struct jval *v, struct keel_ctx *ctx)
{
    if (!jv_is_object(v))
        return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                         "Invalid input. Dataframe split format must be a dictionary. Got %s.",
                         jv_is_array(v) ? "list"
                                        : karena_sprintf(f->a, "type %s", py_type_repr(v)));
    const struct jval *data = jv_get(v, "data");
    bool extra = false;
    for (size_t k = 0; k < v->n; k++) {
        const char *key = v->u.members[k].key;
        extra |= strcmp(key, "columns") && strcmp(key, "data") && strcmp(key, "index");
    }
    if (!data || extra) {
        struct kbuf b;
        kbuf_init(&b, MAX_MSG);
        kbuf_adds(&b, "Invalid input. Dataframe split format must have 'data' field and "
                      "optionally 'columns' and 'index' fields. Got {");
        for (size_t k = 0; k < v->n; k++) {
            if (k)
                kbuf_adds(&b, ", ");
            json_pyrepr_str(&b, v->u.members[k].key, v->u.members[k].key_len);
        }
        kbuf_adds(&b, "}.'");
        return fail_buf(ctx, KEEL_E_BAD_REQUEST, &b);
    }
    const struct jval *columns = jv_get(v, "columns");
    if (columns && !jv_is_array(columns) && !jv_is_null(columns))
        return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                         "Invalid input. Provided dataframe_split field is not a valid dataframe "
                         "representation in 'split' format. Error: 'columns must be a list'");
    if (!jv_is_array(data))
        return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                         "Invalid input. Provided dataframe_split field is not a valid dataframe "
                         "representation in 'split' format. Error: 'DataFrame constructor not "
                         "properly called!'");
    const struct jval *index = jv_get(v, "index");
    if (jv_is_array(index) && index->n != data->n)
        return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                         "Invalid input. Provided dataframe_split field is not a valid dataframe "
                         "representation in 'split' format. Error: 'Shape of passed values is "
                         "(%zu, %zu), indices imply (%zu, %zu)'",
                         data->n, jv_is_array(columns) ? columns->n : 0, index->n,
                         jv_is_array(columns) ? columns->n : 0);
    return read_lists(f, data, jv_is_array(columns) ? columns : NULL, "dataframe_split", ctx);
}

static bool all_objects(const struct jval *list)
{
    for (size_t i = 0; i < list->n; i++)
        if (!jv_is_object(&list->u.items[i]))
            return false;
    return true;
}

static enum keel_err read_tf_serving(struct frame *f, const struct jval *v, bool instances,
                                     struct keel_ctx *ctx)
{
    if (jv_is_array(v) && v->n > 0 && all_objects(v)) {
        enum keel_err e = read_records(f, v, ctx);
        if (e != KEEL_OK || !instances)
            return e;
        /* for `instances` MLflow turns the records into columns and refuses
         * columns of different lengths: a record without some key */
        for (size_t r = 0; r < v->n; r++)
            if (v->u.items[r].n != f->n_names)
                return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                                 "Invalid input. The length of values for each input/column "
                                 "name are not the same");
        return KEEL_OK;
    }
    if (jv_is_object(v))
        return read_columnar(f, v, ctx);
    if (jv_is_array(v))
        return read_lists(f, v, NULL, instances ? "instances" : "inputs", ctx);
    return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                     "Invalid input. Failed to parse input data: '%s' must be a list or a "
                     "dictionary, got %s.",
                     instances ? "instances" : "inputs", py_type_repr(v));
}

static enum keel_err decode_json(struct frame *f, const char *body, size_t len,
                                 struct keel_ctx *ctx)
{
    const char *perr = NULL;
    const struct jval *doc = jp_parse(ctx->arena, body, len, &perr);
    if (!doc) {
        /* Python's message where Python would refuse the text too; keel's
         * parser's where only keel does (NaN literals, nesting past its limit) */
        return fail_json_syntax(body, len, py_json_error(ctx->arena, body, len) ? NULL : perr,
                                ctx);
    }
    if (jv_is_array(doc))
        return keel_fail(ctx, KEEL_E_BAD_REQUEST, "Invalid input. %s. Received a list.",
                         required_format);
    if (!jv_is_object(doc))
        return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                         "Invalid input. %s. Received unexpected input type '%s.",
                         required_format, py_type_repr(doc));
    /* the accepted keys, in document order, each once */
    const struct jval *val[K__COUNT] = {0};
    int order[K__COUNT], n_found = 0;
    for (size_t k = 0; k < doc->n; k++) {
        for (int i = 0; i < K__COUNT; i++) {
            if (strcmp(doc->u.members[k].key, input_keys[i]) != 0)
                continue;
            if (!val[i])
                order[n_found++] = i;
            val[i] = &doc->u.members[k].val; /* the last value, as Python keeps it */
        }
    }
    if (n_found != 1) {
        struct kbuf b;
        kbuf_init(&b, MAX_MSG);
        kbuf_printf(&b, "%s. Received dictionary with input fields: [", required_format);
        for (int i = 0; i < n_found; i++)
            kbuf_printf(&b, "%s'%s'", i ? ", " : "", input_keys[order[i]]);
        kbuf_printf(&b, "]. %s", payload_protocol_change_info);
        return fail_buf(ctx, KEEL_E_BAD_REQUEST, &b);
    }
    enum input_key key = (enum input_key)order[0];
    const struct jval *v = val[key];
    switch (key) {
    case K_SPLIT: return read_split(f, v, ctx);
    case K_RECORDS:
        if (!jv_is_array(v))
            return keel_fail(ctx, KEEL_E_BAD_REQUEST,
                             "Invalid input. Dataframe records format must be a list of records. "
                             "Got %s.",
                             jv_is_object(v) ? "dictionary"
                                             : karena_sprintf(f->a, "type %s", py_type_repr(v)));
        if (all_objects(v))
            return read_records(f, v, ctx);
        return read_lists(f, v, NULL, "dataframe_records", ctx);
    case K_INSTANCES: return read_tf_serving(f, v, true, ctx);
    default: return read_tf_serving(f, v, false, ctx);
    }
}

/* ---- CSV ---- */

static enum keel_err csv_fail(struct keel_ctx *ctx, const char *why)
{
    return keel_fail(ctx, KEEL_E_BAD_REQUEST, "%s Error: '%s'", csv_failed, why);
}

/* A CSV field's fate on the plain-row path, from the header and signature. */
struct plain_col {
    long col; /* matrix column; -1: not used */
    enum { PLAIN_SKIP, PLAIN_REAL, PLAIN_INT, PLAIN_NO } kind;
};

/* Works out f->plain (and f->plain_all, f->fields) once per body; false
 * when out of memory. */
static bool plain_plan(struct frame *f, const long *cols, size_t width)
{
    struct plain_col *plan = karena_alloc(f->a, (width + 1) * sizeof *plan);
    f->fields = karena_alloc(f->a, (width + 1) * sizeof *f->fields);
    if (!plan || !f->fields)
        return false;
    f->plain_all = true;
    bool direct = true;
    for (size_t c = 0; c < width; c++) {
        long col = f->map[cols[c]];
        enum keel_dtype t = col >= 0 ? col_type(f, col) : KEEL_DT_DOUBLE;
        plan[c].col = col;
        if (col < 0)
            plan[c].kind = PLAIN_SKIP;
        else if (int_type(t))
            plan[c].kind = PLAIN_INT;
        else if (t == KEEL_DT_DOUBLE || t == KEEL_DT_FLOAT)
            plan[c].kind = PLAIN_REAL;
        else
            plan[c].kind = PLAIN_NO; /* booleans and the rest: the generic reader's */
        f->plain_all &= plan[c].kind == PLAIN_REAL || plan[c].kind == PLAIN_INT;
        direct &= plan[c].kind == PLAIN_REAL && plan[c].col == (long)c;
    }
    f->plain_direct = direct && width == f->out_cols && !f->lim->keep_text;
    f->plain = plan;
    return true;
}

/* Row r from f->fields, a line's `width` numbers as plain_plan maps them
 * (plain_all); false when an integer column's number is not whole. */
static bool plain_store(struct frame *f, size_t width, size_t r)
{
    double *row = f->x + r * f->out_cols;
    row_clear(f, r); /* CSV cells keep no text: printed from the doubles */
    for (size_t c = 0; c < width; c++) {
        double v = f->fields[c];
        if (f->plain[c].kind == PLAIN_INT && (!isfinite(v) || v != floor(v)))
            return false;
        row[f->plain[c].col] = v;
    }
    if (r + 1 > f->rows)
        f->rows = r + 1;
    return true;
}

/* The next line of the body, found and read in one pass by
 * decimal_parse_line, into row r when every field is a number for a numeric
 * column: its length, else 0 (plain_row or the generic reader then). What
 * batch scoring's rows take. */
static size_t plain_line(struct frame *f, const long *cols, size_t width, const char *p, size_t n,
                         size_t r, struct keel_ctx *ctx)
{
    /* room made here, not by the generic reader: it would first look through
     * the rest of the body for quotes and CRs (csv_peek_plain) */
    if (r >= f->lim->max_rows || (r >= f->cap_rows && frame_room(f, r, ctx) != KEEL_OK))
        return 0; /* the generic reader gives the error */
    if (!f->plain && !plain_plan(f, cols, width))
        return 0;
    if (f->plain_direct) { /* nothing to map, clear or check */
        size_t len = decimal_parse_line(p, n, width, f->x + r * f->out_cols);
        if (len && r + 1 > f->rows)
            f->rows = r + 1;
        return len;
    }
    size_t len = f->plain_all ? decimal_parse_line(p, n, width, f->fields) : 0;
    return len && plain_store(f, width, r) ? len : 0;
}

/* plain_line's counterpart for a header with columns the model does not
 * take: a line read straight into row r when it has exactly `width` fields,
 * each going to a numeric column a decimal that parses whole (what
 * text_cell would make of it, NA spellings and white space excluded), the
 * others anything. False leaves the line to the generic reader, which reads
 * it again from the start and gives every error its message. For a frame
 * whose plan is made and not plain_all (those lines were plain_line's). */
static bool plain_row(struct frame *f, size_t width, const char *p, size_t n, size_t r)
{
    if (r >= f->cap_rows || r >= f->lim->max_rows)
        return false; /* the generic path grows the frame (or refuses the row) */
    double *row = f->x + r * f->out_cols;
    row_clear(f, r); /* CSV cells keep no text: printed from the doubles */
    const char *end = p + n;
    for (size_t c = 0; c < width; c++) {
        const struct plain_col *pc = &f->plain[c];
        if (pc->kind == PLAIN_NO)
            return false;
        if (pc->kind != PLAIN_SKIP) {
            double *cell = &row[pc->col];
            size_t k = decimal_parse_prefix(p, (size_t)(end - p), cell);
            if (!k || (pc->kind == PLAIN_INT && (!isfinite(*cell) || *cell != floor(*cell))))
                return false;
            p += k;
        } else {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            p = comma ? comma : end;
        }
        if (c + 1 < width) {
            if (p == end || *p != ',')
                return false;
            p++;
        } else if (p != end) {
            return false;
        }
    }
    if (r + 1 > f->rows)
        f->rows = r + 1;
    return true;
}

static enum keel_err decode_csv(struct frame *f, const char *body, size_t len,
                                struct keel_ctx *ctx)
{
    struct csv_reader rd;
    f->csv = true;
    csv_init(&rd, ctx->arena, NULL);
    csv_feed(&rd, body, len, true);
    const struct csv_field *fields;
    size_t nf = 0, width = 0, r = 0;
    long *cols = NULL;
    for (;;) {
        const char *line;
        size_t line_len;
        if (cols && csv_rest(&rd, &line, &line_len) &&
            (line_len = plain_line(f, cols, width, line, line_len, r, ctx)) != 0) {
            csv_skip_plain(&rd, line_len);
            r++;
            continue;
        }
        if (cols && f->plain && !f->plain_all && csv_peek_plain(&rd, &line, &line_len) &&
            line_len && plain_row(f, width, line, line_len, r)) {
            csv_skip_plain(&rd, line_len);
            r++;
            continue;
        }
        enum csv_status st = csv_next(&rd, &fields, &nf);
        if (st == CSV_ERROR) {
            char *why = karena_sprintf(ctx->arena, "Error tokenizing data: %s on line %llu",
                                       csv_strerror(csv_error(&rd)),
                                       (unsigned long long)csv_line(&rd));
            return csv_fail(ctx, why ? why : "malformed CSV");
        }
        if (st != CSV_ROW)
            break;
        if (nf == 0)
            continue; /* pandas skips blank lines */
        if (!cols) {
            width = nf;
            cols = karena_alloc(ctx->arena, (width + 1) * sizeof *cols);
            if (!cols)
                return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
            for (size_t c = 0; c < width; c++) {
                char *name = karena_strndup(ctx->arena, fields[c].p, fields[c].len);
                if (!name || (cols[c] = frame_column(f, name, fields[c].len, c)) < 0)
                    return keel_fail(ctx, KEEL_E_NOMEM, "out of memory");
            }
            continue;
        }
        if (nf > width) {
            char *why = karena_sprintf(ctx->arena,
                                       "Error tokenizing data. C error: Expected %zu fields in "
                                       "line %llu, saw %zu\n",
                                       width, (unsigned long long)csv_line(&rd), nf);
            return csv_fail(ctx, why ? why : "too many fields");
        }
        enum keel_err e = frame_row(f, r, ctx);
        if (e != KEEL_OK)
            return e;
        for (size_t c = 0; c < nf; c++) {
            long col = f->map[cols[c]];
            if (col < 0)
                continue;
            /* read_csv stops at the first bad cell and prints the bare text */
            if (!text_cell(fields[c].p, fields[c].len, col_type(f, col), true,
                           &f->x[r * f->out_cols + (size_t)col], &f->err, (size_t)col, f->a))
                return csv_fail(ctx, f->err.msg ? f->err.msg : "");
        }
        r++;
    }
    if (!cols)
        return csv_fail(ctx, "No columns to parse from file");
    return KEEL_OK;
}

enum keel_err payload_decode(enum payload_format fmt, const char *body, size_t len,
                             const struct keel_signature *sig, size_t n_features,
                             const struct payload_limits *lim, struct payload_frame *out,
                             struct keel_ctx *ctx)
{
    struct frame f;
    enum keel_err e = frame_init(&f, sig, n_features, lim, ctx);
    if (e != KEEL_OK)
        return e;
    e = fmt == PAYLOAD_CSV ? decode_csv(&f, body, len, ctx) : decode_json(&f, body, len, ctx);
    if (e != KEEL_OK)
        return e;
    return frame_finish(&f, out, ctx);
}
