/*
 * fs.c -- see fs.h.
 */
#include "util/fs.h"

#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir of one level; durable: a directory it creates has its name synced
 * into its parent. */
static int mkdir_one(char *path, bool durable)
{
    if (mkdir(path, 0755) != 0)
        return errno == EEXIST ? 0 : -1;
    if (!durable)
        return 0;
    char *slash = strrchr(path, '/');
    if (!slash)
        return keel_fsync_dir(".") ? 0 : -1;
    char keep = slash[slash == path];
    slash[slash == path] = '\0'; /* the parent ("/" for a top-level name) */
    bool ok = keel_fsync_dir(path);
    slash[slash == path] = keep;
    if (!ok)
        errno = EIO;
    return ok ? 0 : -1;
}

static int mkdirs(const char *path, bool durable)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir_one(tmp, durable) != 0)
                return -1;
            *p = '/';
        }
    }
    return mkdir_one(tmp, durable);
}

int keel_mkdirs(const char *path)
{
    return mkdirs(path, false);
}

int keel_mkdirs_durable(const char *path)
{
    return mkdirs(path, true);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void keel_rmtree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

bool keel_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}
