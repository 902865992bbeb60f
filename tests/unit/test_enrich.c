/* px-worker/enrich: the stage as the pipeline runs it, on real data
 * (MaxMind's test databases, uap-core's regexes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "config.h"
#include "enrich.h"
#include "event_row.h"

#define CHROME "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " \
               "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

static px_config_t     cfg;
static px_enrich_t     enr;
static px_event_row_t  row;
static char            err[512];

static void
setup(void)
{
    const char  *dir = getenv("PX_GEOIP_TESTDATA");

    ck_assert_msg(dir != NULL, "PX_GEOIP_TESTDATA is not set: point it at "
                  "tests/data/geoip");
    px_config_defaults(&cfg);
    snprintf(cfg.geoip_dir, sizeof(cfg.geoip_dir), "%s", dir);
    memset(&row, 0, sizeof(row));
}

static void
teardown(void)
{
    px_message_free(&row.msg);
    px_enrich_close(&enr);
}

static void
enrich(const char *ip, const char *context)
{
    char  msg[2048];

    snprintf(msg, sizeof(msg), "{\"schema_version\":1,"
             "\"event\":\"page_view\",\"event_id\":"
             "\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\",\"project_id\":\"p\","
             "\"timestamp\":\"2026-11-30T10:00:00Z\",\"received_at\":"
             "\"2026-11-30T10:00:00Z\",\"ip\":\"%s\",\"user_agent\":\"" CHROME
             "\",\"context\":%s}", ip, context);
    ck_assert_int_eq(px_enrich_open(&enr, &cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(px_message_parse(&row.msg, msg, strlen(msg), err,
                                        sizeof(err)), 0);
    px_enrich_row(&enr, &row);
}

START_TEST(test_enrich__geo_ua_referrer_utm)
{
    enrich("81.2.69.142", "{\"page\":{\"url\":\"https://shop.example/p?"
           "utm_source=news&gclid=abc\",\"referrer\":"
           "\"https://www.google.co.uk/search?q=x\"}}");
    ck_assert_str_eq(row.geo.loc.country_iso, "GB");
    ck_assert_str_eq(row.geo.loc.city, "London");
    ck_assert_str_eq(row.ua.browser.family, "Chrome");
    ck_assert_int_eq(row.ua.device_type, PX_UA_DESKTOP);
    ck_assert_str_eq(px_referrer_type_name(row.ref.type), "search");
    ck_assert_str_eq(row.utm.source, "news");
    ck_assert_str_eq(row.utm.click_id_type, "gclid");
    ck_assert_str_eq(row.ip_stored, "81.2.69.142");
}
END_TEST

START_TEST(test_enrich__ipv6_and_anonymize)
{
    cfg.ip_mode = PX_IP_ANONYMIZE;
    enrich("2001:218::1", "{}");
    ck_assert_str_eq(row.geo.loc.country_iso, "JP");
    ck_assert_str_eq(row.ip_stored, "2001:218::");
}
END_TEST

START_TEST(test_enrich__drop_ip_keeps_geo)
{
    cfg.ip_mode = PX_IP_DROP;
    enrich("81.2.69.142", "{}");
    ck_assert_str_eq(row.ip_stored, "");
    ck_assert_str_eq(row.geo.loc.country_iso, "GB");
}
END_TEST

START_TEST(test_enrich__campaign_from_context)
{
    /* the SDK stripped the query: UTM comes from context.campaign */
    enrich("127.0.0.1", "{\"page\":{\"url\":\"https://shop.example/p\"},"
           "\"campaign\":{\"source\":\"nl\",\"medium\":\"email\",\"name\":"
           "\"winter\"},\"click_ids\":{\"fbclid\":\"f1\"}}");
    ck_assert_str_eq(row.utm.source, "nl");
    ck_assert_str_eq(row.utm.medium, "email");
    ck_assert_str_eq(row.utm.campaign, "winter");
    ck_assert_str_eq(row.utm.click_id_type, "fbclid");
    ck_assert_str_eq(row.utm.click_id, "f1");
    ck_assert_str_eq(row.geo.loc.country_iso, "");
}
END_TEST

START_TEST(test_enrich__no_geoip_is_not_an_error)
{
    cfg.geoip_dir[0] = '\0';
    enrich("81.2.69.142", "{}");
    ck_assert_ptr_null(enr.geo);
    ck_assert_str_eq(row.geo.loc.country_iso, "");
    ck_assert_str_eq(row.ua.browser.family, "Chrome");
}
END_TEST

START_TEST(test_enrich__corrupt_geoip_fails_at_open)
{
    int  n;

    n = snprintf(cfg.geoip_city, sizeof(cfg.geoip_city),
                 "%s/GeoIP2-City-Test-Invalid-Node-Count.mmdb",
                 getenv("PX_GEOIP_TESTDATA"));
    ck_assert_int_lt(n, (int) sizeof(cfg.geoip_city));
    ck_assert_int_eq(px_enrich_open(&enr, &cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "Invalid-Node-Count"));
}
END_TEST

START_TEST(test_enrich__missing_regexes_fail_at_open)
{
    snprintf(cfg.uap_regexes, sizeof(cfg.uap_regexes), "/nonexistent.yaml");
    ck_assert_int_eq(px_enrich_open(&enr, &cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "nonexistent.yaml"));
}
END_TEST

Suite *
make_suite_enrich(void)
{
    Suite  *s = suite_create("enrich");
    TCase  *tc = tcase_create("enrich");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_enrich__geo_ua_referrer_utm);
    tcase_add_test(tc, test_enrich__ipv6_and_anonymize);
    tcase_add_test(tc, test_enrich__drop_ip_keeps_geo);
    tcase_add_test(tc, test_enrich__campaign_from_context);
    tcase_add_test(tc, test_enrich__no_geoip_is_not_an_error);
    tcase_add_test(tc, test_enrich__corrupt_geoip_fails_at_open);
    tcase_add_test(tc, test_enrich__missing_regexes_fail_at_open);
    suite_add_tcase(s, tc);
    return s;
}
