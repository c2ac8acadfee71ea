/*
 * time.h -- wall-clock time in MLflow's unit (milliseconds since the epoch).
 */
#ifndef KEEL_TIME_H
#define KEEL_TIME_H

#include <stdint.h>

int64_t keel_now_ms(void);

#endif
