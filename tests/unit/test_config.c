/* px-worker/config: defaults < file < environment < flags, and errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"

static px_config_t  cfg;
static char         err[512];
static char         path[64];

static void
setup(void)
{
    px_config_defaults(&cfg);
    err[0] = '\0';
    strcpy(path, "/tmp/px-config-XXXXXX");
    close(mkstemp(path));
    unsetenv("BATCH_SIZE");
    unsetenv("REDIS_URL");
}

static void
teardown(void)
{
    unlink(path);
    unsetenv("BATCH_SIZE");
    unsetenv("REDIS_URL");
}

static void
write_file(const char *text)
{
    FILE  *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_config__defaults_valid)
{
    ck_assert_int_eq(px_config_validate(&cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(cfg.batch_size, 3000);
    ck_assert_int_eq(cfg.flush_interval_ms, 3000);
    ck_assert_int_eq(cfg.block_rows, 50000);
    ck_assert_int_eq(cfg.block_mb, 40);
    ck_assert_int_eq(cfg.clickhouse_gzip, 0);
    ck_assert_str_eq(cfg.kafka_group, "px-worker");
}
END_TEST

START_TEST(test_config__precedence)
{
    write_file("# comment\nBATCH_SIZE = 50\n  flush_interval=250 # ms\n"
               "REDIS_URL = redis://file:1/0\n");
    ck_assert_int_eq(px_config_load_file(&cfg, path, err, sizeof(err)), 0);
    ck_assert_int_eq(cfg.batch_size, 50);
    ck_assert_int_eq(cfg.flush_interval_ms, 250);

    setenv("BATCH_SIZE", "70", 1);
    ck_assert_int_eq(px_config_load_env(&cfg, err, sizeof(err)), 0);
    ck_assert_int_eq(cfg.batch_size, 70);
    ck_assert_str_eq(cfg.redis_url, "redis://file:1/0");

    ck_assert_int_eq(px_config_set(&cfg, "batch-size", "90", err,
                                   sizeof(err)), 0);
    ck_assert_int_eq(cfg.batch_size, 90);
}
END_TEST

START_TEST(test_config__bad_values)
{
    ck_assert_int_eq(px_config_set(&cfg, "BATCH_SIZE", "0", err, sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "BATCH_SIZE must be a number"));
    ck_assert_int_eq(px_config_set(&cfg, "BATCH_SIZE", "12x", err,
                                   sizeof(err)), -1);
    ck_assert_int_eq(px_config_set(&cfg, "NOPE", "1", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown setting"));
    ck_assert_int_eq(px_config_set(&cfg, "PX_IP_MODE", "hide", err,
                                   sizeof(err)), -1);
    ck_assert_int_eq(px_config_set(&cfg, "PX_IP_MODE", "Anonymize", err,
                                   sizeof(err)), 0);
    ck_assert_int_eq(cfg.ip_mode, PX_IP_ANONYMIZE);

    ck_assert_int_eq(px_config_set(&cfg, "PX_CLICKHOUSE_GZIP", "10", err,
                                   sizeof(err)), -1);
    ck_assert_int_eq(px_config_set(&cfg, "PX_CLICKHOUSE_GZIP", "-1", err,
                                   sizeof(err)), -1);
    ck_assert_int_eq(px_config_set(&cfg, "PX_CLICKHOUSE_GZIP", "6", err,
                                   sizeof(err)), 0);
    ck_assert_int_eq(cfg.clickhouse_gzip, 6);

    ck_assert_int_eq(px_config_set(&cfg, "CLICKHOUSE_URL", "ftp://x", err,
                                   sizeof(err)), 0);
    ck_assert_int_eq(px_config_validate(&cfg, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_config__file_errors_name_the_line)
{
    write_file("BATCH_SIZE = 10\nthis line is wrong\n");
    ck_assert_int_eq(px_config_load_file(&cfg, path, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, ":2: expected NAME = value"));

    ck_assert_int_eq(px_config_load_file(&cfg, "/nonexistent/px.conf", err,
                                         sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

START_TEST(test_config__secret_masked)
{
    char   buf[8192];
    FILE  *f;

    ck_assert_int_eq(px_config_set(&cfg, "CLICKHOUSE_PASSWORD", "hunter2",
                                   err, sizeof(err)), 0);
    f = fmemopen(buf, sizeof(buf), "w");
    ck_assert_ptr_nonnull(f);
    px_config_print(&cfg, f);
    fclose(f);
    ck_assert_ptr_null(strstr(buf, "hunter2"));
    ck_assert_ptr_nonnull(strstr(buf, "CLICKHOUSE_PASSWORD=********"));
}
END_TEST

START_TEST(test_config__urls_are_printed_without_passwords)
{
    char    out[4096];
    FILE   *f;
    size_t  n;

    snprintf(cfg.redis_url, sizeof(cfg.redis_url),
             "redis://app:s3cr%%40t@redis.internal:6380/2");
    snprintf(cfg.clickhouse_password, sizeof(cfg.clickhouse_password),
             "chpass");
    f = fmemopen(out, sizeof(out) - 1, "w");
    ck_assert_ptr_nonnull(f);
    px_config_print(&cfg, f);
    n = ftell(f);
    fclose(f);
    out[n] = '\0';

    ck_assert_ptr_null(strstr(out, "s3cr"));
    ck_assert_ptr_null(strstr(out, "chpass"));
    ck_assert_ptr_nonnull(strstr(out,
        "REDIS_URL=redis://app:********@redis.internal:6380/2\n"));
    ck_assert_ptr_nonnull(strstr(out, "CLICKHOUSE_PASSWORD=********\n"));
}
END_TEST

START_TEST(test_config__redact_url)
{
    char  out[256];

    px_config_redact_url("redis://secret@h:1/0", out, sizeof(out));
    ck_assert_str_eq(out, "redis://********@h:1/0");
    px_config_redact_url("http://u:p@w@h:8123/?q=a@b", out, sizeof(out));
    ck_assert_str_eq(out, "http://u:********@h:8123/?q=a@b");
    px_config_redact_url("http://h:8123/?user=a@b", out, sizeof(out));
    ck_assert_str_eq(out, "http://h:8123/?user=a@b");
    px_config_redact_url("redis://127.0.0.1:6379/0", out, sizeof(out));
    ck_assert_str_eq(out, "redis://127.0.0.1:6379/0");
}
END_TEST

START_TEST(test_config__credentials_in_clickhouse_url_refused)
{
    snprintf(cfg.clickhouse_url, sizeof(cfg.clickhouse_url),
             "http://px:pw@ch:8123");
    ck_assert_int_eq(px_config_validate(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "CLICKHOUSE_PASSWORD"));
    ck_assert_ptr_null(strstr(err, "pw@"));

    snprintf(cfg.clickhouse_url, sizeof(cfg.clickhouse_url),
             "http://ch:8123/?x=a@b");
    ck_assert_int_eq(px_config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

Suite *
make_suite_config(void)
{
    Suite  *s = suite_create("config");
    TCase  *tc = tcase_create("config");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_config__defaults_valid);
    tcase_add_test(tc, test_config__precedence);
    tcase_add_test(tc, test_config__bad_values);
    tcase_add_test(tc, test_config__file_errors_name_the_line);
    tcase_add_test(tc, test_config__secret_masked);
    tcase_add_test(tc, test_config__urls_are_printed_without_passwords);
    tcase_add_test(tc, test_config__redact_url);
    tcase_add_test(tc, test_config__credentials_in_clickhouse_url_refused);
    suite_add_tcase(s, tc);
    return s;
}
