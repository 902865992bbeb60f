/* libpx/px_segment: Segment calls into a PX batch the batch parser takes. */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <yajl/yajl_tree.h>

#include "px_batch.h"
#include "px_segment.h"
#include "px_uuid.h"

static px_segment_t  seg;
static px_batch_t    batch;
static yajl_val      tree;
static char          err[160];

static void
setup(void)
{
    memset(&seg, 0, sizeof(seg));
    memset(&batch, 0, sizeof(batch));
    tree = NULL;
}

static void
teardown(void)
{
    px_segment_free(&seg);
    px_batch_free(&batch);
    yajl_tree_free(tree);
}

/* Translate, check the output is a batch the batch parser takes, and keep
 * it as a tree for the assertions. */
static void
translate(const char *call, const char *json)
{
    px_limits_t  lim;
    char         yerr[128];
    char        *text;

    ck_assert_int_eq(px_segment_translate(json, strlen(json), call, 16,
                                          NULL, &seg, err, sizeof(err)),
                     PX_BATCH_OK);

    px_limits_default(&lim);
    lim.max_depth = 18;
    ck_assert_int_eq(px_batch_parse(&lim, NULL, seg.out.data, seg.out.len,
                                    &batch, err, sizeof(err)), PX_BATCH_OK);
    ck_assert_uint_eq(batch.nevents, seg.nevents);

    text = strndup(seg.out.data, seg.out.len);
    tree = yajl_tree_parse(text, yerr, sizeof(yerr));
    free(text);
    ck_assert_ptr_nonnull(tree);
}

static const char *
get_str(size_t i, const char *a, const char *b, const char *c)
{
    const char  *events[] = { "events", NULL };
    const char  *path[] = { a, b, c, NULL };
    yajl_val     v;

    v = yajl_tree_get(tree, events, yajl_t_array);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_lt(i, v->u.array.len);
    v = yajl_tree_get(v->u.array.values[i], path, yajl_t_any);
    if (v == NULL) {
        return NULL;
    }
    return YAJL_IS_STRING(v) ? v->u.string
           : YAJL_IS_NUMBER(v) ? v->u.number.r : "<other>";
}

#define SENT  "\"sentAt\":\"2026-11-30T10:00:10.000Z\""

START_TEST(track_maps_ids_name_and_properties)
{
    translate("batch", "{\"writeKey\":\"wk\"," SENT ",\"batch\":[{"
        "\"type\":\"track\",\"event\":\"Signed Up\",\"userId\":\"u1\","
        "\"anonymousId\":\"a1\","
        "\"messageId\":\"8a7f3c2e-1b4d-4e6f-9a8b-0c1d2e3f4a5b\","
        "\"timestamp\":\"2026-11-30T10:00:00.000Z\","
        "\"properties\":{\"plan\":\"pro\",\"n\":1.50},"
        "\"integrations\":{\"All\":true},\"_metadata\":{\"x\":1}}]}");

    ck_assert_str_eq(get_str(0, "event", NULL, NULL), "Signed Up");
    ck_assert_str_eq(get_str(0, "event_id", NULL, NULL),
                     "8a7f3c2e-1b4d-4e6f-9a8b-0c1d2e3f4a5b");
    ck_assert_str_eq(get_str(0, "user_id", NULL, NULL), "u1");
    ck_assert_str_eq(get_str(0, "anonymous_id", NULL, NULL), "a1");
    ck_assert_str_eq(get_str(0, "timestamp", NULL, NULL),
                     "2026-11-30T10:00:00.000Z");
    ck_assert_str_eq(get_str(0, "properties", "plan", NULL), "pro");
    ck_assert_str_eq(get_str(0, "properties", "n", NULL), "1.50");
    ck_assert_ptr_null(get_str(0, "integrations", NULL, NULL));
    ck_assert_ptr_null(get_str(0, "_metadata", NULL, NULL));
    ck_assert_ptr_null(get_str(0, "type", NULL, NULL));
    ck_assert_uint_eq(batch.api_key_len, 2);
    ck_assert_int_eq(memcmp(batch.aux.data + batch.api_key_off, "wk", 2), 0);
    ck_assert_int_eq(batch.sent_at_ms, 1796032810000LL);
    ck_assert_ptr_null(batch.events[0].error);
    ck_assert_ptr_null(seg.events[0].error);
}
END_TEST

START_TEST(every_type_gets_its_name)
{
    translate("batch", "{\"batch\":["
        "{\"type\":\"page\",\"userId\":\"u\",\"name\":\"Home\","
        "\"category\":\"Docs\",\"properties\":{\"url\":\"https://x/\"}},"
        "{\"type\":\"screen\",\"userId\":\"u\",\"name\":\"Settings\"},"
        "{\"type\":\"identify\",\"userId\":\"u\","
        "\"traits\":{\"email\":\"e@x\"}},"
        "{\"type\":\"group\",\"userId\":\"u\",\"groupId\":\"g1\","
        "\"traits\":{\"plan\":\"pro\"}},"
        "{\"type\":\"alias\",\"userId\":\"u\",\"previousId\":\"anon\"},"
        "{\"type\":\"page\",\"userId\":\"u\",\"name\":\"Outer\","
        "\"properties\":{\"name\":\"Inner\"}},"
        "{\"type\":\"identify\",\"userId\":\"u\","
        "\"context\":{\"traits\":{\"email\":\"r@x\"}}}]}");

    ck_assert_str_eq(get_str(0, "event", NULL, NULL), "page_view");
    ck_assert_str_eq(get_str(0, "properties", "name", NULL), "Home");
    ck_assert_str_eq(get_str(0, "properties", "category", NULL), "Docs");
    ck_assert_str_eq(get_str(0, "properties", "url", NULL), "https://x/");
    ck_assert_str_eq(get_str(1, "event", NULL, NULL), "screen_view");
    ck_assert_str_eq(get_str(1, "properties", "name", NULL), "Settings");
    ck_assert_str_eq(get_str(2, "event", NULL, NULL), "identify");
    ck_assert_str_eq(get_str(2, "properties", "email", NULL), "e@x");
    ck_assert_str_eq(get_str(3, "event", NULL, NULL), "group");
    ck_assert_str_eq(get_str(3, "properties", "group_id", NULL), "g1");
    ck_assert_str_eq(get_str(3, "properties", "traits", "plan"), "pro");
    ck_assert_str_eq(get_str(4, "event", NULL, NULL), "alias");
    ck_assert_str_eq(get_str(4, "properties", "previous_id", NULL), "anon");
    /* the page's own properties win: no duplicate member */
    ck_assert_str_eq(get_str(5, "properties", "name", NULL), "Inner");
    ck_assert_ptr_null(batch.events[5].error);
    /* RudderStack's identify: traits in the context */
    ck_assert_str_eq(get_str(6, "properties", "email", NULL), "r@x");
}
END_TEST

START_TEST(single_call_type_comes_from_the_endpoint)
{
    translate("identify", "{\"type\":\"track\",\"event\":\"x\","
        "\"userId\":42,\"traits\":{\"a\":1},\"writeKey\":\"k\"}");

    ck_assert_str_eq(get_str(0, "event", NULL, NULL), "identify");
    ck_assert_str_eq(get_str(0, "user_id", NULL, NULL), "42");
    ck_assert_uint_eq(batch.nevents, 1);
    ck_assert_ptr_null(batch.events[0].error);
}
END_TEST

START_TEST(message_id_not_a_uuid_becomes_a_stable_one)
{
    const char  *id;
    char         again[PX_UUID_LEN + 1], other[PX_UUID_LEN + 1];

    translate("track", "{\"event\":\"e\",\"anonymousId\":\"a\","
        "\"messageId\":\"node-next-1668208232027-743be593\"}");

    id = get_str(0, "event_id", NULL, NULL);
    ck_assert_int_eq(px_uuid_valid(id, strlen(id)), 1);
    ck_assert_int_eq(id[14], '8');
    px_segment_message_uuid("node-next-1668208232027-743be593", 32, again);
    ck_assert_str_eq(id, again);
    px_segment_message_uuid("node-next-1668208232027-743be594", 32, other);
    ck_assert_str_ne(id, other);
    ck_assert_int_eq(batch.events[0].id_generated, 0);
}
END_TEST

START_TEST(context_merged_and_ua_ip_taken_out)
{
    translate("batch", "{\"context\":{\"locale\":\"fr-FR\",\"ip\":\"10.0.0.9\","
        "\"library\":{\"name\":\"batch-lib\"}},\"batch\":["
        "{\"type\":\"track\",\"event\":\"e\",\"userId\":\"u\","
        "\"context\":{\"ip\":\"2001:db8::1\",\"userAgent\":\"Mozilla/5.0\","
        "\"library\":{\"name\":\"analytics-python\",\"version\":\"2.3.4\"},"
        "\"page\":{\"url\":\"https://shop/\"}}},"
        "{\"type\":\"track\",\"event\":\"e\",\"userId\":\"u\","
        "\"context\":{\"ip\":\"not an ip\"}}]}");

    ck_assert_str_eq(get_str(0, "context", "library", "name"),
                     "analytics-python");
    ck_assert_str_eq(get_str(0, "context", "locale", NULL), "fr-FR");
    ck_assert_str_eq(get_str(0, "context", "page", "url"), "https://shop/");
    ck_assert_ptr_null(get_str(0, "context", "ip", NULL));
    ck_assert_ptr_null(get_str(0, "context", "userAgent", NULL));
    ck_assert_uint_eq(seg.events[0].ip_len, 11);
    ck_assert_int_eq(memcmp(seg.strs.data + seg.events[0].ip_off,
                            "2001:db8::1", 11), 0);
    ck_assert_int_eq(memcmp(seg.strs.data + seg.events[0].ua_off,
                            "Mozilla/5.0", 11), 0);
    /* an invalid address is not used, and the batch's is not either */
    ck_assert_uint_eq(seg.events[1].ip_len, 0);
    ck_assert_uint_eq(seg.events[1].ua_len, 0);
}
END_TEST

START_TEST(own_sent_at_shifts_the_timestamp)
{
    /* batch sentAt 10:00:10; the call was sent at 09:00:10 by its clock
     * and made at 09:00:00: 10 s before the batch's send, by the batch's */
    translate("batch", "{" SENT ",\"batch\":[{\"type\":\"track\","
        "\"event\":\"e\",\"userId\":\"u\","
        "\"originalTimestamp\":\"2026-11-30T09:00:00.000Z\","
        "\"timestamp\":\"2020-01-01T00:00:00.000Z\","
        "\"sentAt\":\"2026-11-30T09:00:10.000Z\"}]}");

    ck_assert_str_eq(get_str(0, "timestamp", NULL, NULL),
                     "2026-11-30T10:00:00.000Z");
}
END_TEST

START_TEST(first_call_sent_at_when_the_batch_has_none)
{
    translate("batch", "{\"batch\":[{\"type\":\"track\",\"event\":\"e\","
        "\"userId\":\"u\",\"timestamp\":\"2026-11-30T09:00:00.000Z\","
        "\"sentAt\":\"2026-11-30T09:00:05Z\"}]}");

    ck_assert_int_eq(batch.sent_at_ms, 1796029205000LL);
    ck_assert_str_eq(get_str(0, "timestamp", NULL, NULL),
                     "2026-11-30T09:00:00.000Z");
}
END_TEST

START_TEST(bad_calls_are_marked_one_by_one)
{
    translate("batch", "{\"batch\":["
        "{\"type\":\"track\",\"event\":\"ok\",\"userId\":\"u\"},"
        "{\"type\":\"bogus\",\"event\":\"e\",\"userId\":\"u\"},"
        "{\"event\":\"no type\",\"userId\":\"u\"},"
        "{\"type\":\"track\",\"event\":\"e\"},"
        "{\"type\":\"alias\",\"anonymousId\":\"a\",\"previousId\":\"p\"},"
        "[1,2],"
        "{\"type\":\"track\",\"userId\":\"u\"},"
        "{\"type\":\"track\",\"event\":\"e\",\"userId\":\"u\","
        "\"properties\":[1]},"
        "{\"type\":\"track\",\"event\":\"e\",\"userId\":\"u\","
        "\"timestamp\":\"yesterday\"}]}");

    ck_assert_ptr_null(seg.events[0].error);
    ck_assert_ptr_null(batch.events[0].error);
    ck_assert_str_eq(seg.events[1].error, "invalid_type");
    ck_assert_str_eq(seg.events[2].error, "invalid_type");
    ck_assert_str_eq(seg.events[3].error, "missing_user_id");
    ck_assert_str_eq(seg.events[4].error, "missing_user_id");
    ck_assert_str_eq(seg.events[5].error, "event_not_object");
    /* what the batch parser checks stays its to say */
    ck_assert_ptr_null(seg.events[6].error);
    ck_assert_str_eq(batch.events[6].error, "missing_event_name");
    ck_assert_str_eq(batch.events[7].error, "properties_not_object");
    ck_assert_str_eq(batch.events[8].error, "invalid_timestamp");
}
END_TEST

START_TEST(envelope_errors)
{
    static const struct { const char *call, *json; px_batch_status_t st; }
    cases[] = {
        { "batch", "{\"batch\":[", PX_BATCH_ERR_JSON },
        { "batch", "{\"batch\":[]} x", PX_BATCH_ERR_JSON },
        { "batch", "{\"batch\":[\"\xff\"]}", PX_BATCH_ERR_JSON },
        { "batch", "[]", PX_BATCH_ERR_ENVELOPE },
        { "track", "\"str\"", PX_BATCH_ERR_ENVELOPE },
        { "batch", "{\"events\":[]}", PX_BATCH_ERR_ENVELOPE },
        { "batch", "{\"batch\":{}}", PX_BATCH_ERR_ENVELOPE },
        { "batch", "{\"batch\":[]}", PX_BATCH_ERR_EMPTY },
        { "track", "{\"a\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}",
          PX_BATCH_ERR_DEPTH },
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(px_segment_translate(cases[i].json,
                                              strlen(cases[i].json),
                                              cases[i].call, 16, NULL, &seg,
                                              err, sizeof(err)),
                         cases[i].st);
        px_segment_free(&seg);
    }

    /* a NUL byte is not JSON, even where yajl would stop reading */
    ck_assert_int_eq(px_segment_translate("{}\0{", 4, "track", 16, NULL, &seg,
                                          err, sizeof(err)),
                     PX_BATCH_ERR_JSON);
    /* brackets inside strings are not nesting */
    px_segment_free(&seg);
    translate("track", "{\"event\":\"[[[[[[[[[[[[[[[[[[[[\",\"userId\":\"u\"}");
}
END_TEST

START_TEST(calls_known)
{
    ck_assert_int_eq(px_segment_call_known("batch", 5), 1);
    ck_assert_int_eq(px_segment_call_known("alias", 5), 1);
    ck_assert_int_eq(px_segment_call_known("trackx", 6), 0);
    ck_assert_int_eq(px_segment_call_known("trac", 4), 0);
}
END_TEST

Suite *
make_suite_segment(void)
{
    Suite  *s = suite_create("segment");
    TCase  *tc = tcase_create("translate");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, track_maps_ids_name_and_properties);
    tcase_add_test(tc, every_type_gets_its_name);
    tcase_add_test(tc, single_call_type_comes_from_the_endpoint);
    tcase_add_test(tc, message_id_not_a_uuid_becomes_a_stable_one);
    tcase_add_test(tc, context_merged_and_ua_ip_taken_out);
    tcase_add_test(tc, own_sent_at_shifts_the_timestamp);
    tcase_add_test(tc, first_call_sent_at_when_the_batch_has_none);
    tcase_add_test(tc, bad_calls_are_marked_one_by_one);
    tcase_add_test(tc, envelope_errors);
    tcase_add_test(tc, calls_known);
    suite_add_tcase(s, tc);
    return s;
}
