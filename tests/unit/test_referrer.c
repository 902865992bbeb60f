/*
 * Unit tests for px-worker/src/enrich/referrer.c.
 */
#include <check.h>
#include <string.h>

#include "referrer.h"

#define PAGE "https://shop.example.com/products?id=1"

static void
expect_host(const char *url, const char *want)
{
    char  host[PX_HOST_MAX];

    memset(host, 'x', sizeof(host));
    ck_assert_msg(px_url_host(url, host, sizeof(host)) == 0,
                  "no host in \"%s\"", url);
    ck_assert_msg(strcmp(host, want) == 0, "\"%s\" -> \"%s\", want \"%s\"",
                  url, host, want);
}

static void
expect_no_host(const char *url)
{
    char  host[PX_HOST_MAX];

    memset(host, 'x', sizeof(host));
    ck_assert_msg(px_url_host(url, host, sizeof(host)) == -1,
                  "\"%s\" gave host \"%s\"", url != NULL ? url : "NULL",
                  host);
    ck_assert_str_eq(host, "");
}

/* Classify `ref` against PAGE; compare type and domain. */
static void
expect_ref(const char *ref, px_referrer_type_t type, const char *domain)
{
    px_referrer_t  r;

    memset(&r, 'x', sizeof(r));
    px_referrer_classify(ref, PAGE, &r);
    ck_assert_msg(r.type == type, "\"%s\": type %s, want %s",
                  ref != NULL ? ref : "NULL",
                  px_referrer_type_name(r.type), px_referrer_type_name(type));
    ck_assert_msg(strcmp(r.domain, domain) == 0,
                  "\"%s\": domain \"%s\", want \"%s\"",
                  ref != NULL ? ref : "NULL", r.domain, domain);
}


typedef struct {
    const char  *referrer;
    const char  *domain;
} ref_case_t;

/* expect_ref() for each case, all of type `type`. */
static void
expect_refs(const ref_case_t *cases, size_t n, px_referrer_type_t type)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        expect_ref(cases[i].referrer, type, cases[i].domain);
    }
}

#define EXPECT_REFS(cases, type) \
    expect_refs(cases, sizeof(cases) / sizeof(cases[0]), type)

START_TEST(test_referrer__host_plain)
{
    expect_host("https://example.com", "example.com");
    expect_host("https://example.com/", "example.com");
    expect_host("http://example.com/a/b?c=d#e", "example.com");
    expect_host("https://example.com?q=1", "example.com");
    expect_host("https://example.com#top", "example.com");
    expect_host("https://www.example.com/", "www.example.com");
    expect_host("android-app://com.google.android.gm/",
                "com.google.android.gm");
}
END_TEST

START_TEST(test_referrer__host_case_port_userinfo)
{
    expect_host("HTTPS://WWW.Example.COM/Path", "www.example.com");
    expect_host("https://example.com:8443/x", "example.com");
    expect_host("https://example.com:/x", "example.com");
    expect_host("https://user:pa:ss@example.com/", "example.com");
    expect_host("https://a@b@example.com:80/", "example.com");
    expect_host("https://example.com/some@thing", "example.com");
    expect_host("https://example.com./", "example.com");
    expect_host("http://192.168.0.1:8080/admin", "192.168.0.1");
    expect_host("https://my_host.example.com/", "my_host.example.com");
}
END_TEST

START_TEST(test_referrer__host_ipv6_literal)
{
    expect_host("http://[2001:DB8::1]/", "[2001:db8::1]");
    expect_host("http://[2001:db8::1]:8080/x", "[2001:db8::1]");
    expect_host("http://[::ffff:1.2.3.4]", "[::ffff:1.2.3.4]");
    expect_no_host("http://[2001:db8::1/");
    expect_no_host("http://[not-an-ip]/");
    expect_no_host("http://[]/");
    expect_no_host("http://[2001:db8::1]junk/");
    expect_no_host("http://[2001:db8::1]:http/");
}
END_TEST

START_TEST(test_referrer__host_missing_scheme)
{
    expect_host("www.example.com/page", "www.example.com");
    expect_host("example.com", "example.com");
    expect_host("//cdn.example.com/lib.js", "cdn.example.com");
    expect_host("localhost:3000/x", "localhost");
    expect_host("example.com:8080", "example.com");
    expect_host("  https://example.com/  \n", "example.com");
    expect_host("https:\\\\example.com\\path", "example.com");
    expect_host("http:///example.com/", "example.com");
}
END_TEST

START_TEST(test_referrer__host_garbage)
{
    char  big[400];

    expect_no_host(NULL);
    expect_no_host("");
    expect_no_host("   ");
    expect_no_host("about:blank");
    expect_no_host("mailto:someone@example.com");
    expect_no_host("javascript:alert(1)");
    expect_no_host("data:text/html,<b>x</b>");
    expect_no_host("/relative/path");
    expect_no_host("?q=1");
    expect_no_host("https://");
    expect_no_host("https:///");
    expect_no_host("https://:80/");
    expect_no_host("https://user@/");
    expect_no_host("https://exa mple.com/");
    expect_no_host("https://exa<mple.com/");
    expect_no_host("https://example..com/");
    expect_no_host("https://.example.com/");
    expect_no_host("https://example.com:80a/");
    expect_no_host("https://%65xample.com/");
    expect_no_host("%%%$#");
    expect_no_host("\x01\x02\x03");

    /* a 300-character host is longer than DNS allows */
    memset(big, 'a', sizeof(big));
    memcpy(big, "https://", 8);
    big[308] = '\0';
    expect_no_host(big);
}
END_TEST

START_TEST(test_referrer__host_utf8_kept)
{
    /* "Bücher.example": non-ASCII bytes are kept, ASCII is lowercased */
    expect_host("https://B\xc3\xbc" "cher.example/",
                "b\xc3\xbc" "cher.example");
}
END_TEST

START_TEST(test_referrer__host_small_buffer)
{
    char  host[8];

    ck_assert_int_eq(px_url_host("https://abcdefg/", host, sizeof(host)), 0);
    ck_assert_str_eq(host, "abcdefg");
    ck_assert_int_eq(px_url_host("https://abcdefgh/", host, sizeof(host)), -1);
    ck_assert_str_eq(host, "");
    ck_assert_int_eq(px_url_host("http://[2001:db8::1]/", host,
                                 sizeof(host)), -1);
    ck_assert_str_eq(host, "");
    ck_assert_int_eq(px_url_host("https://a/", NULL, 8), -1);
}
END_TEST

START_TEST(test_referrer__direct)
{
    expect_ref(NULL, PX_REFERRER_DIRECT, "");
    expect_ref("", PX_REFERRER_DIRECT, "");
    expect_ref("  ", PX_REFERRER_DIRECT, "");
    expect_ref("about:blank", PX_REFERRER_DIRECT, "");
    expect_ref("garbage with spaces", PX_REFERRER_DIRECT, "");
}
END_TEST

START_TEST(test_referrer__internal)
{
    px_referrer_t  r;

    expect_ref("https://shop.example.com/cart", PX_REFERRER_INTERNAL,
               "shop.example.com");
    expect_ref("http://SHOP.example.com:8080/", PX_REFERRER_INTERNAL,
               "shop.example.com");
    expect_ref("https://www.shop.example.com/", PX_REFERRER_INTERNAL,
               "shop.example.com");
    /* another subdomain of the same site is not the same host */
    expect_ref("https://blog.example.com/", PX_REFERRER_OTHER,
               "blog.example.com");

    /* www on the page side only */
    px_referrer_classify("https://example.org/a", "https://www.example.org/b",
                         &r);
    ck_assert_int_eq(r.type, PX_REFERRER_INTERNAL);
    ck_assert_str_eq(r.domain, "example.org");

    /* a search engine's own pages are internal to it */
    px_referrer_classify("https://www.google.com/a", "https://google.com/b",
                         &r);
    ck_assert_int_eq(r.type, PX_REFERRER_INTERNAL);

    /* no usable page URL: not internal */
    px_referrer_classify("https://example.org/", NULL, &r);
    ck_assert_int_eq(r.type, PX_REFERRER_OTHER);
    px_referrer_classify("https://example.org/", "about:blank", &r);
    ck_assert_int_eq(r.type, PX_REFERRER_OTHER);
}
END_TEST

static const ref_case_t search_cases[] = {
    { "https://www.google.com/", "google.com" },
    { "https://www.google.co.uk/search?q=x", "google.co.uk" },
    { "https://google.com.br/", "google.com.br" },
    { "https://images.google.de/", "images.google.de" },
    { "https://www.bing.com/search?q=px", "bing.com" },
    { "https://cn.bing.com/", "cn.bing.com" },
    { "https://duckduckgo.com/", "duckduckgo.com" },
    { "https://search.yahoo.com/", "search.yahoo.com" },
    { "https://search.yahoo.co.jp/", "search.yahoo.co.jp" },
    { "https://yandex.ru/search/", "yandex.ru" },
    { "https://yandex.com.tr/", "yandex.com.tr" },
    { "https://www.baidu.com/link?url=x", "baidu.com" },
    { "https://www.ecosia.org/", "ecosia.org" },
    { "https://search.brave.com/", "search.brave.com" },
    /* the Google app on Android */
    /* the Google app on Android */
    { "android-app://com.google.android.googlequicksearchbox/",
      "com.google.android.googlequicksearchbox" },
};

START_TEST(test_referrer__search)
{
    EXPECT_REFS(search_cases, PX_REFERRER_SEARCH);
}
END_TEST

static const ref_case_t social_cases[] = {
    { "https://www.facebook.com/", "facebook.com" },
    { "https://l.facebook.com/l.php?u=x", "l.facebook.com" },
    { "https://m.facebook.com/", "m.facebook.com" },
    { "https://t.co/abc", "t.co" },
    { "https://twitter.com/", "twitter.com" },
    { "https://x.com/user", "x.com" },
    { "https://www.linkedin.com/", "linkedin.com" },
    { "https://lnkd.in/xyz", "lnkd.in" },
    { "https://old.reddit.com/r/c", "old.reddit.com" },
    { "https://www.instagram.com/", "instagram.com" },
    { "https://www.youtube.com/watch?v=1", "youtube.com" },
    { "https://www.pinterest.com/", "pinterest.com" },
    { "https://pinterest.co.uk/", "pinterest.co.uk" },
    { "https://www.tiktok.com/", "tiktok.com" },
    { "https://news.ycombinator.com/item?id=1", "news.ycombinator.com" },
};

START_TEST(test_referrer__social)
{
    EXPECT_REFS(social_cases, PX_REFERRER_SOCIAL);
}
END_TEST

static const ref_case_t other_cases[] = {
    { "https://example.org/post", "example.org" },
    /* rules match whole labels only */
    { "https://notgoogle.com/", "notgoogle.com" },
    { "https://google.evil.example/", "google.evil.example" },
    { "https://mybing.com/", "mybing.com" },
    { "https://box.com/", "box.com" },
    { "https://t.company.com/", "t.company.com" },
    { "https://facebook.com.evil.example/", "facebook.com.evil.example" },
    { "https://ycombinator.com/", "ycombinator.com" },
    { "http://[2001:db8::1]/", "[2001:db8::1]" },
    /* "www." is kept when no dot would remain */
    { "https://www.localhost/", "www.localhost" },
};

START_TEST(test_referrer__other_and_lookalikes)
{
    EXPECT_REFS(other_cases, PX_REFERRER_OTHER);
}
END_TEST

START_TEST(test_referrer__type_names)
{
    ck_assert_str_eq(px_referrer_type_name(PX_REFERRER_DIRECT), "direct");
    ck_assert_str_eq(px_referrer_type_name(PX_REFERRER_INTERNAL), "internal");
    ck_assert_str_eq(px_referrer_type_name(PX_REFERRER_SEARCH), "search");
    ck_assert_str_eq(px_referrer_type_name(PX_REFERRER_SOCIAL), "social");
    ck_assert_str_eq(px_referrer_type_name(PX_REFERRER_OTHER), "other");
    ck_assert_str_eq(px_referrer_type_name((px_referrer_type_t) 42), "");
}
END_TEST

Suite *
make_suite_referrer(void)
{
    Suite  *s = suite_create("referrer");
    TCase  *tc;

    tc = tcase_create("host");
    tcase_add_test(tc, test_referrer__host_plain);
    tcase_add_test(tc, test_referrer__host_case_port_userinfo);
    tcase_add_test(tc, test_referrer__host_ipv6_literal);
    tcase_add_test(tc, test_referrer__host_missing_scheme);
    tcase_add_test(tc, test_referrer__host_garbage);
    tcase_add_test(tc, test_referrer__host_utf8_kept);
    tcase_add_test(tc, test_referrer__host_small_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("classify");
    tcase_add_test(tc, test_referrer__direct);
    tcase_add_test(tc, test_referrer__internal);
    tcase_add_test(tc, test_referrer__search);
    tcase_add_test(tc, test_referrer__social);
    tcase_add_test(tc, test_referrer__other_and_lookalikes);
    tcase_add_test(tc, test_referrer__type_names);
    suite_add_tcase(s, tc);
    return s;
}
