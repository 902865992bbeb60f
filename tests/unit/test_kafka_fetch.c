/*
 * px-worker kafka_fetch.c: a refused row's message read again from Kafka
 * by partition and offset, against librdkafka's mock cluster: the message
 * at that offset (not its neighbour, even inside one compressed batch);
 * "gone" past the end; "try again" while the partition has no leader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_fetch.h"

#define TOPIC  "px.events.raw"

static rd_kafka_t               *owner;     /* holds the mock cluster */
static rd_kafka_mock_cluster_t  *mc;
static px_kafka_fetch_t         *f;
static px_buf_t                  out;
static char                      err[512];

static void
produce(int32_t partition, const char *payload)
{
    ck_assert_int_eq(rd_kafka_producev(owner, RD_KAFKA_V_TOPIC(TOPIC),
                                       RD_KAFKA_V_PARTITION(partition),
                                       RD_KAFKA_V_VALUE((void *) payload,
                                                        strlen(payload)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void
setup(void)
{
    rd_kafka_conf_t  *conf = rd_kafka_conf_new();

    ck_assert_int_eq(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1",
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    /* the messages of one partition in one LZ4 batch, as the module's
     * producer sends them */
    ck_assert_int_eq(rd_kafka_conf_set(conf, "compression.codec", "lz4",
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "linger.ms", "100",
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_msg(owner != NULL, "%s", err);
    mc = rd_kafka_handle_mock_cluster(owner);
    ck_assert_ptr_nonnull(mc);
    ck_assert_int_eq(rd_kafka_mock_topic_create(mc, TOPIC, 2, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);

    produce(0, "{\"n\":0}");
    produce(0, "{\"n\":1}");
    produce(0, "{\"n\":2}");
    produce(1, "{\"p\":1}");
    ck_assert_int_eq(rd_kafka_flush(owner, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);

    f = px_kafka_fetch_new(rd_kafka_mock_cluster_bootstraps(mc), TOPIC);
    ck_assert_ptr_nonnull(f);
    px_buf_init(&out, NULL, 0);
}

static void
teardown(void)
{
    px_buf_free(&out);
    px_kafka_fetch_free(f);
    rd_kafka_destroy(owner);
}

static void
assert_fetched(int32_t partition, int64_t offset, const char *want)
{
    out.len = 0;
    ck_assert_msg(px_kafka_fetch(f, partition, offset, 10000, &out, err,
                                 sizeof(err)) == 1, "%s", err);
    ck_assert_uint_eq(out.len, strlen(want));
    ck_assert_int_eq(memcmp(out.data, want, out.len), 0);
}

START_TEST(test_kafka_fetch__the_message_at_its_offset)
{
    assert_fetched(0, 1, "{\"n\":1}");
    assert_fetched(0, 0, "{\"n\":0}");
    assert_fetched(0, 2, "{\"n\":2}");
    assert_fetched(1, 0, "{\"p\":1}");
    /* the same one again: nothing is consumed or committed */
    assert_fetched(0, 1, "{\"n\":1}");
}
END_TEST

START_TEST(test_kafka_fetch__gone)
{
    out.len = 0;
    ck_assert_int_eq(px_kafka_fetch(f, 0, 3, 10000, &out, err, sizeof(err)),
                     0);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_ptr_nonnull(strstr(err, "no longer in Kafka"));

    ck_assert_int_eq(px_kafka_fetch(f, 0, 1000, 10000, &out, err,
                                    sizeof(err)), 0);
    ck_assert_uint_eq(out.len, 0);

    /* and a message there after those */
    assert_fetched(0, 2, "{\"n\":2}");
}
END_TEST

START_TEST(test_kafka_fetch__no_leader_is_try_again)
{
    assert_fetched(0, 0, "{\"n\":0}");

    ck_assert_int_eq(rd_kafka_mock_partition_set_leader(mc, TOPIC, 0, -1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    out.len = 0;
    ck_assert_int_eq(px_kafka_fetch(f, 0, 1, 1500, &out, err, sizeof(err)),
                     -1);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_ptr_nonnull(strstr(err, "no answer"));

    ck_assert_int_eq(rd_kafka_mock_partition_set_leader(mc, TOPIC, 0, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_fetched(0, 1, "{\"n\":1}");
}
END_TEST

Suite *
make_suite_kafka_fetch(void)
{
    Suite  *s = suite_create("kafka_fetch");
    TCase  *tc = tcase_create("kafka_fetch");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_kafka_fetch__the_message_at_its_offset);
    tcase_add_test(tc, test_kafka_fetch__gone);
    tcase_add_test(tc, test_kafka_fetch__no_leader_is_try_again);
    suite_add_tcase(s, tc);
    return s;
}
