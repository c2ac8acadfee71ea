/*
 * uri.h -- artifact URIs formed the way MLflow forms them, so that the
 * locations keel hands out are the ones an MLflow client expects.
 */
#ifndef KEEL_URI_H
#define KEEL_URI_H

#include <stddef.h>

struct karena;

/* Length of "scheme:" at the start of uri (urlparse's scheme: a letter,
 * then letters, digits, '+', '-', '.'), 0 when there is none. */
size_t uri_scheme_len(const char *uri);

/* MLflow's append_to_uri_path(uri, leaf): leaf joined onto the URI's path,
 * query and fragment kept ("s3://b/p?x=1" + "7" -> "s3://b/p/7?x=1",
 * "mlflow-artifacts:/" + "7" -> "mlflow-artifacts:/7"). Arena string. */
const char *uri_append(struct karena *a, const char *uri, const char *leaf);

/* MLflow's resolve_uri_if_local: a relative local path (no scheme, or
 * file: with a relative path) becomes absolute against the working
 * directory; anything else is returned as it is. Arena string, NULL on
 * failure. */
const char *uri_resolve_local(struct karena *a, const char *uri);

/* Percent-decodes until nothing changes (MLflow's _decode), so "%252e"
 * becomes "." before a path or query is checked. Arena string. */
char *uri_unquote_all(struct karena *a, const char *s);

#endif
