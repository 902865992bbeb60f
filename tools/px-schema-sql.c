/*
 * px-schema-sql: print the statements of px-worker's ClickHouse migrations,
 * as the worker runs them, for scripts that build the same tables
 * elsewhere (bench/schema_bench.py).
 *
 *   px-schema-sql [--current] DATABASE
 *
 * --current: the form a server of 21.8 or later gets (docs/clickhouse.md);
 * without it, the 18.16 form.  One statement per line.
 * Exit status: 0, or 2 on bad arguments.
 */
#include <stdio.h>
#include <string.h>

#include "schema.h"

int
main(int argc, char **argv)
{
    int     current = 0;
    char    sql[8192];
    size_t  i;

    if (argc == 3 && strcmp(argv[1], "--current") == 0) {
        current = 1;
    } else if (argc != 2) {
        fprintf(stderr, "usage: px-schema-sql [--current] DATABASE\n");
        return 2;
    }

    for (i = 0; px_schema_sql(i, current, argv[argc - 1], sql, sizeof(sql))
                == 0; i++)
    {
        printf("%s\n", sql);
    }

    if (i == 0) {
        fprintf(stderr, "px-schema-sql: bad database name\n");
        return 2;
    }
    return 0;
}
