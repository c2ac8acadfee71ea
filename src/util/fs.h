/*
 * fs.h -- small file-system helpers shared by the CLI and the blob store.
 */
#ifndef KEEL_FS_H
#define KEEL_FS_H

#include <stdbool.h>

/* mkdir -p: creates path and its missing parents (0755). 0 on success, -1
 * with errno set otherwise. */
int keel_mkdirs(const char *path);
/* rm -rf: removes path and everything below it, as far as it can. */
void keel_rmtree(const char *path);
/* fsync of a directory, so entries created or renamed into it are durable;
 * false when they are not known to be. */
bool keel_fsync_dir(const char *path);

#endif
