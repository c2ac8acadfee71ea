/*
 * time.h -- wall-clock time in MLflow's unit (milliseconds since the epoch),
 * and a monotonic clock for durations.
 */
#ifndef KEEL_TIME_H
#define KEEL_TIME_H

#include <stdint.h>

int64_t keel_now_ms(void);
/* Microseconds of a monotonic clock: for measuring durations only. */
int64_t keel_now_us(void);

#endif
