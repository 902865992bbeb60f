/*
 * ua_suite: run uap-core's own test suites (tests/test_ua.yaml, test_os.yaml,
 * test_device.yaml) against a database. Shared by the unit test, the
 * tools/uap-conformance program and bench/ua_bench.
 *
 * A case passes when every field the suite lists equals what px_ua_parse()
 * gives for that part; a null expected value matches "" (not defined).
 */
#ifndef PX_UA_SUITE_H
#define PX_UA_SUITE_H

#include <stddef.h>

#include "ua_regexes.h"

/* Where Debian's uap-core package puts the suites' directory parent. */
#define PX_UA_SUITE_DEFAULT_DIR "/usr/share/uap-core"

typedef struct {
    size_t  total;
    size_t  passed;
} px_ua_suite_result_t;

/*
 * One case of a suite: the UA and the expected fields of list `id` in
 * px_ua_list_specs order (NULL: expected not defined).
 * Return 0 to go on, -1 (with err) to stop.
 */
typedef int (*px_ua_case_pt)(void *ctx, const char *ua, size_t len,
    const char *const *expected, char *err, size_t errlen);

/* Called for each failing field of a case. */
typedef void (*px_ua_fail_pt)(void *ctx, const char *ua, const char *field,
    const char *expected, const char *got);

/* "tests/test_ua.yaml", "tests/test_os.yaml" or "tests/test_device.yaml". */
const char *px_ua_suite_file(px_ua_list_id_t id);

/*
 * Call fn for each case of the suite file at `path`, which holds cases of
 * list `id`. Returns 0, or -1 with a reason in err (file, YAML, a case with
 * no user_agent_string, fn's failure).
 */
int px_ua_suite_cases(const char *path, px_ua_list_id_t id, px_ua_case_pt fn,
    void *ctx, char *err, size_t errlen);

/*
 * Parse every case of the suite at `path` with db and count passes into
 * *res; on_fail (may be NULL) hears about each wrong field.
 * Returns 0, or -1 with a reason in err when the suite cannot be read.
 */
int px_ua_suite_run(const px_ua_db_t *db, px_ua_list_id_t id,
    const char *path, px_ua_fail_pt on_fail, void *fail_ctx,
    px_ua_suite_result_t *res, char *err, size_t errlen);

#endif /* PX_UA_SUITE_H */
