#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "schema.h"

typedef struct {
    unsigned     version;
    const char  *name;
    const char  *sql;       /* %1$s: the database */
} px_migration_t;

/*
 * px.events: one row per event.  ReplacingMergeTree on the sorting key
 * (project, day, event_id): a replayed message gives an identical row that
 * merges away; queries that must not count a replay twice use FINAL or
 * GROUP BY event_id (docs/clickhouse.md).
 */
static const px_migration_t  px_migrations[] = {
    { 1, "events",
      "CREATE TABLE IF NOT EXISTS %1$s.events ("
      " project_id String, event_id String, event String,"
      " anonymous_id String, user_id String,"
      " session_id String, session_seq UInt32,"
      " timestamp DateTime, timestamp_ms UInt64, client_timestamp_ms UInt64,"
      " received_at DateTime, received_at_ms UInt64,"
      " properties String, context String,"
      " page_url String, page_path String, page_title String,"
      " referrer String, referrer_domain String, referrer_type String,"
      " utm_source String, utm_medium String, utm_campaign String,"
      " utm_term String, utm_content String,"
      " click_id_type String, click_id String,"
      " ip String, country String, country_name String,"
      " region String, region_name String, city String,"
      " latitude Float64, longitude Float64, time_zone String,"
      " asn UInt32, as_org String,"
      " user_agent String, browser String, browser_version String,"
      " os String, os_version String, device_type String,"
      " device_brand String, device_model String, is_bot UInt8,"
      " locale String, screen String, library String,"
      " library_version String, schema_version UInt16,"
      " inserted_at DateTime"
      ") ENGINE = ReplacingMergeTree()"
      " PARTITION BY toYYYYMM(timestamp)"
      " ORDER BY (project_id, toDate(timestamp), event_id)" },
};

#define PX_NMIGRATIONS  (sizeof(px_migrations) / sizeof(px_migrations[0]))

unsigned
px_schema_latest(void)
{
    return px_migrations[PX_NMIGRATIONS - 1].version;
}

static int
px_schema_db_name_ok(const char *db)
{
    size_t  i;

    for (i = 0; db[i] != '\0'; i++) {
        if (!((db[i] >= 'a' && db[i] <= 'z') || (db[i] >= 'A' && db[i] <= 'Z')
              || (db[i] >= '0' && db[i] <= '9') || db[i] == '_'))
        {
            return 0;
        }
    }

    return i > 0 && i < 64;
}

static int
px_schema_run(px_clickhouse_t *ch, const char *sql, px_buf_t *out,
    int *retry, char *err, size_t errlen)
{
    px_ch_status_t  st;

    st = px_ch_query(ch, sql, out, err, errlen);
    *retry = st == PX_CH_RETRY;
    return st == PX_CH_OK ? 0 : -1;
}

int
px_schema_migrate(px_clickhouse_t *ch, const char *db, int *retry,
    char *err, size_t errlen)
{
    char      sql[4096];
    size_t    i;
    unsigned  applied;
    px_buf_t  out;

    *retry = 0;

    if (!px_schema_db_name_ok(db)) {
        snprintf(err, errlen, "invalid database name \"%s\"", db);
        return -1;
    }

    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS %s", db);
    if (px_schema_run(ch, sql, NULL, retry, err, errlen) != 0) {
        return -1;
    }

    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
             "version UInt32, name String, applied_at DateTime"
             ") ENGINE = TinyLog", db);
    if (px_schema_run(ch, sql, NULL, retry, err, errlen) != 0) {
        return -1;
    }

    px_buf_init(&out, NULL, 0);
    snprintf(sql, sizeof(sql),
             "SELECT max(version) FROM %s.schema_migrations", db);
    if (px_schema_run(ch, sql, &out, retry, err, errlen) != 0
        || px_buf_terminate(&out) != 0)
    {
        px_buf_free(&out);
        return -1;
    }
    applied = (unsigned) strtoul(out.data, NULL, 10);
    px_buf_free(&out);

    for (i = 0; i < PX_NMIGRATIONS; i++) {
        if (px_migrations[i].version <= applied) {
            continue;
        }

        snprintf(sql, sizeof(sql), px_migrations[i].sql, db);
        if (px_schema_run(ch, sql, NULL, retry, err, errlen) != 0) {
            return -1;
        }

        snprintf(sql, sizeof(sql),
                 "INSERT INTO %s.schema_migrations VALUES (%u, '%s', now())",
                 db, px_migrations[i].version, px_migrations[i].name);
        if (px_schema_run(ch, sql, NULL, retry, err, errlen) != 0) {
            return -1;
        }

        px_log(PX_LOG_INFO, "schema", "applied migration %u (%s)",
               px_migrations[i].version, px_migrations[i].name);
    }

    return 0;
}
