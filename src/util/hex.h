/*
 * hex.h -- hexadecimal digits both ways, once for all of keel: the value of
 * one digit (percent-escapes in URLs, Python's \x escapes in filters) and
 * bytes written as lowercase hex (SHA-256 digests, ids).
 */
#ifndef KEEL_HEX_H
#define KEEL_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int keel_hex_digit(char c);
/* The n bytes at in as 2n lowercase hex digits into out, NUL-terminated
 * (out holds 2n + 1). */
void keel_hex_encode(const unsigned char *in, size_t n, char *out);
/* The 2n hex digits at in as n bytes into out; false (out unspecified) when
 * any of them is not a hex digit. */
bool keel_hex_decode(const char *in, size_t n, unsigned char *out);

#endif
