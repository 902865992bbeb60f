#include "event_time.h"

int
px_event_time_clamp(px_event_row_t *row, int64_t max_age_ms,
    int64_t max_skew_ms)
{
    if (row->msg.ts_ms >= row->msg.received_ms - max_age_ms
        && row->msg.ts_ms <= row->msg.received_ms + max_skew_ms)
    {
        return 0;
    }

    /* keep what the client said when the message did not carry it */
    if (row->msg.client_ts_ms == 0) {
        row->msg.client_ts_ms = row->msg.ts_ms;
    }

    row->msg.ts_ms = row->msg.received_ms;
    return 1;
}
