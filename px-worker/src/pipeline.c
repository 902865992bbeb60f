#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <yajl/yajl_tree.h>

#include "clickhouse.h"
#include "dlq.h"
#include "enrich.h"
#include "event_row.h"
#include "log.h"
#include "offsets.h"
#include "pipeline.h"
#include "schema.h"
#include "session.h"

#define PX_BACKOFF_MIN_MS  200
#define PX_BACKOFF_MAX_MS  10000

struct px_pipeline_s {
    const px_config_t       *cfg;
    volatile sig_atomic_t   *stop;
    rd_kafka_t              *rk;
    px_dlq_t                *dlq;
    px_clickhouse_t         *ch;
    px_enrich_t              enrich;
    char                     table[PX_CONFIG_STR + 16];

    px_session_stage_t      *sessions;

    px_event_row_t          *rows;          /* the batch in hand */
    px_stage_origin_t       *origins;       /* the Kafka message of each */
    unsigned char           *drop;          /* duplicates, not stored */
    size_t                   nrows;
    int                      staged;        /* sessions/dedupe done */
    px_offsets_t             offsets;
    int64_t                  batch_start_ms;
    px_buf_t                 body;

    int                      paused;
    int64_t                  retry_at_ms;
    long                     backoff_ms;

    px_status_t              stats;
    px_status_server_t      *status;
    int64_t                  published_ms;
};

static int64_t
px_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
px_wall_s(void)
{
    return (int64_t) time(NULL);
}

static void
px_batch_clear(px_pipeline_t *p)
{
    size_t  i;

    for (i = 0; i < p->nrows; i++) {
        px_event_row_free(&p->rows[i]);
    }

    p->nrows = 0;
    p->staged = 0;
    px_offsets_clear(&p->offsets);
}

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
    int64_t              now = px_now_ms();
    px_ua_cache_stats_t  ua;

    if (p->status == NULL || (!force && now - p->published_ms < 100)) {
        return;
    }

    px_ua_cache_stats(p->enrich.ua_cache, &ua);
    p->stats.ua_cache_hits = ua.hits;
    p->stats.ua_cache_misses = ua.misses;
    p->stats.paused = p->paused;
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

/* Insert rows one at a time after the batch was refused: the rows
 * ClickHouse refuses go to the DLQ, the others are stored. */
static px_ch_status_t
px_insert_one_by_one(px_pipeline_t *p)
{
    char            err[512];
    size_t          i;
    px_ch_status_t  st;

    for (i = 0; i < p->nrows; i++) {
        if (p->drop[i]) {
            continue;
        }
        p->body.len = 0;
        if (px_event_row_json(&p->rows[i], px_wall_s(), &p->body) != 0) {
            return PX_CH_RETRY;
        }

        st = px_ch_insert(p->ch, p->table, p->body.data, p->body.len, err,
                          sizeof(err));
        if (st == PX_CH_RETRY) {
            return st;
        }

        if (st == PX_CH_REJECTED) {
            px_log(PX_LOG_WARN, "clickhouse", "row refused, dead-lettered: "
                   "%s", err);
            if (px_dlq_send(p->dlq, err, p->rows[i].event_id,
                            strlen(p->rows[i].event_id), p->body.data,
                            p->body.len - 1, 1) != 0)
            {
                return PX_CH_RETRY;
            }
            p->stats.dead_lettered++;
        } else {
            p->stats.stored++;
        }
    }

    return PX_CH_OK;
}

static size_t
px_count_dropped(const px_pipeline_t *p)
{
    size_t  i, n = 0;

    for (i = 0; i < p->nrows; i++) {
        n += p->drop[i];
    }

    return n;
}

/* Sessions and dedupe for the batch in hand (Redis); done once per batch,
 * kept while the insert is retried. */
static int
px_sessions_and_dedupe(px_pipeline_t *p, char *err, size_t errlen)
{
    const px_session_stats_t  *ss;

    if (px_session_stage_run(p->sessions, p->rows, p->nrows, p->origins,
                             p->drop, err, errlen) != 0)
    {
        p->stats.redis_errors++;
        return -1;
    }

    ss = px_session_stage_stats(p->sessions);
    p->stats.duplicates = ss->duplicates;
    p->stats.replays = ss->replays;
    p->stats.sessions_started = ss->new_sessions;
    p->staged = 1;
    return 0;
}

/*
 * Store the batch in hand, then commit.  0 when done (or nothing to do),
 * -1 when it must be retried later (the batch is kept, partitions paused).
 */
static int
px_flush(px_pipeline_t *p)
{
    char            err[512];
    size_t          i;
    int64_t         t0, inserted;
    px_ch_status_t  st;

    if (p->offsets.messages == 0) {
        return 0;
    }

    t0 = px_now_ms();
    inserted = px_wall_s();
    st = PX_CH_OK;

    if (p->nrows > 0 && !p->staged) {
        if (px_sessions_and_dedupe(p, err, sizeof(err)) != 0) {
            px_log(PX_LOG_WARN, "redis", "sessions/dedupe failed: %s", err);
            st = PX_CH_RETRY;
        }
    }

    if (p->nrows > 0 && st == PX_CH_OK) {
        p->body.len = 0;
        for (i = 0; i < p->nrows; i++) {
            if (p->drop[i]) {
                continue;
            }
            if (px_event_row_json(&p->rows[i], inserted, &p->body) != 0) {
                px_log(PX_LOG_ERROR, "pipeline", "out of memory building "
                       "the insert");
                st = PX_CH_RETRY;
                break;
            }
        }

        if (st == PX_CH_OK && p->body.len > 0) {
            st = px_ch_insert(p->ch, p->table, p->body.data, p->body.len,
                              err, sizeof(err));
            if (st == PX_CH_OK) {
                p->stats.stored += p->nrows - px_count_dropped(p);
            } else {
                p->stats.clickhouse_errors++;
                px_log(PX_LOG_WARN, "clickhouse", "insert of %zu rows "
                       "failed: %s", p->nrows, err);
            }
        }

        if (st == PX_CH_REJECTED) {
            st = px_insert_one_by_one(p);
        }
    }

    if (st == PX_CH_OK && px_dlq_flush(p->dlq, 10000) != 0) {
        px_log(PX_LOG_WARN, "dlq", "dead letters not acknowledged");
        st = PX_CH_RETRY;
    }

    if (st != PX_CH_OK) {
        p->backoff_ms = p->backoff_ms == 0
                        ? PX_BACKOFF_MIN_MS
                        : (p->backoff_ms * 2 > PX_BACKOFF_MAX_MS
                           ? PX_BACKOFF_MAX_MS : p->backoff_ms * 2);
        p->retry_at_ms = px_now_ms() + p->backoff_ms;
        px_set_paused(p, 1);
        return -1;
    }

    px_note_batch_latency(p, (double) (px_now_ms() - t0));

    if (px_offsets_commit(p->rk, p->cfg->kafka_topic, &p->offsets, err,
                          sizeof(err)) != 0)
    {
        px_log(PX_LOG_WARN, "consumer", "%s (the batch may be read again; "
               "dedupe makes that harmless)", err);
    } else {
        p->stats.commits++;
    }

    px_log(PX_LOG_DEBUG, "pipeline", "stored %zu rows of %zu messages in "
           "%lld ms", p->nrows, p->offsets.messages,
           (long long) (px_now_ms() - t0));

    px_batch_clear(p);
    p->backoff_ms = 0;
    p->retry_at_ms = 0;
    px_set_paused(p, 0);
    return 0;
}

/* Throw the batch away and make sure it is read again. */
static void
px_batch_abandon(px_pipeline_t *p)
{
    if (p->offsets.messages == 0) {
        return;
    }

    px_log(PX_LOG_WARN, "pipeline", "%zu messages not stored: they will be "
           "read again", p->offsets.messages);
    px_offsets_rewind(p->rk, p->cfg->kafka_topic, &p->offsets);
    px_batch_clear(p);
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
         * if that fails, it is read again (here or there) */
        if (px_flush(p) != 0) {
            px_batch_abandon(p);
        }
        if (cooperative) {
            error = rd_kafka_incremental_unassign(rk, parts);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        break;

    default:
        px_log(PX_LOG_ERROR, "consumer", "rebalance error: %s",
               rd_kafka_err2str(err));
        px_batch_abandon(p);
        if (cooperative) {
            error = rd_kafka_incremental_unassign(rk, parts);
        } else {
            rd_kafka_assign(rk, NULL);
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
                             errlen))
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
    px_pipeline_t  *p;

    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    p->cfg = cfg;
    p->stop = stop;
    px_buf_init(&p->body, NULL, 0);
    snprintf(p->table, sizeof(p->table), "%s.events", cfg->clickhouse_db);

    p->rows = calloc((size_t) cfg->batch_size, sizeof(px_event_row_t));
    p->origins = calloc((size_t) cfg->batch_size, sizeof(px_stage_origin_t));
    p->drop = calloc((size_t) cfg->batch_size, 1);
    if (p->rows == NULL || p->origins == NULL || p->drop == NULL) {
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

    /* the schema first: wait for ClickHouse rather than fail at boot */
    for (wait_ms = PX_BACKOFF_MIN_MS; !*stop; ) {
        if (px_schema_migrate(p->ch, cfg->clickhouse_db, &retry, err,
                              errlen) == 0)
        {
            break;
        }
        if (!retry) {
            goto failed;
        }
        px_log(PX_LOG_WARN, "schema", "%s; retrying in %ld ms", err, wait_ms);
        struct timespec ts = { wait_ms / 1000, (wait_ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
        wait_ms = wait_ms * 2 > PX_BACKOFF_MAX_MS ? PX_BACKOFF_MAX_MS
                                                   : wait_ms * 2;
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

/* One message: a row for the batch, or a dead letter. */
static void
px_handle_message(px_pipeline_t *p, rd_kafka_message_t *msg)
{
    char             err[256];
    px_event_row_t  *row;

    if (p->nrows == (size_t) p->cfg->batch_size) {
        /* only while a full batch waits for ClickHouse: read it later */
        px_seek_back(p, msg);
        return;
    }

    p->stats.consumed++;

    if (px_offsets_track(&p->offsets, msg->partition, msg->offset) != 0) {
        px_log(PX_LOG_ERROR, "consumer", "too many partitions");
    }

    if (p->offsets.messages == 1) {
        p->batch_start_ms = px_now_ms();
    }

    row = &p->rows[p->nrows];
    if (px_event_row_parse(row, msg->payload, msg->len, err, sizeof(err))
        != 0)
    {
        px_event_row_free(row);
        px_log(PX_LOG_WARN, "pipeline", "message %d/%lld dead-lettered: %s",
               (int) msg->partition, (long long) msg->offset, err);
        if (px_dlq_send(p->dlq, err, msg->key, msg->key_len, msg->payload,
                        msg->len, 0) == 0)
        {
            p->stats.dead_lettered++;
        }
        return;
    }

    px_enrich_row(&p->enrich, row);
    p->origins[p->nrows].partition = msg->partition;
    p->origins[p->nrows].offset = msg->offset;
    p->drop[p->nrows] = 0;
    p->nrows++;
}

int
px_pipeline_run(px_pipeline_t *p, volatile sig_atomic_t *reload)
{
    char                 err[512];
    int64_t              now, due;
    int                  timeout;
    rd_kafka_message_t  *msg;

    px_log(PX_LOG_INFO, "pipeline", "consuming %s as group %s",
           p->cfg->kafka_topic, p->cfg->kafka_group);

    while (!*p->stop) {
        if (*reload) {
            *reload = 0;
            if (px_enrich_reload(&p->enrich, p->cfg, err, sizeof(err)) != 0) {
                px_log(PX_LOG_ERROR, "enrich", "reload failed, keeping the "
                       "old data: %s", err);
            } else {
                px_log(PX_LOG_INFO, "enrich", "reloaded");
            }
        }

        now = px_now_ms();
        if (p->paused) {
            due = p->retry_at_ms;
        } else if (p->offsets.messages > 0) {
            due = p->batch_start_ms + p->cfg->flush_interval_ms;
        } else {
            due = now + 100;
        }
        timeout = due <= now ? 0 : (int) (due - now > 100 ? 100 : due - now);

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

        now = px_now_ms();
        if (p->paused) {
            if (now >= p->retry_at_ms) {
                (void) px_flush(p);
            }
        } else if (p->nrows >= (size_t) p->cfg->batch_size
                   || (p->offsets.messages > 0
                       && now - p->batch_start_ms
                          >= p->cfg->flush_interval_ms))
        {
            (void) px_flush(p);
        }

        px_publish(p, 0);
    }

    px_log(PX_LOG_INFO, "pipeline", "stopping: flushing %zu messages",
           p->offsets.messages);

    if (px_flush(p) != 0) {
        px_log(PX_LOG_WARN, "pipeline", "last batch not stored: it will be "
               "read again at the next start");
    }

    return 0;
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

    if (p->rows != NULL) {
        px_batch_clear(p);
        free(p->rows);
    }

    free(p->origins);
    free(p->drop);
    px_session_stage_free(p->sessions);

    px_dlq_free(p->dlq);
    px_ch_free(p->ch);
    px_enrich_close(&p->enrich);
    px_buf_free(&p->body);
    free(p);
}
