/*
 * The batch envelope {"events":[...], "sent_at":"...", "api_key":"..."}: a
 * streaming parse
 * (yajl callbacks, fed in chunks) that checks every limit while it reads and
 * re-encodes each event compactly, so nothing larger than the limits is ever
 * held.  Envelope errors fail the whole batch; a bad event only marks that
 * event, and the good ones beside it stay usable.
 */
#ifndef PX_BATCH_H
#define PX_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "px_alloc.h"
#include "px_buf.h"
#include "px_limits.h"
#include "px_uuid.h"

typedef enum {
    PX_BATCH_OK = 0,
    PX_BATCH_ERR_JSON,          /* not JSON, truncated, invalid UTF-8 */
    PX_BATCH_ERR_ENVELOPE,      /* not an object, "events" missing/not array */
    PX_BATCH_ERR_EMPTY,         /* "events" is [] */
    PX_BATCH_ERR_TOO_MANY,      /* more than max_events */
    PX_BATCH_ERR_DEPTH,         /* nested deeper than max_depth */
    PX_BATCH_ERR_NOMEM
} px_batch_status_t;

typedef struct {
    size_t       off;           /* the kept members in batch->json, */
    size_t       len;           /* as "k":v,"k":v without the braces */
    const char  *error;         /* NULL when valid, else a reason code */
    char         event_id[PX_UUID_LEN + 1];
    unsigned     id_generated;  /* the event came without an event_id */
    int64_t      ts_ms;         /* client timestamp, -1 when absent */
    size_t       visitor_off;   /* anonymous_id, else user_id, in */
    size_t       visitor_len;   /* batch->aux; len 0 when neither */
    unsigned     visitor_user;  /* the visitor id is user_id */
    unsigned     truncated;     /* over max_event_bytes: members dropped */
    unsigned     seen;          /* PX_F_* bits of the known members */
} px_event_t;

typedef struct {
    px_event_t  *events;
    size_t       nevents;
    size_t       cap;
    px_buf_t     json;          /* the events' kept members */
    px_buf_t     aux;           /* visitor ids */
    int64_t      sent_at_ms;    /* -1 when absent or invalid */
    size_t       nrejected;
    size_t       api_key_off;   /* the envelope's "api_key" string, in */
    size_t       api_key_len;   /* batch->aux; len 0 when absent or empty */
} px_batch_t;

typedef struct px_batch_parser_s  px_batch_parser_t;

/* Start a parse into an empty batch.  Returns NULL when out of memory.
 * lim must stay valid until px_batch_parser_free(). */
px_batch_parser_t *px_batch_parser_new(const px_limits_t *lim,
    const px_alloc_t *alloc, px_batch_t *batch);

/* Feed the next chunk.  Returns PX_BATCH_OK to go on, or the error that
 * stopped the parse (then call neither feed nor finish again). */
px_batch_status_t px_batch_feed(px_batch_parser_t *p, const void *data,
    size_t len);

/* End of input: checks the envelope is complete. */
px_batch_status_t px_batch_finish(px_batch_parser_t *p);

/* A human-readable reason for the last error (static or in the parser). */
const char *px_batch_error_message(px_batch_parser_t *p);

void px_batch_parser_free(px_batch_parser_t *p);
void px_batch_free(px_batch_t *batch);

/* Machine code for a status: "invalid_json", "invalid_envelope", ... */
const char *px_batch_status_code(px_batch_status_t st);

/* Parse a whole buffer in one go (the unit tests and the fuzz harness; the
 * module feeds its body in chunks). */
px_batch_status_t px_batch_parse(const px_limits_t *lim,
    const px_alloc_t *alloc, const void *data, size_t len, px_batch_t *batch,
    char *err, size_t errlen);

#endif
