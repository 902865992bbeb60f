/*
 * enrich_bench: cost of the enrichment steps of px-worker, single thread.
 *
 *   enrich_bench [GEOIP_DIR] [ITERATIONS]
 *
 * GEOIP_DIR defaults to $PX_GEOIP_TESTDATA and must hold
 * GeoIP2-City-Test.mmdb and GeoLite2-ASN-Test.mmdb (or real databases under
 * those names). Prints ns per geo lookup (addresses with a record, and
 * random addresses), per referrer + UTM parse, and per IP anonymisation.
 * A figure, not a test: nothing is asserted on timings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geo.h"
#include "ip_anon.h"
#include "referrer.h"
#include "utm.h"

#define RANDOM_IPS 4096

typedef struct {
    const char  *referrer;
    const char  *page;
} visit_t;

static const char *const known_ips[] = {
    "81.2.69.142", "2001:218::", "89.160.20.112", "216.160.83.56",
    "1.128.0.1", "2600:6000::1", "::ffff:81.2.69.160", "2a02:d040::1",
};

static const visit_t visits[] = {
    { "https://www.google.com/",
      "https://shop.example.com/?utm_source=google&utm_medium=cpc"
      "&utm_campaign=spring_sale&gclid=EAIaIQobChMI8f3k2b_x" },
    { "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example.com",
      "https://shop.example.com/p/42?fbclid=IwAR2xYz-abc_123"
      "&utm_source=facebook&utm_medium=social" },
    { "", "https://shop.example.com/" },
    { "https://shop.example.com/cart", "https://shop.example.com/checkout" },
    { "https://news.ycombinator.com/item?id=123456",
      "https://blog.example.com/post/why-px#comments" },
    { "https://www.bing.com/search?q=event+tracking",
      "https://shop.example.com/search?q=shoes&utm_term=running%20shoes"
      "&msclkid=5a1b2c3d4e" },
    { "android-app://com.google.android.gm/",
      "https://shop.example.com/?utm_source=newsletter&utm_medium=email"
      "&utm_campaign=2024-05&utm_content=hero%2Bbutton" },
    { "https://t.co/AbCdEf", "https://shop.example.com/p/7" },
};

static uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* xorshift64: reproducible addresses without libc rand(). */
static uint64_t
next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Fill `ips` with random IPv4 (3 in 4) and IPv6 addresses as text. */
static void
make_random_ips(char ips[][PX_IP_ANON_MAX], size_t n)
{
    uint64_t  s = 0x9e3779b97f4a7c15u, r;
    size_t    i;

    for (i = 0; i < n; i++) {
        r = next_rand(&s);
        if (i % 4 != 3) {
            snprintf(ips[i], PX_IP_ANON_MAX, "%u.%u.%u.%u",
                     (unsigned) (r >> 24) & 0xff, (unsigned) (r >> 16) & 0xff,
                     (unsigned) (r >> 8) & 0xff, (unsigned) r & 0xff);
        } else {
            snprintf(ips[i], PX_IP_ANON_MAX, "2%03x:%x:%x::%x",
                     (unsigned) (r >> 48) & 0xfff,
                     (unsigned) (r >> 32) & 0xffff,
                     (unsigned) (r >> 16) & 0xffff, (unsigned) r & 0xffff);
        }
    }
}

/* ns per geo lookup over `ips` (cycled); counts records found in *found. */
static double
bench_geo(const px_geo_t *geo, const char *const *ips, size_t nips,
    long iterations, long *found)
{
    px_geo_result_t  r;
    uint64_t         t0;
    long             i;

    *found = 0;
    t0 = now_ns();
    for (i = 0; i < iterations; i++) {
        px_geo_lookup(geo, ips[(size_t) i % nips], &r);
        *found += r.loc.found || r.as.found;
    }
    return (double) (now_ns() - t0) / (double) iterations;
}

static double
bench_referrer_utm(long iterations, long *checksum)
{
    size_t         n = sizeof(visits) / sizeof(visits[0]);
    px_referrer_t  ref;
    px_utm_t       utm;
    uint64_t       t0;
    long           i;
    const visit_t *v;

    *checksum = 0;
    t0 = now_ns();
    for (i = 0; i < iterations; i++) {
        v = &visits[(size_t) i % n];
        px_referrer_classify(v->referrer, v->page, &ref);
        *checksum += (long) ref.type + px_utm_parse(v->page, &utm);
    }
    return (double) (now_ns() - t0) / (double) iterations;
}

static double
bench_ip_anon(const char *const *ips, size_t nips, long iterations,
    long *checksum)
{
    char      out[PX_IP_ANON_MAX];
    uint64_t  t0;
    long      i;

    *checksum = 0;
    t0 = now_ns();
    for (i = 0; i < iterations; i++) {
        *checksum += px_ip_anon(ips[(size_t) i % nips], out, sizeof(out))
                     + out[0];
    }
    return (double) (now_ns() - t0) / (double) iterations;
}

int
main(int argc, char **argv)
{
    static char   random_ips[RANDOM_IPS][PX_IP_ANON_MAX];
    const char   *random_ptrs[RANDOM_IPS];
    const char   *dir = argc > 1 ? argv[1] : getenv("PX_GEOIP_TESTDATA");
    long          iterations = argc > 2 ? atol(argv[2]) : 1000000;
    char          city[1024], asn[1024], err[512];
    px_geo_t     *geo;
    long          found, sum;
    size_t        nknown = sizeof(known_ips) / sizeof(known_ips[0]), i;
    double        ns;

    if (dir == NULL || dir[0] == '\0' || iterations <= 0) {
        fprintf(stderr, "usage: enrich_bench GEOIP_DIR [ITERATIONS] "
                "(or set PX_GEOIP_TESTDATA)\n");
        return 2;
    }
    if ((size_t) snprintf(city, sizeof(city), "%s/GeoIP2-City-Test.mmdb",
                          dir) >= sizeof(city)
        || (size_t) snprintf(asn, sizeof(asn), "%s/GeoLite2-ASN-Test.mmdb",
                             dir) >= sizeof(asn))
    {
        fprintf(stderr, "enrich_bench: GEOIP_DIR is too long\n");
        return 2;
    }
    if (px_geo_open(&geo, city, asn, err, sizeof(err)) != 0) {
        fprintf(stderr, "enrich_bench: %s\n", err);
        return 1;
    }

    make_random_ips(random_ips, RANDOM_IPS);
    for (i = 0; i < RANDOM_IPS; i++) {
        random_ptrs[i] = random_ips[i];
    }

    printf("enrich_bench: %ld iterations each, one thread, databases in %s\n",
           iterations, dir);

    ns = bench_geo(geo, known_ips, nknown, iterations, &found);
    printf("geo lookup, City+ASN, addresses with a record : %8.1f ns"
           "  (%ld found)\n", ns, found);
    ns = bench_geo(geo, random_ptrs, RANDOM_IPS, iterations, &found);
    printf("geo lookup, City+ASN, random v4/v6 addresses  : %8.1f ns"
           "  (%ld found)\n", ns, found);

    ns = bench_referrer_utm(iterations, &sum);
    printf("referrer classify + utm parse, per event      : %8.1f ns"
           "  (checksum %ld)\n", ns, sum);

    ns = bench_ip_anon(random_ptrs, RANDOM_IPS, iterations, &sum);
    printf("ip anonymisation                              : %8.1f ns"
           "  (checksum %ld)\n", ns, sum);

    px_geo_close(geo);
    return 0;
}
