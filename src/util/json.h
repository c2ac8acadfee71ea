/*
 * json.h -- writing JSON responses, and Python-style renderings of request
 * values for MLflow's error messages.
 *
 * Requests are parsed by util/jparse; responses are written straight into a
 * kbuf by struct jw, which keeps the comma/nesting bookkeeping and a sticky
 * error (the first failure, e.g. the buffer's ceiling) so call sites can write
 * a whole document and check once at the end.
 *
 * Doubles are written as Python's repr writes them (MLflow's wire form): the
 * shortest text that reads back to the same value, always with a fraction or
 * exponent ("42.0", "1e-05", "1.7976931348623157e+308"); NaN and the
 * infinities as the strings "NaN", "Infinity", "-Infinity", as protobuf's
 * JSON mapping does.
 */
#ifndef KEEL_JSON_H
#define KEEL_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/jparse.h"

#define JW_MAX_DEPTH 32

struct jw {
    struct kbuf *b;
    int depth;
    bool in_obj[JW_MAX_DEPTH];
    unsigned n_items[JW_MAX_DEPTH];
    enum keel_err err;
};

void jw_init(struct jw *w, struct kbuf *b);
void jw_obj(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, int64_t v);
void jw_double(struct jw *w, double v);
/* A double as jw_double writes it, but NaN and infinities as null (strict
 * JSON, for keel's own logs and records). */
void jw_double_fast(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
/* A value already rendered as JSON (the caller vouches for it). */
void jw_raw(struct jw *w, const char *json, size_t n);
void jw_null(struct jw *w);
/* Copies a parsed value. */
void jw_json(struct jw *w, const struct jval *v);

/* key + value; the _opt forms write nothing for NULL/"" (MLflow omits unset
 * fields) */
void jw_kstr(struct jw *w, const char *key, const char *v);
void jw_kstr_opt(struct jw *w, const char *key, const char *v);
void jw_kint(struct jw *w, const char *key, int64_t v);

/* Shortest round-trip repr of a finite double into out (>= 32 bytes), as
 * Python's repr() writes it: integer arithmetic (decimal_shortest) where it
 * applies, else the reference below. Returns its length. */
size_t json_format_double(double v, char *out, size_t n);
/* The same by printf and strtod (a search over precisions): slower, for
 * the values decimal_shortest leaves out, and as the tests' oracle. */
void json_format_double_reference(double v, char *out, size_t n);

/* Python repr() of a JSON value, as MLflow's messages print request values:
 * {'key': 'a', 'n': 1, 'ok': True, 'x': None}. Appended to b. */
enum keel_err json_pyrepr(struct kbuf *b, const struct jval *v);
/* Python's repr() of a str (quotes chosen as Python does, unprintable
 * characters escaped). Appended to b. */
enum keel_err json_pyrepr_str(struct kbuf *b, const char *s, size_t n);
/* Python's name for the type of a JSON value: str, int, float, bool, list,
 * dict, NoneType. */
const char *json_pytype(const struct jval *v);



/* json.dumps(v) as Python writes it by default: ", " and ": " separators,
 * non-ASCII escaped as \uXXXX. Appended to b. (MLflow stores some run tags,
 * e.g. mlflow.log-model.history, in this form.) */
enum keel_err json_dump_python(struct kbuf *b, const struct jval *v);
#endif
