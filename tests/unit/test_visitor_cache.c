/*
 * The visitor cache (px-worker/src/state/visitor_cache.c): what it keeps,
 * for which window, and that its bound holds.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "session_store.h"
#include "visitor_cache.h"

static int
put(px_vcache_t *c, const char *f, const char *v, int64_t window)
{
    return px_vcache_put(c, px_kv_hash(f, strlen(f)), v, strlen(v), window);
}

/* The value of f (min_window), or NULL. */
static const char *
get(px_vcache_t *c, const char *f, int64_t min_window)
{
    static char  out[256];
    const char  *v;
    size_t       n;
    int          rc;

    rc = px_vcache_get(c, px_kv_hash(f, strlen(f)), min_window, &v, &n);
    ck_assert_int_ge(rc, 0);
    if (rc == 0) {
        return NULL;
    }
    ck_assert_uint_lt(n, sizeof(out));
    memcpy(out, v, n);
    out[n] = '\0';
    return out;
}

START_TEST(test_visitor_cache__keeps_last_value)
{
    px_vcache_t  c;

    px_vcache_init(&c, 1 << 20);
    ck_assert_ptr_null(get(&c, "v:2:p1:a", 0));
    ck_assert_int_eq(put(&c, "v:2:p1:a", "s1 1 2 1 1", 10), 0);
    ck_assert_int_eq(put(&c, "v:2:p1:b", "s2 1 2 1 1", 10), 0);
    ck_assert_int_eq(put(&c, "v:2:p1:a", "s1 1 3 2 1", 11), 0);
    ck_assert_str_eq(get(&c, "v:2:p1:a", 10), "s1 1 3 2 1");
    ck_assert_str_eq(get(&c, "v:2:p1:b", 10), "s2 1 2 1 1");
    ck_assert_ptr_null(get(&c, "v:2:p1:c", 0));
    ck_assert_ptr_null(get(&c, "v:2:p1:", 0));
    ck_assert_uint_eq(c.hits, 2);
    ck_assert_uint_eq(c.misses, 3);

    /* a value too large to keep takes the field's older one with it */
    {
        static char  big[300 << 10];

        memset(big, 'x', sizeof(big) - 1);
        ck_assert_int_eq(put(&c, "v:2:p1:a", big, 11), 0);
        ck_assert_ptr_null(get(&c, "v:2:p1:a", 0));
    }

    px_vcache_clear(&c);
    ck_assert_ptr_null(get(&c, "v:2:p1:b", 0));
    px_vcache_free(&c);
    ck_assert_uint_eq(px_vcache_bytes(&c), 0);
}
END_TEST

START_TEST(test_visitor_cache__window)
{
    px_vcache_t  c;

    /* written in window 10: Redis has it while reads look at 10 and 9,
     * i.e. a read in window 11 (min 10); not in window 12 (min 11) */
    px_vcache_init(&c, 1 << 20);
    ck_assert_int_eq(put(&c, "v:2:p1:a", "x", 10), 0);
    ck_assert_str_eq(get(&c, "v:2:p1:a", 10), "x");
    ck_assert_ptr_null(get(&c, "v:2:p1:a", 11));
    px_vcache_free(&c);
}
END_TEST

START_TEST(test_visitor_cache__off)
{
    px_vcache_t  c;

    px_vcache_init(&c, 0);
    ck_assert_int_eq(put(&c, "v:2:p1:a", "x", 10), 0);
    ck_assert_ptr_null(get(&c, "v:2:p1:a", 0));
    ck_assert_uint_eq(px_vcache_bytes(&c), 0);
    px_vcache_free(&c);
}
END_TEST

START_TEST(test_visitor_cache__bounded_keeps_recent)
{
    px_vcache_t  c;
    char         f[64], v[128];
    unsigned     i, kept = 0;
    const size_t bound = 256 << 10;

    px_vcache_init(&c, bound);
    for (i = 0; i < 100000; i++) {
        snprintf(f, sizeof(f), "v:2:p1:visitor-%u", i);
        snprintf(v, sizeof(v), "%08u-0000-5000-8000-000000000000 "
                 "1700000000000 1700000000000 %u 1700000000000", i, i);
        ck_assert_int_eq(put(&c, f, v, 10), 0);
        /* one generation may reach its half before it is dropped: the
         * bound plus one growth of an arena and of a slot array */
        ck_assert_uint_le(px_vcache_bytes(&c), bound * 2);
    }
    ck_assert_uint_gt(c.drops, 10);

    /* the most recent ones are there (a generation holds ~900 of these
     * at this bound), the oldest gone */
    for (i = 99500; i < 100000; i++) {
        snprintf(f, sizeof(f), "v:2:p1:visitor-%u", i);
        kept += get(&c, f, 0) != NULL;
    }
    ck_assert_uint_eq(kept, 500);
    ck_assert_ptr_null(get(&c, "v:2:p1:visitor-0", 0));
    px_vcache_free(&c);
}
END_TEST

START_TEST(test_visitor_cache__hit_in_older_generation_kept)
{
    px_vcache_t  c;
    char         f[64];
    unsigned     i, drops;

    /* visitor a is read on every batch while others fill the cache:
     * each hit in the older generation copies it into the newer one, so
     * it survives every drop */
    px_vcache_init(&c, 64 << 10);
    ck_assert_int_eq(put(&c, "v:2:p1:a", "state-of-a", 10), 0);
    for (i = 0; i < 20000; i++) {
        snprintf(f, sizeof(f), "v:2:p1:other-%u", i);
        ck_assert_int_eq(put(&c, f, "0123456789012345678901234567890123456"
                             "789 1 2 3 4", 10), 0);
        if (i % 50 == 0) {
            ck_assert_str_eq(get(&c, "v:2:p1:a", 0), "state-of-a");
        }
    }
    drops = (unsigned) c.drops;
    ck_assert_uint_gt(drops, 5);
    ck_assert_str_eq(get(&c, "v:2:p1:a", 0), "state-of-a");
    px_vcache_free(&c);
}
END_TEST

Suite *
make_suite_visitor_cache(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("visitor_cache");
    tc = tcase_create("visitor_cache");
    tcase_add_test(tc, test_visitor_cache__keeps_last_value);
    tcase_add_test(tc, test_visitor_cache__window);
    tcase_add_test(tc, test_visitor_cache__off);
    tcase_add_test(tc, test_visitor_cache__bounded_keeps_recent);
    tcase_add_test(tc, test_visitor_cache__hit_in_older_generation_kept);
    suite_add_tcase(s, tc);
    return s;
}
