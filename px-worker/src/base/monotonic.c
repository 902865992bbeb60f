#include "monotonic.h"

#define PX_NS_PER_S   1000000000L
#define PX_NS_PER_MS  1000000L

int64_t
px_monotonic_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / PX_NS_PER_MS;
}

void
px_realtime_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * PX_NS_PER_MS;
    if (ts->tv_nsec >= PX_NS_PER_S) {
        ts->tv_sec++;
        ts->tv_nsec -= PX_NS_PER_S;
    }
}

void
px_sleep_ms(long ms)
{
    struct timespec  ts = { ms / 1000, (ms % 1000) * PX_NS_PER_MS };

    nanosleep(&ts, NULL);
}
