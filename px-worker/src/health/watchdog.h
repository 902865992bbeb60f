/*
 * systemd's watchdog (WatchdogSec= in px-worker.service): the pipeline's
 * own loop says it is alive, so a hung consumer thread gets the worker
 * restarted even while the health thread still answers.  Without
 * libsystemd, or when the unit sets no WatchdogSec, this does nothing.
 */
#ifndef PX_WATCHDOG_H
#define PX_WATCHDOG_H

#include <stdint.h>

/* Call from the pipeline loop; sends WATCHDOG=1 at most twice per
 * watchdog period (now_ms: a monotonic clock). */
void px_watchdog_kick(int64_t now_ms);

#endif
