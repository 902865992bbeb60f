/*
 * The worker's clocks, in one place (as Redis's monotonic.c): elapsed time
 * and deadlines are measured on CLOCK_MONOTONIC, which no clock change
 * moves; pthread_cond_timedwait() takes a CLOCK_REALTIME deadline, made
 * here too.
 */
#ifndef PX_MONOTONIC_H
#define PX_MONOTONIC_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (from an unspecified start). */
int64_t px_monotonic_ms(void);

/* The CLOCK_REALTIME time ms milliseconds from now, for
 * pthread_cond_timedwait(). */
void px_realtime_after(struct timespec *ts, long ms);

/* Sleep ms milliseconds (a signal may cut it short). */
void px_sleep_ms(long ms);

#endif
