/*
 * uap-conformance: print how much of uap-core's own test suites px-worker's
 * user-agent parser passes.
 *
 *   uap-conformance [-v] [UAP_CORE_DIR]
 *
 * UAP_CORE_DIR defaults to $PX_UAP_CORE_DIR, then /usr/share/uap-core; it
 * holds regexes.yaml and tests/. -v lists every failing field.
 * Exit status: 0 when every suite passes fully, 1 when some case fails,
 * 2 when a file cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ua_parse.h"
#include "ua_suite.h"

static void
print_fail(void *ctx, const char *ua, const char *field, const char *expected,
    const char *got)
{
    (void) ctx;
    printf("  FAIL %s: want \"%s\" got \"%s\" for: %s\n", field,
           expected ? expected : "", got, ua);
}

int
main(int argc, char **argv)
{
    px_ua_suite_result_t   res;
    px_ua_db_t            *db;
    const char            *dir;
    struct timespec        t0, t1;
    char                   path[4096], err[512];
    size_t                 l;
    int                    verbose = 0, argi = 1, status = 0;

    if (argi < argc && strcmp(argv[argi], "-v") == 0) {
        verbose = 1;
        argi++;
    }
    dir = argi < argc ? argv[argi] : getenv("PX_UAP_CORE_DIR");
    if (dir == NULL || dir[0] == '\0') {
        dir = PX_UA_SUITE_DEFAULT_DIR;
    }

    snprintf(path, sizeof(path), "%s/regexes.yaml", dir);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (px_ua_db_load(path, px_ua_db_env_flags(), &db, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "uap-conformance: %s\n", err);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s: %zu rules, %s, compiled %zu bytes + JIT %zu bytes,"
           " loaded in %.0f ms\n", path, px_ua_db_rules(db),
           db->all_jit ? "all JIT" : "NOT all JIT", db->code_bytes,
           db->jit_bytes, (t1.tv_sec - t0.tv_sec) * 1e3
           + (t1.tv_nsec - t0.tv_nsec) / 1e6);

    for (l = 0; l < PX_UA_LIST_COUNT; l++) {
        snprintf(path, sizeof(path), "%s/%s", dir,
                 px_ua_suite_file((px_ua_list_id_t) l));
        if (px_ua_suite_run(db, (px_ua_list_id_t) l, path,
                            verbose ? print_fail : NULL, NULL, &res, err,
                            sizeof(err)) != 0)
        {
            fprintf(stderr, "uap-conformance: %s\n", err);
            status = 2;
            break;
        }
        printf("%-24s %6zu / %6zu passed (%.2f%%)\n",
               px_ua_suite_file((px_ua_list_id_t) l), res.passed, res.total,
               res.total ? 100.0 * res.passed / res.total : 0.0);
        if (res.passed != res.total) {
            status = 1;
        }
    }

    px_ua_db_free(db);
    return status;
}
