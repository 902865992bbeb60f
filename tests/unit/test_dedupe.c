/*
 * px-worker/dedupe.c and the dedupe half of the session stage: within a
 * batch, across batches (Redis, a TTL window), replays kept, true
 * duplicates dropped.  The redis-server fixture is test_session.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "dedupe.h"
#include "session.h"

#include "px_test_redis.h"

#define N   32
#define T0  1700000000000LL

static px_test_redis_t      srv;
static px_session_stage_t  *stage;
static char                 err[512];

static px_event_row_t       rows[N];
static px_stage_origin_t    origins[N];
static unsigned char        drop[N];
static char                 ids[N][40];
static size_t               n;

static void
batch_clear(void)
{
    n = 0;
    memset(rows, 0, sizeof(rows));
    memset(drop, 0xee, sizeof(drop));
}

/* An event of project `project`, event id from `num`, from the Kafka
 * message partition:offset. */
static void
add(const char *project, unsigned num, int32_t partition, int64_t offset)
{
    ck_assert(n < N);
    snprintf(ids[n], sizeof(ids[n]), "%08x-0000-4000-8000-000000000000",
             num);
    rows[n].msg.project_id = project;
    rows[n].msg.event_id = ids[n];
    rows[n].msg.anonymous_id = "visitor";
    rows[n].msg.ts_ms = T0 + (int64_t) num * 1000;
    origins[n].partition = partition;
    origins[n].offset = offset;
    n++;
}

static void
run(px_session_stage_t *s)
{
    ck_assert_msg(px_session_stage_run(s, rows, n, origins, drop, err,
                                       sizeof(err)) == 0,
                  "stage failed: %s", err);
}

static px_session_stage_t *
stage_with_ttl(long ttl_s)
{
    return px_test_stage_new(&srv, 1800, 86400, ttl_s, "t:");
}

static void
setup(void)
{
    ck_assert_msg(px_test_redis_start(&srv) == 0,
                  "redis-server did not start (see %s/redis.log)", srv.dir);
    stage = stage_with_ttl(86400);
    batch_clear();
}

static void
teardown(void)
{
    px_session_stage_free(stage);
    stage = NULL;
    px_test_redis_stop(&srv);
}

#define STATS  (px_session_stage_stats(stage))

/* ---- within a batch, no server ---------------------------------------- */

START_TEST(test_dedupe__batch_table)
{
    px_dedupe_t    d;
    unsigned char  dup[N];
    size_t         i;

    batch_clear();
    add("p1", 1, 0, 1);
    add("p1", 2, 0, 2);
    add("p1", 1, 0, 3);         /* dup of 0 */
    add("p2", 1, 0, 4);         /* other project: not a dup */
    add("p1", 2, 0, 5);         /* dup of 1 */
    add("p1", 1, 0, 6);         /* dup of 0 */

    px_dedupe_init(&d);
    memset(dup, 0, sizeof(dup));
    ck_assert_int_eq(px_dedupe_batch(&d, rows, n, dup), 3);
    ck_assert_int_eq(dup[0] + dup[1] + dup[3], 0);
    ck_assert_int_eq(dup[2] & dup[4] & dup[5], 1);

    /* rows marked on entry are skipped: row 2 becomes the first "1" */
    memset(dup, 0, sizeof(dup));
    dup[0] = 1;
    ck_assert_int_eq(px_dedupe_batch(&d, rows, n, dup), 2);
    ck_assert_int_eq(dup[2], 0);
    ck_assert_int_eq(dup[5], 1);

    /* a large batch grows the table; all distinct */
    {
        px_event_row_t  *many = calloc(5000, sizeof(*many));
        char           (*mid)[40] = calloc(5000, sizeof(*mid));
        unsigned char   *mdup = calloc(5000, 1);

        ck_assert(many && mid && mdup);
        for (i = 0; i < 5000; i++) {
            snprintf(mid[i], sizeof(mid[i]), "%08zx-0000-4000-8000-0", i);
            many[i].msg.project_id = "p";
            many[i].msg.event_id = mid[i];
        }
        ck_assert_int_eq(px_dedupe_batch(&d, many, 5000, mdup), 0);
        many[4999].msg.event_id = mid[17];
        ck_assert_int_eq(px_dedupe_batch(&d, many, 5000, mdup), 1);
        ck_assert_int_eq(mdup[4999], 1);
        free(many);
        free(mid);
        free(mdup);
    }

    px_dedupe_free(&d);
}
END_TEST

START_TEST(test_dedupe__keys)
{
    px_buf_t           out;
    px_event_row_t     row;
    px_stage_origin_t  o = { 7, 123456789012LL };

    memset(&row, 0, sizeof(row));
    row.msg.project_id = "shop";
    row.msg.event_id = "0190c5b0-0000-4000-8000-000000000001";

    px_buf_init(&out, NULL, 0);
    ck_assert_int_eq(px_dedupe_key(&out, "px:", &row), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    ck_assert_str_eq(out.data,
                     "px:e:4:shop:0190c5b0-0000-4000-8000-000000000001");

    out.len = 0;
    ck_assert_int_eq(px_dedupe_origin(&out, &o), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    ck_assert_str_eq(out.data, "7:123456789012");
    px_buf_free(&out);
}
END_TEST

/* ---- with Redis --------------------------------------------------------- */

START_TEST(test_dedupe__within_batch)
{
    add("p1", 1, 0, 10);
    add("p1", 2, 0, 11);
    add("p1", 1, 0, 12);        /* an SDK retry in the same batch */
    run(stage);

    ck_assert_int_eq(drop[0], 0);
    ck_assert_int_eq(drop[1], 0);
    ck_assert_int_eq(drop[2], 1);
    ck_assert_uint_eq(rows[1].session_seq, 2);   /* the dup took no seq */
    ck_assert_str_eq(rows[2].session_id, "");
    ck_assert_uint_eq(STATS->duplicates, 1);
    ck_assert_uint_eq(STATS->batch_duplicates, 1);

    /* the same batch read again: the same answers */
    memset(drop, 0xee, sizeof(drop));
    run(stage);
    ck_assert_int_eq(drop[0] + drop[1], 0);
    ck_assert_int_eq(drop[2], 1);
    ck_assert_uint_eq(rows[1].session_seq, 2);
    ck_assert_uint_eq(STATS->replays, 2);
}
END_TEST

START_TEST(test_dedupe__across_batches)
{
    add("p1", 1, 0, 10);
    add("p1", 2, 0, 11);
    run(stage);
    ck_assert_int_eq(drop[0] + drop[1], 0);

    /* later batches: the event again in another message (the SDK
     * retried after a 503 whose events did reach Kafka) */
    batch_clear();
    add("p1", 3, 0, 40);
    add("p1", 1, 0, 41);
    add("p2", 1, 0, 42);        /* same event id, other project: kept */
    run(stage);
    ck_assert_int_eq(drop[0], 0);
    ck_assert_int_eq(drop[1], 1);
    ck_assert_int_eq(drop[2], 0);
    ck_assert_uint_eq(rows[0].session_seq, 3);
    ck_assert_uint_eq(STATS->duplicates, 1);
    ck_assert_uint_eq(STATS->batch_duplicates, 0);
    ck_assert_uint_eq(STATS->replays, 0);

    /* from another partition too */
    batch_clear();
    add("p1", 2, 5, 11);
    run(stage);
    ck_assert_int_eq(drop[0], 1);
}
END_TEST

START_TEST(test_dedupe__replay_kept)
{
    char  sid[40];

    /* inserted into ClickHouse, crash before the offsets were committed:
     * the same messages come again and must be stored again (the
     * ReplacingMergeTree collapses the identical rows) */
    add("p1", 1, 3, 100);
    add("p1", 2, 3, 101);
    run(stage);
    strcpy(sid, rows[0].session_id);

    memset(rows[0].session_id, 0, sizeof(rows[0].session_id));
    memset(drop, 0xee, sizeof(drop));
    run(stage);
    ck_assert_int_eq(drop[0] + drop[1], 0);
    ck_assert_str_eq(rows[0].session_id, sid);
    ck_assert_uint_eq(rows[0].session_seq, 1);
    ck_assert_uint_eq(rows[1].session_seq, 2);
    ck_assert_uint_eq(STATS->replays, 2);
    ck_assert_uint_eq(STATS->duplicates, 0);

    /* a replay and a true duplicate of it in one later batch */
    batch_clear();
    add("p1", 1, 3, 100);       /* replay */
    add("p1", 1, 3, 230);       /* dup, in-batch */
    add("p1", 2, 3, 231);       /* dup of a stored event */
    run(stage);
    ck_assert_int_eq(drop[0], 0);
    ck_assert_int_eq(drop[1], 1);
    ck_assert_int_eq(drop[2], 1);
    ck_assert_str_eq(rows[0].session_id, sid);
}
END_TEST

START_TEST(test_dedupe__duplicate_first_seen_kept)
{
    /* two messages of one event: whichever the worker stores first is
     * the one kept, for good, even when the other is processed by a
     * replay later */
    add("p1", 1, 0, 9);
    run(stage);

    batch_clear();
    add("p1", 1, 0, 20);
    run(stage);
    ck_assert_int_eq(drop[0], 1);

    batch_clear();
    add("p1", 1, 0, 9);
    run(stage);
    ck_assert_int_eq(drop[0], 0);
    ck_assert_uint_eq(rows[0].session_seq, 1);
}
END_TEST

START_TEST(test_dedupe__ttl_window)
{
    char                 key[64];
    px_session_stage_t  *short_ttl;
    redisReply          *r;

    short_ttl = stage_with_ttl(1);

    add("p1", 1, 0, 1);
    run(short_ttl);

    /* the claim's hash (one of its window, the visitor's has another
     * family) expires at the end of the next 1 s window: in 1 to 2 s */
    r = px_test_redis_cmd(&srv, "KEYS t:E:*");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 1);
    snprintf(key, sizeof(key), "%s", r->element[0]->str);
    freeReplyObject(r);
    r = px_test_redis_cmd(&srv, "PTTL %s", key);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_msg(r->integer > 1000 && r->integer <= 2000, "pttl %lld",
                  r->integer);
    freeReplyObject(r);

    /* inside the window: a duplicate */
    batch_clear();
    add("p1", 1, 0, 2);
    run(short_ttl);
    ck_assert_int_eq(drop[0], 1);

    /* after it: a new event again */
    usleep(2100 * 1000);
    r = px_test_redis_cmd(&srv, "EXISTS %s", key);
    ck_assert_int_eq(r->integer, 0);
    freeReplyObject(r);

    batch_clear();
    add("p1", 1, 0, 3);
    run(short_ttl);
    ck_assert_int_eq(drop[0], 0);
    ck_assert_uint_eq(px_session_stage_stats(short_ttl)->duplicates, 1);

    px_session_stage_free(short_ttl);
}
END_TEST

START_TEST(test_dedupe__redis_down_drops_nothing)
{
    add("p1", 1, 0, 1);
    run(stage);

    px_test_redis_kill(&srv);

    batch_clear();
    add("p1", 1, 0, 2);         /* would be a duplicate */
    add("p1", 2, 0, 3);
    ck_assert_int_eq(px_session_stage_run(stage, rows, n, origins, drop,
                                          err, sizeof(err)), -1);
    ck_assert_int_eq(drop[0], 0xee);
    ck_assert_int_eq(drop[1], 0xee);
    ck_assert_uint_eq(STATS->duplicates, 0);
    ck_assert_uint_eq(STATS->redis_errors, 1);
}
END_TEST

Suite *
make_suite_dedupe(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("dedupe");

    tc = tcase_create("batch");
    tcase_add_test(tc, test_dedupe__batch_table);
    tcase_add_test(tc, test_dedupe__keys);
    suite_add_tcase(s, tc);

    tc = tcase_create("redis");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dedupe__within_batch);
    tcase_add_test(tc, test_dedupe__across_batches);
    tcase_add_test(tc, test_dedupe__replay_kept);
    tcase_add_test(tc, test_dedupe__duplicate_first_seen_kept);
    tcase_add_test(tc, test_dedupe__ttl_window);
    tcase_add_test(tc, test_dedupe__redis_down_drops_nothing);
    suite_add_tcase(s, tc);

    return s;
}
