/*
 * The consuming half of the worker (this thread): read, parse, enrich into
 * the batch being filled (an unparsable message becomes one of the batch's
 * dead letters); hand a full (or old enough) batch to the inserter thread
 * (inserter.c) and go on with the other batch.  A batch comes back held
 * (its rows encoded in the inserter's block, its dead letters
 * acknowledged) or flushed (the block in ClickHouse): the offsets of the
 * batches held are kept together and committed when one comes back
 * flushed.  At most one batch is with the inserter, so offsets are
 * committed in order.
 *
 * A batch thrown away (a rebalance or a stop gave up on it) lowers the
 * floor: per partition, the lowest offset not stored.  Partitions are
 * rewound to the floor, never to a later batch's start, and no commit
 * passes it (offsets.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <yajl/yajl_tree.h>

#include "backoff.h"
#include "clickhouse.h"
#include "dlq.h"
#include "enrich.h"
#include "event_row.h"
#include "inserter.h"
#include "log.h"
#include "monotonic.h"
#include "offsets.h"
#include "pipeline.h"
#include "schema.h"
#include "session.h"
#include "watchdog.h"

#define PX_STOP_DEADLINE_MS 10000   /* SIGTERM: store what we hold, so long */
#define PX_ORIGIN_HEADER    "px-origin" /* set by px-worker --replay-dlq */

const double  px_status_bucket_ms[PX_STATUS_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};

struct px_pipeline_s {
    const px_config_t       *cfg;
    volatile sig_atomic_t   *stop;
    rd_kafka_t              *rk;
    px_dlq_t                *dlq;
    px_kafka_fetch_t        *fetch;     /* the inserter's, for refused rows */
    px_clickhouse_t         *ch;
    px_session_stage_t      *sessions;
    px_inserter_t           *inserter;
    px_enrich_t              enrich;
    char                     table[PX_CONFIG_STR + 16];

    px_insert_batch_t         batches[2];
    px_insert_batch_t        *fill;          /* being filled here */
    px_insert_batch_t        *inflight;      /* with the inserter, or NULL */

    px_offsets_t             held;          /* of the batches in the block */
    int64_t                  held_ms;       /* their first message read */

    int                      paused;        /* partitions paused */
    px_offsets_t             floor;         /* lowest offsets not stored */

    int64_t                  geoip_check_ms; /* next look at the files */

    px_status_t              stats;
    px_status_server_t      *status;
    int64_t                  published_ms;
};

static void
px_note_batch_latency(px_pipeline_t *p, double ms)
{
    size_t  i;

    for (i = 0; i < PX_STATUS_BUCKETS && ms > px_status_bucket_ms[i]; i++) {
        /* find the bucket */
    }

    p->stats.batch_ms_buckets[i]++;
    p->stats.batch_ms_sum += ms;
    p->stats.batches++;
}

/* At most every 100 ms: hand the counters to the status thread. */
static void
px_publish(px_pipeline_t *p, int force)
{
    int64_t              now = px_monotonic_ms();
    px_ua_cache_stats_t  ua;

    if (p->status == NULL || (!force && now - p->published_ms < 100)) {
        return;
    }

    px_ua_cache_stats(p->enrich.ua_cache, &ua);
    p->stats.ua_cache_hits = ua.hits;
    p->stats.ua_cache_misses = ua.misses;
    p->stats.paused = p->paused || px_inserter_retrying(p->inserter);
    p->stats.pending = p->fill->offsets.messages + p->held.messages
                       + (p->inflight != NULL ? p->inflight->offsets.messages
                                              : 0);
    p->published_ms = now;
    px_status_publish(p->status, &p->stats);
}

void
px_pipeline_set_status_server(px_pipeline_t *p, px_status_server_t *s)
{
    p->status = s;
    px_publish(p, 1);
}

/* Consumer lag per partition, from librdkafka's statistics JSON. */
static int
px_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    char            errbuf[128];
    size_t          i;
    px_pipeline_t  *p = opaque;
    yajl_val        root, parts, part, lag;
    const char     *path[4] = { "topics", NULL, "partitions", NULL };
    const char     *lag_path[] = { "consumer_lag", NULL };

    (void) rk;
    (void) len;

    root = yajl_tree_parse(json, errbuf, sizeof(errbuf));
    if (root == NULL) {
        return 0;
    }

    path[1] = p->cfg->kafka_topic;
    parts = yajl_tree_get(root, path, yajl_t_object);
    p->stats.nlag = 0;

    for (i = 0; parts != NULL && i < parts->u.object.len
                && p->stats.nlag < PX_STATUS_MAX_PARTITIONS; i++)
    {
        part = parts->u.object.values[i];
        lag = yajl_tree_get(part, lag_path, yajl_t_number);
        if (atoi(parts->u.object.keys[i]) < 0 || lag == NULL
            || !YAJL_IS_INTEGER(lag) || YAJL_GET_INTEGER(lag) < 0)
        {
            continue;
        }
        p->stats.lag_partition[p->stats.nlag] = atoi(parts->u.object.keys[i]);
        p->stats.lag[p->stats.nlag] = YAJL_GET_INTEGER(lag);
        p->stats.nlag++;
    }

    yajl_tree_free(root);
    return 0;
}

/* Pause or resume every assigned partition (ClickHouse down / back). */
static void
px_set_paused(px_pipeline_t *p, int pause)
{
    rd_kafka_topic_partition_list_t  *assigned;

    if (p->paused == pause || rd_kafka_assignment(p->rk, &assigned) != 0) {
        return;
    }

    if (pause) {
        rd_kafka_pause_partitions(p->rk, assigned);
    } else {
        rd_kafka_resume_partitions(p->rk, assigned);
    }

    rd_kafka_topic_partition_list_destroy(assigned);
    p->paused = pause;
    px_log(PX_LOG_INFO, "consumer", "partitions %s",
           pause ? "paused" : "resumed");
}

/* The stage's counters (it runs on the inserter thread, which is idle
 * whenever this is called). */
static void
px_session_stats_to(px_pipeline_t *p)
{
    const px_session_stats_t  *ss = px_session_stage_stats(p->sessions);

    p->stats.duplicates = ss->duplicates;
    p->stats.replays = ss->replays;
    p->stats.sessions_started = ss->new_sessions;
    p->stats.session_cache_hits = ss->cache_hits;
    p->stats.session_cache_misses = ss->cache_misses;
}

/* A batch is not stored: lower the floor to its offsets and rewind every
 * partition to the floor.  Seeking to this batch's own start would skip
 * what an earlier batch thrown away left unstored on the same partition. */
static void
px_throw_away(px_pipeline_t *p, px_insert_batch_t *b)
{
    if (px_offsets_lower(&p->floor, &b->offsets) != 0) {
        px_log(PX_LOG_ERROR, "consumer", "too many partitions");
    }
    px_offsets_rewind(p->rk, p->cfg->kafka_topic, &p->floor);
}

/* A batch came back from the inserter: commit it, or (given up) have its
 * messages read again.  Returns whether it was stored. */
static int
px_batch_returned(px_pipeline_t *p, px_insert_batch_t *b)
{
    char  err[512];
    int   stored = b->stored;

    p->stats.clickhouse_errors += b->clickhouse_errors;
    p->stats.redis_errors += b->redis_errors;
    p->stats.dead_lettered += b->dead_lettered;

    if (stored && !b->flushed) {
        /* in the block, not in ClickHouse yet: committed with the block */
        if (p->held.messages == 0) {
            p->held_ms = b->start_ms;
        }
        if (px_offsets_merge(&p->held, &b->offsets) != 0) {
            px_log(PX_LOG_ERROR, "consumer", "too many partitions");
        }

    } else if (stored) {
        p->stats.stored += b->rows_stored;
        px_note_batch_latency(p, b->insert_ms);

        if (px_offsets_merge(&p->held, &b->offsets) != 0) {
            px_log(PX_LOG_ERROR, "consumer", "too many partitions");
        }
        if (px_offsets_commit(p->rk, p->cfg->kafka_topic, &p->held,
                              &p->floor, err, sizeof(err)) != 0)
        {
            px_log(PX_LOG_WARN, "consumer", "%s (the batch may be read "
                   "again; dedupe makes that harmless)", err);
        } else {
            p->stats.commits++;
        }

        px_log(PX_LOG_DEBUG, "pipeline", "stored %lu rows of %zu messages in "
               "%.0f ms", b->rows_stored, p->held.messages, b->insert_ms);
        px_offsets_clear(&p->held);

    } else {
        /* the block went with it: the batches held are read again too */
        px_log(PX_LOG_WARN, "pipeline", "%zu messages not stored: they will "
               "be read again", b->offsets.messages + p->held.messages);
        if (px_offsets_lower(&p->floor, &p->held) != 0) {
            px_log(PX_LOG_ERROR, "consumer", "too many partitions");
        }
        px_offsets_clear(&p->held);
        px_throw_away(p, b);
    }

    px_session_stats_to(p);
    px_insert_batch_reset(b);
    return stored;
}

/* Hand the batch being filled to the inserter (which must be idle);
 * flush: the block is to be inserted after it. */
static void
px_hand_over(px_pipeline_t *p, int flush)
{
    px_insert_batch_t  *b = p->fill;

    b->flush = flush;
    p->inflight = b;
    p->fill = b == &p->batches[0] ? &p->batches[1] : &p->batches[0];
    px_inserter_submit(p->inserter, b);
}

/*
 * Store everything in hand before giving partitions up or stopping: the
 * batch with the inserter, then the one being filled with the block
 * (flushed even when that batch is empty), trying until deadline_ms.  If
 * the first is not stored the second must not be either (its offsets
 * would commit past the first's), so both are read again.
 */
static void
px_drain(px_pipeline_t *p, int64_t deadline_ms)
{
    px_insert_batch_t  *b;
    int           ok = 1;

    if (p->inflight != NULL) {
        b = px_inserter_wait(p->inserter, deadline_ms);
        p->inflight = NULL;
        ok = px_batch_returned(p, b);
    }

    if (p->fill->offsets.messages == 0 && p->held.messages == 0) {
        return;
    }

    if (!ok) {
        px_log(PX_LOG_WARN, "pipeline", "%zu messages not stored: they will "
               "be read again", p->fill->offsets.messages);
        px_throw_away(p, p->fill);
        px_insert_batch_reset(p->fill);
        return;
    }

    px_hand_over(p, 1);
    b = px_inserter_wait(p->inserter, deadline_ms);
    p->inflight = NULL;
    (void) px_batch_returned(p, b);
}

static void
px_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    px_pipeline_t     *p = opaque;
    rd_kafka_error_t  *error = NULL;
    int                cooperative;

    cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE")
                  == 0;

    switch (err) {

    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        px_log(PX_LOG_INFO, "consumer", "assigned %d partitions", parts->cnt);
        p->stats.assigned += parts->cnt;
        /* another worker may have written these partitions' visitors */
        px_session_stage_forget(p->sessions);
        /* read from the committed offsets: nothing of ours below them */
        px_offsets_forget(&p->floor, parts);
        if (cooperative) {
            error = rd_kafka_incremental_assign(rk, parts);
        } else {
            rd_kafka_assign(rk, parts);
        }
        if (p->paused) {
            rd_kafka_pause_partitions(rk, parts);
        }
        break;

    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        px_log(PX_LOG_INFO, "consumer", "revoked %d partitions", parts->cnt);
        p->stats.assigned -= parts->cnt;
        /* store and commit what we hold before another worker takes over;
         * what cannot be stored soon is read again (here or there) */
        px_drain(p, px_monotonic_ms() + PX_STOP_DEADLINE_MS);
        if (cooperative) {
            error = rd_kafka_incremental_unassign(rk, parts);
            px_offsets_forget(&p->floor, parts);
        } else {
            rd_kafka_assign(rk, NULL);
            px_offsets_forget(&p->floor, NULL);
        }
        break;

    default:
        px_log(PX_LOG_ERROR, "consumer", "rebalance error: %s",
               rd_kafka_err2str(err));
        px_drain(p, px_monotonic_ms());
        if (cooperative) {
            error = rd_kafka_incremental_unassign(rk, parts);
            px_offsets_forget(&p->floor, parts);
        } else {
            rd_kafka_assign(rk, NULL);
            px_offsets_forget(&p->floor, NULL);
        }
    }

    if (error != NULL) {
        px_log(PX_LOG_ERROR, "consumer", "rebalance: %s",
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

static rd_kafka_t *
px_consumer_new(px_pipeline_t *p, char *err, size_t errlen)
{
    const px_config_t                *cfg = p->cfg;
    rd_kafka_t                       *rk;
    rd_kafka_conf_t                  *conf;
    rd_kafka_resp_err_t               rc;
    rd_kafka_topic_partition_list_t  *topics;

    conf = rd_kafka_conf_new();

    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers,
                          err, errlen)
        || rd_kafka_conf_set(conf, "group.id", cfg->kafka_group, err, errlen)
        || rd_kafka_conf_set(conf, "client.id", "px-worker", err, errlen)
        /* offsets are stored by hand, after the batch is in ClickHouse */
        || rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err,
                             errlen)
        || rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
                             errlen)
        || rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err,
                             errlen)
        || rd_kafka_conf_set(conf, "partition.assignment.strategy",
                             "cooperative-sticky", err, errlen)
        || rd_kafka_conf_set(conf, "session.timeout.ms", "10000", err,
                             errlen)
        || rd_kafka_conf_set(conf, "heartbeat.interval.ms", "1000", err,
                             errlen)
        || rd_kafka_conf_set(conf, "statistics.interval.ms", "5000", err,
                             errlen)
        /* prefetch: 16 MB is plenty ahead of the batches (default 64 MB) */
        || rd_kafka_conf_set(conf, "queued.max.messages.kbytes", "16384",
                             err, errlen))
    {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_rebalance_cb(conf, px_rebalance_cb);
    rd_kafka_conf_set_stats_cb(conf, px_stats_cb);

    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    conf = NULL;  /* now owned by rk */

    /* one queue for everything: rebalances are served by consumer_poll */
    rd_kafka_poll_set_consumer(rk);

    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cfg->kafka_topic,
                                      RD_KAFKA_PARTITION_UA);
    rc = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);

    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "subscribe to %s: %s", cfg->kafka_topic,
                 rd_kafka_err2str(rc));
        rd_kafka_destroy(rk);
        return NULL;
    }

    return rk;
}

px_pipeline_t *
px_pipeline_new(const px_config_t *cfg, volatile sig_atomic_t *stop,
    char *err, size_t errlen)
{
    int             retry;
    long            wait_ms;
    unsigned        ran = 0;     /* the last migration this process applied */
    px_pipeline_t  *p;

    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    p->cfg = cfg;
    p->stop = stop;
    p->fill = &p->batches[0];
    snprintf(p->table, sizeof(p->table), "%s.events", cfg->clickhouse_db);

    if (px_insert_batch_init(&p->batches[0], (size_t) cfg->batch_size) != 0
        || px_insert_batch_init(&p->batches[1], (size_t) cfg->batch_size) != 0)
    {
        snprintf(err, errlen, "out of memory for %ld rows", cfg->batch_size);
        goto failed;
    }

    if (px_enrich_open(&p->enrich, cfg, err, errlen) != 0) {
        goto failed;
    }

    {
        px_session_conf_t  sc;

        px_session_conf_init(&sc, cfg);
        p->sessions = px_session_stage_new(&sc, err, errlen);
        if (p->sessions == NULL) {
            goto failed;
        }
    }

    p->ch = px_ch_new(cfg->clickhouse_url, cfg->clickhouse_user,
                      cfg->clickhouse_password, 30000, err, errlen);
    if (p->ch == NULL) {
        goto failed;
    }
    px_ch_set_gzip(p->ch, (int) cfg->clickhouse_gzip);

    /* on a cluster, <db>.events is the Distributed table: an insert is
     * answered once every shard has its rows, so a failed one is sent
     * again as the same block (docs/clickhouse.md, cluster mode) */
    if (cfg->clickhouse_cluster[0] != '\0'
        && px_ch_insert_settings(p->ch, "insert_distributed_sync=1") != 0)
    {
        snprintf(err, errlen, "ClickHouse insert settings too long");
        goto failed;
    }

    /* the schema first: wait for ClickHouse rather than fail at boot */
    for (wait_ms = px_backoff_next(0); !*stop; ) {
        if (px_schema_migrate(p->ch, cfg->clickhouse_db,
                              cfg->clickhouse_cluster, &ran, &retry, err,
                              errlen) == 0)
        {
            break;
        }
        if (!retry) {
            goto failed;
        }
        px_log(PX_LOG_WARN, "schema", "%s; retrying in %ld ms", err, wait_ms);
        px_sleep_ms(wait_ms);
        wait_ms = px_backoff_next(wait_ms);
    }

    if (px_schema_ip_retention(p->ch, cfg->clickhouse_db,
                               cfg->clickhouse_cluster,
                               cfg->ip_retention_days, err, errlen) != 0
        || px_schema_sessions_ttl(p->ch, cfg->clickhouse_db,
                                  cfg->clickhouse_cluster,
                                  cfg->sessions_ttl_days, err, errlen) != 0)
    {
        goto failed;
    }

    if (*stop) {
        snprintf(err, errlen, "stopped before ClickHouse was reachable");
        goto failed;
    }

    p->dlq = px_dlq_new(cfg->kafka_brokers, cfg->kafka_dlq_topic, err,
                        errlen);
    if (p->dlq == NULL) {
        goto failed;
    }

    p->fetch = px_kafka_fetch_new(cfg->kafka_brokers, cfg->kafka_topic);
    if (p->fetch == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    p->inserter = px_inserter_new(p->ch, p->sessions, p->dlq, p->fetch,
                                  p->table, (size_t) cfg->block_rows,
                                  (size_t) cfg->block_mb << 20, err, errlen);
    if (p->inserter == NULL) {
        goto failed;
    }

    p->rk = px_consumer_new(p, err, errlen);
    if (p->rk == NULL) {
        goto failed;
    }

    return p;

failed:

    px_pipeline_free(p);
    return NULL;
}

static void
px_seek_back(px_pipeline_t *p, rd_kafka_message_t *msg)
{
    rd_kafka_error_t                 *error;
    rd_kafka_topic_partition_list_t  *list;

    list = rd_kafka_topic_partition_list_new(1);
    if (list == NULL) {
        return;
    }

    rd_kafka_topic_partition_list_add(list, p->cfg->kafka_topic,
                                      msg->partition)->offset = msg->offset;
    error = rd_kafka_seek_partitions(p->rk, list, 5000);
    if (error != NULL) {
        px_log(PX_LOG_ERROR, "consumer", "seek failed: %s",
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/*
 * The origin dedupe knows msg by: the px-origin header ("partition:offset")
 * of a message re-driven from the DLQ, the origin of the message that was
 * dead-lettered; else its own partition:offset.  Offsets committed are
 * always msg's own.
 */
static void
px_message_origin(const rd_kafka_message_t *msg, px_dead_letter_origin_t *o)
{
    char                  buf[48], *end, *colon;
    const void           *val;
    size_t                len;
    long long             part, off;
    rd_kafka_headers_t   *hdrs;

    o->partition = msg->partition;
    o->offset = msg->offset;
    o->message = NULL;
    o->message_len = 0;

    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR
        || rd_kafka_header_get_last(hdrs, PX_ORIGIN_HEADER, &val, &len)
           != RD_KAFKA_RESP_ERR_NO_ERROR
        || val == NULL || len == 0 || len >= sizeof(buf))
    {
        return;
    }

    memcpy(buf, val, len);
    buf[len] = '\0';
    colon = strchr(buf, ':');
    if (colon == NULL) {
        goto invalid;
    }
    part = strtoll(buf, &end, 10);
    if (end != colon || part < 0 || part > INT32_MAX) {
        goto invalid;
    }
    off = strtoll(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || off < 0) {
        goto invalid;
    }

    o->partition = (int32_t) part;
    o->offset = off;
    return;

invalid:
    px_log(PX_LOG_WARN, "pipeline", "message %d/%lld: %s header \"%s\" "
           "ignored", (int) msg->partition, (long long) msg->offset,
           PX_ORIGIN_HEADER, buf);
}

/* One message: a row for the batch being filled, or a dead letter. */
static void
px_handle_message(px_pipeline_t *p, rd_kafka_message_t *msg)
{
    char                      err[256];
    px_insert_batch_t         *b = p->fill;
    int                       own;
    px_event_row_t           *row;
    px_dead_letter_origin_t   o;

    if (b->nrows == b->cap) {
        /* only while both batches wait for ClickHouse: read it later */
        px_seek_back(p, msg);
        return;
    }

    p->stats.consumed++;

    if (px_offsets_track(&b->offsets, msg->partition, msg->offset) != 0) {
        px_log(PX_LOG_ERROR, "consumer", "too many partitions");
    }

    if (b->offsets.messages == 1) {
        b->start_ms = px_monotonic_ms();
    }

    px_message_origin(msg, &o);

    row = &b->rows[b->nrows];
    if (px_message_parse(&row->msg, msg->payload, msg->len, err, sizeof(err))
        != 0)
    {
        px_message_reset(&row->msg);
        px_log(PX_LOG_WARN, "pipeline", "message %d/%lld dead-lettered: %s",
               (int) msg->partition, (long long) msg->offset, err);
        /* the batch is committed only once Kafka acknowledged it */
        (void) px_dlq_add_origin(p->dlq, &b->dead, err, msg->key,
                                 msg->key_len, msg->payload, msg->len, 0,
                                 &o);
        return;
    }

    /* a message at its own origin is read again from Kafka should
     * ClickHouse refuse its row (kafka_fetch.h); a re-driven one is kept:
     * its origin's message may be long gone */
    own = o.partition == msg->partition && o.offset == msg->offset;
    if (px_insert_batch_keep_raw(b, b->nrows, msg->payload,
                                 own ? 0 : msg->len) != 0)
    {
        /* the row is stored all the same; only its dead letter, should
         * ClickHouse refuse it, lacks the message */
        px_log(PX_LOG_ERROR, "pipeline", "out of memory keeping message "
               "%d/%lld", (int) msg->partition, (long long) msg->offset);
    }

    px_enrich_row(&p->enrich, row);
    b->origins[b->nrows].partition = o.partition;
    b->origins[b->nrows].offset = o.offset;
    b->drop[b->nrows] = 0;
    b->nrows++;
}

/* When the oldest message in hand (held in the block, else in the batch
 * being filled) has waited FLUSH_INTERVAL; INT64_MAX: none in hand. */
static int64_t
px_flush_at(px_pipeline_t *p)
{
    if (p->held.messages > 0) {
        return p->held_ms + p->cfg->flush_interval_ms;
    }
    if (p->fill->offsets.messages > 0) {
        return p->fill->start_ms + p->cfg->flush_interval_ms;
    }
    return INT64_MAX;
}

/* The batch being filled is due: full (its rows go to the block), or the
 * oldest message in hand has waited FLUSH_INTERVAL (the block is inserted
 * with it, the batch empty or not). */
static int
px_fill_due(px_pipeline_t *p, int64_t now)
{
    return (p->fill->offsets.messages > 0 && p->fill->nrows == p->fill->cap)
           || now >= px_flush_at(p);
}

/*
 * Take back a finished batch; hand over the next when due.  With the next
 * batch full already, wait for the inserter (up to a second at a time:
 * librdkafka keeps the group session alive meanwhile); only while it is
 * stuck retrying (ClickHouse or Redis down) are the partitions paused, as
 * pausing drops what was prefetched.
 */
static void
px_step(px_pipeline_t *p, int64_t now)
{
    px_insert_batch_t  *b;
    int           full;

    if (p->inflight != NULL) {
        full = p->fill->nrows == p->fill->cap;
        b = full ? px_inserter_poll_wait(p->inserter, 1000)
                 : px_inserter_poll(p->inserter);
        if (b != NULL) {
            p->inflight = NULL;
            (void) px_batch_returned(p, b);
        }
    }

    if (p->inflight == NULL && px_fill_due(p, now)) {
        px_hand_over(p, now >= px_flush_at(p));
    }

    px_set_paused(p, p->inflight != NULL && p->fill->nrows == p->fill->cap
                     && px_inserter_retrying(p->inserter));
}

static void
px_reload(px_pipeline_t *p)
{
    char  err[512];

    if (px_enrich_reload(&p->enrich, p->cfg, err, sizeof(err)) != 0) {
        px_log(PX_LOG_ERROR, "enrich", "reload failed, keeping the old data: "
               "%s", err);
    } else {
        px_log(PX_LOG_INFO, "enrich", "reloaded");
    }
}

/* Every PX_GEOIP_WATCH seconds: reopen the GeoIP databases if their files
 * changed (geoipupdate renames new ones into place). */
static void
px_watch_geoip(px_pipeline_t *p, int64_t now)
{
    char  err[512];

    if (p->cfg->geoip_watch_s <= 0 || now < p->geoip_check_ms) {
        return;
    }
    p->geoip_check_ms = now + p->cfg->geoip_watch_s * 1000;

    switch (px_enrich_geo_refresh(&p->enrich, p->cfg, err, sizeof(err))) {
    case 1:
        px_log(PX_LOG_INFO, "enrich", "GeoIP files changed: reopened");
        break;
    case -1:
        px_log(PX_LOG_ERROR, "enrich", "GeoIP files changed but cannot be "
               "used, keeping the old data: %s", err);
        break;
    }
}

void
px_pipeline_run(px_pipeline_t *p, volatile sig_atomic_t *reload)
{
    int64_t              now, due;
    int                  timeout;
    rd_kafka_message_t  *msg;

    px_log(PX_LOG_INFO, "pipeline", "consuming %s as group %s",
           p->cfg->kafka_topic, p->cfg->kafka_group);

    while (!*p->stop) {
        if (*reload) {
            *reload = 0;
            px_reload(p);
        }
        now = px_monotonic_ms();
        px_watch_geoip(p, now);

        /* wake for the flush interval, at least every 100 ms (the status
         * snapshot, the signals), every 20 ms while a batch is inserted.
         * A flush that falls due while a batch is with the inserter waits
         * for it anyway: polling at 0 ms meanwhile only spun the CPU. */
        due = now + (p->inflight != NULL ? 20 : 100);
        if (p->inflight == NULL && px_flush_at(p) < due) {
            due = px_flush_at(p);
        }
        timeout = due <= now ? 0 : (int) (due - now);

        msg = rd_kafka_consumer_poll(p->rk, timeout);
        if (msg != NULL) {
            if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                px_handle_message(p, msg);
            } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                px_log(PX_LOG_WARN, "consumer", "%s",
                       rd_kafka_message_errstr(msg));
            }
            rd_kafka_message_destroy(msg);
        }

        px_step(p, px_monotonic_ms());
        px_publish(p, 0);
        px_watchdog_kick(px_monotonic_ms());
    }

    px_log(PX_LOG_INFO, "pipeline", "stopping: storing %zu messages",
           p->fill->offsets.messages + p->held.messages
           + (p->inflight ? p->inflight->offsets.messages : 0));

    px_drain(p, px_monotonic_ms() + PX_STOP_DEADLINE_MS);
    px_publish(p, 1);
}

const px_status_t *
px_pipeline_stats(const px_pipeline_t *p)
{
    return &p->stats;
}

void
px_pipeline_free(px_pipeline_t *p)
{
    if (p == NULL) {
        return;
    }

    if (p->rk != NULL) {
        rd_kafka_consumer_close(p->rk);
        rd_kafka_destroy(p->rk);
    }

    /* the thread first: it uses the stage, ClickHouse and the DLQ */
    px_inserter_free(p->inserter);
    px_insert_batch_free(&p->batches[0]);
    px_insert_batch_free(&p->batches[1]);
    px_session_stage_free(p->sessions);
    px_dlq_free(p->dlq);
    px_kafka_fetch_free(p->fetch);
    px_ch_free(p->ch);
    px_enrich_close(&p->enrich);
    free(p);
}
