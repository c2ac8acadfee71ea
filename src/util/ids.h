/*
 * ids.h -- identifiers keel hands out: run ids (32 lowercase hex digits, the
 * form MLflow uses; keel's are time-ordered UUIDv7) and MLflow-style random run
 * names ("<adjective>-<animal>-<number>").
 */
#ifndef KEEL_IDS_H
#define KEEL_IDS_H

#include <stddef.h>

/* 32 lowercase hex digits of a version 7 UUID (ms time, then random bits),
 * NUL-terminated. */
void keel_uuid_hex(char out[33]);
/* A random run name such as "bold-owl-512" into out. */
void keel_random_run_name(char *out, size_t n);

#endif
