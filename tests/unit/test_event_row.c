/* px-worker/event_row: a Kafka message to a ClickHouse row. */
#include <string.h>

#include <check.h>

#include "event_row.h"

#define MSG_OK \
    "{\"event\":\"page_view\",\"anonymous_id\":\"a1\",\"user_id\":null," \
    "\"properties\":{\"plan\":\"pro\",\"n\":[1,2]}," \
    "\"context\":{\"page\":{\"url\":\"https://shop.example/p?utm_source=nl\"," \
    "\"path\":\"/p\",\"title\":\"P\",\"referrer\":\"https://www.google.com/\"}," \
    "\"screen\":{\"width\":1920,\"height\":1080},\"locale\":\"en-GB\"," \
    "\"library\":{\"name\":\"px-web\",\"version\":\"1.0.0\"}}," \
    "\"event_id\":\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\"," \
    "\"timestamp\":\"2026-11-30T09:59:58.000Z\",\"client_timestamp\":null," \
    "\"project_id\":\"proj\",\"received_at\":\"2026-11-30T10:00:00.000Z\"," \
    "\"ip\":\"81.2.69.142\",\"user_agent\":\"curl/8\",\"schema_version\":1}"

static px_event_row_t  row;
static char            err[256];

static void
teardown(void)
{
    px_event_row_free(&row);
}

static int
parse(const char *msg)
{
    return px_event_row_parse(&row, msg, strlen(msg), err, sizeof(err));
}

START_TEST(test_event_row__parse_fields)
{
    ck_assert_int_eq(parse(MSG_OK), 0);
    ck_assert_str_eq(row.project_id, "proj");
    ck_assert_str_eq(row.event, "page_view");
    ck_assert_str_eq(row.anonymous_id, "a1");
    ck_assert_ptr_null(row.user_id);
    ck_assert(row.ts_ms == 1796032798000LL);
    ck_assert(row.received_ms == 1796032800000LL);
    ck_assert(row.client_ts_ms == 0);
    ck_assert_str_eq(row.page_path, "/p");
    ck_assert_str_eq(row.referrer, "https://www.google.com/");
    ck_assert_str_eq(row.screen, "1920x1080");
    ck_assert_str_eq(row.library, "px-web");
    ck_assert_uint_eq(row.schema_version, 1);
}
END_TEST

START_TEST(test_event_row__json_line)
{
    px_buf_t  out;

    ck_assert_int_eq(parse(MSG_OK), 0);
    strcpy(row.session_id, "s-1");
    row.session_seq = 3;
    strcpy(row.geo.loc.country_iso, "GB");

    px_buf_init(&out, NULL, 0);
    ck_assert_int_eq(px_event_row_json(&row, 1796032801LL, &out), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);

    ck_assert_ptr_nonnull(strstr(out.data, "{\"project_id\":\"proj\","
                                 "\"event_id\":\"0b5c7a4e-"));
    ck_assert_ptr_nonnull(strstr(out.data, "\"session_id\":\"s-1\","
                                 "\"session_seq\":3,"
                                 "\"timestamp\":1796032798,"
                                 "\"timestamp_ms\":1796032798000,"));
    ck_assert_ptr_nonnull(strstr(out.data, "\"properties\":"
                          "\"{\\\"plan\\\":\\\"pro\\\",\\\"n\\\":[1,2]}\""));
    ck_assert_ptr_nonnull(strstr(out.data, "\"user_id\":\"\","));
    ck_assert_ptr_nonnull(strstr(out.data, "\"country\":\"GB\","));
    ck_assert_ptr_nonnull(strstr(out.data, "\"inserted_at\":1796032801}\n"));
    ck_assert_int_eq(out.data[out.len - 1], '\n');
    /* one line: the only newline is the last byte */
    ck_assert(strchr(out.data, '\n') == out.data + out.len - 1);
    px_buf_free(&out);
}
END_TEST

START_TEST(test_event_row__visitor)
{
    px_buf_t  out;

    ck_assert_int_eq(parse(MSG_OK), 0);
    px_buf_init(&out, NULL, 0);
    ck_assert_int_eq(px_event_row_visitor(&row, &out), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    ck_assert_str_eq(out.data, "proj/a1");
    px_buf_free(&out);
}
END_TEST

START_TEST(test_event_row__poison_messages)
{
    ck_assert_int_eq(parse("not json at all"), -1);
    ck_assert_uint_gt(strlen(err), 0);
    px_event_row_free(&row);
    ck_assert_int_eq(parse("[1,2,3]"), -1);
    px_event_row_free(&row);
    ck_assert_int_eq(parse("{\"event\":\"e\"}"), -1);
    ck_assert_str_eq(err, "missing project_id");
    px_event_row_free(&row);
    ck_assert_int_eq(parse("{\"project_id\":\"p\",\"event\":\"e\","
                           "\"event_id\":\"x\"}"), -1);
    ck_assert_str_eq(err, "missing or invalid event_id");
    px_event_row_free(&row);
    ck_assert_int_eq(parse("{\"project_id\":\"p\",\"event\":\"e\","
                           "\"event_id\":\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\""
                           ",\"timestamp\":\"bad\",\"received_at\":\"bad\"}"),
                     -1);
    ck_assert_str_eq(err, "missing or invalid timestamp/received_at");
}
END_TEST

START_TEST(test_event_row__deep_nesting_refused)
{
    char    msg[400];
    size_t  i;

    for (i = 0; i < 100; i++) {
        msg[i] = '[';
    }
    msg[100] = '\0';
    ck_assert_int_eq(parse(msg), -1);
    ck_assert_ptr_nonnull(strstr(err, "nested deeper"));
}
END_TEST

Suite *
make_suite_event_row(void)
{
    Suite  *s = suite_create("event_row");
    TCase  *tc = tcase_create("event_row");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_event_row__parse_fields);
    tcase_add_test(tc, test_event_row__json_line);
    tcase_add_test(tc, test_event_row__visitor);
    tcase_add_test(tc, test_event_row__poison_messages);
    tcase_add_test(tc, test_event_row__deep_nesting_refused);
    suite_add_tcase(s, tc);
    return s;
}
