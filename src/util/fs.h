/*
 * fs.h -- small file-system helpers shared by the CLI and the blob store.
 */
#ifndef KEEL_FS_H
#define KEEL_FS_H

#include <stdbool.h>

/* mkdir -p: creates path and its missing parents (0755). 0 on success, -1
 * with errno set otherwise. */
int keel_mkdirs(const char *path);
/* The same, and every directory it creates is made durable (its parent is
 * fsync'd): for directories that will hold acknowledged data, whose files'
 * names would otherwise not be known to survive a crash. */
int keel_mkdirs_durable(const char *path);
/* rm -rf: removes path and everything below it, as far as it can. */
void keel_rmtree(const char *path);
/* fsync of a directory, so entries created or renamed into it are durable;
 * false when they are not known to be. */
bool keel_fsync_dir(const char *path);

#endif
