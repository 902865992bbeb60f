/* px-worker/geoip_files and px_enrich_geo_refresh: GeoIP databases that
 * change on disk (geoipupdate renames a new file into place) are reopened
 * without a restart; a change that cannot be used keeps the old data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "enrich.h"
#include "geoip_files.h"

static px_config_t  cfg;
static px_enrich_t  enr;
static char         err[512];
static char         dir[] = "/tmp/px-geoip-XXXXXX";

/* Copy test database `name` to dir/`as` the way geoipupdate does: write
 * a temporary file, then rename it over the old one. */
static void
install_db(const char *name, const char *as)
{
    char    src[1024], tmp[1024], dst[1024], buf[8192];
    FILE   *in, *out;
    size_t  n;

    snprintf(src, sizeof(src), "%s/%s", getenv("PX_GEOIP_TESTDATA"), name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, as);
    snprintf(dst, sizeof(dst), "%s/%s", dir, as);
    in = fopen(src, "rb");
    ck_assert_msg(in != NULL, "%s missing", src);
    out = fopen(tmp, "wb");
    ck_assert_ptr_nonnull(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    }
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    ck_assert_int_eq(rename(tmp, dst), 0);
}

static void
remove_db(const char *as)
{
    char  path[1024];

    snprintf(path, sizeof(path), "%s/%s", dir, as);
    ck_assert_int_eq(unlink(path), 0);
}

/* The country of 81.2.69.142 as the open databases say, "" for none. */
static const char *
country(void)
{
    static px_geo_result_t  res;

    memset(&res, 0, sizeof(res));
    if (enr.geo != NULL) {
        (void) px_geo_lookup(enr.geo, "81.2.69.142", &res);
    }
    return res.loc.country_iso;
}

static void
setup(void)
{
    ck_assert_msg(getenv("PX_GEOIP_TESTDATA") != NULL,
                  "PX_GEOIP_TESTDATA is not set: point it at tests/data/geoip");
    strcpy(dir, "/tmp/px-geoip-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    px_config_defaults(&cfg);
    snprintf(cfg.geoip_dir, sizeof(cfg.geoip_dir), "%s", dir);
}

static void
teardown(void)
{
    char  cmd[1100];

    px_enrich_close(&enr);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    (void) system(cmd);
}

START_TEST(test_geoip_files__find_prefers_production_names)
{
    px_geoip_files_t  f;

    px_geoip_files_find(&cfg, &f);
    ck_assert(px_geoip_files_none(&f));

    install_db("GeoIP2-City-Test.mmdb", "GeoIP2-City-Test.mmdb");
    install_db("GeoLite2-City-Test.mmdb", "GeoLite2-City.mmdb");
    install_db("GeoLite2-ASN-Test.mmdb", "GeoLite2-ASN-Test.mmdb");
    px_geoip_files_find(&cfg, &f);
    ck_assert_ptr_nonnull(strstr(f.city.path, "/GeoLite2-City.mmdb"));
    ck_assert_ptr_nonnull(strstr(f.asn.path, "/GeoLite2-ASN-Test.mmdb"));
    ck_assert(f.city.present && f.asn.present);

    /* a named file wins over the directory, and is "not present" when it
     * is not there */
    snprintf(cfg.geoip_city, sizeof(cfg.geoip_city), "%s/nope.mmdb", dir);
    px_geoip_files_find(&cfg, &f);
    ck_assert_ptr_nonnull(strstr(f.city.path, "/nope.mmdb"));
    ck_assert(!f.city.present);
}
END_TEST

START_TEST(test_geoip_files__same_sees_rename_and_rewrite)
{
    px_geoip_files_t  a, b;

    install_db("GeoIP2-City-Test.mmdb", "GeoIP2-City.mmdb");
    px_geoip_files_find(&cfg, &a);
    px_geoip_files_find(&cfg, &b);
    ck_assert(px_geoip_files_same(&a, &b));

    /* same content renamed into place: a new inode */
    install_db("GeoIP2-City-Test.mmdb", "GeoIP2-City.mmdb");
    px_geoip_files_find(&cfg, &b);
    ck_assert(!px_geoip_files_same(&a, &b));
}
END_TEST

START_TEST(test_geoip_files__refresh_opens_a_database_that_appears)
{
    ck_assert_int_eq(px_enrich_open(&enr, &cfg, err, sizeof(err)), 0);
    ck_assert_ptr_null(enr.geo);
    ck_assert_int_eq(px_enrich_geo_refresh(&enr, &cfg, err, sizeof(err)), 0);

    install_db("GeoIP2-City-Test.mmdb", "GeoLite2-City.mmdb");
    ck_assert_int_eq(px_enrich_geo_refresh(&enr, &cfg, err, sizeof(err)), 1);
    ck_assert_str_eq(country(), "GB");

    /* nothing changed since: nothing reopened */
    ck_assert_int_eq(px_enrich_geo_refresh(&enr, &cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_geoip_files__broken_update_keeps_the_old_data)
{
    install_db("GeoIP2-City-Test.mmdb", "GeoLite2-City.mmdb");
    ck_assert_int_eq(px_enrich_open(&enr, &cfg, err, sizeof(err)), 0);
    ck_assert_str_eq(country(), "GB");

    /* a corrupt file under a name tried first */
    install_db("GeoIP2-City-Test-Invalid-Node-Count.mmdb", "GeoIP2-City.mmdb");
    ck_assert_int_eq(px_enrich_geo_refresh(&enr, &cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "GeoIP2-City.mmdb"));
    ck_assert_str_eq(country(), "GB");

    /* not tried again until it changes again */
    err[0] = '\0';
    ck_assert_int_eq(px_enrich_geo_refresh(&enr, &cfg, err, sizeof(err)), 0);
    ck_assert_str_eq(err, "");

    /* the fixed file is taken */
    install_db("GeoLite2-City-Test.mmdb", "GeoIP2-City.mmdb");
    ck_assert_int_eq(px_enrich_geo_refresh(&enr, &cfg, err, sizeof(err)), 1);
    ck_assert_str_eq(country(), "GB");
    ck_assert_ptr_nonnull(strstr(enr.geo_files.city.path, "GeoIP2-City.mmdb"));
}
END_TEST

START_TEST(test_geoip_files__all_gone_keeps_the_old_data)
{
    install_db("GeoIP2-City-Test.mmdb", "GeoLite2-City.mmdb");
    ck_assert_int_eq(px_enrich_open(&enr, &cfg, err, sizeof(err)), 0);

    remove_db("GeoLite2-City.mmdb");
    ck_assert_int_eq(px_enrich_geo_refresh(&enr, &cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "no GeoIP database"));
    ck_assert_str_eq(country(), "GB");
}
END_TEST

Suite *
make_suite_geoip_files(void)
{
    Suite  *s = suite_create("geoip_files");
    TCase  *tc = tcase_create("geoip_files");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_geoip_files__find_prefers_production_names);
    tcase_add_test(tc, test_geoip_files__same_sees_rename_and_rewrite);
    tcase_add_test(tc, test_geoip_files__refresh_opens_a_database_that_appears);
    tcase_add_test(tc, test_geoip_files__broken_update_keeps_the_old_data);
    tcase_add_test(tc, test_geoip_files__all_gone_keeps_the_old_data);
    suite_add_tcase(s, tc);
    return s;
}
