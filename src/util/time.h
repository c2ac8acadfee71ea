/*
 * time.h -- wall-clock time in MLflow's unit (milliseconds since the epoch),
 * and a monotonic clock for durations.
 */
#ifndef KEEL_TIME_H
#define KEEL_TIME_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

int64_t keel_now_ms(void);
/* Microseconds of a monotonic clock: for measuring durations only. */
int64_t keel_now_us(void);

/* Timed waits that a change of the wall clock does not stretch: a condition
 * variable whose pthread_cond_timedwait deadlines are on the monotonic
 * clock, and such a deadline `us` microseconds from now. */
int keel_cond_init_monotonic(pthread_cond_t *cv);
struct timespec keel_deadline_after_us(int64_t us);

#endif
