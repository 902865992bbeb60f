/* libpx/px_message: Kafka key/value of an event, skew correction, DLQ, and
 * the reader taking back what the writer wrote. */
#include <stdio.h>
#include <string.h>

#include <check.h>
#include <yajl/yajl_tree.h>

#include "px_batch.h"
#include "px_message.h"

static px_limits_t       lim;
static px_batch_t        batch;
static px_buf_t          out;
static px_server_info_t  srv;

#define RECEIVED  1796032800000LL   /* 2026-11-30T10:00:00.000Z */

static void
setup(void)
{
    px_limits_default(&lim);
    px_buf_init(&out, NULL, 0);
    memset(&srv, 0, sizeof(srv));
    srv.project_id = "proj";
    srv.project_id_len = 4;
    srv.received_ms = RECEIVED;
    srv.ip = "81.2.69.142";
    srv.ip_len = strlen(srv.ip);
    srv.user_agent = "UA \"quoted\"\xff";
    srv.user_agent_len = strlen(srv.user_agent);
}

static void
teardown(void)
{
    px_batch_free(&batch);
    px_buf_free(&out);
}

static void
parse(const char *json)
{
    char  err[128];

    ck_assert_int_eq(px_batch_parse(&lim, NULL, json, strlen(json), &batch,
                                    err, sizeof(err)), PX_BATCH_OK);
}

static const char *
value(size_t i)
{
    out.len = 0;
    ck_assert_int_eq(px_message_value(&batch, &batch.events[i], &srv, &out),
                     0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    return out.data;
}

START_TEST(test_message__value_with_skew_correction)
{
    /* the client clock is 1 h fast: sent_at - timestamp = 2 s */
    parse("{\"sent_at\":\"2026-11-30T11:00:02.000Z\",\"events\":[{\"event\":"
          "\"e\",\"event_id\":\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\","
          "\"timestamp\":\"2026-11-30T11:00:00.000Z\"}]}");
    ck_assert_str_eq(value(0),
        "{\"event\":\"e\",\"event_id\":\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\""
        ",\"timestamp\":\"2026-11-30T09:59:58.000Z\""
        ",\"client_timestamp\":\"2026-11-30T11:00:00.000Z\""
        ",\"project_id\":\"proj\",\"received_at\":\"2026-11-30T10:00:00.000Z\""
        ",\"ip\":\"81.2.69.142\",\"user_agent\":\"UA \\\"quoted\\\"\\ufffd\""
        ",\"schema_version\":1}");
}
END_TEST

START_TEST(test_message__future_time_clamped)
{
    /* no sent_at: the client time is taken as it is, and it is ahead */
    parse("{\"events\":[{\"event\":\"e\",\"timestamp\":"
          "\"2026-11-30T12:00:00Z\"}]}");
    ck_assert_ptr_nonnull(strstr(value(0),
                    "\"timestamp\":\"2026-11-30T10:00:00.000Z\""));
    ck_assert_ptr_nonnull(strstr(out.data, "\"timestamp_clamped\":true}"));
}
END_TEST

START_TEST(test_message__no_time_is_received_at)
{
    parse("{\"events\":[{\"event\":\"e\"}]}");
    ck_assert_ptr_nonnull(strstr(value(0),
                          "\"timestamp\":\"2026-11-30T10:00:00.000Z\","
                          "\"client_timestamp\":null"));
}
END_TEST

START_TEST(test_message__key)
{
    parse("{\"events\":[{\"event\":\"e\",\"anonymous_id\":\"v1\"},"
          "{\"event\":\"e\",\"event_id\":"
          "\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\"}]}");
    ck_assert_int_eq(px_message_key(&batch, &batch.events[0], &srv, &out), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    ck_assert_str_eq(out.data, "proj/v1");
    out.len = 0;
    ck_assert_int_eq(px_message_key(&batch, &batch.events[1], &srv, &out), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    ck_assert_str_eq(out.data, "proj/0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51");
}
END_TEST

START_TEST(test_message__dead_letter)
{
    ck_assert_int_eq(px_message_dead_letter("bad", "worker", RECEIVED,
                                            "not \"json\"", 10, 0, &out), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    ck_assert_str_eq(out.data, "{\"reason\":\"bad\",\"source\":\"worker\","
                     "\"at\":\"2026-11-30T10:00:00.000Z\","
                     "\"payload\":\"not \\\"json\\\"\"}");
}
END_TEST

/* Found by the fuzzer: a rejected event's value (its dead letter) must be
 * JSON too, whatever made it invalid. */
START_TEST(test_message__rejected_values_are_json)
{
    char      errbuf[128];
    size_t    i;
    yajl_val  v;

    lim.max_event_bytes = 60;
    parse("{\"events\":[{\"event\":\"\"},{\"event\":[1,{\"a\":2}]},{},"
          "{\"anonymous_id\":{\"x\":1},\"event\":\"e\"},"
          "{\"event\":\"e\",\"properties\":{\"k\":\"a long value that "
          "does not fit the limit\"}}]}");
    ck_assert_uint_eq(batch.nevents, 5);
    ck_assert_uint_eq(batch.nrejected, 5);
    ck_assert_str_eq(batch.events[4].error, "event_too_large");
    ck_assert_uint_eq(batch.events[4].len, 0);

    for (i = 0; i < batch.nevents; i++) {
        v = yajl_tree_parse(value(i), errbuf, sizeof(errbuf));
        ck_assert_msg(v != NULL, "event %zu: %s is not JSON", i, out.data);
        yajl_tree_free(v);
    }
}
END_TEST

/* The envelope's api_key and unknown envelope members never reach a
 * message: neither its value, nor its key, nor its dead letter. */
START_TEST(test_message__envelope_key_not_in_message)
{
    size_t  i;

    parse("{\"api_key\":\"px_secret_key_1\",\"extra\":\"px_secret_2\","
          "\"events\":[{\"event\":\"ok\",\"anonymous_id\":\"a1\"},"
          "{\"event\":\"\"},{\"event\":\"ok\"}],"
          "\"sent_at\":\"2026-11-30T10:00:00Z\"}");
    ck_assert_uint_eq(batch.nevents, 3);
    ck_assert_uint_gt(batch.api_key_len, 0);

    for (i = 0; i < batch.nevents; i++) {
        ck_assert_ptr_null(strstr(value(i), "px_secret"));

        out.len = 0;
        ck_assert_int_eq(px_message_key(&batch, &batch.events[i], &srv, &out),
                         0);
        ck_assert_int_eq(px_buf_terminate(&out), 0);
        ck_assert_ptr_null(strstr(out.data, "px_secret"));
    }
}
END_TEST

/* Write an event's message, read it back: the reader finds what the
 * writer put, and names the visitor the key names. */
static void
round_trip(size_t i, px_message_t *m)
{
    char  err[128];
    char  key[256];

    (void) value(i);
    ck_assert_int_eq(px_message_parse(m, out.data, out.len, err, sizeof(err)),
                     0);
    out.len = 0;
    ck_assert_int_eq(px_message_key(&batch, &batch.events[i], &srv, &out), 0);
    ck_assert_int_eq(px_buf_terminate(&out), 0);
    snprintf(key, sizeof(key), "%s/%s", m->project_id,
             px_message_visitor(m));
    ck_assert_str_eq(out.data, key);
}

START_TEST(test_message__round_trip)
{
    px_message_t  m;
    char          err[128];

    memset(&m, 0, sizeof(m));
    parse("{\"sent_at\":\"2026-11-30T11:00:02.000Z\",\"events\":["
          "{\"event\":\"page_view\",\"anonymous_id\":\"a\\u00e91\","
          "\"event_id\":\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\","
          "\"timestamp\":\"2026-11-30T11:00:00.000Z\","
          "\"properties\":{\"plan\":\"pro\",\"n\":[1,2]},"
          "\"context\":{\"page\":{\"url\":\"https://x.example/p\","
          "\"path\":\"/p\"},\"screen\":{\"width\":390,\"height\":844},"
          "\"campaign\":{\"source\":\"nl\"},"
          "\"click_ids\":{\"gclid\":\"G1\"}}},"
          "{\"event\":\"signup\",\"user_id\":\"u-7\","
          "\"timestamp\":\"2026-11-30T12:00:00Z\"},"
          "{\"event\":\"x\"}]}");

    round_trip(0, &m);
    ck_assert_uint_eq(m.schema_version, PX_SCHEMA_VERSION);
    ck_assert_str_eq(m.project_id, "proj");
    ck_assert_str_eq(m.event, "page_view");
    ck_assert_str_eq(m.event_id, "0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51");
    ck_assert_str_eq(m.anonymous_id, "a\xc3\xa9" "1");
    ck_assert_ptr_null(m.user_id);
    ck_assert(m.ts_ms == RECEIVED - 2000);
    ck_assert(m.client_ts_ms == RECEIVED + 3600 * 1000);
    ck_assert(m.received_ms == RECEIVED);
    ck_assert_str_eq(m.ip, "81.2.69.142");
    ck_assert_str_eq(m.user_agent, "UA \"quoted\"\xef\xbf\xbd");
    ck_assert_str_eq(m.page_url, "https://x.example/p");
    ck_assert_str_eq(m.page_path, "/p");
    ck_assert_str_eq(m.screen, "390x844");
    ck_assert_str_eq(m.campaign_source, "nl");
    ck_assert_str_eq(m.click_id_type, "gclid");
    ck_assert_str_eq(m.click_id, "G1");
    ck_assert_uint_eq(m.properties_len,
                      strlen("\"{\\\"plan\\\":\\\"pro\\\",\\\"n\\\":[1,2]}\""));
    ck_assert(memcmp(m.properties,
                     "\"{\\\"plan\\\":\\\"pro\\\",\\\"n\\\":[1,2]}\"",
                     m.properties_len) == 0);
    px_message_reset(&m);

    /* user_id names the visitor; a time ahead of received_at is clamped */
    round_trip(1, &m);
    ck_assert_str_eq(m.user_id, "u-7");
    ck_assert(m.ts_ms == RECEIVED);
    px_message_reset(&m);

    /* no visitor, no time: the event id, received_at */
    round_trip(2, &m);
    ck_assert_str_eq(px_message_visitor(&m), batch.events[2].event_id);
    ck_assert(m.ts_ms == RECEIVED);
    ck_assert(m.client_ts_ms == 0);
    px_message_reset(&m);

    /* a message of another version is not read */
    (void) value(2);
    ck_assert_ptr_nonnull(strstr(out.data, "\"schema_version\":1}"));
    memcpy(strstr(out.data, "\"schema_version\":1}") + 17, "9", 1);
    ck_assert_int_eq(px_message_parse(&m, out.data, out.len, err,
                                      sizeof(err)), -1);
    ck_assert_str_eq(err, "unknown schema_version 9 (this reader knows 1)");
    px_message_free(&m);
}
END_TEST

Suite *
make_suite_message(void)
{
    Suite  *s = suite_create("message");
    TCase  *tc = tcase_create("message");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_message__value_with_skew_correction);
    tcase_add_test(tc, test_message__future_time_clamped);
    tcase_add_test(tc, test_message__no_time_is_received_at);
    tcase_add_test(tc, test_message__key);
    tcase_add_test(tc, test_message__dead_letter);
    tcase_add_test(tc, test_message__rejected_values_are_json);
    tcase_add_test(tc, test_message__envelope_key_not_in_message);
    tcase_add_test(tc, test_message__round_trip);
    suite_add_tcase(s, tc);
    return s;
}
