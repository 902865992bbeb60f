#include "px_limits.h"

void
px_limits_default(px_limits_t *lim)
{
    lim->max_events = 500;
    lim->max_event_bytes = 32 * 1024;
    lim->max_depth = 16;
    lim->max_keys = 256;
    lim->max_string = 8 * 1024;
    lim->max_name = 200;
    lim->max_id = 200;
}
