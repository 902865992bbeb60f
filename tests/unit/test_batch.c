/*
 * libpx/px_batch: the envelope, per-event validation, limits, and the
 * compact re-encoding of events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "px_batch.h"

#define UUID1  "0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51"

static px_limits_t  lim;
static px_batch_t   batch;
static char         err[256];

static void
setup(void)
{
    px_limits_default(&lim);
    memset(&batch, 0, sizeof(batch));
    err[0] = '\0';
}

static void
teardown(void)
{
    px_batch_free(&batch);
}

static px_batch_status_t
parse(const char *json)
{
    px_batch_free(&batch);
    return px_batch_parse(&lim, NULL, json, strlen(json), &batch, err,
                          sizeof(err));
}

/* The kept members of event i, as a NUL-terminated string. */
static const char *
members(size_t i)
{
    static char  out[4096];
    px_event_t  *ev = &batch.events[i];

    ck_assert_uint_lt(ev->len, sizeof(out));
    memcpy(out, batch.json.data + ev->off, ev->len);
    out[ev->len] = '\0';
    return out;
}

START_TEST(test_batch__valid_events)
{
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"page_view\","
                           "\"event_id\":\"" UUID1 "\","
                           "\"anonymous_id\":\"a1\","
                           "\"timestamp\":\"2026-11-30T10:00:00.250Z\","
                           "\"properties\":{\"x\":[1,2.5,true,null,\"s\"]},"
                           "\"context\":{\"page\":{\"url\":\"https://e.x/\"}}"
                           "},{\"event\":\"click\",\"user_id\":\"u9\"}],"
                           "\"sent_at\":\"2026-11-30T10:00:01Z\"}"),
                     PX_BATCH_OK);
    ck_assert_uint_eq(batch.nevents, 2);
    ck_assert_uint_eq(batch.nrejected, 0);
    ck_assert_ptr_null(batch.events[0].error);
    ck_assert_str_eq(batch.events[0].event_id, UUID1);
    ck_assert_int_eq(batch.events[0].id_generated, 0);
    ck_assert(batch.events[0].ts_ms == 1796032800250LL);
    ck_assert(batch.sent_at_ms == 1796032801000LL);
    ck_assert_str_eq(members(0), "\"event\":\"page_view\","
                     "\"anonymous_id\":\"a1\","
                     "\"properties\":{\"x\":[1,2.5,true,null,\"s\"]},"
                     "\"context\":{\"page\":{\"url\":\"https://e.x/\"}}");
    /* no event_id: the server makes one */
    ck_assert_int_eq(batch.events[1].id_generated, 1);
    ck_assert_uint_eq(strlen(batch.events[1].event_id), 36);
    ck_assert_str_eq(members(1), "\"event\":\"click\",\"user_id\":\"u9\"");
    ck_assert_uint_eq(batch.events[1].visitor_len, 2);
}
END_TEST

START_TEST(test_batch__visitor_prefers_anonymous_id)
{
    ck_assert_int_eq(parse("{\"events\":[{\"user_id\":\"u\",\"event\":\"e\","
                           "\"anonymous_id\":\"anon\"}]}"), PX_BATCH_OK);
    ck_assert_uint_eq(batch.events[0].visitor_len, 4);
    ck_assert_int_eq(memcmp(batch.aux.data + batch.events[0].visitor_off,
                            "anon", 4), 0);
}
END_TEST

START_TEST(test_batch__server_fields_dropped)
{
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"e\",\"ip\":\"1.2.3.4\","
                           "\"project_id\":\"other\",\"received_at\":{\"a\":"
                           "[1]},\"user_agent\":\"x\"}]}"), PX_BATCH_OK);
    ck_assert_ptr_null(batch.events[0].error);
    ck_assert_str_eq(members(0), "\"event\":\"e\"");
}
END_TEST

START_TEST(test_batch__escapes_reencoded)
{
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"a\\\"b\\\\c\\u0001\","
                           "\"properties\":{\"k\\n\":\"\\u00e9\"}}]}"),
                     PX_BATCH_OK);
    ck_assert_str_eq(members(0), "\"event\":\"a\\\"b\\\\c\\u0001\","
                     "\"properties\":{\"k\\n\":\"\xc3\xa9\"}");
}
END_TEST

START_TEST(test_batch__not_json)
{
    ck_assert_int_eq(parse("hello"), PX_BATCH_ERR_JSON);
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"a\"}"),
                     PX_BATCH_ERR_JSON);
    ck_assert_int_eq(parse(""), PX_BATCH_ERR_JSON);
    ck_assert_int_eq(parse("{\"events\":[]} trailing"), PX_BATCH_ERR_JSON);
    ck_assert_str_eq(px_batch_status_code(PX_BATCH_ERR_JSON), "invalid_json");
}
END_TEST

START_TEST(test_batch__invalid_utf8)
{
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"\xff\xfe\"}]}"),
                     PX_BATCH_ERR_JSON);
}
END_TEST

START_TEST(test_batch__envelope_errors)
{
    ck_assert_int_eq(parse("[1,2]"), PX_BATCH_ERR_ENVELOPE);
    ck_assert_int_eq(parse("\"str\""), PX_BATCH_ERR_ENVELOPE);
    ck_assert_int_eq(parse("{}"), PX_BATCH_ERR_ENVELOPE);
    ck_assert_int_eq(parse("{\"events\":{}}"), PX_BATCH_ERR_ENVELOPE);
    ck_assert_int_eq(parse("{\"events\":5}"), PX_BATCH_ERR_ENVELOPE);
    ck_assert_int_eq(parse("{\"events\":[],\"events\":[]}"),
                     PX_BATCH_ERR_ENVELOPE);
    ck_assert_int_eq(parse("{\"events\":[]}"), PX_BATCH_ERR_EMPTY);
}
END_TEST

START_TEST(test_batch__other_envelope_members_ignored)
{
    ck_assert_int_eq(parse("{\"meta\":{\"a\":[{\"b\":1}]},\"events\":"
                           "[{\"event\":\"x\"}],\"sent_at\":5}"), PX_BATCH_OK);
    ck_assert_uint_eq(batch.nevents, 1);
    ck_assert(batch.sent_at_ms == -1);
}
END_TEST

/* The envelope's api_key (sendBeacon's key transport): kept apart from
 * the events, in aux; anything but a non-empty string is no key. */
START_TEST(test_batch__envelope_api_key)
{
    ck_assert_int_eq(parse("{\"api_key\":\"px_live_k\\u0031\",\"events\":"
                           "[{\"event\":\"x\",\"anonymous_id\":\"a1\"}]}"),
                     PX_BATCH_OK);
    ck_assert_uint_eq(batch.api_key_len, 10);
    ck_assert(memcmp(batch.aux.data + batch.api_key_off, "px_live_k1", 10)
              == 0);
    /* the visitor id beside it is still right */
    ck_assert_uint_eq(batch.events[0].visitor_len, 2);
    ck_assert(memcmp(batch.aux.data + batch.events[0].visitor_off, "a1", 2)
              == 0);
    ck_assert_str_eq(members(0), "\"event\":\"x\",\"anonymous_id\":\"a1\"");

    /* after the events, too */
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"x\"}],"
                           "\"api_key\":\"k2\"}"), PX_BATCH_OK);
    ck_assert_uint_eq(batch.api_key_len, 2);
    ck_assert(memcmp(batch.aux.data + batch.api_key_off, "k2", 2) == 0);

    /* absent, empty, not a string: no key */
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"x\"}]}"), PX_BATCH_OK);
    ck_assert_uint_eq(batch.api_key_len, 0);
    ck_assert_int_eq(parse("{\"api_key\":\"\",\"events\":[{\"event\":\"x\"}]}"),
                     PX_BATCH_OK);
    ck_assert_uint_eq(batch.api_key_len, 0);
    ck_assert_int_eq(parse("{\"api_key\":5,\"events\":[{\"event\":\"x\"}]}"),
                     PX_BATCH_OK);
    ck_assert_uint_eq(batch.api_key_len, 0);
    ck_assert_int_eq(parse("{\"api_key\":{\"k\":\"v\"},\"events\":"
                           "[{\"event\":\"x\"}]}"), PX_BATCH_OK);
    ck_assert_uint_eq(batch.api_key_len, 0);

    /* longer than max_string: no key either */
    lim.max_string = 4;
    ck_assert_int_eq(parse("{\"api_key\":\"12345\",\"events\":"
                           "[{\"event\":\"x\"}]}"), PX_BATCH_OK);
    ck_assert_uint_eq(batch.api_key_len, 0);

    /* "api_key" inside an event is an ordinary member, not the key */
    lim.max_string = 8192;
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"x\",\"api_key\":\"k\"}]}"),
                     PX_BATCH_OK);
    ck_assert_uint_eq(batch.api_key_len, 0);
}
END_TEST

START_TEST(test_batch__envelope_api_key_twice)
{
    ck_assert_int_eq(parse("{\"api_key\":\"a\",\"events\":[{\"event\":\"x\"}],"
                           "\"api_key\":\"b\"}"), PX_BATCH_ERR_ENVELOPE);
    ck_assert_str_eq(err, "\"api_key\" appears twice");
}
END_TEST

START_TEST(test_batch__too_many_events)
{
    lim.max_events = 2;
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"a\"},{\"event\":\"b\"},"
                           "{\"event\":\"c\"}]}"), PX_BATCH_ERR_TOO_MANY);
}
END_TEST

START_TEST(test_batch__too_deep)
{
    char    *json;
    size_t   i, n = 10000, o = 0;

    json = malloc(2 * n + 64);
    ck_assert_ptr_nonnull(json);
    o += sprintf(json, "{\"events\":[{\"event\":\"e\",\"properties\":");
    for (i = 0; i < n; i++) {
        json[o++] = '[';
    }
    for (i = 0; i < n; i++) {
        json[o++] = ']';
    }
    strcpy(json + o, "}]}");

    ck_assert_int_eq(parse(json), PX_BATCH_ERR_DEPTH);
    free(json);
}
END_TEST

/* Each bad event is marked with its reason; the good one beside it stays. */
static void
check_reject(const char *event_json, const char *reason)
{
    char  json[1024];

    snprintf(json, sizeof(json), "{\"events\":[%s,{\"event\":\"ok\"}]}",
             event_json);
    ck_assert_int_eq(parse(json), PX_BATCH_OK);
    ck_assert_uint_eq(batch.nevents, 2);
    ck_assert_ptr_nonnull(batch.events[0].error);
    ck_assert_str_eq(batch.events[0].error, reason);
    ck_assert_ptr_null(batch.events[1].error);
    ck_assert_uint_eq(batch.nrejected, 1);
    ck_assert_str_eq(members(1), "\"event\":\"ok\"");
}

START_TEST(test_batch__event_rejects)
{
    check_reject("{}", "missing_event_name");
    check_reject("{\"event\":\"\"}", "empty_event_name");
    check_reject("{\"event\":\"a\\u0000b\"}", "event_name_control_chars");
    check_reject("{\"event\":\"tab\\there\"}", "event_name_control_chars");
    check_reject("{\"event\":\"del\\u007f\"}", "event_name_control_chars");
    check_reject("{\"event\":5}", "event_name_not_string");
    check_reject("{\"event\":[\"a\"]}", "event_name_not_string");
    check_reject("{\"event\":\"e\",\"event_id\":\"nope\"}",
                 "invalid_event_id");
    check_reject("{\"event\":\"e\",\"event_id\":7}", "invalid_event_id");
    check_reject("{\"event\":\"e\",\"timestamp\":\"yesterday\"}",
                 "invalid_timestamp");
    check_reject("{\"event\":\"e\",\"timestamp\":\"2026-02-30T00:00:00Z\"}",
                 "invalid_timestamp");
    check_reject("{\"event\":\"e\",\"properties\":[1]}",
                 "properties_not_object");
    check_reject("{\"event\":\"e\",\"properties\":\"x\"}",
                 "properties_not_object");
    check_reject("{\"event\":\"e\",\"context\":3}", "context_not_object");
    check_reject("{\"event\":\"e\",\"anonymous_id\":{}}",
                 "anonymous_id_not_string");
    check_reject("{\"event\":\"e\",\"user_id\":true}", "user_id_not_string");
    check_reject("42", "event_not_object");
    check_reject("[{\"event\":\"x\"}]", "event_not_object");
    check_reject("{\"event\":\"a\",\"event\":\"b\"}", "duplicate_member");
}
END_TEST

START_TEST(test_batch__user_id_null_is_fine)
{
    ck_assert_int_eq(parse("{\"events\":[{\"event\":\"e\",\"user_id\":null}]}"),
                     PX_BATCH_OK);
    ck_assert_ptr_null(batch.events[0].error);
}
END_TEST

START_TEST(test_batch__length_limits)
{
    char  name[256], json[1024];

    memset(name, 'n', 201);
    name[201] = '\0';
    snprintf(json, sizeof(json), "{\"event\":\"%s\"}", name);
    check_reject(json, "event_name_too_long");

    lim.max_string = 10;
    check_reject("{\"event\":\"e\",\"properties\":{\"k\":"
                 "\"01234567890123\"}}", "string_too_long");

    lim.max_keys = 2;
    check_reject("{\"event\":\"e\",\"properties\":{\"a\":1,\"b\":2,\"c\":3}}",
                 "too_many_keys");

    px_limits_default(&lim);
    lim.max_event_bytes = 40;
    check_reject("{\"event\":\"e\",\"properties\":{\"long\":"
                 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}", "event_too_large");
}
END_TEST

START_TEST(test_batch__chunked_feed)
{
    const char         *json = "{\"events\":[{\"event\":\"chunked\","
                               "\"properties\":{\"n\":12345}}]}";
    size_t              i;
    px_batch_parser_t  *p;

    p = px_batch_parser_new(&lim, NULL, &batch);
    ck_assert_ptr_nonnull(p);
    for (i = 0; json[i] != '\0'; i++) {
        ck_assert_int_eq(px_batch_feed(p, json + i, 1), PX_BATCH_OK);
    }
    ck_assert_int_eq(px_batch_finish(p), PX_BATCH_OK);
    px_batch_parser_free(p);

    ck_assert_str_eq(members(0), "\"event\":\"chunked\","
                     "\"properties\":{\"n\":12345}");
}
END_TEST

Suite *
make_suite_batch(void)
{
    Suite  *s = suite_create("batch");
    TCase  *tc = tcase_create("batch");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_batch__valid_events);
    tcase_add_test(tc, test_batch__visitor_prefers_anonymous_id);
    tcase_add_test(tc, test_batch__server_fields_dropped);
    tcase_add_test(tc, test_batch__escapes_reencoded);
    tcase_add_test(tc, test_batch__not_json);
    tcase_add_test(tc, test_batch__invalid_utf8);
    tcase_add_test(tc, test_batch__envelope_errors);
    tcase_add_test(tc, test_batch__other_envelope_members_ignored);
    tcase_add_test(tc, test_batch__envelope_api_key);
    tcase_add_test(tc, test_batch__envelope_api_key_twice);
    tcase_add_test(tc, test_batch__too_many_events);
    tcase_add_test(tc, test_batch__too_deep);
    tcase_add_test(tc, test_batch__event_rejects);
    tcase_add_test(tc, test_batch__user_id_null_is_fine);
    tcase_add_test(tc, test_batch__length_limits);
    tcase_add_test(tc, test_batch__chunked_feed);
    suite_add_tcase(s, tc);
    return s;
}
