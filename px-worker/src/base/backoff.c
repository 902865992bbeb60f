#include "backoff.h"

long
px_backoff_next(long prev_ms)
{
    if (prev_ms <= 0) {
        return PX_BACKOFF_MIN_MS;
    }

    return prev_ms > PX_BACKOFF_MAX_MS / 2 ? PX_BACKOFF_MAX_MS : prev_ms * 2;
}
