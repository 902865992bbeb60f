/* px-worker/src/store/schema: the statements of cluster mode
 * (PX_CLICKHOUSE_CLUSTER, docs/clickhouse.md). */
#include <string.h>

#include <check.h>

#include "schema.h"

#define PX_ZK_EVENTS \
    "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db1/" \
    "events_local', '{replica}')"

START_TEST(test_schema_cluster__events_local_and_distributed)
{
    int   current;
    char  sql[8192];

    for (current = 0; current <= 1; current++) {
        ck_assert_int_eq(px_schema_cluster_sql(0, 0, current, "db1", "c1", sql,
                                               sizeof(sql)), 0);
        ck_assert_ptr_nonnull(strstr(sql,
            "CREATE TABLE IF NOT EXISTS db1.events_local ON CLUSTER c1 ("));
        ck_assert_ptr_nonnull(strstr(sql, "ENGINE = " PX_ZK_EVENTS));
        ck_assert_ptr_nonnull(strstr(sql, "ORDER BY (project_id, "));

        ck_assert_int_eq(px_schema_cluster_sql(0, 1, current, "db1", "c1", sql,
                                               sizeof(sql)), 0);
        ck_assert_str_eq(sql, "CREATE TABLE IF NOT EXISTS db1.events"
            " ON CLUSTER c1 AS db1.events_local ENGINE = Distributed(c1, db1,"
            " events_local, sipHash64(project_id, if(anonymous_id != '',"
            " anonymous_id, if(user_id != '', user_id, event_id))))");

        ck_assert_int_eq(px_schema_cluster_sql(0, 2, current, "db1", "c1", sql,
                                               sizeof(sql)), 1);
    }
}
END_TEST

START_TEST(test_schema_cluster__sessions_built_on_the_shard)
{
    char  sql[8192];

    ck_assert_int_eq(px_schema_cluster_sql(1, 0, 0, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "db1.sessions_local ON CLUSTER c1 ("));
    ck_assert_ptr_nonnull(strstr(sql, "ENGINE = ReplicatedAggregatingMergeTree"
        "('/clickhouse/tables/{shard}/db1/sessions_local', '{replica}')"));
    ck_assert_int_eq(px_schema_cluster_sql(1, 1, 0, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "Distributed(c1, db1, sessions_local,"));

    /* the view reads and writes the shard's own tables */
    ck_assert_int_eq(px_schema_cluster_sql(2, 0, 0, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "db1.sessions_mv ON CLUSTER c1"
                                      " TO db1.sessions_local AS SELECT"));
    ck_assert_ptr_nonnull(strstr(sql, " FROM db1.events_local WHERE"));
    ck_assert_int_eq(px_schema_cluster_sql(2, 1, 0, "db1", "c1", sql,
                                           sizeof(sql)), 1);

    /* the summary reads every shard's sessions */
    ck_assert_int_eq(px_schema_cluster_sql(3, 0, 0, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "db1.sessions_summary ON CLUSTER c1 AS"));
    ck_assert_ptr_nonnull(strstr(sql, " FROM db1.sessions GROUP BY"));
}
END_TEST

/* Sessions by month: the column on the shards' events and on the
 * Distributed one, the monthly table replicated per shard, its view on
 * the shard, the summary over every shard. */
START_TEST(test_schema_cluster__sessions_by_month)
{
    char  sql[8192];

    ck_assert_int_eq(px_schema_cluster_sql(4, 0, 0, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_str_eq(sql, "ALTER TABLE db1.events_local ON CLUSTER c1"
                          " ADD COLUMN session_first_ms UInt64");
    ck_assert_int_eq(px_schema_cluster_sql(4, 1, 0, "db1", "c1", sql,
                                           sizeof(sql)), 1);
    /* the Distributed events made again over the altered local ones */
    ck_assert_int_eq(px_schema_cluster_sql(5, 0, 0, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_str_eq(sql, "DROP TABLE IF EXISTS db1.events ON CLUSTER c1");
    ck_assert_int_eq(px_schema_cluster_sql(6, 0, 0, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "CREATE TABLE IF NOT EXISTS"
                                      " db1.events_local ON CLUSTER c1 ("));
    ck_assert_int_eq(px_schema_cluster_sql(6, 1, 0, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "db1.events ON CLUSTER c1 AS"
                                      " db1.events_local ENGINE ="
                                      " Distributed(c1, db1, events_local,"));

    ck_assert_int_eq(px_schema_cluster_sql(7, 0, 1, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql,
        "db1.sessions_by_month_local ON CLUSTER c1 ("));
    ck_assert_ptr_nonnull(strstr(sql, "ReplicatedAggregatingMergeTree("
        "'/clickhouse/tables/{shard}/db1/sessions_by_month_local'"));
    ck_assert_int_eq(px_schema_cluster_sql(7, 1, 1, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql,
        "Distributed(c1, db1, sessions_by_month_local,"));

    ck_assert_int_eq(px_schema_cluster_sql(8, 0, 1, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, "db1.sessions_by_month_mv ON CLUSTER"
                                      " c1 TO db1.sessions_by_month_local"));
    ck_assert_ptr_nonnull(strstr(sql, " FROM db1.events_local WHERE"));

    ck_assert_int_eq(px_schema_cluster_sql(9, 0, 1, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_str_eq(sql, "DROP TABLE IF EXISTS db1.sessions_mv"
                          " ON CLUSTER c1");
    ck_assert_int_eq(px_schema_cluster_sql(11, 0, 1, "db1", "c1", sql,
                                           sizeof(sql)), 0);
    ck_assert_ptr_nonnull(strstr(sql, " FROM db1.sessions_by_month GROUP"));
}
END_TEST

START_TEST(test_schema_cluster__single_server_unchanged)
{
    char    a[8192], b[8192];
    size_t  i;

    for (i = 0; px_schema_sql(i, 1, "px", a, sizeof(a)) == 0; i++) {
        ck_assert_int_eq(px_schema_cluster_sql(i, 0, 1, "px", "", b,
                                               sizeof(b)), a[0] ? 0 : 1);
        if (a[0] == '\0') {
            continue;           /* the Distributed events' ALTER */
        }
        ck_assert_str_eq(a, b);
        ck_assert_int_eq(px_schema_cluster_sql(i, 1, 1, "px", "", b,
                                               sizeof(b)), 1);
        ck_assert_ptr_null(strstr(a, "ON CLUSTER"));
        ck_assert_ptr_null(strstr(a, "Replicated"));
        ck_assert_ptr_null(strstr(a, "_local"));
    }
    ck_assert_uint_eq(i, px_schema_latest());
}
END_TEST

START_TEST(test_schema_cluster__refused)
{
    char  buf[8192], small[128];

    ck_assert_int_eq(px_schema_cluster_sql(0, 0, 0, "px", "c-1", buf,
                                           sizeof(buf)), -1);
    ck_assert_int_eq(px_schema_cluster_sql(0, 0, 0, "px", "c1 ON", buf,
                                           sizeof(buf)), -1);
    ck_assert_int_eq(px_schema_cluster_sql(0, 1, 0, "px", "c1", small,
                                           sizeof(small)), -1);
    ck_assert_int_eq(px_schema_cluster_sql(99, 0, 0, "px", "c1", buf,
                                           sizeof(buf)), -1);
}
END_TEST

Suite *
make_suite_schema_cluster(void)
{
    Suite  *s = suite_create("schema_cluster");
    TCase  *tc = tcase_create("statements");

    tcase_add_test(tc, test_schema_cluster__events_local_and_distributed);
    tcase_add_test(tc, test_schema_cluster__sessions_built_on_the_shard);
    tcase_add_test(tc, test_schema_cluster__sessions_by_month);
    tcase_add_test(tc, test_schema_cluster__single_server_unchanged);
    tcase_add_test(tc, test_schema_cluster__refused);
    suite_add_tcase(s, tc);

    return s;
}
