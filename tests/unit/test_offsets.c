/*
 * px-worker offsets.c: a batch's ranges, the floor (per partition, the
 * lowest offset not stored, after batches were thrown away), and commits
 * that never pass the floor (against librdkafka's mock cluster).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "offsets.h"

#define TOPIC  "px.events.raw"

static px_offsets_t  a, b, floor_;

static void
setup(void)
{
    px_offsets_clear(&a);
    px_offsets_clear(&b);
    px_offsets_clear(&floor_);
}

/* The floor's offset of partition, or -1. */
static int64_t
floor_of(int32_t partition)
{
    size_t  i;

    for (i = 0; i < floor_.n; i++) {
        if (floor_.ranges[i].partition == partition) {
            return floor_.ranges[i].first;
        }
    }
    return -1;
}

/* The batch in flight (a) and the next (b) both thrown away, in either
 * order: each partition's floor is its lowest offset over both (rewinding
 * to b's start would skip a's messages). */
START_TEST(test_offsets__floor_is_the_lowest_of_both_batches)
{
    px_offsets_track(&a, 0, 100);
    px_offsets_track(&a, 0, 101);
    px_offsets_track(&a, 1, 50);
    px_offsets_track(&b, 0, 102);
    px_offsets_track(&b, 0, 140);
    px_offsets_track(&b, 1, 51);
    px_offsets_track(&b, 2, 7);

    ck_assert_int_eq(px_offsets_lower(&floor_, &a), 0);
    ck_assert_int_eq(px_offsets_lower(&floor_, &b), 0);
    ck_assert_int_eq(floor_of(0), 100);
    ck_assert_int_eq(floor_of(1), 50);
    ck_assert_int_eq(floor_of(2), 7);

    px_offsets_clear(&floor_);
    ck_assert_int_eq(px_offsets_lower(&floor_, &b), 0);
    ck_assert_int_eq(px_offsets_lower(&floor_, &a), 0);
    ck_assert_int_eq(floor_of(0), 100);
    ck_assert_int_eq(floor_of(1), 50);
    ck_assert_int_eq(floor_of(2), 7);
}
END_TEST

/* Batches held in an insert block (stored together, later) add up: per
 * partition from the lowest first to the highest next, every message
 * counted; then they are committed, or lower the floor, as one. */
START_TEST(test_offsets__held_batches_merge)
{
    px_offsets_t  held;

    px_offsets_clear(&held);
    px_offsets_track(&a, 0, 100);
    px_offsets_track(&a, 0, 101);
    px_offsets_track(&a, 1, 50);
    px_offsets_track(&b, 0, 102);
    px_offsets_track(&b, 0, 140);
    px_offsets_track(&b, 2, 7);

    ck_assert_int_eq(px_offsets_merge(&held, &a), 0);
    ck_assert_int_eq(px_offsets_merge(&held, &b), 0);
    ck_assert_uint_eq(held.messages, 6);
    ck_assert_uint_eq(held.n, 3);
    ck_assert_int_eq(held.ranges[0].partition, 0);
    ck_assert(held.ranges[0].first == 100 && held.ranges[0].next == 141);
    ck_assert(held.ranges[1].first == 50 && held.ranges[1].next == 51);
    ck_assert(held.ranges[2].first == 7 && held.ranges[2].next == 8);

    /* a batch thrown away with them: the floor is the held batches' start */
    ck_assert_int_eq(px_offsets_lower(&floor_, &held), 0);
    ck_assert_int_eq(floor_of(0), 100);

    /* an empty batch (a flush with nothing new) changes nothing */
    px_offsets_clear(&a);
    ck_assert_int_eq(px_offsets_merge(&held, &a), 0);
    ck_assert_uint_eq(held.messages, 6);
    ck_assert_uint_eq(held.n, 3);
}
END_TEST

START_TEST(test_offsets__forget_revoked_partitions)
{
    rd_kafka_topic_partition_list_t  *parts;

    px_offsets_track(&a, 0, 10);
    px_offsets_track(&a, 1, 20);
    px_offsets_track(&a, 3, 30);
    px_offsets_lower(&floor_, &a);

    parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 1);
    rd_kafka_topic_partition_list_add(parts, TOPIC, 2);
    px_offsets_forget(&floor_, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    ck_assert_uint_eq(floor_.n, 2);
    ck_assert_int_eq(floor_of(0), 10);
    ck_assert_int_eq(floor_of(1), -1);
    ck_assert_int_eq(floor_of(3), 30);

    px_offsets_forget(&floor_, NULL);
    ck_assert_uint_eq(floor_.n, 0);
}
END_TEST

/* The committed offset of partition (RD_KAFKA_OFFSET_INVALID: none). */
static int64_t
committed(rd_kafka_t *rk, int32_t partition)
{
    int64_t                           off;
    rd_kafka_topic_partition_list_t  *l;

    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, TOPIC, partition);
    ck_assert_int_eq(rd_kafka_committed(rk, l, 5000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off;
}

static void
produce(rd_kafka_t *p, int32_t partition, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        ck_assert_int_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(TOPIC),
                                           RD_KAFKA_V_PARTITION(partition),
                                           RD_KAFKA_V_VALUE("m", 1),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ck_assert_int_eq(rd_kafka_flush(p, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* A batch that starts past the floor of a partition is not committed
 * there (the other partitions are); one that read the floor again is, and
 * fills it. */
START_TEST(test_offsets__commit_never_passes_the_floor)
{
    char                              err[512];
    rd_kafka_t                       *owner, *rk;
    rd_kafka_conf_t                  *conf;
    rd_kafka_mock_cluster_t          *mc;
    rd_kafka_topic_partition_list_t  *assign;

    conf = rd_kafka_conf_new();
    ck_assert_int_eq(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1",
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_msg(owner != NULL, "%s", err);
    mc = rd_kafka_handle_mock_cluster(owner);
    ck_assert_int_eq(rd_kafka_mock_topic_create(mc, TOPIC, 2, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    produce(owner, 0, 60);
    produce(owner, 1, 60);

    conf = rd_kafka_conf_new();
    ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers",
                                       rd_kafka_mock_cluster_bootstraps(mc),
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "group.id", "g", err,
                                       sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "enable.auto.commit", "false",
                                       err, sizeof(err)), RD_KAFKA_CONF_OK);
    ck_assert_int_eq(rd_kafka_conf_set(conf, "enable.auto.offset.store",
                                       "false", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    ck_assert_msg(rk != NULL, "%s", err);

    assign = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(assign, TOPIC, 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_add(assign, TOPIC, 1)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(rk, assign), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(assign);

    /* partition 0 lost offsets 10.. (a batch thrown away) */
    px_offsets_track(&a, 0, 10);
    px_offsets_lower(&floor_, &a);

    /* a batch read past the hole on 0: committed on 1 only */
    px_offsets_track(&b, 0, 20);
    px_offsets_track(&b, 0, 29);
    px_offsets_track(&b, 1, 5);
    ck_assert_int_eq(px_offsets_commit(rk, TOPIC, &b, &floor_, err,
                                       sizeof(err)), 0);
    ck_assert_int_eq(committed(rk, 1), 6);
    ck_assert(committed(rk, 0) < 10);
    ck_assert_int_eq(floor_of(0), 10);

    /* the hole read again: committed, the floor filled */
    px_offsets_clear(&b);
    px_offsets_track(&b, 0, 10);
    px_offsets_track(&b, 0, 39);
    ck_assert_int_eq(px_offsets_commit(rk, TOPIC, &b, &floor_, err,
                                       sizeof(err)), 0);
    ck_assert_int_eq(committed(rk, 0), 40);
    ck_assert_uint_eq(floor_.n, 0);

    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    rd_kafka_destroy(owner);
}
END_TEST

Suite *
make_suite_offsets(void)
{
    Suite  *s = suite_create("offsets");
    TCase  *tc = tcase_create("offsets");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_offsets__floor_is_the_lowest_of_both_batches);
    tcase_add_test(tc, test_offsets__held_batches_merge);
    tcase_add_test(tc, test_offsets__forget_revoked_partitions);
    tcase_add_test(tc, test_offsets__commit_never_passes_the_floor);
    suite_add_tcase(s, tc);
    return s;
}
