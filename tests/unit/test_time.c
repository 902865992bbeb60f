/* libpx/px_time: ISO-8601 in and out. */
#include <string.h>

#include <check.h>

#include "px_time.h"

static int
parse(const char *s, int64_t *ms)
{
    return px_time_parse_iso(s, strlen(s), ms);
}

START_TEST(test_time__parse_forms)
{
    int64_t  ms;

    ck_assert_int_eq(parse("1970-01-01T00:00:00Z", &ms), 0);
    ck_assert(ms == 0);
    ck_assert_int_eq(parse("2026-11-30T10:00:00.250Z", &ms), 0);
    ck_assert(ms == 1796032800250LL);
    ck_assert_int_eq(parse("2026-11-30 10:00:00.25", &ms), 0);
    ck_assert(ms == 1796032800250LL);
    ck_assert_int_eq(parse("2026-11-30T11:30:00.250123+01:30", &ms), 0);
    ck_assert(ms == 1796032800250LL);
    ck_assert_int_eq(parse("2026-11-30T08:00:00.250-02:00", &ms), 0);
    ck_assert(ms == 1796032800250LL);
    ck_assert_int_eq(parse("2024-02-29T00:00:00Z", &ms), 0);
}
END_TEST

START_TEST(test_time__parse_rejects)
{
    int64_t  ms;

    ck_assert_int_eq(parse("", &ms), -1);
    ck_assert_int_eq(parse("2026-11-30", &ms), -1);
    ck_assert_int_eq(parse("2026-13-01T00:00:00Z", &ms), -1);
    ck_assert_int_eq(parse("2025-02-29T00:00:00Z", &ms), -1);
    ck_assert_int_eq(parse("2026-11-30T24:00:00Z", &ms), -1);
    ck_assert_int_eq(parse("2026-11-30T10:00:00.Z", &ms), -1);
    ck_assert_int_eq(parse("2026-11-30T10:00:00+0100", &ms), -1);
    ck_assert_int_eq(parse("2026-11-30T10:00:00Zjunk", &ms), -1);
    ck_assert_int_eq(parse("1969-12-31T23:59:59Z", &ms), -1);
    ck_assert_int_eq(parse("2026-1a-30T10:00:00Z", &ms), -1);
    /* past what can be written back (found by the fuzzer) */
    ck_assert_int_eq(parse("9999-12-31T23:59:60.998Z", &ms), -1);
    ck_assert_int_eq(parse("9999-12-31T23:00:00-02:00", &ms), -1);
}
END_TEST

START_TEST(test_time__format_round_trip)
{
    char     out[PX_TIME_ISO_LEN + 1];
    int64_t  ms;

    ck_assert_uint_eq(px_time_format_iso(1796032800250LL, out),
                      PX_TIME_ISO_LEN);
    ck_assert_str_eq(out, "2026-11-30T10:00:00.250Z");
    ck_assert_int_eq(parse(out, &ms), 0);
    ck_assert(ms == 1796032800250LL);
    px_time_format_iso(951782400000LL, out);
    ck_assert_str_eq(out, "2000-02-29T00:00:00.000Z");
}
END_TEST

Suite *
make_suite_time(void)
{
    Suite  *s = suite_create("time");
    TCase  *tc = tcase_create("time");

    tcase_add_test(tc, test_time__parse_forms);
    tcase_add_test(tc, test_time__parse_rejects);
    tcase_add_test(tc, test_time__format_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
