/*
 * px-schema-sql: print the statements of px-worker's ClickHouse migrations,
 * as the worker runs them, for scripts that build the same tables
 * elsewhere (bench/schema_bench.py).
 *
 *   px-schema-sql [--current] [--cluster CLUSTER] DATABASE
 *
 * --current: the form a server of 21.8 or later gets (docs/clickhouse.md);
 * without it, the 18.16 form.  --cluster: the statements of cluster mode
 * (PX_CLICKHOUSE_CLUSTER): replicated local tables and Distributed tables
 * ON CLUSTER.  One statement per line.
 * Exit status: 0, or 2 on bad arguments.
 */
#include <stdio.h>
#include <string.h>

#include "schema.h"

static int
usage(void)
{
    fprintf(stderr, "usage: px-schema-sql [--current] [--cluster CLUSTER] "
            "DATABASE\n");
    return 2;
}

int
main(int argc, char **argv)
{
    int          a, rc, current = 0;
    char         sql[8192];
    size_t       i, part, n = 0;
    const char  *cluster = "";

    for (a = 1; a < argc - 1; a++) {
        if (strcmp(argv[a], "--current") == 0) {
            current = 1;
        } else if (strcmp(argv[a], "--cluster") == 0 && a + 1 < argc - 1) {
            cluster = argv[++a];
        } else {
            return usage();
        }
    }
    if (a != argc - 1) {
        return usage();
    }

    for (i = 0; ; i++) {
        for (part = 0; ; part++) {
            rc = px_schema_cluster_sql(i, part, current, argv[a], cluster,
                                       sql, sizeof(sql));
            if (rc != 0) {
                break;
            }
            printf("%s\n", sql);
            n++;
        }
        if (rc < 0) {
            break;
        }
    }

    if (n == 0) {
        fprintf(stderr, "px-schema-sql: bad database or cluster name\n");
        return 2;
    }
    return 0;
}
