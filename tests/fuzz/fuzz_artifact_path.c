/*
 * fuzz_artifact_path.c -- artifact paths from requests
 * (artifacts/local.c: artifact_check_path). The input is taken up to its
 * first NUL, as a C string reaches the check. What an accepted path comes
 * back as must be relative and below the root by its segments alone: not
 * absolute, no empty segment, no ".." segment. Where it leads on a disk
 * (symbolic links) is not checked here.
 */
#include <stdint.h>
#include <string.h>

#include "artifacts/artifacts.h"
#include "util/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct karena *a = karena_new(16u << 20);
    if (!a)
        return 0;
    struct keel_ctx ctx = {.arena = a};
    char *path = karena_strndup(a, (const char *)data, size);
    const char *out = NULL;
    if (artifact_check_path(&ctx, path, &out) == KEEL_OK && out) {
        if (out[0] == '/' || strstr(out, "//"))
            __builtin_trap();
        for (const char *s = out; *s;) { /* every segment */
            size_t n = strcspn(s, "/");
            if (n == 0 || (n == 2 && s[0] == '.' && s[1] == '.'))
                __builtin_trap();
            s += n + (s[n] == '/');
        }
    }
    karena_free(a);
    return 0;
}
