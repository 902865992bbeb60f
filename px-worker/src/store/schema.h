/*
 * Versioned ClickHouse schema migrations, applied at start.  Each applied
 * version is recorded in <db>.schema_migrations.  A migration runs on
 * Debian's ClickHouse 18.16 and on current releases; where a current
 * server stores better (LowCardinality, codecs, the events' ORDER BY), it
 * has a second form used when `SELECT version()` is 21.8 or later.  Both
 * forms have the same column names and value types, so the worker's rows
 * and the queries of docs/clickhouse.md are the same on either.  With a
 * cluster (PX_CLICKHOUSE_CLUSTER) the same migrations make replicated
 * local tables and Distributed tables ON CLUSTER (px_schema_cluster_sql).
 */
#ifndef PX_SCHEMA_H
#define PX_SCHEMA_H

#include <stddef.h>

#include "clickhouse.h"

/* Create the database and apply every migration not yet applied.  0, or
 * -1 with the failing statement's error in err; *retry says whether the
 * failure may pass (ClickHouse unreachable).  cluster: "" for one server,
 * else the cluster of PX_CLICKHOUSE_CLUSTER (see px_schema_cluster_sql).
 * *ran: 0 before the first call; the last migration this process applied,
 * for the calls that retry (they go on from there, whatever other workers
 * recorded meanwhile). */
int px_schema_migrate(px_clickhouse_t *ch, const char *db,
    const char *cluster, unsigned *ran, int *retry, char *err,
    size_t errlen);

/*
 * PX_IP_RETENTION_DAYS: a TTL on the events' ip column, so ClickHouse
 * empties the raw address `days` after received_at (geo and the other
 * columns stay).  Applied at start when it differs from the table's;
 * days <= 0 leaves the column as it is.  Column TTLs need ClickHouse 19.6
 * or later: on an older server this fails, saying so.  0, or -1 with err.
 */
int px_schema_ip_retention(px_clickhouse_t *ch, const char *db,
    const char *cluster, long days, char *err, size_t errlen);

/*
 * PX_SESSIONS_TTL_DAYS: a table TTL on sessions_by_month, so ClickHouse
 * deletes a session `days` after its first_seen (whole months' parts at
 * once, as a session's rows are all in its month).  As
 * px_schema_ip_retention: applied when it differs, days <= 0 leaves the
 * table as it is, ClickHouse 19.6 or later (older: -1, saying so).
 */
int px_schema_sessions_ttl(px_clickhouse_t *ch, const char *db,
    const char *cluster, long days, char *err, size_t errlen);

/* 1 when a server of this version ("24.8.3.59", "18.16.1") gets the
 * current form of the migrations, else 0. */
int px_schema_is_current(const char *version);

/* Migration i (from 0) as a server of that kind (current or not) gets it,
 * for database db, into buf: 0, or -1 past the last, for a bad name or
 * when buf is too small.  buf is "" for a migration a single server
 * skips (one of a cluster only). */
int px_schema_sql(size_t i, int current, const char *db, char *buf,
    size_t len);

/*
 * Statement `part` (from 0) of migration i, for a single server (cluster
 * "") or a cluster (docs/clickhouse.md, cluster mode): there each table of
 * rows is <name>_local, Replicated*MergeTree ON CLUSTER with the ZooKeeper
 * path /clickhouse/tables/{shard}/<db>/<name>_local, and part 1 is the
 * Distributed <name> over it that queries and inserts use; views are made
 * ON CLUSTER, the materialized one reading and writing the shard's local
 * tables.  0, 1 when the migration has no such part, -1 as px_schema_sql
 * (or for a bad cluster name).
 */
int px_schema_cluster_sql(size_t i, size_t part, int current, const char *db,
    const char *cluster, char *buf, size_t len);

/* The newest migration version this binary knows. */
unsigned px_schema_latest(void);

#endif
