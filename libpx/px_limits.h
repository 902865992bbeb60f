/*
 * The module's limits on one batch, enforced while the request body is
 * parsed (px_batch.h).  They are the module's alone: the worker reads
 * messages, not batches, and its reader's limits are in px_message.h
 * (PX_MESSAGE_DEPTH_MAX, PX_MESSAGE_MAX_BYTES).
 */
#ifndef PX_LIMITS_H
#define PX_LIMITS_H

#include <stddef.h>

#define PX_LIMIT_DEPTH_MAX  256     /* hard ceiling for max_depth */

typedef struct {
    size_t  max_events;         /* events in one batch */
    size_t  max_event_bytes;    /* one event, as re-encoded JSON */
    size_t  max_depth;          /* nesting of the whole document */
    size_t  max_keys;           /* members of one object */
    size_t  max_string;         /* bytes of one string or key */
    size_t  max_name;           /* bytes of the event name */
    size_t  max_id;             /* bytes of anonymous_id / user_id */
} px_limits_t;

/* 500 events, 32 KiB per event, depth 16, 256 keys, 8 KiB strings,
 * 200-byte names, 200-byte ids. */
void px_limits_default(px_limits_t *lim);

#endif
