/*
 * Unit tests for px-worker/src/enrich/ip_anon.c.
 */
#include <check.h>
#include <string.h>

#include "ip_anon.h"

/* Anonymise `in` into a fresh buffer and compare with `want`. */
static void
expect(const char *in, const char *want)
{
    char  out[PX_IP_ANON_MAX];

    memset(out, 'x', sizeof(out));
    ck_assert_msg(px_ip_anon(in, out, sizeof(out)) == 0, "%s refused", in);
    ck_assert_msg(strcmp(out, want) == 0, "%s -> %s, want %s", in, out, want);
}

static void
expect_invalid(const char *in)
{
    char  out[PX_IP_ANON_MAX];

    memset(out, 'x', sizeof(out));
    ck_assert_msg(px_ip_anon(in, out, sizeof(out)) == -1, "%s accepted",
                  in != NULL ? in : "NULL");
    ck_assert_str_eq(out, "");
}

START_TEST(test_ip_anon__ipv4_last_octet)
{
    expect("81.2.69.142", "81.2.69.0");
    expect("192.168.1.255", "192.168.1.0");
    expect("10.0.0.0", "10.0.0.0");
    expect("255.255.255.255", "255.255.255.0");
    expect("0.0.0.1", "0.0.0.0");
}
END_TEST

START_TEST(test_ip_anon__ipv6_slash48)
{
    expect("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::");
    expect("2001:0DB8:85A3:FFFF::1", "2001:db8:85a3::");
    expect("2001:218::", "2001:218::");
    expect("2001:db8:1::", "2001:db8:1::");
    expect("::1", "::");
    expect("::", "::");
    expect("fe80::1:2:3:4", "fe80::");
    expect("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff::");
    /* an IPv4 tail inside a plain IPv6 address is past the /48 */
    expect("64:ff9b::81.2.69.142", "64:ff9b::");
}
END_TEST

START_TEST(test_ip_anon__ipv4_mapped)
{
    expect("::ffff:81.2.69.142", "::ffff:81.2.69.0");
    expect("::FFFF:5102:458e", "::ffff:81.2.69.0");
}
END_TEST

START_TEST(test_ip_anon__invalid)
{
    const char  *bad[] = { "", " ", "81.2.69", "81.2.69.142.7", "81.2.69.256",
                           "127.1", "0x7f.0.0.1", " 81.2.69.142",
                           "81.2.69.142 ", "81.2.69.142/24", "[::1]",
                           "2001:db8:::1", "2001:db8::g", "fe80::1%eth0",
                           "1:2:3:4:5:6:7:8:9", "localhost", "-",
                           "::ffff:1.2.3" };
    size_t       i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_invalid(bad[i]);
    }
    expect_invalid(NULL);
}
END_TEST

START_TEST(test_ip_anon__in_place)
{
    char  buf[PX_IP_ANON_MAX] = "2001:db8:85a3:8d3:1319:8a2e:370:7348";
    char  v4[16] = "203.0.113.77";
    char  bad[8] = "nope";

    ck_assert_int_eq(px_ip_anon(buf, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "2001:db8:85a3::");
    ck_assert_int_eq(px_ip_anon(v4, v4, sizeof(v4)), 0);
    ck_assert_str_eq(v4, "203.0.113.0");
    ck_assert_int_eq(px_ip_anon(bad, bad, sizeof(bad)), -1);
    ck_assert_str_eq(bad, "");
}
END_TEST

START_TEST(test_ip_anon__small_buffer)
{
    char  out[12];

    memset(out, 'x', sizeof(out));
    /* "203.0.113.0" needs 12 bytes: fits exactly */
    ck_assert_int_eq(px_ip_anon("203.0.113.77", out, 12), 0);
    ck_assert_str_eq(out, "203.0.113.0");
    ck_assert_int_eq(px_ip_anon("203.0.113.77", out, 11), -1);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(px_ip_anon("203.0.113.77", out, 0), -1);
    ck_assert_int_eq(px_ip_anon("203.0.113.77", NULL, 12), -1);
}
END_TEST

Suite *
make_suite_ip_anon(void)
{
    Suite  *s = suite_create("ip_anon");
    TCase  *tc = tcase_create("core");

    tcase_add_test(tc, test_ip_anon__ipv4_last_octet);
    tcase_add_test(tc, test_ip_anon__ipv6_slash48);
    tcase_add_test(tc, test_ip_anon__ipv4_mapped);
    tcase_add_test(tc, test_ip_anon__invalid);
    tcase_add_test(tc, test_ip_anon__in_place);
    tcase_add_test(tc, test_ip_anon__small_buffer);
    suite_add_tcase(s, tc);
    return s;
}
