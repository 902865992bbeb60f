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
 */
#ifndef PX_MESSAGE_H
#define PX_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "px_batch.h"
#include "px_buf.h"

#define PX_SCHEMA_VERSION  1

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

/* Append a dead-letter record (topic px.events.dlq) to out:
 * {"reason":"…","source":"…","at":"…","payload":<payload>}; payload_is_json
 * says whether payload is inserted as JSON or as a JSON string. */
int px_message_dead_letter(const char *reason, const char *source,
    int64_t at_ms, const char *payload, size_t payload_len,
    int payload_is_json, px_buf_t *out);

#endif
