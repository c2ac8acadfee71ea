/*
 * follow.h -- deployments that follow a moving model reference.
 *
 * A deployment of models:/<name>@<alias>, models:/<name>/<stage> or
 * models:/<name>/latest serves whatever version that reference names now.
 * A background thread re-resolves those references against the store every
 * interval and, when one names another version, loads it beside the old one
 * and swaps (deploy_load: a version that fails to load never replaces a
 * working one; the failure shows in the deployment's state). A version that
 * failed is tried again after 30 intervals, then twice as long each time,
 * up to an hour.
 */
#ifndef KEEL_FOLLOW_H
#define KEEL_FOLLOW_H

#include "util/err.h"

struct store;
struct deploy_set;
struct deploy_follower;

/* Starts following every stored deployment, checking every interval_ms. */
enum keel_err deploy_follow_start(struct deploy_follower **out, struct store *st,
                                  struct deploy_set *set, unsigned interval_ms,
                                  struct keel_ctx *ctx);
/* Stops the thread (waiting for a reload in progress) and frees. NULL is safe. */
void deploy_follow_stop(struct deploy_follower *f);

#endif
