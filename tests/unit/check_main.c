/*
 * The one Check driver: runs the suite of every tests/unit/test_<name>.c
 * (the Makefile lists them in suites.h).  `check_px NAME ...` runs only
 * those suites.  Under valgrind, run with CK_FORK=no so that leaks are
 * seen in one process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#define PX_SUITE(name) Suite *make_suite_##name(void);
#include "suites.h"
#undef PX_SUITE

typedef struct {
    const char   *name;
    Suite      *(*make)(void);
} px_suite_entry_t;

static const px_suite_entry_t  px_suites[] = {
#define PX_SUITE(name) { #name, make_suite_##name },
#include "suites.h"
#undef PX_SUITE
};

static int
px_wanted(const char *name, int argc, char **argv)
{
    int  i;

    if (argc < 2) {
        return 1;
    }

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}

int
main(int argc, char **argv)
{
    int       failed;
    size_t    i;
    SRunner  *sr = NULL;

    for (i = 0; i < sizeof(px_suites) / sizeof(px_suites[0]); i++) {
        if (!px_wanted(px_suites[i].name, argc, argv)) {
            continue;
        }

        if (sr == NULL) {
            sr = srunner_create(px_suites[i].make());
        } else {
            srunner_add_suite(sr, px_suites[i].make());
        }
    }

    if (sr == NULL) {
        fprintf(stderr, "check_px: no such suite\n");
        return 2;
    }

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
