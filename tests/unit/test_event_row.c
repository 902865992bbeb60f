/* px-worker/event_row: a Kafka message to a ClickHouse row. */
#include <stdio.h>
#include <stdlib.h>
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

/* the required members, the object left open */
#define MSG_HEAD \
    "{\"schema_version\":1,\"project_id\":\"p\",\"event\":\"e\"," \
    "\"event_id\":\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\"," \
    "\"timestamp\":\"2026-11-30T10:00:00Z\"," \
    "\"received_at\":\"2026-11-30T10:00:00Z\""

static px_event_row_t  row;
static char            err[256];

static void
teardown(void)
{
    px_message_free(&row.msg);
}

static int
parse(const char *msg)
{
    return px_message_parse(&row.msg, msg, strlen(msg), err, sizeof(err));
}

START_TEST(test_event_row__parse_fields)
{
    ck_assert_int_eq(parse(MSG_OK), 0);
    ck_assert_str_eq(row.msg.project_id, "proj");
    ck_assert_str_eq(row.msg.event, "page_view");
    ck_assert_str_eq(row.msg.anonymous_id, "a1");
    ck_assert_ptr_null(row.msg.user_id);
    ck_assert(row.msg.ts_ms == 1796032798000LL);
    ck_assert(row.msg.received_ms == 1796032800000LL);
    ck_assert(row.msg.client_ts_ms == 0);
    ck_assert_str_eq(row.msg.page_path, "/p");
    ck_assert_str_eq(row.msg.referrer, "https://www.google.com/");
    ck_assert_str_eq(row.msg.screen, "1920x1080");
    ck_assert_str_eq(row.msg.library, "px-web");
    ck_assert_uint_eq(row.msg.schema_version, 1);
}
END_TEST

START_TEST(test_event_row__json_line)
{
    px_buf_t  out;

    ck_assert_int_eq(parse(MSG_OK), 0);
    strcpy(row.session_id, "s-1");
    row.session_seq = 3;
    row.session_first_ms = 1796032700000LL;
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
    ck_assert_ptr_nonnull(strstr(out.data, "\"inserted_at\":1796032801,"
                                 "\"session_first_ms\":1796032700000}\n"));
    ck_assert_int_eq(out.data[out.len - 1], '\n');
    /* one line: the only newline is the last byte */
    ck_assert(strchr(out.data, '\n') == out.data + out.len - 1);
    px_buf_free(&out);
}
END_TEST

START_TEST(test_event_row__visitor)
{
    ck_assert_int_eq(parse(MSG_OK), 0);
    ck_assert_str_eq(px_message_visitor(&row.msg), "a1");
    px_message_reset(&row.msg);
    ck_assert_int_eq(parse(MSG_HEAD ",\"anonymous_id\":\"\","
                           "\"user_id\":\"u\"}"), 0);
    ck_assert_str_eq(px_message_visitor(&row.msg), "u");
    px_message_reset(&row.msg);
    ck_assert_int_eq(parse(MSG_HEAD "}"), 0);
    ck_assert_str_eq(px_message_visitor(&row.msg),
                     "0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51");
}
END_TEST

START_TEST(test_event_row__poison_messages)
{
    ck_assert_int_eq(parse("not json at all"), -1);
    ck_assert_uint_gt(strlen(err), 0);
    px_message_free(&row.msg);
    ck_assert_int_eq(parse("[1,2,3]"), -1);
    px_message_free(&row.msg);
    ck_assert_int_eq(parse("{\"schema_version\":1,\"event\":\"e\"}"), -1);
    ck_assert_str_eq(err, "missing project_id");
    px_message_free(&row.msg);
    ck_assert_int_eq(parse("{\"schema_version\":1,\"project_id\":\"p\","
                           "\"event\":\"e\",\"event_id\":\"x\"}"), -1);
    ck_assert_str_eq(err, "missing or invalid event_id");
    px_message_free(&row.msg);
    ck_assert_int_eq(parse("{\"schema_version\":1,\"project_id\":\"p\","
                           "\"event\":\"e\","
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

/* properties and context: compact JSON text, as one string literal */
START_TEST(test_event_row__literals)
{
    px_buf_t  out;

    ck_assert_int_eq(parse(MSG_OK), 0);
    ck_assert_uint_eq(row.msg.properties_len,
                      strlen("\"{\\\"plan\\\":\\\"pro\\\",\\\"n\\\":[1,2]}\""));
    ck_assert(memcmp(row.msg.properties,
                     "\"{\\\"plan\\\":\\\"pro\\\",\\\"n\\\":[1,2]}\"",
                     row.msg.properties_len) == 0);
    ck_assert(memcmp(row.msg.context, "\"{\\\"page\\\":{\\\"url\\\":", 20) == 0);
    px_message_reset(&row.msg);

    /* spaces and comments go, escapes are re-encoded, numbers kept as
     * written, nesting and duplicates kept */
    ck_assert_int_eq(parse("{\"schema_version\":1,"
        "\"project_id\":\"p\",\"event\":\"e\","
        "\"event_id\":\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\","
        "\"timestamp\":\"2026-11-30T10:00:00Z\","
        "\"received_at\":\"2026-11-30T10:00:00Z\", /* c */ \"properties\" : "
        "{ \"q\\\"\" : \"a\\nb\\u00e9\\/\" , \"x\" : [ 1.50 , -2e3 , true ,"
        " false , null , { } , [ ] ], \"x\": {\"y\":{}} }}"), 0);
    ck_assert_str_eq(err, "");
    px_buf_init(&out, NULL, 0);
    ck_assert_int_eq(px_buf_append(&out, row.msg.properties, row.msg.properties_len),
                     0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    ck_assert_str_eq(out.data, "\"{\\\"q\\\\\\\"\\\":\\\"a\\\\nb\xc3\xa9/\\\","
                     "\\\"x\\\":[1.50,-2e3,true,false,null,{},[]],"
                     "\\\"x\\\":{\\\"y\\\":{}}}\"");
    /* no context: "{}" */
    ck_assert_uint_eq(row.msg.context_len, 4);
    ck_assert(memcmp(row.msg.context, "\"{}\"", 4) == 0);

    out.len = 0;
    ck_assert_int_eq(px_event_row_json(&row, 1, &out), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    ck_assert_ptr_nonnull(strstr(out.data, ",\"context\":\"{}\","));
    ck_assert_ptr_nonnull(strstr(out.data, ",\"properties\":\"{\\\"q\\\\\\\""));
    px_buf_free(&out);
}
END_TEST


/* The first member of a name counts, even of the wrong type; a string
 * ends at its first NUL (as with the yajl tree the row had before). */
START_TEST(test_event_row__first_member_counts)
{
    ck_assert_int_eq(parse("{\"schema_version\":1,\"project_id\":1,"
                           "\"project_id\":\"p\"}"), -1);
    ck_assert_str_eq(err, "missing project_id");
    px_message_reset(&row.msg);

    ck_assert_int_eq(parse(MSG_HEAD ",\"project_id\":\"q\","
                           "\"user_id\":\"a\\u0000b\",\"ip\":null,"
                           "\"ip\":\"1.2.3.4\",\"schema_version\":2.0,"
                           "\"context\":{\"page\":{\"url\":\"u1\","
                           "\"url\":\"u2\"},\"page\":{\"path\":\"/x\"},"
                           "\"locale\":[\"en\"],\"locale\":\"fr\","
                           "\"screen\":{\"width\":1920,\"height\":1080.5},"
                           "\"library\":{\"name\":\"n\",\"version\":1}},"
                           "\"context\":{\"locale\":\"de\"}}"), 0);
    ck_assert_str_eq(row.msg.project_id, "p");
    ck_assert_str_eq(row.msg.user_id, "a");
    ck_assert_ptr_null(row.msg.ip);
    ck_assert_uint_eq(row.msg.schema_version, 1);   /* 2.0 came second */
    ck_assert_str_eq(row.msg.page_url, "u1");
    ck_assert_ptr_null(row.msg.page_path);
    ck_assert_ptr_null(row.msg.locale);
    ck_assert_str_eq(row.msg.screen, "");
    ck_assert_str_eq(row.msg.library, "n");
    ck_assert_ptr_null(row.msg.library_version);
    ck_assert(row.msg.client_ts_ms == 0);
}
END_TEST

/* A message of another version, or of none, is refused with the reason. */
START_TEST(test_event_row__schema_version_checked)
{
    static const char  rest[] =
        "\"project_id\":\"p\",\"event\":\"e\","
        "\"event_id\":\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\","
        "\"timestamp\":\"2026-11-30T10:00:00Z\","
        "\"received_at\":\"2026-11-30T10:00:00Z\"}";
    char               msg[512];

    snprintf(msg, sizeof(msg), "{\"schema_version\":2,%s", rest);
    ck_assert_int_eq(parse(msg), -1);
    ck_assert_str_eq(err, "unknown schema_version 2 (this reader knows 1)");
    px_message_reset(&row.msg);

    snprintf(msg, sizeof(msg), "{%s", rest);
    ck_assert_int_eq(parse(msg), -1);
    ck_assert_str_eq(err, "missing or invalid schema_version");
    px_message_reset(&row.msg);

    snprintf(msg, sizeof(msg), "{\"schema_version\":\"1\",%s", rest);
    ck_assert_int_eq(parse(msg), -1);
    ck_assert_str_eq(err, "missing or invalid schema_version");
    px_message_reset(&row.msg);

    snprintf(msg, sizeof(msg), "{\"schema_version\":1,%s", rest);
    ck_assert_int_eq(parse(msg), 0);
    ck_assert_uint_eq(row.msg.schema_version, 1);
}
END_TEST

START_TEST(test_event_row__campaign_and_click_ids)
{
    ck_assert_int_eq(parse(MSG_HEAD ",\"context\":{\"campaign\":"
                           "{\"source\":\"nl\",\"medium\":2,\"name\":\"w\","
                           "\"content\":\"c\"},\"click_ids\":{\"gclid\":\"\","
                           "\"x\":null,\"fbclid\":\"F1\",\"msclkid\":\"M\"}}}"),
                     0);
    ck_assert_uint_eq(row.msg.has_campaign, 1);
    ck_assert_str_eq(row.msg.campaign_source, "nl");
    ck_assert_ptr_null(row.msg.campaign_medium);
    ck_assert_str_eq(row.msg.campaign_name, "w");
    ck_assert_ptr_null(row.msg.campaign_term);
    ck_assert_str_eq(row.msg.campaign_content, "c");
    ck_assert_str_eq(row.msg.click_id_type, "fbclid");
    ck_assert_str_eq(row.msg.click_id, "F1");
    px_message_reset(&row.msg);

    ck_assert_int_eq(parse(MSG_HEAD ",\"context\":{\"campaign\":\"x\","
                           "\"click_ids\":{\"gclid\":\"\",\"a\":{}}}}"), 0);
    ck_assert_uint_eq(row.msg.has_campaign, 0);
    ck_assert_ptr_null(row.msg.click_id_type);
    ck_assert_ptr_null(row.msg.click_id);
}
END_TEST

START_TEST(test_event_row__reasons)
{
    char    *msg;
    size_t   i, n;

    ck_assert_int_eq(parse("[1,2,3]"), -1);
    ck_assert_str_eq(err, "message is not a JSON object");
    ck_assert_int_eq(parse("\"s\""), -1);
    ck_assert_str_eq(err, "message is not a JSON object");
    ck_assert_int_eq(px_message_parse(&row.msg, "{\"a\":\"\0\"}", 9, err,
                                        sizeof(err)), -1);
    ck_assert_str_eq(err, "NUL byte in message");
    ck_assert_int_eq(parse("{\"a\":1} {}"), -1);
    ck_assert_ptr_nonnull(strstr(err, "trailing garbage"));
    ck_assert_int_eq(parse(""), -1);
    ck_assert_uint_gt(strlen(err), 0);

    /* 64 levels are fine, 65 are not */
    msg = malloc(400);
    ck_assert_ptr_nonnull(msg);
    for (n = 63; n <= 64; n++) {
        i = (size_t) sprintf(msg, MSG_HEAD ",\"properties\":");
        memset(msg + i, '[', n);
        memset(msg + i + n, ']', n);
        msg[i + 2 * n] = '}';
        ck_assert_int_eq(px_message_parse(&row.msg, msg, i + 2 * n + 1, err,
                                            sizeof(err)), n == 63 ? 0 : -1);
        ck_assert_str_eq(err, n == 63 ? "" : "nested deeper than 64");
        px_message_reset(&row.msg);
    }
    free(msg);

    /* a message whose strings would pass the cap of a row's buffer */
    n = PX_MESSAGE_MAX_BYTES + 64;
    msg = malloc(n + 256);
    ck_assert_ptr_nonnull(msg);
    i = (size_t) sprintf(msg, MSG_HEAD ",\"user_agent\":\"");
    memset(msg + i, 'a', n);
    memcpy(msg + i + n, "\"}", 2);
    ck_assert_int_eq(px_message_parse(&row.msg, msg, i + n + 2, err,
                                        sizeof(err)), -1);
    ck_assert_str_eq(err, "message too large");
    free(msg);
}
END_TEST

/* A row is parsed again and again into the same buffers. */
START_TEST(test_event_row__reuse)
{
    char      big[8192];
    px_buf_t  a, b;
    int       i;

    px_buf_init(&a, NULL, 0);
    px_buf_init(&b, NULL, 0);
    ck_assert_int_eq(parse(MSG_OK), 0);
    ck_assert_int_eq(px_event_row_json(&row, 5, &a), 0);

    for (i = 0; i < 3; i++) {
        px_message_reset(&row.msg);
        snprintf(big, sizeof(big), MSG_HEAD ",\"properties\":{\"k\":\"%0*d\"}}",
                 3000 * i + 1, 7);
        ck_assert_int_eq(parse(big), 0);
        ck_assert_uint_eq(row.msg.properties_len, 3000 * i + 1 + 14);
        px_message_reset(&row.msg);
        ck_assert_int_eq(parse(MSG_OK), 0);
        b.len = 0;
        ck_assert_int_eq(px_event_row_json(&row, 5, &b), 0);
        ck_assert_uint_eq(a.len, b.len);
        ck_assert(memcmp(a.data, b.data, a.len) == 0);
    }

    /* a large buffer is not kept */
    px_message_reset(&row.msg);
    ck_assert_ptr_nonnull(row.msg.strs.data);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    {
        char  msg[sizeof(big) * 3 + 512];

        snprintf(msg, sizeof(msg), MSG_HEAD ",\"user_agent\":\"%s%s%s\"}",
                 big, big, big);
        ck_assert_int_eq(parse(msg), 0);
        ck_assert_uint_gt(row.msg.strs.cap, PX_MESSAGE_KEEP_BYTES);
    }
    px_message_reset(&row.msg);
    ck_assert_ptr_null(row.msg.strs.data);
    ck_assert_ptr_nonnull(row.msg.lits.data);
    ck_assert_uint_eq(row.msg.lits.len, 0);

    /* free gives everything back; the row parses again after it */
    px_message_free(&row.msg);
    ck_assert_ptr_null(row.msg.lits.data);
    ck_assert_int_eq(parse(MSG_OK), 0);
    px_buf_free(&a);
    px_buf_free(&b);
}
END_TEST

/* Members the writer formats itself: coordinates, versions, screen. */
START_TEST(test_event_row__json_numbers)
{
    px_buf_t  out;

    ck_assert_int_eq(parse(MSG_HEAD ",\"context\":{\"screen\":{\"width\":"
                           "-9223372036854775807,\"height\":"
                           "9223372036854775807}}}"), 0);
    ck_assert_str_eq(row.msg.screen, "-9223372036854775807x9223372036");
    px_message_reset(&row.msg);

    ck_assert_int_eq(parse(MSG_OK), 0);
    row.geo.loc.latitude = 51.5142;
    row.geo.loc.longitude = -0.0;
    row.geo.as.number = 4294967295u;
    strcpy(row.ua.browser.major, "131");
    strcpy(row.ua.browser.patch, "9");
    strcpy(row.ua.os.major, "10");
    strcpy(row.ua.os.minor, "15");
    strcpy(row.ua.os.patch, "7");
    row.ua.is_bot = 1;
    px_buf_init(&out, NULL, 0);
    ck_assert_int_eq(px_event_row_json(&row, -5, &out), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    ck_assert_ptr_nonnull(strstr(out.data, ",\"latitude\":51.514200,"
                                 "\"longitude\":-0.000000,"));
    ck_assert_ptr_nonnull(strstr(out.data, ",\"asn\":4294967295,"));
    ck_assert_ptr_nonnull(strstr(out.data, ",\"browser_version\":\"131\","));
    ck_assert_ptr_nonnull(strstr(out.data, ",\"os_version\":\"10.15.7\","));
    ck_assert_ptr_nonnull(strstr(out.data, ",\"is_bot\":1,"));
    ck_assert_ptr_nonnull(strstr(out.data, ",\"screen\":\"1920x1080\","));
    ck_assert_ptr_nonnull(strstr(out.data, ",\"client_timestamp_ms\":0,"));
    ck_assert_ptr_nonnull(strstr(out.data, ",\"inserted_at\":-5,"
                                 "\"session_first_ms\":0}\n"));
    px_buf_free(&out);
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
    tcase_add_test(tc, test_event_row__literals);
    tcase_add_test(tc, test_event_row__first_member_counts);
    tcase_add_test(tc, test_event_row__schema_version_checked);
    tcase_add_test(tc, test_event_row__campaign_and_click_ids);
    tcase_add_test(tc, test_event_row__reasons);
    tcase_add_test(tc, test_event_row__reuse);
    tcase_add_test(tc, test_event_row__json_numbers);
    suite_add_tcase(s, tc);
    return s;
}
