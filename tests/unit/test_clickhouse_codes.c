/* px-worker/clickhouse: an answer means what its exception code says. */
#include <check.h>

#include "clickhouse.h"

START_TEST(test_clickhouse_codes__outages_wait)
{
    /* wrong password, unknown user, revoked grant, unknown table and
     * database, timeout, too many parts, memory, shutting down, none */
    static const int  codes[] = { 516, 192, 193, 497, 60, 81, 159, 252, 241,
                                  394, 210, 999, -1 };
    static const long statuses[] = { 403, 404, 408, 500, 503 };
    size_t            i, j;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        for (j = 0; j < sizeof(statuses) / sizeof(statuses[0]); j++) {
            ck_assert_msg(px_ch_classify(statuses[j], codes[i]) == PX_CH_RETRY,
                          "code %d, HTTP %ld", codes[i], statuses[j]);
        }
    }
}
END_TEST

START_TEST(test_clickhouse_codes__bad_values_are_refused)
{
    /* cannot parse text / input / date / datetime, type mismatch, out of
     * bound, cannot convert, number, incorrect data */
    static const int  codes[] = { 6, 27, 38, 41, 53, 69, 70, 72, 117 };
    size_t            i;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        ck_assert_int_eq(px_ch_classify(400, codes[i]), PX_CH_REJECTED);
        ck_assert_int_eq(px_ch_classify(500, codes[i]), PX_CH_REJECTED);
    }
    ck_assert_int_eq(px_ch_classify(200, -1), PX_CH_OK);
}
END_TEST

START_TEST(test_clickhouse_codes__code_from_the_text)
{
    ck_assert_int_eq(px_ch_answer_code("Code: 516. DB::Exception: default: "
                                       "Authentication failed"), 516);
    ck_assert_int_eq(px_ch_answer_code("ClickHouse HTTP 404: Code: 60, e.displayText()"), 60);
    ck_assert_int_eq(px_ch_answer_code("<html>Bad Gateway</html>"), -1);
}
END_TEST

Suite *
make_suite_clickhouse_codes(void)
{
    Suite  *s = suite_create("clickhouse_codes");
    TCase  *tc = tcase_create("clickhouse_codes");

    tcase_add_test(tc, test_clickhouse_codes__outages_wait);
    tcase_add_test(tc, test_clickhouse_codes__bad_values_are_refused);
    tcase_add_test(tc, test_clickhouse_codes__code_from_the_text);
    suite_add_tcase(s, tc);
    return s;
}
