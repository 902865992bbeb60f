#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kafka_fetch.h"
#include "monotonic.h"

struct px_kafka_fetch_s {
    char              *brokers;
    char              *topic;
    rd_kafka_t        *rk;          /* made on the first fetch */
    rd_kafka_topic_t  *rkt;
};

px_kafka_fetch_t *
px_kafka_fetch_new(const char *brokers, const char *topic)
{
    px_kafka_fetch_t  *f;

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return NULL;
    }
    f->brokers = strdup(brokers);
    f->topic = strdup(topic);
    if (f->brokers == NULL || f->topic == NULL) {
        px_kafka_fetch_free(f);
        return NULL;
    }

    return f;
}

/* A consumer of no group (nothing committed), whose reads of a deleted
 * offset fail instead of jumping to another one, and that reads ahead
 * little: a started partition is fetched into its queue until stopped
 * (by default up to 64 MB, the worker's memory). */
static int
px_kafka_fetch_open(px_kafka_fetch_t *f, char *err, size_t errlen)
{
    rd_kafka_conf_t        *conf;
    rd_kafka_topic_conf_t  *tconf;

    conf = rd_kafka_conf_new();
    tconf = rd_kafka_topic_conf_new();
    if (conf == NULL || tconf == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    if (rd_kafka_conf_set(conf, "bootstrap.servers", f->brokers, err, errlen)
        != RD_KAFKA_CONF_OK
        || rd_kafka_conf_set(conf, "enable.partition.eof", "true", err,
                             errlen) != RD_KAFKA_CONF_OK
        || rd_kafka_conf_set(conf, "client.id", "px-worker-fetch", err,
                             errlen) != RD_KAFKA_CONF_OK
        || rd_kafka_conf_set(conf, "queued.min.messages", "1", err, errlen)
           != RD_KAFKA_CONF_OK
        || rd_kafka_conf_set(conf, "queued.max.messages.kbytes", "2048",
                             err, errlen) != RD_KAFKA_CONF_OK
        || rd_kafka_conf_set(conf, "fetch.max.bytes", "1048576", err,
                             errlen) != RD_KAFKA_CONF_OK
        || rd_kafka_conf_set(conf, "log_level", "4", err, errlen)
           != RD_KAFKA_CONF_OK
        || rd_kafka_topic_conf_set(tconf, "auto.offset.reset", "error", err,
                                   errlen) != RD_KAFKA_CONF_OK)
    {
        goto failed;
    }

    f->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (f->rk == NULL) {
        goto failed;
    }
    conf = NULL;        /* rd_kafka_new owns it */

    f->rkt = rd_kafka_topic_new(f->rk, f->topic, tconf);
    if (f->rkt == NULL) {
        snprintf(err, errlen, "%s", rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(f->rk);
        f->rk = NULL;
        return -1;
    }

    return 0;

failed:
    if (conf != NULL) {
        rd_kafka_conf_destroy(conf);
    }
    if (tconf != NULL) {
        rd_kafka_topic_conf_destroy(tconf);
    }
    return -1;
}

int
px_kafka_fetch(px_kafka_fetch_t *f, int32_t partition, int64_t offset,
    int timeout_ms, px_buf_t *out, char *err, size_t errlen)
{
    int                  rc, left;
    int64_t              deadline;
    rd_kafka_message_t  *m;

    if (f->rk == NULL && px_kafka_fetch_open(f, err, errlen) != 0) {
        return -1;
    }

    if (rd_kafka_consume_start(f->rkt, partition, offset) != 0) {
        snprintf(err, errlen, "fetch %d:%lld: %s", (int) partition,
                 (long long) offset, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }

    rc = -1;
    snprintf(err, errlen, "fetch %d:%lld: no answer from Kafka within %d ms",
             (int) partition, (long long) offset, timeout_ms);
    deadline = px_monotonic_ms() + timeout_ms;

    while ((left = (int) (deadline - px_monotonic_ms())) > 0) {
        m = rd_kafka_consume(f->rkt, partition, left);
        if (m == NULL) {
            break;          /* the time is up */
        }

        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* a fetch may start before the offset asked for; past it the
             * message is not there (a compacted topic) */
            if (m->offset == offset) {
                rc = px_buf_append(out, m->payload, m->len) == 0 ? 1 : -1;
                if (rc < 0) {
                    snprintf(err, errlen, "out of memory");
                }
            } else if (m->offset > offset) {
                rc = 0;
            }
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF
                   || m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET
                   || m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
        {
            rc = 0;         /* deleted, or never there */
        } else {
            snprintf(err, errlen, "fetch %d:%lld: %s", (int) partition,
                     (long long) offset, rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION
                || m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            {
                rc = 0;
            }
        }

        rd_kafka_message_destroy(m);
        if (rc != -1) {
            break;
        }
    }

    rd_kafka_consume_stop(f->rkt, partition);
    if (rc == 0) {
        snprintf(err, errlen, "message %d:%lld is no longer in Kafka",
                 (int) partition, (long long) offset);
    }
    return rc;
}

void
px_kafka_fetch_free(px_kafka_fetch_t *f)
{
    if (f == NULL) {
        return;
    }

    if (f->rkt != NULL) {
        rd_kafka_topic_destroy(f->rkt);
    }
    if (f->rk != NULL) {
        rd_kafka_destroy(f->rk);
    }
    free(f->brokers);
    free(f->topic);
    free(f);
}
