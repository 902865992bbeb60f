/*
 * px-worker dlq.c: dead letters kept per batch until Kafka acknowledged
 * them, against librdkafka's mock cluster (faults injected with
 * rd_kafka_mock_*): a batch settles only when every one of its dead
 * letters is acknowledged; a refused or undeliverable one is sent again at
 * the next try, exactly once in the topic in the end; one batch's failure
 * is never reported to (or reset by) another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "dlq.h"

#define TOPIC  "px.events.dlq"
/* the ApiKey of Produce requests (rdkafka_protocol.h is not installed) */
#define PX_API_PRODUCE  0

static rd_kafka_t               *owner;     /* holds the mock cluster */
static rd_kafka_mock_cluster_t  *mc;
static px_dlq_t                 *dlq;
static char                      err[512];

static void
setup(void)
{
    rd_kafka_conf_t  *conf = rd_kafka_conf_new();

    ck_assert_int_eq(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1",
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_msg(owner != NULL, "%s", err);
    mc = rd_kafka_handle_mock_cluster(owner);
    ck_assert_ptr_nonnull(mc);
    ck_assert_int_eq(rd_kafka_mock_topic_create(mc, TOPIC, 1, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);

    /* a message for a topic in error fails after 3 s, not 300 */
    dlq = px_dlq_new_conf(rd_kafka_mock_cluster_bootstraps(mc), TOPIC,
                          "message.timeout.ms=3000,retry.backoff.ms=50",
                          err, sizeof(err));
    ck_assert_msg(dlq != NULL, "%s", err);
}

static void
teardown(void)
{
    px_dlq_free(dlq);
    rd_kafka_destroy(owner);
}

/* Messages in the topic (its high watermark). */
static int64_t
in_topic(void)
{
    int64_t  lo = -1, hi = -1;

    ck_assert_int_eq(rd_kafka_query_watermark_offsets(owner, TOPIC, 0, &lo,
                                                      &hi, 5000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    return hi;
}

static void
add(px_dead_letters_t *l, const char *payload)
{
    ck_assert_int_eq(px_dlq_add(dlq, l, "not JSON", "k", 1, payload,
                                strlen(payload), 0), 0);
}

START_TEST(test_dlq__settles_once_acknowledged)
{
    px_dead_letters_t  l;

    memset(&l, 0, sizeof(l));
    add(&l, "one");
    add(&l, "two");
    add(&l, "three");
    ck_assert_uint_eq(l.n, 3);
    ck_assert_int_eq(px_dlq_settle(dlq, &l, 10000, err, sizeof(err)), 0);
    ck_assert_int_eq(in_topic(), 3);

    /* nothing new: settling again sends nothing */
    ck_assert_int_eq(px_dlq_settle(dlq, &l, 1000, err, sizeof(err)), 0);
    ck_assert_int_eq(in_topic(), 3);
    px_dead_letters_free(&l);
}
END_TEST

/* The broker refuses the dead letter (too large for the topic): the batch
 * does not settle, however often it is asked, until the broker takes it;
 * then it is in the topic once. */
START_TEST(test_dlq__refused_until_the_broker_takes_it)
{
    int                i;
    px_dead_letters_t  l;

    memset(&l, 0, sizeof(l));
    rd_kafka_mock_push_request_errors(mc, PX_API_PRODUCE, 3,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    add(&l, "refused");

    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(px_dlq_settle(dlq, &l, 5000, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "1 of 1 dead letters") != NULL, "%s", err);
    }
    ck_assert_int_eq(in_topic(), 0);

    ck_assert_int_eq(px_dlq_settle(dlq, &l, 5000, err, sizeof(err)), 0);
    ck_assert_int_eq(in_topic(), 1);
    px_dead_letters_free(&l);
}
END_TEST

/* The DLQ topic unavailable (its partition without a leader): the dead
 * letter times out, is not settled, and is delivered once the topic is
 * back. */
START_TEST(test_dlq__topic_unavailable_then_back)
{
    px_dead_letters_t  l;

    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(rd_kafka_mock_partition_set_leader(mc, TOPIC, 0, -1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    add(&l, "waits");
    ck_assert_int_eq(px_dlq_settle(dlq, &l, 1000, err, sizeof(err)), -1);
    /* past message.timeout.ms: failed, not merely in flight */
    ck_assert_int_eq(px_dlq_settle(dlq, &l, 4000, err, sizeof(err)), -1);

    ck_assert_int_eq(rd_kafka_mock_partition_set_leader(mc, TOPIC, 0, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    ck_assert_int_eq(px_dlq_settle(dlq, &l, 10000, err, sizeof(err)), 0);
    ck_assert_int_eq(in_topic(), 1);
    px_dead_letters_free(&l);
}
END_TEST

/* Two batches: the failure of the first stays with it (it is not reported
 * to whichever batch flushes first, then forgotten). */
START_TEST(test_dlq__failure_stays_with_its_batch)
{
    px_dead_letters_t  a, b;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    rd_kafka_mock_push_request_errors(mc, PX_API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    add(&a, "a1");
    ck_assert_int_eq(px_dlq_flush(dlq, 5000), 0);

    add(&b, "b1");
    ck_assert_int_eq(px_dlq_settle(dlq, &b, 5000, err, sizeof(err)), 0);
    ck_assert_int_eq(in_topic(), 1);

    /* a's dead letter was refused: a is not settled until it is sent again */
    ck_assert_int_eq(px_dlq_settle(dlq, &a, 5000, err, sizeof(err)), 0);
    ck_assert_int_eq(in_topic(), 2);
    px_dead_letters_free(&a);
    px_dead_letters_free(&b);
}
END_TEST

/* A batch thrown away with dead letters in flight: they are freed by
 * their delivery reports (or at px_dlq_free); no leak, no use after free
 * (the sanitizer build and valgrind see it). */
START_TEST(test_dlq__cleared_while_in_flight)
{
    px_dead_letters_t  l;

    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(rd_kafka_mock_partition_set_leader(mc, TOPIC, 0, -1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    add(&l, "orphan1");
    add(&l, "orphan2");
    px_dead_letters_clear(&l);
    ck_assert_uint_eq(l.n, 0);
    add(&l, "kept");
    px_dead_letters_free(&l);
    /* teardown frees the producer with the orphans still queued */
}
END_TEST

Suite *
make_suite_dlq(void)
{
    Suite  *s = suite_create("dlq");
    TCase  *tc = tcase_create("dlq");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dlq__settles_once_acknowledged);
    tcase_add_test(tc, test_dlq__refused_until_the_broker_takes_it);
    tcase_add_test(tc, test_dlq__topic_unavailable_then_back);
    tcase_add_test(tc, test_dlq__failure_stays_with_its_batch);
    tcase_add_test(tc, test_dlq__cleared_while_in_flight);
    suite_add_tcase(s, tc);
    return s;
}
