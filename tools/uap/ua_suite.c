/*
 * ua_suite: uap-core test suites over px_ua_parse(). See ua_suite.h.
 */
#include "ua_suite.h"
#include "ua_parse.h"
#include "ua_yaml.h"

#include <stdio.h>
#include <string.h>

/* Suite keys, in the field order of px_ua_list_specs. */
static const char *const suite_keys[PX_UA_LIST_COUNT][PX_UA_MAX_FIELDS] = {
    { "family", "major", "minor", "patch", NULL },
    { "family", "major", "minor", "patch", "patch_minor" },
    { "family", "brand", "model", NULL, NULL },
};

static const char *const suite_files[PX_UA_LIST_COUNT] = {
    "tests/test_ua.yaml", "tests/test_os.yaml", "tests/test_device.yaml"
};

typedef struct {
    px_ua_list_id_t   id;
    px_ua_case_pt     fn;
    void             *ctx;
} cases_ctx_t;

typedef struct {
    const px_ua_db_t      *db;
    px_ua_list_id_t        id;
    px_ua_fail_pt          on_fail;
    void                  *fail_ctx;
    px_ua_suite_result_t  *res;
} run_ctx_t;

const char *
px_ua_suite_file(px_ua_list_id_t id)
{
    return suite_files[id];
}

static int
one_case(void *ctx, const char *const *values, const size_t *lens,
    unsigned long line, char *err, size_t errlen)
{
    cases_ctx_t  *cc = ctx;

    if (values[0] == NULL) {
        snprintf(err, errlen, "line %lu: case without user_agent_string",
                 line);
        return -1;
    }
    return cc->fn(cc->ctx, values[0], lens[0], values + 1, err, errlen);
}

int
px_ua_suite_cases(const char *path, px_ua_list_id_t id, px_ua_case_pt fn,
    void *ctx, char *err, size_t errlen)
{
    const char    *keys[1 + PX_UA_MAX_FIELDS];
    px_ua_yaml_t  *y;
    cases_ctx_t    cc = { id, fn, ctx };
    size_t         i, n = px_ua_list_specs[id].nfields;
    int            rc;

    if (px_ua_yaml_load(path, &y, err, errlen) != 0) {
        return -1;
    }
    keys[0] = "user_agent_string";
    for (i = 0; i < n; i++) {
        keys[1 + i] = suite_keys[id][i];
    }

    rc = px_ua_yaml_records(y, "test_cases", keys, 1 + n, one_case, &cc,
                            err, errlen);
    px_ua_yaml_free(y);
    return rc;
}

static int
check_case(void *ctx, const char *ua, size_t len, const char *const *expected,
    char *err, size_t errlen)
{
    run_ctx_t   *rc = ctx;
    const char  *want;
    char        *got[PX_UA_MAX_FIELDS];
    size_t       cap[PX_UA_MAX_FIELDS], i, n;
    px_ua_t      u;
    int          ok = 1;

    if (px_ua_parse(rc->db, ua, len, &u) != 0) {
        snprintf(err, errlen, "out of memory while parsing");
        return -1;
    }
    n = px_ua_fields(&u, rc->id, got, cap);

    for (i = 0; i < n; i++) {
        want = expected[i] != NULL ? expected[i] : "";
        if (strcmp(want, got[i]) != 0) {
            ok = 0;
            if (rc->on_fail != NULL) {
                rc->on_fail(rc->fail_ctx, ua, suite_keys[rc->id][i],
                            expected[i], got[i]);
            }
        }
    }

    rc->res->total++;
    rc->res->passed += ok;
    return 0;
}

int
px_ua_suite_run(const px_ua_db_t *db, px_ua_list_id_t id, const char *path,
    px_ua_fail_pt on_fail, void *fail_ctx, px_ua_suite_result_t *res,
    char *err, size_t errlen)
{
    run_ctx_t  rc = { db, id, on_fail, fail_ctx, res };

    res->total = 0;
    res->passed = 0;
    return px_ua_suite_cases(path, id, check_case, &rc, err, errlen);
}
