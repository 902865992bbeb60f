/* px-worker/src/schema: which servers get the current form of the tables. */
#include <string.h>

#include <check.h>

#include "schema.h"

START_TEST(test_schema__current_servers)
{
    ck_assert_int_eq(px_schema_is_current("21.8.15.7"), 1);
    ck_assert_int_eq(px_schema_is_current("24.8.14.39"), 1);
    ck_assert_int_eq(px_schema_is_current("26.9.1.1\n"), 1);
    ck_assert_int_eq(px_schema_is_current("100.1"), 1);
}
END_TEST

START_TEST(test_schema__older_or_unknown_servers)
{
    /* Debian's package, and anything not a version: the 18.16 tables */
    ck_assert_int_eq(px_schema_is_current("18.16.1"), 0);
    ck_assert_int_eq(px_schema_is_current("21.7.9.7"), 0);
    ck_assert_int_eq(px_schema_is_current("20.12.1"), 0);
    ck_assert_int_eq(px_schema_is_current(""), 0);
    ck_assert_int_eq(px_schema_is_current("24"), 0);
    ck_assert_int_eq(px_schema_is_current("v24.8"), 0);
    ck_assert_int_eq(px_schema_is_current("Code: 62. DB::Exception"), 0);
}
END_TEST

START_TEST(test_schema__two_forms_of_the_events_table)
{
    char  old[8192], cur[8192];

    ck_assert_int_eq(px_schema_sql(0, 0, "px", old, sizeof(old)), 0);
    ck_assert_int_eq(px_schema_sql(0, 1, "px", cur, sizeof(cur)), 0);
    ck_assert_ptr_null(strstr(old, "LowCardinality"));
    ck_assert_ptr_null(strstr(old, "CODEC"));
    ck_assert_ptr_nonnull(strstr(old,
        "ORDER BY (project_id, toDate(timestamp), event_id)"));
    ck_assert_ptr_nonnull(strstr(cur, "event LowCardinality(String)"));
    ck_assert_ptr_nonnull(strstr(cur, "properties String CODEC(ZSTD(1))"));
    ck_assert_ptr_nonnull(strstr(cur,
        "ORDER BY (project_id, toDate(timestamp), event, event_id)"));
    ck_assert_ptr_nonnull(strstr(cur, "CREATE TABLE IF NOT EXISTS px.events"));
}
END_TEST

START_TEST(test_schema__same_statement_where_one_form)
{
    char    a[8192], b[8192];
    size_t  i;

    for (i = 1; px_schema_sql(i, 0, "db1", a, sizeof(a)) == 0; i++) {
        ck_assert_int_eq(px_schema_sql(i, 1, "db1", b, sizeof(b)), 0);
        ck_assert_str_eq(a, b);
    }
    ck_assert_uint_eq(i, px_schema_latest());
}
END_TEST

/*
 * The sessions by month (migrations 5 to 12): the column the worker
 * fills, a table partitioned by the month of the session's first event
 * whose aggregates a replayed row cannot change, and a summary that
 * groups by first_seen, so a WHERE on it can reach the partitions.
 */
START_TEST(test_schema__sessions_by_month)
{
    char  sql[8192];

    ck_assert_int_eq(px_schema_sql(4, 0, "px", sql, sizeof(sql)), 0);
    ck_assert_str_eq(sql, "ALTER TABLE px.events ADD COLUMN"
                          " session_first_ms UInt64");
    /* the Distributed events made again: a cluster's */
    ck_assert_int_eq(px_schema_sql(5, 0, "px", sql, sizeof(sql)), 0);
    ck_assert_str_eq(sql, "");
    ck_assert_int_eq(px_schema_sql(6, 0, "px", sql, sizeof(sql)), 0);
    ck_assert_str_eq(sql, "");

    ck_assert_int_eq(px_schema_sql(7, 0, "px", sql, sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "PARTITION BY toYYYYMM(first_seen)"
                                      " ORDER BY (project_id, first_seen,"
                                      " session_id)"));
    ck_assert_ptr_nonnull(strstr(sql, "s_events AggregateFunction(max,"
                                      " UInt32)"));
    ck_assert_ptr_null(strstr(sql, "uniqExact, String"));

    ck_assert_int_eq(px_schema_sql(8, 0, "px", sql, sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "TO px.sessions_by_month AS SELECT"));
    ck_assert_ptr_nonnull(strstr(sql, "maxState(session_seq) AS s_events"));
    ck_assert_ptr_nonnull(strstr(sql, "uniqExactIfState(session_seq,"));
    ck_assert_ptr_nonnull(strstr(sql, "if(session_first_ms > 0,"
                                      " session_first_ms, timestamp_ms)"));

    ck_assert_int_eq(px_schema_sql(9, 0, "px", sql, sizeof(sql)), 0);
    ck_assert_str_eq(sql, "DROP TABLE IF EXISTS px.sessions_mv");
    ck_assert_int_eq(px_schema_sql(10, 0, "px", sql, sizeof(sql)), 0);
    ck_assert_str_eq(sql, "DROP TABLE IF EXISTS px.sessions_summary");
    ck_assert_int_eq(px_schema_sql(11, 0, "px", sql, sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "CREATE VIEW IF NOT EXISTS"
                                      " px.sessions_summary AS SELECT"
                                      " project_id, first_seen, session_id,"));
    ck_assert_ptr_nonnull(strstr(sql, "maxMerge(s_events) AS events"));
    ck_assert_ptr_nonnull(strstr(sql, " FROM px.sessions_by_month GROUP BY"
                                      " project_id, first_seen, session_id"));
    ck_assert_uint_eq(px_schema_latest(), 12);
}
END_TEST

START_TEST(test_schema__refused)
{
    char  small[64], buf[8192];

    ck_assert_int_eq(px_schema_sql(0, 1, "px", small, sizeof(small)), -1);
    ck_assert_int_eq(px_schema_sql(99, 0, "px", buf, sizeof(buf)), -1);
    ck_assert_int_eq(px_schema_sql(0, 0, "px;DROP", buf, sizeof(buf)), -1);
    ck_assert_int_eq(px_schema_sql(0, 0, "", buf, sizeof(buf)), -1);
}
END_TEST

Suite *
make_suite_schema(void)
{
    Suite  *s = suite_create("schema");
    TCase  *tc = tcase_create("version");

    tcase_add_test(tc, test_schema__current_servers);
    tcase_add_test(tc, test_schema__older_or_unknown_servers);
    tcase_add_test(tc, test_schema__two_forms_of_the_events_table);
    tcase_add_test(tc, test_schema__same_statement_where_one_form);
    tcase_add_test(tc, test_schema__sessions_by_month);
    tcase_add_test(tc, test_schema__refused);
    suite_add_tcase(s, tc);

    return s;
}
