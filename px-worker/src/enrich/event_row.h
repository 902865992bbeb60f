/*
 * One Kafka message (px.events.raw) as one ClickHouse row of px.events:
 * read (px_message_parse(), libpx/px_message.h), enriched, sessioned, then
 * written as RowBinary for the insert (a JSONEachRow line for a dead
 * letter).  docs/clickhouse.md describes the columns.
 * A row keeps its message's buffers from one message to the next
 * (px_message_reset()); px_message_free() gives them back.
 */
#ifndef PX_EVENT_ROW_H
#define PX_EVENT_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "geo.h"
#include "ip_anon.h"
#include "px_buf.h"
#include "px_message.h"
#include "referrer.h"
#include "ua_parse.h"
#include "utm.h"

#define PX_SESSION_ID_LEN  36

typedef struct {
    px_message_t      msg;              /* the message as read */

    /* enrichment */
    char              ip_stored[PX_IP_ANON_MAX];
    px_geo_result_t   geo;
    px_ua_t           ua;
    px_referrer_t     ref;
    px_utm_t          utm;

    /* sessions (session.c) */
    char              session_id[PX_SESSION_ID_LEN + 1];
    uint32_t          session_seq;
    /* the time of the event that started the session (the one its id is
     * made from): fixed for the session's life, it partitions
     * px.sessions_by_month (docs/clickhouse.md) */
    int64_t           session_first_ms;
} px_event_row_t;

/* Where a row came from: its Kafka message.  The same message read again
 * (a replay after a crash or a rebalance) has the same origin; an SDK
 * retry that produced a second message has another. */
typedef struct {
    int32_t  partition;
    int64_t  offset;
} px_stage_origin_t;

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
    " library_version, schema_version, inserted_at, session_first_ms"

/* Append the row in ClickHouse's RowBinary format (the columns above):
 * the same values as px_event_row_json().  0, or -1 (no memory; out is as
 * it was). */
int px_event_row_binary(const px_event_row_t *row, int64_t inserted_s,
    px_buf_t *out);

/* The RowBinary row rb (len bytes, exactly one row) as its JSONEachRow
 * line, the values px_event_row_json() writes (store/event_row_decode.c:
 * the dead letter of a row an insert block holds only encoded).  0, -1 (no
 * memory) or -2 (not one whole row); out is as it was on error. */
int px_event_row_binary_json(const char *rb, size_t len, px_buf_t *out);

/* The event_id of the RowBinary row rb: 0, or -1 when cut short. */
int px_event_row_binary_event_id(const char *rb, size_t len,
    const char **id, size_t *id_len);

/* Append the row as one JSONEachRow line (with its newline). */
int px_event_row_json(const px_event_row_t *row, int64_t inserted_s,
    px_buf_t *out);

#endif
