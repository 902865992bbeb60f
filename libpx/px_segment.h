/*
 * Segment's HTTP Tracking API (/v1/batch, /v1/track, /v1/page, ...) into a
 * PX batch: a Segment body becomes the envelope the batch parser reads,
 * {"api_key":…,"sent_at":…,"events":[…]}, one PX event per Segment call,
 * in order, so that the batch API's validation, limits, Kafka messages and
 * dead letters apply unchanged.  What a PX event cannot carry (the call's
 * own userAgent and ip, a reject the translation found) is kept beside it
 * in px_segment_event_t.  The mapping is documented in docs/api.md.
 */
#ifndef PX_SEGMENT_H
#define PX_SEGMENT_H

#include <stddef.h>

#include "px_alloc.h"
#include "px_batch.h"
#include "px_buf.h"

typedef struct {
    const char  *error;         /* a reject reason, or NULL */
    size_t       ua_off;        /* context.userAgent, in seg->strs; */
    size_t       ua_len;        /* len 0 when absent */
    size_t       ip_off;        /* context.ip when it is an IPv4/IPv6 */
    size_t       ip_len;        /* address, in seg->strs; len 0: none */
} px_segment_event_t;

typedef struct {
    px_buf_t             out;       /* the PX batch envelope (JSON) */
    px_buf_t             strs;
    px_segment_event_t  *events;    /* one per Segment call, in order */
    size_t               nevents;
    size_t               cap;
    const px_alloc_t    *alloc;
} px_segment_t;

/*
 * Translate the Segment body json (len bytes, already inflated) of the
 * endpoint call: "batch" (or "import") for a batch, else the single call's
 * type ("track", "page", "screen", "identify", "group", "alias"), which the
 * endpoint decides whatever the body's "type" says.  Nesting deeper than
 * max_depth is PX_BATCH_ERR_DEPTH.  Returns PX_BATCH_OK with seg filled,
 * or the error (invalid JSON, not an object, no "batch" array, an empty
 * one) with a message in err.  seg is freed with px_segment_free() either
 * way.
 */
px_batch_status_t px_segment_translate(const char *json, size_t len,
    const char *call, size_t max_depth, const px_alloc_t *alloc,
    px_segment_t *seg, char *err, size_t errlen);

/* 1 when call names an endpoint px_segment_translate() takes. */
int px_segment_call_known(const char *call, size_t len);

/* The event_id of a messageId that is not a UUID: a name-based UUID
 * (version 8) of its bytes, so that a retried call keeps its id.  out
 * holds PX_UUID_LEN + 1 bytes. */
void px_segment_message_uuid(const char *id, size_t len, char *out);

void px_segment_free(px_segment_t *seg);

#endif
