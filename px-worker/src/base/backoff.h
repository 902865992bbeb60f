/*
 * The worker's wait between two tries of a thing that failed (the schema
 * at start, a batch's insert): 200 ms, doubled at each failure, at most
 * 10 s.
 */
#ifndef PX_BACKOFF_H
#define PX_BACKOFF_H

#define PX_BACKOFF_MIN_MS  200
#define PX_BACKOFF_MAX_MS  10000

/* The wait after prev_ms (0 before the first failure). */
long px_backoff_next(long prev_ms);

#endif
