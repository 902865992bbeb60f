/*
 * Unit tests of the user agent parser: ua_regexes, ua_parse, ua_cache.
 *
 * Uses uap-core's regexes.yaml from $PX_UAP_CORE_DIR (default
 * /usr/share/uap-core) and small hand-written regexes files in /tmp.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ua_cache.h"
#include "ua_parse.h"
#include "ua_regexes.h"

#define CHROME_WIN  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) " \
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 " \
    "Safari/537.36"
#define IPHONE      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS " \
    "X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 " \
    "Mobile/15E148 Safari/604.1"
#define IPAD        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) " \
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 " \
    "Safari/604.1"
#define GOOGLEBOT   "Mozilla/5.0 (compatible; Googlebot/2.1; " \
    "+http://www.google.com/bot.html)"
#define ANDROID_TAB "Mozilla/5.0 (Linux; Android 11; SM-T510) " \
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"
#define MAC_FIREFOX "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0)" \
    " Gecko/20100101 Firefox/121.0"

static px_ua_db_t  *db;
static char         tmp_path[64];

/* ---- fixtures and helpers ---- */

static px_ua_db_t *
load_uap_core_with(unsigned flags)
{
    px_ua_db_t  *d;
    const char  *dir = getenv("PX_UAP_CORE_DIR");
    char         path[4096], err[512];

    if (dir == NULL || dir[0] == '\0') {
        dir = "/usr/share/uap-core";
    }
    snprintf(path, sizeof(path), "%s/regexes.yaml", dir);
    if (px_ua_db_load(path, flags, &d, err, sizeof(err)) != 0) {
        fprintf(stderr, "test_ua: %s\n", err);
        abort();
    }
    return d;
}

static void
load_uap_core(void)
{
    db = load_uap_core_with(px_ua_db_env_flags());
}

static void
free_db(void)
{
    px_ua_db_free(db);
    db = NULL;
}

/* Write `text` to a fresh file in /tmp; its name goes to tmp_path. */
static void
write_tmp(const char *text)
{
    size_t  n = strlen(text);
    int     fd;

    snprintf(tmp_path, sizeof(tmp_path), "/tmp/px_test_ua_XXXXXX");
    fd = mkstemp(tmp_path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, n), (ssize_t) n);
    close(fd);
}

/* Load `text` as a regexes file: returns px_ua_db_load()'s result. */
static int
load_text(const char *text, px_ua_db_t **out, char *err, size_t errlen)
{
    int  rc;

    write_tmp(text);
    rc = px_ua_db_load(tmp_path, px_ua_db_env_flags(), out, err, errlen);
    unlink(tmp_path);
    return rc;
}

static void
parse(const char *ua, px_ua_t *u)
{
    ck_assert_int_eq(px_ua_parse(db, ua, strlen(ua), u), 0);
}

/* ---- real UAs against uap-core ---- */

START_TEST(test_ua__chrome_windows_desktop)
{
    px_ua_t  u;

    parse(CHROME_WIN, &u);
    ck_assert_str_eq(u.browser.family, "Chrome");
    ck_assert_str_eq(u.browser.major, "120");
    ck_assert_str_eq(u.browser.minor, "0");
    ck_assert_str_eq(u.browser.patch, "6099");
    ck_assert_str_eq(u.os.family, "Windows");
    ck_assert_str_eq(u.os.major, "10");
    ck_assert_str_eq(u.device.family, "Other");
    ck_assert_str_eq(u.device.brand, "");
    ck_assert_int_eq(u.device_type, PX_UA_DESKTOP);
    ck_assert(!u.is_bot);
}
END_TEST

START_TEST(test_ua__mac_firefox_desktop)
{
    px_ua_t  u;

    parse(MAC_FIREFOX, &u);
    ck_assert_str_eq(u.browser.family, "Firefox");
    ck_assert_str_eq(u.browser.major, "121");
    ck_assert_str_eq(u.os.family, "Mac OS X");
    ck_assert_str_eq(u.os.major, "10");
    ck_assert_str_eq(u.os.minor, "15");
    ck_assert_str_eq(u.device.family, "Mac");
    ck_assert_int_eq(u.device_type, PX_UA_DESKTOP);
}
END_TEST

START_TEST(test_ua__iphone_safari_mobile)
{
    px_ua_t  u;

    parse(IPHONE, &u);
    ck_assert_str_eq(u.browser.family, "Mobile Safari");
    ck_assert_str_eq(u.browser.major, "17");
    ck_assert_str_eq(u.browser.minor, "1");
    ck_assert_str_eq(u.browser.patch, "2");
    ck_assert_str_eq(u.os.family, "iOS");
    ck_assert_str_eq(u.os.major, "17");
    ck_assert_str_eq(u.os.minor, "1");
    ck_assert_str_eq(u.os.patch, "2");
    ck_assert_str_eq(u.device.family, "iPhone");
    ck_assert_str_eq(u.device.brand, "Apple");
    ck_assert_str_eq(u.device.model, "iPhone");
    ck_assert_int_eq(u.device_type, PX_UA_MOBILE);
    ck_assert_str_eq(px_ua_device_type_name(u.device_type), "mobile");
}
END_TEST

START_TEST(test_ua__ipad_tablet)
{
    px_ua_t  u;

    parse(IPAD, &u);
    ck_assert_str_eq(u.os.family, "iOS");
    ck_assert_str_eq(u.os.major, "16");
    ck_assert_str_eq(u.device.family, "iPad");
    ck_assert_str_eq(u.device.brand, "Apple");
    ck_assert_int_eq(u.device_type, PX_UA_TABLET);
}
END_TEST

START_TEST(test_ua__android_without_mobile_is_tablet)
{
    px_ua_t  u;

    parse(ANDROID_TAB, &u);
    ck_assert_str_eq(u.os.family, "Android");
    ck_assert_str_eq(u.os.major, "11");
    ck_assert_str_eq(u.device.family, "SM-T510");
    ck_assert_str_eq(u.device.model, "SM-T510");
    ck_assert_int_eq(u.device_type, PX_UA_TABLET);
}
END_TEST

START_TEST(test_ua__googlebot_bot)
{
    px_ua_t  u;

    parse(GOOGLEBOT, &u);
    ck_assert_str_eq(u.browser.family, "Googlebot");
    ck_assert_str_eq(u.browser.major, "2");
    ck_assert_str_eq(u.browser.minor, "1");
    ck_assert_str_eq(u.device.family, "Spider");
    ck_assert_int_eq(u.device_type, PX_UA_BOT);
    ck_assert(u.is_bot);
    ck_assert_str_eq(px_ua_device_type_name(u.device_type), "bot");
}
END_TEST

START_TEST(test_ua__spider_device_is_bot)
{
    px_ua_t  u;

    /* no "bot" in the browser family: the Spider device decides */
    parse("Mozilla/5.0 (compatible; Yahoo! Slurp; "
          "http://help.yahoo.com/help/us/ysearch/slurp)", &u);
    ck_assert_str_eq(u.browser.family, "Yahoo! Slurp");
    ck_assert_str_eq(u.device.family, "Spider");
    ck_assert(u.is_bot);
    ck_assert_int_eq(u.device_type, PX_UA_BOT);
}
END_TEST

START_TEST(test_ua__empty)
{
    px_ua_t  u;

    ck_assert_int_eq(px_ua_parse(db, "", 0, &u), 0);
    ck_assert_str_eq(u.browser.family, "Other");
    ck_assert_str_eq(u.browser.major, "");
    ck_assert_str_eq(u.os.family, "Other");
    ck_assert_str_eq(u.device.family, "Other");
    ck_assert_str_eq(u.device.model, "");
    ck_assert_int_eq(u.device_type, PX_UA_OTHER);
    ck_assert(!u.is_bot);

    ck_assert_int_eq(px_ua_parse(db, NULL, 0, &u), 0);
    ck_assert_str_eq(u.browser.family, "Other");
}
END_TEST

START_TEST(test_ua__garbage_10k)
{
    px_ua_t   u;
    char     *ua;
    size_t    i, n = 10 * 1024;
    unsigned  x = 12345;

    ua = malloc(n);
    ck_assert_ptr_nonnull(ua);
    for (i = 0; i < n; i++) {          /* bytes 1..255, deterministic */
        x = x * 1103515245u + 12345u;
        ua[i] = (char) (1 + (x >> 16) % 255);
    }

    ck_assert_int_eq(px_ua_parse(db, ua, n, &u), 0);
    ck_assert_uint_lt(strlen(u.browser.family), sizeof(u.browser.family));
    ck_assert_uint_lt(strlen(u.device.model), sizeof(u.device.model));

    /* a long run of one character followed by a real UA still parses */
    memset(ua, '(', n - sizeof(CHROME_WIN));
    memcpy(ua + n - sizeof(CHROME_WIN), CHROME_WIN, sizeof(CHROME_WIN));
    ck_assert_int_eq(px_ua_parse(db, ua, n - 1, &u), 0);
    ck_assert_str_eq(u.browser.family, "Chrome");
    free(ua);
}
END_TEST

START_TEST(test_ua__length_is_respected)
{
    px_ua_t  u;

    /* "Googlebot/2.1" cut before the version: no NUL needed at len */
    ck_assert_int_eq(px_ua_parse(db, "Googlebot/2.1xyz", 13, &u), 0);
    ck_assert_str_eq(u.browser.family, "Googlebot");
    ck_assert_str_eq(u.browser.minor, "1");
    ck_assert_int_eq(px_ua_parse(db, "Googlebot/2.1", 9, &u), 0);
    ck_assert_str_eq(u.browser.major, "");
}
END_TEST

/* ---- replacement semantics ---- */

START_TEST(test_ua__expand_placeholders)
{
    /* "(a)(b)?(c)" over "ac": group 2 unset */
    const char        *s = "a c";
    PCRE2_SIZE         ov[] = { 0, 3, 0, 1, PCRE2_UNSET, PCRE2_UNSET, 2, 3 };
    char               out[32];

    ck_assert_uint_eq(px_ua_expand("$1-$3", s, ov, 4, out, sizeof(out)), 3);
    ck_assert_str_eq(out, "a-c");
    /* unset group, group beyond the match, $9: all empty */
    px_ua_expand("x$2y$4z$9", s, ov, 4, out, sizeof(out));
    ck_assert_str_eq(out, "xyz");
    /* "$" not followed by 1-9 is literal ($0 included), at the end too */
    px_ua_expand("$0 $x $", s, ov, 4, out, sizeof(out));
    ck_assert_str_eq(out, "$0 $x $");
    /* "$10" is group 1 then "0" */
    px_ua_expand("$10", s, ov, 4, out, sizeof(out));
    ck_assert_str_eq(out, "a0");
    /* whitespace trimmed at both ends, kept inside */
    px_ua_expand("  $2 $1  $3 ", s, ov, 4, out, sizeof(out));
    ck_assert_str_eq(out, "a  c");
    /* all empty */
    ck_assert_uint_eq(px_ua_expand(" $2 ", s, ov, 4, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_ua__expand_truncates_at_utf8_boundary)
{
    PCRE2_SIZE  ov[] = { 0, 0 };
    char        out[6];

    /* "ab" + e-acute (2 bytes) + euro (3 bytes): room for 5 bytes */
    ck_assert_uint_eq(px_ua_expand("ab\xc3\xa9\xe2\x82\xac", "", ov, 1, out,
                                   sizeof(out)), 4);
    ck_assert_str_eq(out, "ab\xc3\xa9");
    ck_assert_uint_eq(px_ua_expand("abcdefgh", "", ov, 1, out, 1), 0);
}
END_TEST

static const char *rules_yaml =
    "user_agent_parsers:\n"
    "  - regex: '(Foo)/(\\d+)\\.(\\d+)'\n"
    "    family_replacement: 'Bar $1'\n"
    "    v2_replacement: 'x'\n"
    "  - regex: 'Plain(Browser)/(\\d+)(?:\\.(\\d+)|)'\n"
    "  - regex: 'NoGroup'\n"
    "    family_replacement: 'Fixed'\n"
    "    v1_replacement: '7'\n"
    "  - regex: '(SuperBot)/(\\d+)'\n"
    "  - regex: '(Long)'\n"
    "    family_replacement: '"
    "$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1"
    "$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1'\n"
    "os_parsers:\n"
    "  - regex: '(Os) (\\d+)_(\\d+)'\n"
    "    os_v1_replacement: '$2$3'\n"
    "device_parsers:\n"
    "  - regex: '; *(acme)-(\\w+) '\n"
    "    regex_flag: 'i'\n"
    "    device_replacement: 'Acme $2'\n"
    "    brand_replacement: 'Acme'\n"
    "    model_replacement: '$2'\n"
    "  - regex: '(Gadget)'\n";

START_TEST(test_ua__replacement_rules)
{
    px_ua_db_t  *mine;
    px_ua_t      u;
    char         err[256];
    const char  *ua;

    ck_assert_int_eq(load_text(rules_yaml, &mine, err, sizeof(err)), 0);
    ck_assert_uint_eq(px_ua_db_rules(mine), 8);

    /* family template with $1; v2 replaced; v1 from group 2; patch unset */
    ua = "Foo/3.4 (x; ACME-Z9 ) Os 1_2";
    ck_assert_int_eq(px_ua_parse(mine, ua, strlen(ua), &u), 0);
    ck_assert_str_eq(u.browser.family, "Bar Foo");
    ck_assert_str_eq(u.browser.major, "3");
    ck_assert_str_eq(u.browser.minor, "x");
    ck_assert_str_eq(u.browser.patch, "");
    /* os: family from $1, major from a template using two groups */
    ck_assert_str_eq(u.os.family, "Os");
    ck_assert_str_eq(u.os.major, "12");
    ck_assert_str_eq(u.os.minor, "2");
    /* device: caseless flag, $2 in family and model, literal brand */
    ck_assert_str_eq(u.device.family, "Acme Z9");
    ck_assert_str_eq(u.device.brand, "Acme");
    ck_assert_str_eq(u.device.model, "Z9");

    /* no templates: groups in order, an empty optional group is "" */
    ua = "PlainBrowser/5 Gadget";
    ck_assert_int_eq(px_ua_parse(mine, ua, strlen(ua), &u), 0);
    ck_assert_str_eq(u.browser.family, "Browser");
    ck_assert_str_eq(u.browser.major, "5");
    ck_assert_str_eq(u.browser.minor, "");
    ck_assert_str_eq(u.os.family, "Other");
    /* device without templates: family and model are $1, no brand */
    ck_assert_str_eq(u.device.family, "Gadget");
    ck_assert_str_eq(u.device.model, "Gadget");
    ck_assert_str_eq(u.device.brand, "");

    /* regex without groups: literal templates */
    ua = "NoGroup";
    ck_assert_int_eq(px_ua_parse(mine, ua, strlen(ua), &u), 0);
    ck_assert_str_eq(u.browser.family, "Fixed");
    ck_assert_str_eq(u.browser.major, "7");
    ck_assert_str_eq(u.device.family, "Other");

    /* first matching rule wins, case-sensitive by default */
    ua = "foo/1.2 PlainBrowser/9";
    ck_assert_int_eq(px_ua_parse(mine, ua, strlen(ua), &u), 0);
    ck_assert_str_eq(u.browser.family, "Browser");

    /* "bot" in the browser family flags a bot without a Spider device */
    ua = "SuperBot/2";
    ck_assert_int_eq(px_ua_parse(mine, ua, strlen(ua), &u), 0);
    ck_assert_str_eq(u.device.family, "Other");
    ck_assert(u.is_bot);

    /* 200-byte family truncated to the buffer */
    ua = "Long";
    ck_assert_int_eq(px_ua_parse(mine, ua, strlen(ua), &u), 0);
    ck_assert_uint_eq(strlen(u.browser.family), PX_UA_NAME_LEN - 1);
    ck_assert(strncmp(u.browser.family, "LongLong", 8) == 0);

    px_ua_db_free(mine);
}
END_TEST

/* ---- loading errors ---- */

START_TEST(test_ua__missing_file)
{
    px_ua_db_t  *mine = (px_ua_db_t *) 1;
    char         err[256] = "";

    ck_assert_int_eq(px_ua_db_load("/nonexistent/regexes.yaml", 0, &mine,
                                   err, sizeof(err)), -1);
    ck_assert_ptr_null(mine);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/regexes.yaml"));
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

/* Each corrupt file must fail with a message containing its `want`. */
static const struct {
    const char  *text;
    const char  *want;
} corrupt[] = {
    { "", "empty document" },
    { "user_agent_parsers: [\n  - regex: 'a'\n", "YAML error" },
    { "- a\n- b\n", "not a mapping" },
    { "os_parsers: []\ndevice_parsers: []\n",
      "\"user_agent_parsers\" is missing" },
    { "user_agent_parsers: 3\n", "is not a sequence" },
    { "user_agent_parsers:\n  - 'x'\n", ":2: item of" },
    { "user_agent_parsers:\n  - family_replacement: 'x'\n",
      ":2: rule without \"regex\"" },
    { "user_agent_parsers:\n  - regex: '(a'\n", ":2: regex does not compile" },
    { "user_agent_parsers:\n  - regex: 'a'\n    regex_flag: 'x'\n",
      "unknown regex_flag" },
    { "user_agent_parsers:\n  - regex: [a]\n", "not a scalar" },
    { "user_agent_parsers:\n  - regex: 'a'\n    regex: 'b'\n", "given twice" },
    { "user_agent_parsers:\n  - regex: 'a'\nos_parsers: []\n"
      "device_parsers:\n  - regex: 'a'\n", "\"os_parsers\" has no rules" },
};

START_TEST(test_ua__corrupt_file)
{
    px_ua_db_t  *mine = (px_ua_db_t *) 1;
    char         err[256] = "";

    ck_assert_int_eq(load_text(corrupt[_i].text, &mine, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(mine);
    ck_assert_msg(strstr(err, corrupt[_i].want) != NULL,
                  "case %d: error \"%s\" lacks \"%s\"", _i, err,
                  corrupt[_i].want);
    ck_assert_msg(strstr(err, "/tmp/px_test_ua_") != NULL,
                  "case %d: error \"%s\" does not name the file", _i, err);
}
END_TEST

/* ---- cache ---- */

static void
cache_parse(px_ua_cache_t *c, const char *ua, px_ua_t *u)
{
    ck_assert_int_eq(px_ua_cache_parse(c, ua, strlen(ua), u), 0);
}

static void
assert_stats(px_ua_cache_t *c, uint64_t hits, uint64_t misses,
    uint64_t evictions, size_t size)
{
    px_ua_cache_stats_t  st;

    px_ua_cache_stats(c, &st);
    ck_assert_uint_eq(st.hits, hits);
    ck_assert_uint_eq(st.misses, misses);
    ck_assert_uint_eq(st.evictions, evictions);
    ck_assert_uint_eq(st.size, size);
}

START_TEST(test_ua__cache_hits_give_same_result)
{
    px_ua_cache_t  *c;
    px_ua_t         direct, first, second;
    char            err[128];

    ck_assert_int_eq(px_ua_cache_create(db, 8, &c, err, sizeof(err)), 0);
    parse(IPHONE, &direct);
    cache_parse(c, IPHONE, &first);
    cache_parse(c, IPHONE, &second);
    assert_stats(c, 1, 1, 0, 1);
    ck_assert(memcmp(&direct, &first, sizeof(direct)) == 0);
    ck_assert(memcmp(&direct, &second, sizeof(direct)) == 0);

    /* a prefix of a cached key is another key */
    ck_assert_int_eq(px_ua_cache_parse(c, IPHONE, 20, &first), 0);
    assert_stats(c, 1, 2, 0, 2);
    px_ua_cache_free(c);
}
END_TEST

START_TEST(test_ua__cache_evicts_least_recent)
{
    px_ua_cache_t  *c;
    px_ua_t         u;
    char            err[128];

    ck_assert_int_eq(px_ua_cache_create(db, 3, &c, err, sizeof(err)), 0);
    cache_parse(c, CHROME_WIN, &u);        /* order: C */
    cache_parse(c, IPHONE, &u);            /* I C */
    cache_parse(c, IPAD, &u);              /* P I C */
    cache_parse(c, CHROME_WIN, &u);        /* C P I (hit) */
    assert_stats(c, 1, 3, 0, 3);
    cache_parse(c, GOOGLEBOT, &u);         /* G C P, evicts I */
    assert_stats(c, 1, 4, 1, 3);
    ck_assert_str_eq(u.browser.family, "Googlebot");
    cache_parse(c, IPAD, &u);              /* hit: P G C */
    cache_parse(c, CHROME_WIN, &u);        /* hit: C P G */
    assert_stats(c, 3, 4, 1, 3);
    cache_parse(c, IPHONE, &u);            /* miss, evicts G: I C P */
    assert_stats(c, 3, 5, 2, 3);
    ck_assert_str_eq(u.device.family, "iPhone");
    cache_parse(c, GOOGLEBOT, &u);         /* miss, evicts P */
    cache_parse(c, IPAD, &u);              /* miss, evicts C */
    assert_stats(c, 3, 7, 4, 3);
    ck_assert_str_eq(u.device.family, "iPad");
    cache_parse(c, IPHONE, &u);            /* still there */
    assert_stats(c, 4, 7, 4, 3);
    px_ua_cache_free(c);
}
END_TEST

START_TEST(test_ua__cache_capacity_one)
{
    px_ua_cache_t  *c;
    px_ua_t         u;
    char            err[128];

    ck_assert_int_eq(px_ua_cache_create(db, 1, &c, err, sizeof(err)), 0);
    cache_parse(c, CHROME_WIN, &u);
    cache_parse(c, CHROME_WIN, &u);
    assert_stats(c, 1, 1, 0, 1);
    cache_parse(c, IPHONE, &u);
    ck_assert_str_eq(u.device.family, "iPhone");
    cache_parse(c, CHROME_WIN, &u);
    ck_assert_str_eq(u.browser.family, "Chrome");
    assert_stats(c, 1, 3, 2, 1);
    cache_parse(c, CHROME_WIN, &u);
    assert_stats(c, 2, 3, 2, 1);
    px_ua_cache_free(c);
}
END_TEST

START_TEST(test_ua__cache_bad_capacity_and_long_keys)
{
    px_ua_cache_t        *c = (px_ua_cache_t *) 1;
    px_ua_cache_stats_t   st;
    px_ua_t               u;
    char                  err[128] = "", *ua;
    size_t                n = PX_UA_CACHE_MAX_KEY + 1;

    ck_assert_int_eq(px_ua_cache_create(db, 0, &c, err, sizeof(err)), -1);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err, "capacity 0"));

    ck_assert_int_eq(px_ua_cache_create(db, 4, &c, err, sizeof(err)), 0);
    ua = malloc(n);
    ck_assert_ptr_nonnull(ua);
    memset(ua, 'x', n);
    memcpy(ua, GOOGLEBOT, strlen(GOOGLEBOT));
    ck_assert_int_eq(px_ua_cache_parse(c, ua, n, &u), 0);
    ck_assert_int_eq(px_ua_cache_parse(c, ua, n, &u), 0);
    ck_assert(u.is_bot);
    px_ua_cache_stats(c, &st);
    ck_assert_uint_eq(st.hits, 0);
    ck_assert_uint_eq(st.misses, 2);
    ck_assert_uint_eq(st.uncacheable, 2);
    ck_assert_uint_eq(st.size, 0);
    /* exactly the limit is cached */
    ck_assert_int_eq(px_ua_cache_parse(c, ua, n - 1, &u), 0);
    ck_assert_int_eq(px_ua_cache_parse(c, ua, n - 1, &u), 0);
    px_ua_cache_stats(c, &st);
    ck_assert_uint_eq(st.hits, 1);
    free(ua);
    px_ua_cache_free(c);
}
END_TEST

START_TEST(test_ua__cache_many_keys)
{
    px_ua_cache_t        *c;
    px_ua_cache_stats_t   st;
    px_ua_t               u;
    char                  err[128], ua[64];
    int                   i, round;

    /* 100 distinct keys through 64 entries, twice: chains stay consistent */
    ck_assert_int_eq(px_ua_cache_create(db, 64, &c, err, sizeof(err)), 0);
    for (round = 0; round < 2; round++) {
        for (i = 0; i < 100; i++) {
            snprintf(ua, sizeof(ua), "Googlebot/%d.%d", i, round);
            cache_parse(c, ua, &u);
            ck_assert_int_eq(atoi(u.browser.major), i);
        }
    }
    for (i = 199 - 64 + 1; i < 200; i++) {  /* the last 64 are all hits */
        snprintf(ua, sizeof(ua), "Googlebot/%d.%d", i % 100, i / 100);
        cache_parse(c, ua, &u);
    }
    px_ua_cache_stats(c, &st);
    ck_assert_uint_eq(st.misses, 200);
    ck_assert_uint_eq(st.hits, 64);
    ck_assert_uint_eq(st.evictions, 200 - 64);
    px_ua_cache_free(c);
}
END_TEST

/* ---- JIT and interpreter agree ---- */

START_TEST(test_ua__no_jit_gives_same_results)
{
    px_ua_db_t  *jit, *interp;
    px_ua_t      a, b;
    size_t       i;
    const char  *uas[] = { CHROME_WIN, IPHONE, IPAD, GOOGLEBOT, ANDROID_TAB,
                           MAC_FIREFOX, "", "x" };

    jit = load_uap_core_with(0);
    interp = load_uap_core_with(PX_UA_DB_NO_JIT);
    ck_assert_int_eq(interp->all_jit, 0);
    ck_assert_uint_eq(interp->jit_bytes, 0);
    ck_assert_uint_eq(px_ua_db_rules(interp), px_ua_db_rules(jit));

    for (i = 0; i < sizeof(uas) / sizeof(uas[0]); i++) {
        ck_assert_int_eq(px_ua_parse(jit, uas[i], strlen(uas[i]), &a), 0);
        ck_assert_int_eq(px_ua_parse(interp, uas[i], strlen(uas[i]), &b), 0);
        ck_assert_msg(memcmp(&a, &b, sizeof(a)) == 0, "differ for %s",
                      uas[i]);
    }
    px_ua_db_free(jit);
    px_ua_db_free(interp);
}
END_TEST

/* ---- threads ---- */

static const char *const thread_uas[] = {
    CHROME_WIN, IPHONE, IPAD, GOOGLEBOT, ANDROID_TAB, MAC_FIREFOX
};
#define NUAS (sizeof(thread_uas) / sizeof(thread_uas[0]))

static void *
parse_many(void *arg)
{
    px_ua_t  *want = arg, got;
    size_t    i;

    for (i = 0; i < 300; i++) {
        if (px_ua_parse(db, thread_uas[i % NUAS], strlen(thread_uas[i % NUAS]),
                        &got) != 0
            || memcmp(&got, &want[i % NUAS], sizeof(got)) != 0)
        {
            return (void *) 1;
        }
    }
    return NULL;
}

START_TEST(test_ua__threads_share_db)
{
    pthread_t  t[4];
    px_ua_t    want[NUAS];
    void      *bad;
    size_t     i;

    for (i = 0; i < NUAS; i++) {
        parse(thread_uas[i], &want[i]);
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_create(&t[i], NULL, parse_many, want), 0);
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(t[i], &bad), 0);
        ck_assert_ptr_null(bad);
    }
}
END_TEST

Suite *
make_suite_ua(void)
{
    Suite  *s = suite_create("ua");
    TCase  *parse_tc = tcase_create("parse");
    TCase  *load_tc = tcase_create("load");
    TCase  *cache_tc = tcase_create("cache");

    tcase_add_unchecked_fixture(parse_tc, load_uap_core, free_db);
    tcase_set_timeout(parse_tc, 60);
    tcase_add_test(parse_tc, test_ua__chrome_windows_desktop);
    tcase_add_test(parse_tc, test_ua__mac_firefox_desktop);
    tcase_add_test(parse_tc, test_ua__iphone_safari_mobile);
    tcase_add_test(parse_tc, test_ua__ipad_tablet);
    tcase_add_test(parse_tc, test_ua__android_without_mobile_is_tablet);
    tcase_add_test(parse_tc, test_ua__googlebot_bot);
    tcase_add_test(parse_tc, test_ua__spider_device_is_bot);
    tcase_add_test(parse_tc, test_ua__empty);
    tcase_add_test(parse_tc, test_ua__garbage_10k);
    tcase_add_test(parse_tc, test_ua__length_is_respected);
    tcase_add_test(parse_tc, test_ua__threads_share_db);
    suite_add_tcase(s, parse_tc);

    tcase_add_test(load_tc, test_ua__expand_placeholders);
    tcase_add_test(load_tc, test_ua__expand_truncates_at_utf8_boundary);
    tcase_add_test(load_tc, test_ua__replacement_rules);
    tcase_add_test(load_tc, test_ua__missing_file);
    tcase_add_test(load_tc, test_ua__no_jit_gives_same_results);
    tcase_add_loop_test(load_tc, test_ua__corrupt_file, 0,
                        (int) (sizeof(corrupt) / sizeof(corrupt[0])));
    tcase_set_timeout(load_tc, 60);
    suite_add_tcase(s, load_tc);

    tcase_add_unchecked_fixture(cache_tc, load_uap_core, free_db);
    tcase_set_timeout(cache_tc, 60);
    tcase_add_test(cache_tc, test_ua__cache_hits_give_same_result);
    tcase_add_test(cache_tc, test_ua__cache_evicts_least_recent);
    tcase_add_test(cache_tc, test_ua__cache_capacity_one);
    tcase_add_test(cache_tc, test_ua__cache_bad_capacity_and_long_keys);
    tcase_add_test(cache_tc, test_ua__cache_many_keys);
    suite_add_tcase(s, cache_tc);

    return s;
}
