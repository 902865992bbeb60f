/*
 * The Kafka message of one event (topic px.events.raw): the event as the
 * client sent it, normalised, plus what the server knows.  Value:
 *
 *   {<client members>, "event_id":"…", "timestamp":"…",
 *    "client_timestamp":"…"|null, "project_id":"…", "received_at":"…",
 *    "ip":"…", "user_agent":"…", "schema_version":1
 *    [, "timestamp_clamped":true]}
 *
 * timestamp is the client's, corrected for the client clock's skew:
 * received_at - (sent_at - client_timestamp); received_at when the event
 * has no time; never later than received_at (then timestamp_clamped).
 * An event over max_event_bytes loses its members but for its visitor id.
 * Key: "<project_id>/<anonymous_id, else user_id, else event_id>".
 *
 * The module writes it (px_message_value()), the worker reads it
 * (px_message_parse(), in px_message_read.c): the member names below are
 * the one spelling both use.
 */
#ifndef PX_MESSAGE_H
#define PX_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "px_batch.h"
#include "px_buf.h"

#define PX_SCHEMA_VERSION  1

/* The members the server adds, and those of the client's the reader picks
 * (docs/api.md describes the client's). */
#define PX_MSG_PROJECT_ID        "project_id"
#define PX_MSG_EVENT_ID          "event_id"
#define PX_MSG_EVENT             "event"
#define PX_MSG_ANONYMOUS_ID      "anonymous_id"
#define PX_MSG_USER_ID           "user_id"
#define PX_MSG_IP                "ip"
#define PX_MSG_USER_AGENT        "user_agent"
#define PX_MSG_TIMESTAMP         "timestamp"
#define PX_MSG_CLIENT_TIMESTAMP  "client_timestamp"
#define PX_MSG_RECEIVED_AT       "received_at"
#define PX_MSG_SCHEMA_VERSION    "schema_version"
#define PX_MSG_CLAMPED           "timestamp_clamped"
#define PX_MSG_PROPERTIES        "properties"
#define PX_MSG_CONTEXT           "context"

/* Nesting the reader takes (the root object is depth 1).  The reader's
 * own: the module's input limit is px_limits_t.max_depth. */
#define PX_MESSAGE_DEPTH_MAX     64

/* Cap of each of a decoded message's two buffers: a message needing more
 * is refused ("message too large").  Well above what a 1 MB Kafka message
 * can need (the literals are at most ~3.5 times the message). */
#define PX_MESSAGE_MAX_BYTES     (4u * 1024 * 1024)

/* px_message_reset() keeps a buffer up to this capacity for the next
 * message, and frees a larger one, so a batch's messages stay small. */
#define PX_MESSAGE_KEEP_BYTES    (16u * 1024)

typedef struct {
    const char  *project_id;
    size_t       project_id_len;
    int64_t      received_ms;
    const char  *ip;
    size_t       ip_len;
    const char  *user_agent;
    size_t       user_agent_len;
} px_server_info_t;

/* The event's time after skew correction (see above); *clamped set to 1
 * when it had to be pulled back to received_at. */
int64_t px_message_event_time(const px_batch_t *b, const px_event_t *ev,
    int64_t received_ms, unsigned *clamped);

/* Append the message value of event ev to out.  Returns 0 or -1 (memory). */
int px_message_value(const px_batch_t *b, const px_event_t *ev,
    const px_server_info_t *srv, px_buf_t *out);

/* Append the message key of event ev to out. */
int px_message_key(const px_batch_t *b, const px_event_t *ev,
    const px_server_info_t *srv, px_buf_t *out);

/*
 * A message as the reader sees it.  The members it needs are copied,
 * NUL-terminated, into `strs`, and the `properties` and `context` objects
 * are re-encoded compactly into `lits` as JSON string literals (the form
 * the worker's ClickHouse line holds), so writing them is a copy.  A
 * decoded message keeps its two buffers from one message to the next
 * (px_message_reset()); px_message_free() gives them back.
 */
typedef struct {
    px_buf_t          strs;             /* owns every string below */
    px_buf_t          lits;             /* owns properties and context */

    const char       *project_id;
    const char       *event_id;
    const char       *event;
    const char       *anonymous_id;
    const char       *user_id;
    const char       *ip;
    const char       *user_agent;
    const char       *page_url;
    const char       *page_path;
    const char       *page_title;
    const char       *referrer;
    const char       *locale;
    const char       *library;
    const char       *library_version;
    char              screen[32];       /* "1920x1080" */
    int64_t           ts_ms;            /* skew-corrected event time */
    int64_t           client_ts_ms;     /* 0 when the client sent none */
    int64_t           received_ms;
    unsigned          schema_version;   /* PX_SCHEMA_VERSION once parsed */

    /* The properties and context objects as their columns hold them: the
     * compact JSON text of the object as one JSON string literal, quotes
     * included ("\"{\\\"plan\\\":\\\"pro\\\"}\""); "\"{}\"" when the
     * member is absent or not an object.  Not NUL-terminated. */
    const char       *properties;
    size_t            properties_len;
    const char       *context;
    size_t            context_len;

    /* context.campaign (has_campaign: it is an object; each member NULL
     * when absent or not a string) and the first member of
     * context.click_ids whose value is a non-empty string (NULL: none). */
    unsigned          has_campaign;
    const char       *campaign_source;
    const char       *campaign_medium;
    const char       *campaign_name;
    const char       *campaign_term;
    const char       *campaign_content;
    const char       *click_id_type;
    const char       *click_id;
} px_message_t;

/* Parse and check a message.  0, or -1 with the dead-letter reason in err
 * (not JSON, nested deeper than PX_MESSAGE_DEPTH_MAX, a NUL byte, not an
 * object, a schema_version other than PX_SCHEMA_VERSION, a required field
 * missing or of the wrong type, message too large).  m must be zeroed
 * (calloc, memset) or a message that parse, reset or free left; it keeps
 * its buffers. */
int px_message_parse(px_message_t *m, const char *msg, size_t len,
    char *err, size_t errlen);

/* Who sent the event, as the key names it: anonymous_id, else user_id,
 * else event_id (never NULL once parsed). */
const char *px_message_visitor(const px_message_t *m);

/* Forget the content but keep the buffers (up to PX_MESSAGE_KEEP_BYTES
 * each) for the next px_message_parse(). */
void px_message_reset(px_message_t *m);

/* Free the buffers: after this the message holds no memory. */
void px_message_free(px_message_t *m);

/* Append a dead-letter record (topic px.events.dlq) to out:
 * {"reason":"…","source":"…","at":"…","payload":<payload>}; payload_is_json
 * says whether payload is inserted as JSON or as a JSON string. */
int px_message_dead_letter(const char *reason, const char *source,
    int64_t at_ms, const char *payload, size_t payload_len,
    int payload_is_json, px_buf_t *out);

#endif
