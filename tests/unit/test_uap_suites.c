/*
 * uap-core's own test suites (tests/test_ua.yaml, test_os.yaml,
 * test_device.yaml) through px_ua_parse(), with the regexes.yaml beside
 * them. Directory from $PX_UAP_CORE_DIR, default /usr/share/uap-core.
 *
 * Required pass rate: 100% of every suite (uap-core 0.16.0, Debian 12).
 * Each failing field is printed to stderr so that a new uap-core release
 * that breaks something shows what, not just a rate.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "ua_suite.h"

/* Required share of passing cases, in per cent. */
#define REQUIRED_PASS_PERCENT  100.0

static px_ua_db_t  *db;

static const char *
uap_dir(void)
{
    const char  *dir = getenv("PX_UAP_CORE_DIR");

    return dir != NULL && dir[0] != '\0' ? dir : PX_UA_SUITE_DEFAULT_DIR;
}

static void
load_db(void)
{
    char  path[4096], err[512];

    snprintf(path, sizeof(path), "%s/regexes.yaml", uap_dir());
    if (px_ua_db_load(path, px_ua_db_env_flags(), &db, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "test_uap_suites: %s\n", err);
        abort();
    }
}

static void
free_db(void)
{
    px_ua_db_free(db);
    db = NULL;
}

static void
report_fail(void *ctx, const char *ua, const char *field, const char *expected,
    const char *got)
{
    unsigned  *shown = ctx;

    if ((*shown)++ < 20) {
        fprintf(stderr, "uap-core case failed: %s: want \"%s\" got \"%s\""
                " for: %s\n", field, expected ? expected : "", got, ua);
    }
}

static void
run_suite(px_ua_list_id_t id, size_t min_cases)
{
    px_ua_suite_result_t  res;
    unsigned              shown = 0;
    double                rate;
    char                  path[4096], err[512] = "";

    snprintf(path, sizeof(path), "%s/%s", uap_dir(), px_ua_suite_file(id));
    ck_assert_msg(px_ua_suite_run(db, id, path, report_fail, &shown, &res,
                                  err, sizeof(err)) == 0, "%s", err);

    /* guard against an empty or truncated suite passing "100%" */
    ck_assert_uint_ge(res.total, min_cases);

    rate = 100.0 * (double) res.passed / (double) res.total;
    fprintf(stderr, "%s: %zu/%zu passed (%.2f%%)\n", px_ua_suite_file(id),
            res.passed, res.total, rate);
    ck_assert_msg(rate >= REQUIRED_PASS_PERCENT, "%s: %.2f%% < %.2f%%",
                  px_ua_suite_file(id), rate, REQUIRED_PASS_PERCENT);
}

/* The minimum case counts are well under those of uap-core 0.16.0
 * (1425, 456, 16111) and only catch a suite that failed to load. */

START_TEST(test_uap_suites__user_agent)
{
    run_suite(PX_UA_LIST_BROWSER, 1000);
}
END_TEST

START_TEST(test_uap_suites__os)
{
    run_suite(PX_UA_LIST_OS, 300);
}
END_TEST

START_TEST(test_uap_suites__device)
{
    run_suite(PX_UA_LIST_DEVICE, 10000);
}
END_TEST

Suite *
make_suite_uap_suites(void)
{
    Suite  *s = suite_create("uap_suites");
    TCase  *tc = tcase_create("uap_core");

    tcase_add_unchecked_fixture(tc, load_db, free_db);
    /* the device suite is 16k cases: minutes under valgrind */
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_uap_suites__user_agent);
    tcase_add_test(tc, test_uap_suites__os);
    tcase_add_test(tc, test_uap_suites__device);
    suite_add_tcase(s, tc);
    return s;
}
