/*
 * One Kafka message (px.events.raw, see libpx/px_message.h) as one
 * ClickHouse row of px.events: parse, check, enrich, then write as a
 * JSONEachRow line.  docs/clickhouse.md describes the columns.
 *
 * The message is read with yajl's streaming parser (no tree): the members
 * the row needs are copied, NUL-terminated, into the row's `strs` buffer,
 * and the `properties` and `context` objects are re-encoded compactly into
 * its `lits` buffer as the JSON string literals the line holds, so writing
 * the line copies them.  A row keeps its two buffers from one message to
 * the next (px_event_row_reset()); px_event_row_free() gives them back.
 */
#ifndef PX_EVENT_ROW_H
#define PX_EVENT_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "geo.h"
#include "ip_anon.h"
#include "px_buf.h"
#include "referrer.h"
#include "ua_parse.h"
#include "utm.h"

#define PX_SESSION_ID_LEN  36

/* Nesting allowed in a message (the root object is depth 1). */
#define PX_JSON_MAX_DEPTH  64

/* Cap of each of a row's two buffers: a message needing more is refused
 * ("message too large").  Well above what a 1 MB Kafka message can need
 * (the literals are at most ~3.5 times the message). */
#define PX_EVENT_ROW_MAX_BYTES   (4u * 1024 * 1024)

/* px_event_row_reset() keeps a buffer up to this capacity for the next
 * message, and frees a larger one, so a batch's rows stay small. */
#define PX_EVENT_ROW_KEEP_BYTES  (16u * 1024)

#define PX_EVENT_ROW_HAVE_RESET  1

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
    unsigned          schema_version;

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

    /* enrichment */
    char              ip_stored[PX_IP_ANON_MAX];
    px_geo_result_t   geo;
    px_ua_t           ua;
    px_referrer_t     ref;
    px_utm_t          utm;

    /* sessions (session.c) */
    char              session_id[PX_SESSION_ID_LEN + 1];
    uint32_t          session_seq;
} px_event_row_t;

/* Parse and check a message.  0, or -1 with the dead-letter reason in err
 * (not JSON, nested deeper than PX_JSON_MAX_DEPTH, a NUL byte, not an
 * object, a required field missing or of the wrong type, message too
 * large).  row must be zeroed (calloc, memset) or a row that parse, reset
 * or free left; it keeps its buffers. */
int px_event_row_parse(px_event_row_t *row, const char *msg, size_t len,
    char *err, size_t errlen);

/* The columns px_event_row_binary() writes, in its order, for the
 * INSERT's column list. */
#define PX_EVENT_ROW_BINARY_COLUMNS                                           \
    "project_id, event_id, event, anonymous_id, user_id, session_id,"        \
    " session_seq, timestamp, timestamp_ms, client_timestamp_ms,"            \
    " received_at, received_at_ms, properties, context, page_url,"           \
    " page_path, page_title, referrer, referrer_domain, referrer_type,"      \
    " utm_source, utm_medium, utm_campaign, utm_term, utm_content,"          \
    " click_id_type, click_id, ip, country, country_name, region,"           \
    " region_name, city, latitude, longitude, time_zone, asn, as_org,"       \
    " user_agent, browser, browser_version, os, os_version, device_type,"    \
    " device_brand, device_model, is_bot, locale, screen, library,"          \
    " library_version, schema_version, inserted_at"

/* Append the row in ClickHouse's RowBinary format (the columns above):
 * the same values as px_event_row_json().  0, or -1 (no memory, or a
 * properties/context literal that is not one; out is as it was). */
int px_event_row_binary(const px_event_row_t *row, int64_t inserted_s,
    px_buf_t *out);

/* Append the row as one JSONEachRow line (with its newline). */
int px_event_row_json(const px_event_row_t *row, int64_t inserted_s,
    px_buf_t *out);

/* The visitor key: project + (anonymous_id, else user_id, else event_id). */
int px_event_row_visitor(const px_event_row_t *row, px_buf_t *out);

/* Forget the row's content but keep its buffers (up to
 * PX_EVENT_ROW_KEEP_BYTES each) for the next px_event_row_parse(). */
void px_event_row_reset(px_event_row_t *row);

/* Free the row's buffers: after this the row holds no memory. */
void px_event_row_free(px_event_row_t *row);

#endif
