/*
 * ClickHouse over its HTTP interface (libcurl): statements and
 * inserts, their request bodies gzip-compressed or not (px_ch_set_gzip).
 */
#ifndef PX_CLICKHOUSE_H
#define PX_CLICKHOUSE_H

#include <stddef.h>

#include "px_buf.h"

typedef enum {
    PX_CH_OK = 0,
    PX_CH_RETRY,        /* no answer, or an error not about the rows: wait */
    PX_CH_REJECTED      /* ClickHouse refused the rows' values */
} px_ch_status_t;

typedef struct px_clickhouse_s  px_clickhouse_t;

/* url: http://host:port; user and password may be empty. */
px_clickhouse_t *px_ch_new(const char *url, const char *user,
    const char *password, long timeout_ms, char *err, size_t errlen);
void px_ch_free(px_clickhouse_t *ch);

/* Run one statement; its answer goes to out when out is not NULL.  The
 * reason of a failure (ClickHouse's own message) goes to err. */
px_ch_status_t px_ch_query(px_clickhouse_t *ch, const char *sql,
    px_buf_t *out, char *err, size_t errlen);

/* INSERT INTO table <how> (e.g. "(a, b) FORMAT RowBinary") with the body
 * rows; sent gzip-compressed at the level of px_ch_set_gzip, if any. */
px_ch_status_t px_ch_insert(px_clickhouse_t *ch, const char *table,
    const char *how, const char *rows, size_t len, char *err, size_t errlen);

/* gzip level (1-9) of insert bodies; 0 (the default): sent as they are.
 * On loopback or a LAN, compressing costs the worker and ClickHouse more
 * CPU than the bytes it saves are worth (bench/README.md). */
void px_ch_set_gzip(px_clickhouse_t *ch, int level);

/* URL parameters added to every insert ("name=value&..."; "" for none),
 * e.g. the settings of an insert into a Distributed table.  0, or -1 when
 * too long. */
int px_ch_insert_settings(px_clickhouse_t *ch, const char *params);

/* What an answer means, by ClickHouse's exception code (-1: none), not
 * its HTTP status: REJECTED only for errors about the rows' values (a
 * value that does not parse or fit); authentication, grants, an unknown
 * table, timeouts, too many parts, memory and unknown codes are outages
 * (RETRY). */
px_ch_status_t px_ch_classify(long http_status, int code);

/* The code of "Code: N." in ClickHouse's error text, or -1. */
int px_ch_answer_code(const char *answer);

/* 1 when the reason of a failed call (its err) may pass by itself: no
 * answer from ClickHouse, or one of its transient exceptions (timeouts,
 * too many queries, memory). */
int px_ch_transient(const char *err);

/* Cap each call's timeout at ms from now on (0: back to the configured
 * one): a stopping worker spends no more than its budget. */
void px_ch_cap(px_clickhouse_t *ch, long ms);

/* stop(arg) is asked about once a second during a call; when it answers
 * non-zero the call is abandoned (PX_CH_RETRY): a stopping worker does not
 * wait out a hung insert. */
void px_ch_set_stop(px_clickhouse_t *ch, int (*stop)(void *), void *arg);

#endif
