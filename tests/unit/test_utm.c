/*
 * Unit tests for px-worker/src/enrich/utm.c.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "utm.h"

static px_utm_t  u;

static void
parse(const char *url, int want_found)
{
    memset(&u, 'x', sizeof(u));
    ck_assert_int_eq(px_utm_parse(url, &u), want_found);
}

static void
expect_all_empty(void)
{
    ck_assert_str_eq(u.source, "");
    ck_assert_str_eq(u.medium, "");
    ck_assert_str_eq(u.campaign, "");
    ck_assert_str_eq(u.term, "");
    ck_assert_str_eq(u.content, "");
    ck_assert_str_eq(u.click_id_type, "");
    ck_assert_str_eq(u.click_id, "");
}

START_TEST(test_utm__all_five)
{
    parse("https://example.com/p?utm_source=newsletter&utm_medium=email"
          "&utm_campaign=spring_sale&utm_term=running+shoes"
          "&utm_content=header_link", 5);
    ck_assert_str_eq(u.source, "newsletter");
    ck_assert_str_eq(u.medium, "email");
    ck_assert_str_eq(u.campaign, "spring_sale");
    ck_assert_str_eq(u.term, "running shoes");
    ck_assert_str_eq(u.content, "header_link");
    ck_assert_str_eq(u.click_id_type, "");
    ck_assert_str_eq(u.click_id, "");
}
END_TEST

START_TEST(test_utm__click_ids)
{
    const char  *names[] = { "gclid", "fbclid", "msclkid", "ttclid",
                             "twclid", "li_fat_id", "dclid" };
    char         url[128];
    size_t       i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(url, sizeof(url), "https://e.com/?a=1&%s=Ab-12_x&b=2",
                 names[i]);
        parse(url, 1);
        ck_assert_str_eq(u.click_id_type, names[i]);
        ck_assert_str_eq(u.click_id, "Ab-12_x");
        ck_assert_str_eq(u.source, "");
    }

    /* one pair: the first click id in the URL wins */
    parse("https://e.com/?fbclid=F1&gclid=G1&utm_source=fb", 2);
    ck_assert_str_eq(u.click_id_type, "fbclid");
    ck_assert_str_eq(u.click_id, "F1");
    ck_assert_str_eq(u.source, "fb");
}
END_TEST

START_TEST(test_utm__percent_and_plus)
{
    parse("https://e.com/?utm_campaign=50%25%20off%2Bmore+now"
          "&utm_term=caf%C3%A9&utm_content=%e2%82%ac", 3);
    ck_assert_str_eq(u.campaign, "50% off+more now");
    ck_assert_str_eq(u.term, "caf\xc3\xa9");
    ck_assert_str_eq(u.content, "\xe2\x82\xac");

    /* a '%' without two hex digits stays as it is */
    parse("https://e.com/?utm_source=100%&utm_medium=%zz&utm_term=%4", 3);
    ck_assert_str_eq(u.source, "100%");
    ck_assert_str_eq(u.medium, "%zz");
    ck_assert_str_eq(u.term, "%4");

    /* encoded separators belong to the value */
    parse("https://e.com/?utm_source=a%26utm_medium%3Db", 1);
    ck_assert_str_eq(u.source, "a&utm_medium=b");
    ck_assert_str_eq(u.medium, "");

    /* raw UTF-8 passes through */
    parse("https://e.com/?utm_source=\xc3\xa9t\xc3\xa9", 1);
    ck_assert_str_eq(u.source, "\xc3\xa9t\xc3\xa9");
}
END_TEST

START_TEST(test_utm__invalid_bytes_and_nul)
{
    parse("https://e.com/?utm_source=a%00b&utm_medium=%FF%FEx"
          "&utm_term=%C3&utm_content=%ED%A0%80", 4);
    ck_assert_str_eq(u.source, "ab");
    ck_assert_str_eq(u.medium, "??x");
    ck_assert_str_eq(u.term, "?");           /* lone lead byte */
    ck_assert_str_eq(u.content, "???");      /* surrogate, not UTF-8 */
}
END_TEST

START_TEST(test_utm__fragment_ignored)
{
    parse("https://e.com/p?utm_source=q#utm_medium=frag", 1);
    ck_assert_str_eq(u.source, "q");
    ck_assert_str_eq(u.medium, "");

    parse("https://e.com/#/route?utm_source=spa", 0);
    expect_all_empty();

    parse("https://e.com/p?utm_source=a#x?utm_medium=b", 1);
    ck_assert_str_eq(u.medium, "");
}
END_TEST

START_TEST(test_utm__repeated_first_wins)
{
    parse("https://e.com/?utm_source=first&utm_source=second", 1);
    ck_assert_str_eq(u.source, "first");

    /* also when the first is empty */
    parse("https://e.com/?utm_source=&utm_source=second", 1);
    ck_assert_str_eq(u.source, "");

    /* case-insensitive and encoded names are the same name */
    parse("https://e.com/?UTM_Source=upper&utm_source=lower", 1);
    ck_assert_str_eq(u.source, "upper");
    parse("https://e.com/?utm%5Fsource=enc&utm_source=plain", 1);
    ck_assert_str_eq(u.source, "enc");
}
END_TEST

START_TEST(test_utm__bounded_length)
{
    char    url[2048];
    size_t  i, n;

    n = (size_t) snprintf(url, sizeof(url), "https://e.com/?utm_source=");
    for (i = 0; i < 600; i++) {
        url[n++] = 'a';
    }
    memcpy(url + n, "&utm_medium=m", sizeof("&utm_medium=m"));
    parse(url, 2);
    ck_assert_uint_eq(strlen(u.source), PX_UTM_VALUE_MAX - 1);
    ck_assert_str_eq(u.medium, "m");

    /* a cut never splits a character: 254 'a' + "é" (2 bytes) */
    n = (size_t) snprintf(url, sizeof(url), "https://e.com/?utm_term=");
    for (i = 0; i < PX_UTM_VALUE_MAX - 2; i++) {
        url[n++] = 'a';
    }
    memcpy(url + n, "%C3%A9", sizeof("%C3%A9"));
    parse(url, 1);
    ck_assert_uint_eq(strlen(u.term), PX_UTM_VALUE_MAX - 2);
    ck_assert_int_eq(u.term[PX_UTM_VALUE_MAX - 3], 'a');

    /* exactly full: 253 'a' + "é" fits */
    n = (size_t) snprintf(url, sizeof(url), "https://e.com/?utm_term=");
    for (i = 0; i < PX_UTM_VALUE_MAX - 3; i++) {
        url[n++] = 'a';
    }
    memcpy(url + n, "%C3%A9", sizeof("%C3%A9"));
    parse(url, 1);
    ck_assert_uint_eq(strlen(u.term), PX_UTM_VALUE_MAX - 1);
    ck_assert_str_eq(u.term + PX_UTM_VALUE_MAX - 3, "\xc3\xa9");
}
END_TEST

START_TEST(test_utm__odd_queries)
{
    parse("https://e.com/page", 0);
    expect_all_empty();
    parse("https://e.com/page?", 0);
    expect_all_empty();
    parse("", 0);
    expect_all_empty();
    parse(NULL, 0);
    expect_all_empty();
    ck_assert_int_eq(px_utm_parse("https://e.com/?utm_source=x", NULL), 0);

    /* empty pairs, a name without '=', unknown and near-miss names */
    parse("https://e.com/?&&utm_medium&utm_sourc=x&xutm_source=y"
          "&utm_source_x=z&gclidx=1&=v&utm_campaign=c=d&", 2);
    ck_assert_str_eq(u.medium, "");
    ck_assert_str_eq(u.source, "");
    ck_assert_str_eq(u.click_id, "");
    ck_assert_str_eq(u.campaign, "c=d");

    /* a very long parameter name is skipped */
    parse("https://e.com/?utm_sourceeeeeeeeeeeeeeeeeeeeeeeeeeeeee=x"
          "&utm_source=ok", 1);
    ck_assert_str_eq(u.source, "ok");

    /* only the query string, as some callers keep it */
    parse("?utm_source=qs", 1);
    ck_assert_str_eq(u.source, "qs");
}
END_TEST

Suite *
make_suite_utm(void)
{
    Suite  *s = suite_create("utm");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, test_utm__all_five);
    tcase_add_test(tc, test_utm__click_ids);
    tcase_add_test(tc, test_utm__percent_and_plus);
    tcase_add_test(tc, test_utm__invalid_bytes_and_nul);
    tcase_add_test(tc, test_utm__fragment_ignored);
    tcase_add_test(tc, test_utm__repeated_first_wins);
    tcase_add_test(tc, test_utm__bounded_length);
    tcase_add_test(tc, test_utm__odd_queries);
    suite_add_tcase(s, tc);
    return s;
}
