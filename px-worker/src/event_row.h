/*
 * One Kafka message (px.events.raw, see libpx/px_message.h) as one
 * ClickHouse row of px.events: parse, check, enrich, then write as a
 * JSONEachRow line.  docs/clickhouse.md describes the columns.
 */
#ifndef PX_EVENT_ROW_H
#define PX_EVENT_ROW_H

#include <stdint.h>

#include <yajl/yajl_tree.h>

#include "geo.h"
#include "ip_anon.h"
#include "px_buf.h"
#include "referrer.h"
#include "ua_parse.h"
#include "utm.h"

#define PX_SESSION_ID_LEN  36

typedef struct {
    yajl_val          tree;             /* owns every string below */
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
    yajl_val          properties;
    yajl_val          context;

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
 * (not JSON, a required field missing or of the wrong type). */
int px_event_row_parse(px_event_row_t *row, const char *msg, size_t len,
    char *err, size_t errlen);

/* Append the row as one JSONEachRow line (with its newline). */
int px_event_row_json(const px_event_row_t *row, int64_t inserted_s,
    px_buf_t *out);

/* The visitor key: project + (anonymous_id, else user_id, else event_id). */
int px_event_row_visitor(const px_event_row_t *row, px_buf_t *out);

void px_event_row_free(px_event_row_t *row);

#endif
