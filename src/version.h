/* version.h -- keel's version, reported by `keel --version` and /version. */
#ifndef KEEL_VERSION_H
#define KEEL_VERSION_H
#define KEEL_VERSION "0.1.0"
#endif
