/* px-worker/event_time: events far from their received_at are stored at
 * received_at, the client's time kept in client_timestamp_ms. */
#include <string.h>

#include <check.h>

#include "event_time.h"

#define DAY_MS   (86400LL * 1000)
#define RECV     1796032800000LL             /* 2026-12-01T...Z */
#define AGE      (30 * DAY_MS)
#define SKEW     (300LL * 1000)

static px_event_row_t  row;

static void
at(int64_t ts, int64_t client_ts)
{
    memset(&row, 0, sizeof(row));
    row.msg.received_ms = RECV;
    row.msg.ts_ms = ts;
    row.msg.client_ts_ms = client_ts;
}

START_TEST(test_event_time__within_the_window_is_kept)
{
    at(RECV - AGE, RECV - AGE);
    ck_assert_int_eq(px_event_time_clamp(&row, AGE, SKEW), 0);
    ck_assert_int_eq(row.msg.ts_ms, RECV - AGE);

    at(RECV + SKEW, 0);
    ck_assert_int_eq(px_event_time_clamp(&row, AGE, SKEW), 0);
    ck_assert_int_eq(row.msg.ts_ms, RECV + SKEW);
}
END_TEST

START_TEST(test_event_time__too_old_is_stored_at_received)
{
    at(RECV - AGE - 1, RECV - AGE - 1);
    ck_assert_int_eq(px_event_time_clamp(&row, AGE, SKEW), 1);
    ck_assert_int_eq(row.msg.ts_ms, RECV);
    ck_assert_int_eq(row.msg.client_ts_ms, RECV - AGE - 1);

    /* 1970 */
    at(0, 0);
    ck_assert_int_eq(px_event_time_clamp(&row, AGE, SKEW), 1);
    ck_assert_int_eq(row.msg.ts_ms, RECV);
}
END_TEST

START_TEST(test_event_time__too_far_ahead_is_stored_at_received)
{
    /* the message carried no client time: the one it had is kept */
    at(RECV + SKEW + 1, 0);
    ck_assert_int_eq(px_event_time_clamp(&row, AGE, SKEW), 1);
    ck_assert_int_eq(row.msg.ts_ms, RECV);
    ck_assert_int_eq(row.msg.client_ts_ms, RECV + SKEW + 1);
}
END_TEST

START_TEST(test_event_time__a_batch_spans_two_months_at_most)
{
    int64_t  ts, lo = RECV, hi = RECV;

    /* 120 events, one a month back from received_at */
    for (ts = RECV; ts > RECV - 120 * 31 * DAY_MS; ts -= 31 * DAY_MS) {
        at(ts, ts);
        (void) px_event_time_clamp(&row, AGE, SKEW);
        lo = row.msg.ts_ms < lo ? row.msg.ts_ms : lo;
        hi = row.msg.ts_ms > hi ? row.msg.ts_ms : hi;
    }
    ck_assert_int_le(hi - lo, AGE + SKEW);
}
END_TEST

Suite *
make_suite_event_time(void)
{
    Suite  *s = suite_create("event_time");
    TCase  *tc = tcase_create("event_time");

    tcase_add_test(tc, test_event_time__within_the_window_is_kept);
    tcase_add_test(tc, test_event_time__too_old_is_stored_at_received);
    tcase_add_test(tc, test_event_time__too_far_ahead_is_stored_at_received);
    tcase_add_test(tc, test_event_time__a_batch_spans_two_months_at_most);
    suite_add_tcase(s, tc);
    return s;
}
