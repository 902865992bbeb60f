#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "schema.h"

/*
 * The statements are printf formats with positional arguments, so one text
 * serves a single server and a cluster (docs/clickhouse.md, cluster mode):
 *   %1$s  the database
 *   %2$s  "" or " ON CLUSTER <cluster>"
 *   %3$s  "" or "_local": the name suffix of the tables that hold the rows
 *   %4$s  "" or "Replicated": the engine's prefix
 *   %5$s  "" or the replicated engine's ZooKeeper path and replica
 * A format uses %1$s to %Ns with no gap.  On a cluster, a migration whose
 * shard_by is set creates <table>_local and then a Distributed <table>
 * over it, sharded by shard_by.
 */
typedef struct {
    unsigned     version;
    const char  *name;
    const char  *sql;
    const char  *sql_current;   /* on a current server, when it differs */
    const char  *shard_by;      /* a table of rows: its sharding key */
    int          cluster_only;  /* a statement a single server skips */
} px_migration_t;

/*
 * The sharding key of the event rows: the worker's visitor
 * (px_message_visitor: anonymous_id, else user_id, else event_id) within
 * the project, so a visitor's events, its sessions (built from them on
 * the shard) and every replay of an event are on one shard.
 */
#define PX_SHARD_BY_VISITOR                                                   \
    "sipHash64(project_id, if(anonymous_id != '', anonymous_id,"               \
    " if(user_id != '', user_id, event_id)))"


/*
 * A server at least this version gets sql_current: LowCardinality strings,
 * codecs and an ORDER BY that serves the usual queries (all there since
 * 20.x; 21.8 is the oldest long-term release we say we run on).
 */
#define PX_SCHEMA_CURRENT_MAJOR  21
#define PX_SCHEMA_CURRENT_MINOR  8

/* The columns of px.events as 18.16 takes them ... */
#define PX_EVENTS_COLUMNS_1816                                                \
    " project_id String, event_id String, event String,"                      \
    " anonymous_id String, user_id String,"                                   \
    " session_id String, session_seq UInt32,"                                 \
    " timestamp DateTime, timestamp_ms UInt64, client_timestamp_ms UInt64,"   \
    " received_at DateTime, received_at_ms UInt64,"                           \
    " properties String, context String,"                                     \
    " page_url String, page_path String, page_title String,"                  \
    " referrer String, referrer_domain String, referrer_type String,"         \
    " utm_source String, utm_medium String, utm_campaign String,"             \
    " utm_term String, utm_content String,"                                   \
    " click_id_type String, click_id String,"                                 \
    " ip String, country String, country_name String,"                        \
    " region String, region_name String, city String,"                        \
    " latitude Float64, longitude Float64, time_zone String,"                 \
    " asn UInt32, as_org String,"                                             \
    " user_agent String, browser String, browser_version String,"             \
    " os String, os_version String, device_type String,"                     \
    " device_brand String, device_model String, is_bot UInt8,"                \
    " locale String, screen String, library String,"                          \
    " library_version String, schema_version UInt16,"                         \
    " inserted_at DateTime"

/*
 * ... and as a current server stores them well: the same names and value
 * types (the worker's rows and every query stay the same), dictionary-coded
 * strings where a column holds few distinct values, ZSTD on the long
 * texts, Delta on times (rows are sorted by project, day and event, so
 * neighbouring times are close).
 */
#define PX_LC "LowCardinality(String)"
#define PX_Z  " CODEC(ZSTD(1))"
#define PX_DT " CODEC(Delta, ZSTD(1))"
#define PX_EVENTS_COLUMNS_CURRENT                                             \
    " project_id " PX_LC ", event_id String" PX_Z ", event " PX_LC ","        \
    " anonymous_id String" PX_Z ", user_id String" PX_Z ","                   \
    " session_id String" PX_Z ", session_seq UInt32" PX_DT ","                \
    " timestamp DateTime" PX_DT ", timestamp_ms UInt64" PX_DT ","             \
    " client_timestamp_ms UInt64" PX_DT ","                                   \
    " received_at DateTime" PX_DT ", received_at_ms UInt64" PX_DT ","         \
    " properties String" PX_Z ", context String" PX_Z ","                     \
    " page_url String" PX_Z ", page_path String" PX_Z ","                     \
    " page_title String" PX_Z ","                                             \
    " referrer String" PX_Z ", referrer_domain " PX_LC ","                    \
    " referrer_type " PX_LC ","                                               \
    " utm_source " PX_LC ", utm_medium " PX_LC ", utm_campaign " PX_LC ","    \
    " utm_term String" PX_Z ", utm_content String" PX_Z ","                   \
    " click_id_type " PX_LC ", click_id String" PX_Z ","                      \
    " ip String" PX_Z ", country " PX_LC ", country_name " PX_LC ","          \
    " region " PX_LC ", region_name " PX_LC ", city " PX_LC ","               \
    " latitude Float64, longitude Float64, time_zone " PX_LC ","              \
    " asn UInt32, as_org " PX_LC ","                                          \
    " user_agent String" PX_Z ", browser " PX_LC ", browser_version " PX_LC "," \
    " os " PX_LC ", os_version " PX_LC ", device_type " PX_LC ","             \
    " device_brand " PX_LC ", device_model " PX_LC ", is_bot UInt8,"          \
    " locale " PX_LC ", screen " PX_LC ", library " PX_LC ","                 \
    " library_version " PX_LC ", schema_version UInt16,"                      \
    " inserted_at DateTime" PX_DT

/*
 * The first and last values of a session, as columns, as the view's
 * states and as the summary's merges: argMin/argMax by time, which a
 * replayed row cannot change.
 */
#define PX_SESSION_FIRST_COLUMNS                                              \
    " s_entry_page AggregateFunction(argMin, String, UInt64),"                \
    " s_exit_page AggregateFunction(argMax, String, UInt64),"                 \
    " s_referrer_domain AggregateFunction(argMin, String, UInt64),"           \
    " s_referrer_type AggregateFunction(argMin, String, UInt64),"             \
    " s_utm_source AggregateFunction(argMin, String, UInt64),"                \
    " s_utm_medium AggregateFunction(argMin, String, UInt64),"                \
    " s_utm_campaign AggregateFunction(argMin, String, UInt64),"              \
    " s_country AggregateFunction(argMin, String, UInt64),"                   \
    " s_city AggregateFunction(argMin, String, UInt64),"                      \
    " s_browser AggregateFunction(argMin, String, UInt64),"                   \
    " s_os AggregateFunction(argMin, String, UInt64),"                        \
    " s_device_type AggregateFunction(argMin, String, UInt64)"

#define PX_SESSION_FIRST_STATES                                               \
    " argMinState(page_path, timestamp_ms) AS s_entry_page,"                  \
    " argMaxState(page_path, timestamp_ms) AS s_exit_page,"                   \
    " argMinState(referrer_domain, timestamp_ms) AS s_referrer_domain,"       \
    " argMinState(referrer_type, timestamp_ms) AS s_referrer_type,"           \
    " argMinState(utm_source, timestamp_ms) AS s_utm_source,"                 \
    " argMinState(utm_medium, timestamp_ms) AS s_utm_medium,"                 \
    " argMinState(utm_campaign, timestamp_ms) AS s_utm_campaign,"             \
    " argMinState(country, timestamp_ms) AS s_country,"                       \
    " argMinState(city, timestamp_ms) AS s_city,"                             \
    " argMinState(browser, timestamp_ms) AS s_browser,"                       \
    " argMinState(os, timestamp_ms) AS s_os,"                                 \
    " argMinState(device_type, timestamp_ms) AS s_device_type"

#define PX_SESSION_FIRST_MERGES                                               \
    " argMinMerge(s_entry_page) AS entry_page,"                               \
    " argMaxMerge(s_exit_page) AS exit_page,"                                 \
    " argMinMerge(s_referrer_domain) AS referrer_domain,"                     \
    " argMinMerge(s_referrer_type) AS referrer_type,"                         \
    " argMinMerge(s_utm_source) AS utm_source,"                               \
    " argMinMerge(s_utm_medium) AS utm_medium,"                               \
    " argMinMerge(s_utm_campaign) AS utm_campaign,"                           \
    " argMinMerge(s_country) AS country, argMinMerge(s_city) AS city,"        \
    " argMinMerge(s_browser) AS browser, argMinMerge(s_os) AS os,"            \
    " argMinMerge(s_device_type) AS device_type"

/*
 * px.events: one row per event.  ReplacingMergeTree on the sorting key
 * (project, day, event_id): a replayed message gives an identical row that
 * merges away; queries that must not count a replay twice use FINAL or
 * GROUP BY event_id (docs/clickhouse.md).
 */
#define PX_EVENTS_SQL_1816                                                    \
    "CREATE TABLE IF NOT EXISTS %1$s.events%3$s%2$s ("                        \
    PX_EVENTS_COLUMNS_1816                                                    \
    ") ENGINE = %4$sReplacingMergeTree(%5$s)"                                 \
    " PARTITION BY toYYYYMM(timestamp)"                                       \
    " ORDER BY (project_id, toDate(timestamp), event_id)"

/* event in the key: a day's events of one name are read together (counts
 * by name, funnels); a replay has the same name and id */
#define PX_EVENTS_SQL_CURRENT                                                 \
    "CREATE TABLE IF NOT EXISTS %1$s.events%3$s%2$s ("                        \
    PX_EVENTS_COLUMNS_CURRENT                                                 \
    ") ENGINE = %4$sReplacingMergeTree(%5$s)"                                 \
    " PARTITION BY toYYYYMM(timestamp)"                                       \
    " ORDER BY (project_id, toDate(timestamp), event, event_id)"

static const px_migration_t  px_migrations[] = {
    { 1, "events", PX_EVENTS_SQL_1816, PX_EVENTS_SQL_CURRENT,
      PX_SHARD_BY_VISITOR, 0 },
    /*
     * px.sessions: one row per session, built by a materialized view from
     * the rows inserted into px.events.  Every aggregate is one a replayed
     * (re-inserted) row cannot change: min, max, argMin/argMax, any and
     * uniqExact of event_id.  Read it through px.sessions_summary.  (min/max
     * of the ids: deterministic, and a user_id set by identify wins over "".)
     */
    { 2, "sessions",
      "CREATE TABLE IF NOT EXISTS %1$s.sessions%3$s%2$s ("
      " project_id String, session_id String,"
      " s_visitor AggregateFunction(min, String),"
      " s_user_id AggregateFunction(max, String),"
      " s_start_ms AggregateFunction(min, UInt64),"
      " s_end_ms AggregateFunction(max, UInt64),"
      " s_events AggregateFunction(uniqExact, String),"
      " s_page_views AggregateFunction(uniqExactIf, String, UInt8),"
      PX_SESSION_FIRST_COLUMNS
      ") ENGINE = %4$sAggregatingMergeTree(%5$s)"
      " PARTITION BY tuple()"
      " ORDER BY (project_id, session_id)", NULL,
      /* the view writes the shard's sessions_local; an insert into the
       * Distributed sessions (none by PX) would go by session */
      "sipHash64(project_id, session_id)", 0 },

    { 3, "sessions_mv",
      "CREATE MATERIALIZED VIEW IF NOT EXISTS %1$s.sessions_mv%2$s"
      " TO %1$s.sessions%3$s AS SELECT project_id, session_id,"
      " minState(if(anonymous_id != '', anonymous_id, user_id))"
      "   AS s_visitor,"
      " maxState(user_id) AS s_user_id,"
      " minState(timestamp_ms) AS s_start_ms,"
      " maxState(timestamp_ms) AS s_end_ms,"
      " uniqExactState(event_id) AS s_events,"
      " uniqExactIfState(event_id, toUInt8(event = 'page_view'))"
      "   AS s_page_views,"
      PX_SESSION_FIRST_STATES
      " FROM %1$s.events%3$s WHERE session_id != ''"
      " GROUP BY project_id, session_id", NULL, NULL, 0 },

    { 4, "sessions_summary",
      "CREATE VIEW IF NOT EXISTS %1$s.sessions_summary%2$s AS SELECT"
      " project_id, session_id, minMerge(s_visitor) AS visitor,"
      " maxMerge(s_user_id) AS user_id,"
      " minMerge(s_start_ms) AS start_ms, maxMerge(s_end_ms) AS end_ms,"
      " toDateTime(intDiv(minMerge(s_start_ms), 1000)) AS start,"
      " toDateTime(intDiv(maxMerge(s_end_ms), 1000)) AS end,"
      " (maxMerge(s_end_ms) - minMerge(s_start_ms)) / 1000 AS duration_s,"
      " uniqExactMerge(s_events) AS events,"
      " uniqExactIfMerge(s_page_views) AS page_views,"
      PX_SESSION_FIRST_MERGES
      " FROM %1$s.sessions GROUP BY project_id, session_id", NULL, NULL, 0 },

    /*
     * From here, sessions by month (docs/clickhouse.md, "px.sessions_by_month
     * and px.sessions_summary"):
     * each row carries session_first_ms, the time of the event that
     * started its session (the session stage knows it, a replay reads it
     * back from its claim), so every row of a session goes to the month
     * partition of that time, however late its events come.  An
     * ALTER of 18.16 has no IF NOT EXISTS: px_schema_migrate takes
     * "column already exists" as done.
     */
    { 5, "events_session_first",
      "ALTER TABLE %1$s.events%3$s%2$s ADD COLUMN session_first_ms UInt64",
      NULL, NULL, 0 },

    /*
     * On a cluster the Distributed events must take the column too.  18.16
     * refuses an ALTER of it ON CLUSTER (not replicated, on replicated
     * shards), so it is made again: it holds no rows (inserts into it are
     * synchronous), and migration 7's first statement is migration 1's
     * (its local table exists: nothing), its second the Distributed table
     * AS the local one, with the new column.
     */
    { 6, "events_distributed_drop",
      "DROP TABLE IF EXISTS %1$s.events%2$s", NULL, NULL, 1 },

    { 7, "events", PX_EVENTS_SQL_1816, PX_EVENTS_SQL_CURRENT,
      PX_SHARD_BY_VISITOR, 1 },

    /*
     * px.sessions_by_month: one row per session, in the month of its
     * first_seen.  events = max(session_seq): a session's seqs are 1..n
     * in arrival order and a replay carries its seq again, so the max is
     * the count and one number to merge; page_views counts distinct seqs
     * of page views (4 bytes each, within one session).
     */
    { 8, "sessions_by_month",
      "CREATE TABLE IF NOT EXISTS %1$s.sessions_by_month%3$s%2$s ("
      " project_id String, first_seen DateTime, session_id String,"
      " s_visitor AggregateFunction(min, String),"
      " s_user_id AggregateFunction(max, String),"
      " s_start_ms AggregateFunction(min, UInt64),"
      " s_end_ms AggregateFunction(max, UInt64),"
      " s_events AggregateFunction(max, UInt32),"
      " s_page_views AggregateFunction(uniqExactIf, UInt32, UInt8),"
      PX_SESSION_FIRST_COLUMNS
      ") ENGINE = %4$sAggregatingMergeTree(%5$s)"
      " PARTITION BY toYYYYMM(first_seen)"
      " ORDER BY (project_id, first_seen, session_id)", NULL,
      "sipHash64(project_id, session_id)", 0 },

    { 9, "sessions_by_month_mv",
      "CREATE MATERIALIZED VIEW IF NOT EXISTS %1$s.sessions_by_month_mv%2$s"
      " TO %1$s.sessions_by_month%3$s AS SELECT project_id,"
      /* a row of an older worker has no first: its own time */
      " toDateTime(intDiv(if(session_first_ms > 0, session_first_ms,"
      " timestamp_ms), 1000)) AS first_seen, session_id,"
      " minState(if(anonymous_id != '', anonymous_id, user_id))"
      "   AS s_visitor,"
      " maxState(user_id) AS s_user_id,"
      " minState(timestamp_ms) AS s_start_ms,"
      " maxState(timestamp_ms) AS s_end_ms,"
      " maxState(session_seq) AS s_events,"
      " uniqExactIfState(session_seq, toUInt8(event = 'page_view'))"
      "   AS s_page_views,"
      PX_SESSION_FIRST_STATES
      " FROM %1$s.events%3$s WHERE session_id != ''"
      " GROUP BY project_id, first_seen, session_id", NULL, NULL, 0 },

    /* the old aggregate is no longer fed (its rows stay: see
     * docs/clickhouse.md for moving them) */
    { 10, "sessions_mv_drop",
      "DROP TABLE IF EXISTS %1$s.sessions_mv%2$s", NULL, NULL, 0 },

    { 11, "sessions_summary_drop",
      "DROP TABLE IF EXISTS %1$s.sessions_summary%2$s", NULL, NULL, 0 },

    /* first_seen is a column of the view, grouped by: a WHERE on it goes
     * down to the table (where the server pushes predicates into views)
     * and reads only its months */
    { 12, "sessions_summary_by_month",
      "CREATE VIEW IF NOT EXISTS %1$s.sessions_summary%2$s AS SELECT"
      " project_id, first_seen, session_id, minMerge(s_visitor) AS visitor,"
      " maxMerge(s_user_id) AS user_id,"
      " minMerge(s_start_ms) AS start_ms, maxMerge(s_end_ms) AS end_ms,"
      " toDateTime(intDiv(minMerge(s_start_ms), 1000)) AS start,"
      " toDateTime(intDiv(maxMerge(s_end_ms), 1000)) AS end,"
      " (maxMerge(s_end_ms) - minMerge(s_start_ms)) / 1000 AS duration_s,"
      " maxMerge(s_events) AS events,"
      " uniqExactIfMerge(s_page_views) AS page_views,"
      PX_SESSION_FIRST_MERGES
      " FROM %1$s.sessions_by_month"
      " GROUP BY project_id, first_seen, session_id", NULL, NULL, 0 },
};

#define PX_NMIGRATIONS  (sizeof(px_migrations) / sizeof(px_migrations[0]))

unsigned
px_schema_latest(void)
{
    return px_migrations[PX_NMIGRATIONS - 1].version;
}

/* A database or cluster name: written into statements unquoted */
static int
px_schema_name_ok(const char *name)
{
    size_t  i;

    for (i = 0; name[i] != '\0'; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z')
              || (name[i] >= 'A' && name[i] <= 'Z')
              || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
        {
            return 0;
        }
    }

    return i > 0 && i < 64;
}

int
px_schema_sql(size_t i, int current, const char *db, char *buf, size_t len)
{
    int  rc;

    rc = px_schema_cluster_sql(i, 0, current, db, "", buf, len);
    if (rc == 1 && len > 0) {
        buf[0] = '\0';         /* a migration of clusters only */
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

int
px_schema_cluster_sql(size_t i, size_t part, int current, const char *db,
    const char *cluster, char *buf, size_t len)
{
    int                    n;
    char                   on[96], zk[256];
    const px_migration_t  *m;

    if (i >= PX_NMIGRATIONS || !px_schema_name_ok(db)
        || (cluster[0] != '\0' && !px_schema_name_ok(cluster)))
    {
        return -1;
    }
    m = &px_migrations[i];

    if (cluster[0] == '\0') {
        if (part > 0 || m->cluster_only) {
            return 1;
        }
        n = snprintf(buf, len, current && m->sql_current != NULL
                               ? m->sql_current : m->sql, db, "", "", "", "");
        return n >= 0 && (size_t) n < len ? 0 : -1;
    }

    if (part > (m->shard_by != NULL)) {
        return 1;
    }

    if (part == 1) {
        /* the table queries and inserts name, over every shard's rows */
        n = snprintf(buf, len, "CREATE TABLE IF NOT EXISTS %1$s.%2$s"
                     " ON CLUSTER %3$s AS %1$s.%2$s_local"
                     " ENGINE = Distributed(%3$s, %1$s, %2$s_local, %4$s)",
                     db, m->name, cluster, m->shard_by);
        return n >= 0 && (size_t) n < len ? 0 : -1;
    }

    /* one replica log per shard and table, in ZooKeeper; the server's
     * macros name its shard and replica */
    snprintf(on, sizeof(on), " ON CLUSTER %s", cluster);
    snprintf(zk, sizeof(zk), "'/clickhouse/tables/{shard}/%s/%s_local', "
             "'{replica}'", db, m->name);
    n = snprintf(buf, len, current && m->sql_current != NULL
                           ? m->sql_current : m->sql,
                 db, on, "_local", "Replicated", zk);
    return n >= 0 && (size_t) n < len ? 0 : -1;
}


static int
px_schema_run(px_clickhouse_t *ch, const char *sql, px_buf_t *out,
    int *retry, char *err, size_t errlen)
{
    px_ch_status_t  st;

    st = px_ch_query(ch, sql, out, err, errlen);
    /* a statement ClickHouse refuses will be refused again: fail at once */
    *retry = st == PX_CH_RETRY && px_ch_transient(err);
    return st == PX_CH_OK ? 0 : -1;
}


/* An ADD COLUMN refused because the column is there: a migration that
 * ran before its record was written (18.16 has no IF NOT EXISTS there), or
 * that another worker starting at the same time ran.  A CREATE ... IF NOT
 * EXISTS refused because the table is there, or a DROP ... IF EXISTS
 * because it is gone: the other worker made or dropped it between the
 * server's check and this statement (TABLE_ALREADY_EXISTS, UNKNOWN_TABLE,
 * TABLE_IS_DROPPED). */
static int
px_schema_already_done(const char *sql, const char *err)
{
    int  code;

    if (strncmp(sql, "ALTER TABLE ", 12) == 0
        && strstr(sql, " ADD COLUMN ") != NULL)
    {
        return strstr(err, "column with this name already exists") != NULL;
    }

    code = px_ch_answer_code(err);

    if (strncmp(sql, "DROP TABLE IF EXISTS ", 21) == 0) {
        return code == 60 || code == 218;
    }

    return strncmp(sql, "CREATE ", 7) == 0
           && strstr(sql, " IF NOT EXISTS ") != NULL && code == 57;
}


/*
 * A statement on <db>.schema_migrations, the migrations' bookkeeping.  On
 * 18.16 it is a TinyLog, which fails a read that meets another worker's
 * write ("File not found ... tmp_sizes.json"): workers started together on
 * a fresh database all migrate at once.  A server error there is worth
 * another run of the migrations (each statement is idempotent), not an
 * exit.
 */
static int
px_schema_bookkeeping(px_clickhouse_t *ch, const char *sql, px_buf_t *out,
    int *retry, char *err, size_t errlen)
{
    if (px_schema_run(ch, sql, out, retry, err, errlen) == 0) {
        return 0;
    }

    *retry = *retry || strstr(err, "ClickHouse HTTP 5") != NULL;
    return -1;
}


int
px_schema_is_current(const char *version)
{
    char  *end;
    long   major, minor;

    major = strtol(version, &end, 10);
    if (end == version || *end != '.') {
        return 0;
    }
    minor = strtol(end + 1, &end, 10);

    return major > PX_SCHEMA_CURRENT_MAJOR
           || (major == PX_SCHEMA_CURRENT_MAJOR
               && minor >= PX_SCHEMA_CURRENT_MINOR);
}


/* 1 when the server takes the current tables, 0 when not, -1 on error. */
static int
px_schema_server_current(px_clickhouse_t *ch, int *retry, char *err,
    size_t errlen)
{
    int       current;
    px_buf_t  out;

    px_buf_init(&out, NULL, 0);
    if (px_schema_run(ch, "SELECT version()", &out, retry, err, errlen) != 0
        || px_buf_terminate(&out) != 0)
    {
        px_buf_free(&out);
        return -1;
    }
    current = px_schema_is_current(out.data);
    px_log(PX_LOG_INFO, "schema", "ClickHouse %.*s: %s tables",
           (int) strcspn(out.data, "\r\n"), out.data,
           current ? "current" : "18.16-compatible");
    px_buf_free(&out);

    return current;
}

int
px_schema_migrate(px_clickhouse_t *ch, const char *db, const char *cluster,
    unsigned *ran, int *retry, char *err, size_t errlen)
{
    int       current, rc;
    char      sql[8192];
    size_t    i, part;
    unsigned  applied;
    px_buf_t  out;

    *retry = 0;

    if (!px_schema_name_ok(db)) {
        snprintf(err, errlen, "invalid database name \"%s\"", db);
        return -1;
    }
    if (cluster[0] != '\0' && !px_schema_name_ok(cluster)) {
        snprintf(err, errlen, "invalid cluster name \"%s\" (letters, digits "
                 "and _ only)", cluster);
        return -1;
    }

    /* on a cluster, the migrations this node records are the cluster's:
     * every statement is IF NOT EXISTS ON CLUSTER, so a worker that talks
     * to another node and runs them again changes nothing */
    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS %s%s%s", db,
             cluster[0] != '\0' ? " ON CLUSTER " : "", cluster);
    if (px_schema_run(ch, sql, NULL, retry, err, errlen) != 0) {
        return -1;
    }

    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
             "version UInt32, name String, applied_at DateTime"
             ") ENGINE = TinyLog", db);
    if (px_schema_bookkeeping(ch, sql, NULL, retry, err, errlen) != 0) {
        return -1;
    }

    px_buf_init(&out, NULL, 0);
    snprintf(sql, sizeof(sql),
             "SELECT max(version) FROM %s.schema_migrations", db);
    if (px_schema_bookkeeping(ch, sql, &out, retry, err, errlen) != 0
        || px_buf_terminate(&out) != 0)
    {
        px_buf_free(&out);
        return -1;
    }
    applied = (unsigned) strtoul(out.data, NULL, 10);
    px_buf_free(&out);

    /*
     * A run that failed part way goes on from its own last migration, not
     * from what the table says: another worker may have recorded later
     * ones before this one's earlier statements ran (migration 11 drops
     * the view 12 makes under the same name: skipping 12 after running 11
     * would leave no sessions_summary).  Each worker's last word on an
     * object is then that of its own latest migration.
     */
    if (*ran > 0) {
        applied = *ran;
    }

    current = 0;
    if (applied < px_schema_latest()) {
        current = px_schema_server_current(ch, retry, err, errlen);
        if (current < 0) {
            return -1;
        }
    }

    for (i = 0; i < PX_NMIGRATIONS; i++) {
        if (px_migrations[i].version <= applied) {
            continue;
        }

        for (part = 0; ; part++) {
            rc = px_schema_cluster_sql(i, part, current, db, cluster, sql,
                                       sizeof(sql));
            if (rc == 1) {
                break;
            }
            if (rc != 0) {
                snprintf(err, errlen, "migration %u does not fit its buffer",
                         px_migrations[i].version);
                return -1;
            }
            if (px_schema_run(ch, sql, NULL, retry, err, errlen) != 0
                && !px_schema_already_done(sql, err))
            {
                return -1;
            }
        }
        *ran = px_migrations[i].version;

        snprintf(sql, sizeof(sql),
                 "INSERT INTO %s.schema_migrations VALUES (%u, '%s', now())",
                 db, px_migrations[i].version, px_migrations[i].name);
        if (px_schema_bookkeeping(ch, sql, NULL, retry, err, errlen) != 0) {
            return -1;
        }

        px_log(PX_LOG_INFO, "schema", "applied migration %u (%s)",
               px_migrations[i].version, px_migrations[i].name);
    }

    return 0;
}

/*
 * A TTL of table <db>.<table> (<table>_local on a cluster): `shown` is how
 * SHOW CREATE TABLE writes it when it is there already (then no ALTER, no
 * TTL materialized again), `alter` the rest of the ALTER TABLE statement
 * that sets it.  0, or -1 with ClickHouse's reason in why.
 */
static int
px_schema_ttl(px_clickhouse_t *ch, const char *db, const char *cluster,
    const char *table, const char *shown, const char *alter, char *why,
    size_t whylen)
{
    int          retry, found;
    char         sql[512], on[96];
    px_buf_t     out;
    const char  *local;

    local = cluster[0] != '\0' ? "_local" : "";
    on[0] = '\0';
    if (cluster[0] != '\0') {
        snprintf(on, sizeof(on), " ON CLUSTER %s", cluster);
    }

    px_buf_init(&out, NULL, 0);
    snprintf(sql, sizeof(sql), "SHOW CREATE TABLE %s.%s%s", db, table, local);
    found = px_schema_run(ch, sql, &out, &retry, why, whylen) == 0
            && px_buf_terminate(&out) == 0 && strstr(out.data, shown) != NULL;
    px_buf_free(&out);
    if (found) {
        return 0;
    }

    snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s%s%s %s", db, table, local,
             on, alter);
    return px_schema_run(ch, sql, NULL, &retry, why, whylen);
}

int
px_schema_ip_retention(px_clickhouse_t *ch, const char *db,
    const char *cluster, long days, char *err, size_t errlen)
{
    char  shown[128], alter[128], why[400];

    if (days <= 0) {
        return 0;
    }

    /* on a cluster the rows are in events_local, on every shard */
    snprintf(shown, sizeof(shown), "TTL received_at + toIntervalDay(%ld)",
             days);
    snprintf(alter, sizeof(alter), "MODIFY COLUMN ip String TTL received_at"
             " + INTERVAL %ld DAY", days);
    if (px_schema_ttl(ch, db, cluster, "events", shown, alter, why,
                      sizeof(why)) != 0)
    {
        snprintf(err, errlen, "PX_IP_RETENTION_DAYS=%ld: ClickHouse refused "
                 "the TTL on the ip column (column TTLs need ClickHouse 19.6 "
                 "or later): %s", days, why);
        return -1;
    }

    px_log(PX_LOG_INFO, "schema", "raw IP addresses are emptied %ld days "
           "after they are received", days);
    return 0;
}

int
px_schema_sessions_ttl(px_clickhouse_t *ch, const char *db,
    const char *cluster, long days, char *err, size_t errlen)
{
    char  shown[128], alter[128], why[400];

    if (days <= 0) {
        return 0;
    }

    /* a session goes whole: every row of it has its first_seen */
    snprintf(shown, sizeof(shown), "TTL first_seen + toIntervalDay(%ld)",
             days);
    snprintf(alter, sizeof(alter), "MODIFY TTL first_seen + INTERVAL %ld DAY",
             days);
    if (px_schema_ttl(ch, db, cluster, "sessions_by_month", shown, alter,
                      why, sizeof(why)) != 0)
    {
        snprintf(err, errlen, "PX_SESSIONS_TTL_DAYS=%ld: ClickHouse refused "
                 "the TTL of sessions_by_month (table TTLs need ClickHouse "
                 "19.6 or later; there, drop old months with ALTER TABLE "
                 "... DROP PARTITION): %s", days, why);
        return -1;
    }

    px_log(PX_LOG_INFO, "schema", "sessions are deleted %ld days after "
           "their first event", days);
    return 0;
}
