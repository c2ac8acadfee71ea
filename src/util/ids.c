/*
 * ids.c -- identifiers: time-ordered UUIDs (v7) and random run names, both
 * drawing their randomness from the kernel's CSPRNG.
 */
#include "util/ids.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "util/hex.h"

static void random_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    while (n) {
        ssize_t r = getrandom(b, n, 0);
        if (r > 0) {
            b += r;
            n -= (size_t)r;
        }
    }
}

void keel_uuid_hex(char out[33])
{
    unsigned char b[16];
    random_bytes(b, sizeof b);
    /* UUIDv7: the first 48 bits are the Unix time in ms, so ids made one after
     * another sort together and the store's B-trees grow at their right edge
     * instead of dirtying a random page per insert */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70); /* version 7 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    keel_hex_encode(b, sizeof b, out);
}

static const char *const adjectives[] = {
    "able", "bold", "brave", "bright", "calm", "capable", "clean", "clever", "crisp", "dapper",
    "eager", "fair", "fearless", "gentle", "glamorous", "grand", "honest", "industrious",
    "judicious", "kind", "learned", "lively", "loyal", "merciful", "nimble", "polite", "proud",
    "quick", "quiet", "rare", "resilient", "rogue", "shiny", "silent", "skillful", "smiling",
    "sneaky", "spiffy", "stately", "sunny", "suave", "swift", "tasteful", "thoughtful", "upbeat",
    "vaunted", "victorious", "wise", "zealous",
};

static const char *const animals[] = {
    "ant", "ape", "asp", "bat", "bear", "bee", "bird", "boar", "bug", "calf", "carp", "cat",
    "chimp", "cod", "colt", "conch", "cow", "crab", "crane", "croc", "crow", "cub", "deer",
    "doe", "dog", "dolphin", "donkey", "dove", "duck", "eel", "elk", "finch", "fish", "flea",
    "fly", "foal", "fowl", "fox", "frog", "gnat", "gnu", "goat", "grouse", "grub", "gull",
    "hare", "hawk", "hen", "hog", "horse", "hound", "jay", "kit", "kite", "koi", "lamb",
    "lark", "loon", "lynx", "mare", "midge", "mink", "mole", "moose", "moth", "mouse", "mule",
    "newt", "owl", "ox", "panda", "penguin", "perch", "pig", "pug", "quail", "ram", "rat",
    "ray", "robin", "roo", "rook", "seal", "shad", "shark", "sheep", "shoat", "shrew", "shrike",
    "shrimp", "skink", "skunk", "sloth", "slug", "smelt", "snail", "snake", "snipe", "sow",
    "sponge", "squid", "squirrel", "stag", "steed", "stoat", "stork", "swan", "tern", "toad",
    "trout", "turtle", "vole", "wasp", "whale", "wolf", "worm", "wren", "yak", "zebra",
};

void keel_random_run_name(char *out, size_t n)
{
    uint32_t r[3];
    random_bytes(r, sizeof r);
    snprintf(out, n, "%s-%s-%u", adjectives[r[0] % (sizeof adjectives / sizeof *adjectives)],
             animals[r[1] % (sizeof animals / sizeof *animals)], (unsigned)(r[2] % 1000));
}
