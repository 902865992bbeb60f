/*
 * ua_bench: nanoseconds per user-agent parse, uncached and through the LRU
 * cache, over the UAs of uap-core's tests/test_ua.yaml.
 *
 *   ua_bench [UAP_CORE_DIR] [ROUNDS]
 *
 * UAP_CORE_DIR defaults to $PX_UAP_CORE_DIR, then /usr/share/uap-core;
 * ROUNDS (default 5) is how many times the UA list is parsed per figure.
 * Prints figures; it asserts nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ua_cache.h"
#include "ua_suite.h"

typedef struct {
    char    **ua;
    size_t   *len;
    size_t    n;
    size_t    cap;
} ua_list_t;

static int
collect(void *ctx, const char *ua, size_t len, const char *const *expected,
    char *err, size_t errlen)
{
    ua_list_t  *l = ctx;
    size_t      ncap;
    char      **nua;
    size_t     *nlen;

    (void) expected;
    if (l->n == l->cap) {
        ncap = l->cap ? l->cap * 2 : 1024;
        nua = realloc(l->ua, ncap * sizeof(*nua));
        if (nua != NULL) {
            l->ua = nua;
        }
        nlen = realloc(l->len, ncap * sizeof(*nlen));
        if (nlen != NULL) {
            l->len = nlen;
        }
        if (nua == NULL || nlen == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        l->cap = ncap;
    }
    l->ua[l->n] = malloc(len + 1);
    if (l->ua[l->n] == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(l->ua[l->n], ua, len + 1);
    l->len[l->n++] = len;
    return 0;
}

/* Resident set size in KiB from /proc/self/status, 0 when unknown. */
static long
rss_kib(void)
{
    FILE  *f = fopen("/proc/self/status", "r");
    char   line[256];
    long   kib = 0;

    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib;
}

static double
now_ns(clockid_t clk)
{
    struct timespec  ts;

    clock_gettime(clk, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per parse over rounds x list, wall and CPU; cache NULL: uncached. */
static void
measure(const char *what, const px_ua_db_t *db, px_ua_cache_t *cache,
    const ua_list_t *l, int rounds)
{
    px_ua_t   u;
    double    w0, c0, w, c, n = (double) rounds * (double) l->n;
    size_t    i;
    int       r, bots = 0;

    w0 = now_ns(CLOCK_MONOTONIC);
    c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < l->n; i++) {
            if (cache != NULL) {
                px_ua_cache_parse(cache, l->ua[i], l->len[i], &u);
            } else {
                px_ua_parse(db, l->ua[i], l->len[i], &u);
            }
            bots += u.is_bot;
        }
    }
    w = now_ns(CLOCK_MONOTONIC) - w0;
    c = now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;

    printf("%-34s %9.0f ns/parse wall %9.0f ns/parse CPU  (%.0f parses,"
           " %d bots)\n", what, w / n, c / n, n, bots);
}

int
main(int argc, char **argv)
{
    px_ua_cache_stats_t   st;
    px_ua_cache_t        *cache;
    px_ua_db_t           *db;
    ua_list_t             l = { 0 };
    const char           *dir;
    double                t0;
    long                  rss0;
    char                  path[4096], err[512];
    size_t                i;
    int                   rounds, rc = 1;

    dir = argc > 1 ? argv[1] : getenv("PX_UAP_CORE_DIR");
    if (dir == NULL || dir[0] == '\0') {
        dir = PX_UA_SUITE_DEFAULT_DIR;
    }
    rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1) {
        rounds = 1;
    }

    snprintf(path, sizeof(path), "%s/regexes.yaml", dir);
    rss0 = rss_kib();
    t0 = now_ns(CLOCK_MONOTONIC);
    if (px_ua_db_load(path, px_ua_db_env_flags(), &db, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "ua_bench: %s\n", err);
        return 1;
    }
    printf("regexes: %zu rules, load+compile %.1f ms, %s, pattern memory"
           " %zu B, JIT code %zu B, RSS growth %ld KiB\n",
           px_ua_db_rules(db), (now_ns(CLOCK_MONOTONIC) - t0) / 1e6,
           db->all_jit ? "all JIT" : "NOT all JIT", db->code_bytes,
           db->jit_bytes, rss_kib() - rss0);

    snprintf(path, sizeof(path), "%s/%s", dir,
             px_ua_suite_file(PX_UA_LIST_BROWSER));
    if (px_ua_suite_cases(path, PX_UA_LIST_BROWSER, collect, &l, err,
                          sizeof(err)) != 0)
    {
        fprintf(stderr, "ua_bench: %s\n", err);
        goto done;
    }
    printf("UAs: %zu from %s, %d rounds\n", l.n, path, rounds);

    measure("uncached px_ua_parse", db, NULL, &l, rounds);

    if (px_ua_cache_create(db, l.n, &cache, err, sizeof(err)) != 0) {
        fprintf(stderr, "ua_bench: %s\n", err);
        goto done;
    }
    measure("cache, first pass (misses)", db, cache, &l, 1);
    measure("cache, warm (hits)", db, cache, &l, rounds * 20);
    px_ua_cache_stats(cache, &st);
    printf("cache: %zu entries of %zu B, hits %llu misses %llu\n", st.size,
           sizeof(px_ua_t), (unsigned long long) st.hits,
           (unsigned long long) st.misses);
    px_ua_cache_free(cache);
    rc = 0;

done:
    for (i = 0; i < l.n; i++) {
        free(l.ua[i]);
    }
    free(l.ua);
    free(l.len);
    px_ua_db_free(db);
    return rc;
}
