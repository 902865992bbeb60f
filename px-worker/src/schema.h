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

/* The newest migration version this binary knows. */
unsigned px_schema_latest(void);

#endif
