#include <stdint.h>

#ifdef PX_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "watchdog.h"

void
px_watchdog_kick(int64_t now_ms)
{
#ifdef PX_HAVE_SYSTEMD
    static int       enabled = -1;
    static int64_t   every_ms, next_ms;
    uint64_t         usec;

    if (enabled < 0) {
        enabled = sd_watchdog_enabled(0, &usec) > 0;
        every_ms = enabled ? (int64_t) (usec / 2000) : 0;
    }

    if (!enabled || now_ms < next_ms) {
        return;
    }

    next_ms = now_ms + every_ms;
    (void) sd_notify(0, "WATCHDOG=1");
#else
    (void) now_ms;
#endif
}
