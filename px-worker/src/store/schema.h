/*
 * Versioned ClickHouse schema migrations, applied at start.  Each applied
 * version is recorded in <db>.schema_migrations; a migration is written so
 * that it runs on Debian's ClickHouse 18.16 and on current releases (no
 * DateTime64, no JSON type, no LowCardinality).
 */
#ifndef PX_SCHEMA_H
#define PX_SCHEMA_H

#include <stddef.h>

#include "clickhouse.h"

/* Create the database and apply every migration not yet applied.  0, or
 * -1 with the failing statement's error in err; *retry says whether the
 * failure may pass (ClickHouse unreachable). */
int px_schema_migrate(px_clickhouse_t *ch, const char *db, int *retry,
    char *err, size_t errlen);

/*
 * PX_IP_RETENTION_DAYS: a TTL on the events' ip column, so ClickHouse
 * empties the raw address `days` after received_at (geo and the other
 * columns stay).  Applied at start when it differs from the table's;
 * days <= 0 leaves the column as it is.  Column TTLs need ClickHouse 19.6
 * or later: on an older server this fails, saying so.  0, or -1 with err.
 */
int px_schema_ip_retention(px_clickhouse_t *ch, const char *db, long days,
    char *err, size_t errlen);

/* The newest migration version this binary knows. */
unsigned px_schema_latest(void);

#endif
