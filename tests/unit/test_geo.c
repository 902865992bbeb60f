/*
 * Unit tests for px-worker/src/enrich/geo.c against MaxMind's test databases.
 * They are found through PX_GEOIP_TESTDATA (the Makefile sets it to
 * tests/data/geoip of the repository); when it is unset or the files are missing the
 * tests fail, saying so.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "geo.h"

#define CITY_DB        "GeoIP2-City-Test.mmdb"
#define LITE_CITY_DB   "GeoLite2-City-Test.mmdb"
#define ASN_DB         "GeoLite2-ASN-Test.mmdb"
#define BROKEN_DOUBLE  "GeoIP2-City-Test-Broken-Double-Format.mmdb"
#define BAD_NODE_COUNT "GeoIP2-City-Test-Invalid-Node-Count.mmdb"

static char  path_buf[4][1024];

/* Full path of a test database (4 rotating buffers); aborts the test when
 * PX_GEOIP_TESTDATA is not set or the file is not there. */
static const char *
testdata(const char *name)
{
    static int   next;
    const char  *dir = getenv("PX_GEOIP_TESTDATA");
    char        *buf = path_buf[next++ % 4];
    int          n;

    ck_assert_msg(dir != NULL && dir[0] != '\0',
        "PX_GEOIP_TESTDATA is not set: point it at tests/data/geoip");
    n = snprintf(buf, sizeof(path_buf[0]), "%s/%s", dir, name);
    ck_assert_msg(n > 0 && (size_t) n < sizeof(path_buf[0]),
        "PX_GEOIP_TESTDATA is too long");
    ck_assert_msg(access(buf, R_OK) == 0,
        "test database %s is missing (PX_GEOIP_TESTDATA=%s)", buf, dir);
    return buf;
}

static px_geo_t  *geo;

static void
open_both(void)
{
    char  err[512] = "";

    ck_assert_msg(px_geo_open(&geo, testdata(CITY_DB), testdata(ASN_DB),
                              err, sizeof(err)) == 0, "open: %s", err);
}

static void
close_geo(void)
{
    px_geo_close(geo);
    geo = NULL;
}

/* Open `city`/`asn` and expect a refusal whose message has `needle`. */
static void
expect_open_error(const char *city, const char *asn, const char *needle)
{
    px_geo_t  *g = (px_geo_t *) 1;
    char       err[512] = "";

    ck_assert_int_eq(px_geo_open(&g, city, asn, err, sizeof(err)), -1);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err, needle) != NULL,
                  "error \"%s\" does not name \"%s\"", err, needle);
}

static void
lookup_ok(const char *ip, px_geo_result_t *r)
{
    ck_assert_msg(px_geo_lookup(geo, ip, r) == 0, "lookup %s failed", ip);
}


/* MaxMind's known answers (GeoIP2-City-Test.json, GeoLite2-ASN-Test). */
typedef struct {
    const char  *ip;
    const char  *country_iso, *country_name, *region_iso, *region_name;
    const char  *city, *time_zone;
    double       latitude, longitude;
    uint32_t     asn;            /* 0: no ASN record */
    const char  *as_org;
} known_t;

static const known_t known[] = {
    { "81.2.69.142", "GB", "United Kingdom", "ENG", "England", "London",
      "Europe/London", 51.5142, -0.0931, 0, "" },
    /* IPv6, a country-level record: no region, no city */
    { "2001:218::", "JP", "Japan", "", "", "", "Asia/Tokyo",
      35.68536, 139.75309, 0, "" },
    { "2001:218:ffff::1", "JP", "Japan", "", "", "", "Asia/Tokyo",
      35.68536, 139.75309, 0, "" },
    /* UTF-8 names, and an ASN record too */
    { "89.160.20.112", "SE", "Sweden", "E",
      "\xc3\x96sterg\xc3\xb6tland County", "Link\xc3\xb6ping",
      "Europe/Stockholm", 58.4167, 15.6167, 29518, "Bredband2 AB" },
    /* an ASN record with a number and no organisation */
    { "216.160.83.56", "US", "United States", "WA", "Washington", "Milton",
      "America/Los_Angeles", 47.2513, -122.3149, 209, "" },
    /* an IPv4-mapped IPv6 address finds the IPv4 record */
    { "::ffff:81.2.69.142", "GB", "United Kingdom", "ENG", "England",
      "London", "Europe/London", 51.5142, -0.0931, 0, "" },
};

START_TEST(test_geo__known_answers)
{
    const known_t    *k = &known[_i];
    px_geo_result_t   r;

    lookup_ok(k->ip, &r);
    ck_assert_msg(r.loc.found, "%s not found", k->ip);
    ck_assert_str_eq(r.loc.country_iso, k->country_iso);
    ck_assert_str_eq(r.loc.country_name, k->country_name);
    ck_assert_str_eq(r.loc.region_iso, k->region_iso);
    ck_assert_str_eq(r.loc.region_name, k->region_name);
    ck_assert_str_eq(r.loc.city, k->city);
    ck_assert_str_eq(r.loc.time_zone, k->time_zone);
    ck_assert(r.loc.has_location);
    ck_assert_double_eq_tol(r.loc.latitude, k->latitude, 1e-6);
    ck_assert_double_eq_tol(r.loc.longitude, k->longitude, 1e-6);
    ck_assert(r.as.found == (k->asn != 0));
    ck_assert_uint_eq(r.as.number, k->asn);
    ck_assert_str_eq(r.as.org, k->as_org);
}
END_TEST

START_TEST(test_geo__asn_ipv4_and_ipv6)
{
    px_geo_result_t  r;

    lookup_ok("1.128.0.1", &r);
    ck_assert(r.as.found);
    ck_assert_uint_eq(r.as.number, 1221);
    ck_assert_str_eq(r.as.org, "Telstra Pty Ltd");

    lookup_ok("2600:6000::1", &r);
    ck_assert_uint_eq(r.as.number, 237);
    ck_assert_str_eq(r.as.org, "Merit Network Inc.");
}
END_TEST

START_TEST(test_geo__record_without_location)
{
    px_geo_result_t  r;

    /* 214.1.1.0/24 holds only "traits"; 2a02:d500::/29 has no country */
    lookup_ok("214.1.1.1", &r);
    ck_assert(r.loc.found);
    ck_assert_str_eq(r.loc.country_iso, "");
    ck_assert(!r.loc.has_location);
    ck_assert(r.loc.latitude == 0 && r.loc.longitude == 0);

    lookup_ok("2a02:d500::1", &r);
    ck_assert(r.loc.found);
    ck_assert_str_eq(r.loc.country_iso, "");
    ck_assert_str_eq(r.loc.time_zone, "Europe/Vaduz");
    ck_assert(r.loc.has_location);
}
END_TEST

START_TEST(test_geo__address_not_in_db)
{
    px_geo_result_t  r;
    const char      *ips[] = { "10.0.0.1", "127.0.0.1", "8.8.8.8", "::1",
                               "fe80::1", "2001:db8::1" };
    size_t           i;

    for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
        memset(&r, 0xa5, sizeof(r));
        lookup_ok(ips[i], &r);
        ck_assert_msg(!r.loc.found && !r.as.found, "%s found", ips[i]);
        ck_assert_str_eq(r.loc.country_iso, "");
        ck_assert_str_eq(r.loc.city, "");
        ck_assert_str_eq(r.as.org, "");
        ck_assert(!r.loc.has_location);
    }
}
END_TEST

START_TEST(test_geo__invalid_ip)
{
    px_geo_result_t  r;
    const char      *bad[] = { "", " ", "81.2.69", "81.2.69.142.1",
                               "81.2.69.256", "81.2.69.142 ", " 81.2.69.142",
                               "127.1", "0x51.2.69.142", "[2001:218::]",
                               "2001:218::/32", "2001:::1", "fe80::1%eth0",
                               "london", "81.2.69.142\n" };
    size_t           i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0xa5, sizeof(r));
        ck_assert_msg(px_geo_lookup(geo, bad[i], &r) == -1,
                      "\"%s\" accepted", bad[i]);
        ck_assert(!r.loc.found && !r.as.found);
        ck_assert_str_eq(r.loc.country_iso, "");
    }
    ck_assert_int_eq(px_geo_lookup(geo, NULL, &r), -1);
    ck_assert_int_eq(px_geo_lookup(NULL, "81.2.69.142", &r), -1);
    ck_assert_str_eq(r.loc.city, "");
    ck_assert_int_eq(px_geo_lookup(geo, "81.2.69.142", NULL), -1);
}
END_TEST

START_TEST(test_geo__geolite_layout)
{
    px_geo_t         *g = NULL;
    px_geo_result_t   r;
    char              err[512] = "";

    ck_assert_msg(px_geo_open(&g, testdata(LITE_CITY_DB), NULL, err,
                              sizeof(err)) == 0, "open: %s", err);
    ck_assert_int_eq(px_geo_lookup(g, "81.2.69.142", &r), 0);
    ck_assert_str_eq(r.loc.country_iso, "GB");
    ck_assert_str_eq(r.loc.city, "London");
    px_geo_close(g);
}
END_TEST

START_TEST(test_geo__no_databases)
{
    px_geo_t         *g = NULL;
    px_geo_result_t   r;
    char              err[64] = "";

    ck_assert_int_eq(px_geo_open(&g, NULL, "", err, sizeof(err)), 0);
    ck_assert(!px_geo_has_city(g) && !px_geo_has_asn(g));
    ck_assert_int_eq(px_geo_lookup(g, "81.2.69.142", &r), 0);
    ck_assert(!r.loc.found && !r.as.found);
    ck_assert_str_eq(r.loc.country_iso, "");
    /* an invalid address is still refused */
    ck_assert_int_eq(px_geo_lookup(g, "nope", &r), -1);
    px_geo_close(g);
    px_geo_close(NULL);
}
END_TEST

START_TEST(test_geo__city_only_and_asn_only)
{
    px_geo_t         *g = NULL;
    px_geo_result_t   r;
    char              err[512] = "";

    ck_assert_int_eq(px_geo_open(&g, testdata(CITY_DB), NULL, err,
                                 sizeof(err)), 0);
    ck_assert(px_geo_has_city(g) && !px_geo_has_asn(g));
    ck_assert_int_eq(px_geo_lookup(g, "89.160.20.112", &r), 0);
    ck_assert_str_eq(r.loc.country_iso, "SE");
    ck_assert(!r.as.found);
    ck_assert_uint_eq(r.as.number, 0);
    px_geo_close(g);

    ck_assert_int_eq(px_geo_open(&g, NULL, testdata(ASN_DB), err,
                                 sizeof(err)), 0);
    ck_assert(!px_geo_has_city(g) && px_geo_has_asn(g));
    ck_assert_int_eq(px_geo_lookup(g, "89.160.20.112", &r), 0);
    ck_assert(!r.loc.found);
    ck_assert_str_eq(r.loc.country_iso, "");
    ck_assert_uint_eq(r.as.number, 29518);
    px_geo_close(g);
}
END_TEST

START_TEST(test_geo__corrupt_broken_double)
{
    /* opens with libmaxminddb, but its records cannot be decoded */
    expect_open_error(testdata(BROKEN_DOUBLE), NULL, "is corrupt");
    expect_open_error(testdata(BROKEN_DOUBLE), NULL, BROKEN_DOUBLE);
    /* a bad City file is refused even with a good ASN file */
    expect_open_error(testdata(BROKEN_DOUBLE), testdata(ASN_DB), "City");
}
END_TEST

START_TEST(test_geo__corrupt_node_count)
{
    expect_open_error(testdata(BAD_NODE_COUNT), NULL, "invalid metadata");
    expect_open_error(testdata(BAD_NODE_COUNT), NULL, BAD_NODE_COUNT);
    /* the good City file is closed again when the ASN file is bad */
    expect_open_error(testdata(CITY_DB), testdata(BAD_NODE_COUNT), "ASN");
}
END_TEST

START_TEST(test_geo__missing_file)
{
    expect_open_error("/nonexistent/px/GeoIP2-City.mmdb", NULL,
                      "No such file or directory");
    expect_open_error(NULL, "/nonexistent/px/GeoLite2-ASN.mmdb", "ASN");
}
END_TEST

START_TEST(test_geo__not_a_database)
{
    /* a text file, and databases of the wrong kind in each slot */
    expect_open_error(testdata("README.md"), NULL, "City database");
    expect_open_error(testdata(ASN_DB), NULL, "holds no City data");
    expect_open_error(NULL, testdata(CITY_DB), "holds no ASN data");
    expect_open_error(testdata("GeoIP2-Anonymous-IP-Test.mmdb"), NULL,
                      "GeoIP2-Anonymous-IP");
}
END_TEST

START_TEST(test_geo__open_without_handle)
{
    char  err[128] = "";

    ck_assert_int_eq(px_geo_open(NULL, NULL, NULL, err, sizeof(err)), -1);
    ck_assert_str_ne(err, "");
}
END_TEST


Suite *
make_suite_geo(void)
{
    Suite  *s = suite_create("geo");
    TCase  *tc;

    tc = tcase_create("lookup");
    tcase_add_checked_fixture(tc, open_both, close_geo);
    tcase_add_loop_test(tc, test_geo__known_answers, 0,
                        (int) (sizeof(known) / sizeof(known[0])));
    tcase_add_test(tc, test_geo__asn_ipv4_and_ipv6);
    tcase_add_test(tc, test_geo__record_without_location);
    tcase_add_test(tc, test_geo__address_not_in_db);
    tcase_add_test(tc, test_geo__invalid_ip);
    suite_add_tcase(s, tc);

    tc = tcase_create("open");
    tcase_add_test(tc, test_geo__geolite_layout);
    tcase_add_test(tc, test_geo__no_databases);
    tcase_add_test(tc, test_geo__city_only_and_asn_only);
    tcase_add_test(tc, test_geo__corrupt_broken_double);
    tcase_add_test(tc, test_geo__corrupt_node_count);
    tcase_add_test(tc, test_geo__missing_file);
    tcase_add_test(tc, test_geo__not_a_database);
    tcase_add_test(tc, test_geo__open_without_handle);
    suite_add_tcase(s, tc);

    return s;
}
