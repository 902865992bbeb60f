/* px-worker/event_row_binary: a row in RowBinary, the values of its JSON. */
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "event_row.h"

/* escapes, non-ASCII, a surrogate pair and a control character in the
 * properties (the user agent gets bytes that are not UTF-8 below: the
 * parser refuses them in a message, a header may still have them) */
#define MSG \
    "{\"event\":\"sign\\u00e9\",\"anonymous_id\":\"a1\",\"user_id\":\"u\"," \
    "\"properties\":{\"q\":\"a\\\"b\\\\c\",\"e\":\"\\u00e9\\ud83d\\ude00\"," \
    "\"nl\":\"x\\ny\",\"n\":[1,2.5]}," \
    "\"context\":{\"page\":{\"url\":\"https://s.example/p\",\"path\":\"/p\"}}," \
    "\"event_id\":\"0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51\"," \
    "\"timestamp\":\"2026-11-30T09:59:58.250Z\"," \
    "\"project_id\":\"proj\",\"received_at\":\"2026-11-30T10:00:00.500Z\"," \
    "\"ip\":\"81.2.69.142\",\"user_agent\":\"ua\"," \
    "\"schema_version\":1}"

static px_event_row_t  row;
static char            err[256];

/* A reader of the RowBinary columns. */
typedef struct {
    const unsigned char  *p, *end;
} rd_t;

static uint64_t
rd_uint(rd_t *r, size_t n)
{
    uint64_t  v = 0;
    size_t    i;

    ck_assert(r->end - r->p >= (ptrdiff_t) n);
    for (i = 0; i < n; i++) {
        v |= (uint64_t) r->p[i] << (8 * i);
    }
    r->p += n;
    return v;
}

static size_t
rd_str(rd_t *r, const char **s)
{
    uint64_t  n = 0;
    unsigned  shift = 0;

    for (;;) {
        ck_assert(r->p < r->end);
        n |= (uint64_t) (*r->p & 0x7f) << shift;
        shift += 7;
        if (!(*r->p++ & 0x80)) {
            break;
        }
    }
    ck_assert((uint64_t) (r->end - r->p) >= n);
    *s = (const char *) r->p;
    r->p += n;
    return (size_t) n;
}

static void
expect_str(rd_t *r, const char *want)
{
    const char  *s;
    size_t       n = rd_str(r, &s);

    ck_assert_msg(n == strlen(want) && memcmp(s, want, n) == 0,
                  "got \"%.*s\" want \"%s\"", (int) n, s, want);
}

static void
setup(void)
{
    memset(&row, 0, sizeof(row));
    ck_assert_int_eq(px_message_parse(&row.msg, MSG, strlen(MSG), err,
                                      sizeof(err)), 0);
    strcpy(row.session_id, "s-1");
    row.session_seq = 7;
    row.session_first_ms = 1796032700000LL;
    /* past 8 ASCII bytes: the bad ones are found after the word-wise scan */
    row.msg.user_agent = "Mozilla/5.0 bad \xff\xfe ua";
}

static void
teardown(void)
{
    px_message_free(&row.msg);
}

START_TEST(test_event_row_binary__columns)
{
    px_buf_t     out;
    rd_t         r;
    const char  *s;
    size_t       i, n;
    double       d;
    uint64_t     v;

    px_buf_init(&out, NULL, 0);
    ck_assert_int_eq(px_event_row_binary(&row, 1796032801, &out), 0);
    r.p = (const unsigned char *) out.data;
    r.end = r.p + out.len;

    expect_str(&r, "proj");
    expect_str(&r, "0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51");
    expect_str(&r, "sign\xc3\xa9");
    expect_str(&r, "a1");
    expect_str(&r, "u");
    expect_str(&r, "s-1");
    ck_assert_uint_eq(rd_uint(&r, 4), 7);
    ck_assert_uint_eq(rd_uint(&r, 4), 1796032798);          /* timestamp */
    ck_assert(rd_uint(&r, 8) == 1796032798250ULL);
    ck_assert(rd_uint(&r, 8) == 0);                         /* client */
    ck_assert_uint_eq(rd_uint(&r, 4), 1796032800);          /* received_at */
    ck_assert(rd_uint(&r, 8) == 1796032800500ULL);
    /* the compact JSON text, decoded once: as ClickHouse stores the
     * JSONEachRow string literal */
    expect_str(&r, "{\"q\":\"a\\\"b\\\\c\",\"e\":\"\xc3\xa9\xf0\x9f\x98\x80\","
                   "\"nl\":\"x\\ny\",\"n\":[1,2.5]}");
    n = rd_str(&r, &s);
    ck_assert(n > 2 && s[0] == '{' && memmem(s, n, "\"path\":\"/p\"", 11));
    expect_str(&r, "https://s.example/p");                  /* page_url */
    expect_str(&r, "/p");
    for (i = 0; i < 22; i++) {          /* page_title .. as_org */
        if (i == 17 || i == 18) {       /* latitude, longitude */
            v = rd_uint(&r, 8);
            memcpy(&d, &v, sizeof(d));
            ck_assert(d == (i == 17 ? row.geo.loc.latitude
                                    : row.geo.loc.longitude));
        } else if (i == 20) {           /* asn */
            (void) rd_uint(&r, 4);
        } else {
            (void) rd_str(&r, &s);
        }
    }
    /* the user agent's bad bytes: one U+FFFD each, as in the JSON */
    expect_str(&r, "Mozilla/5.0 bad \xef\xbf\xbd\xef\xbf\xbd ua");
    for (i = 0; i < 7; i++) {           /* browser .. device_model */
        (void) rd_str(&r, &s);
    }
    ck_assert_uint_eq(rd_uint(&r, 1), 0);                   /* is_bot */
    for (i = 0; i < 4; i++) {           /* locale .. library_version */
        (void) rd_str(&r, &s);
    }
    ck_assert_uint_eq(rd_uint(&r, 2), 1);                   /* schema */
    ck_assert_uint_eq(rd_uint(&r, 4), 1796032801);          /* inserted */
    ck_assert_uint_eq(rd_uint(&r, 8), 1796032700000ULL);    /* first */
    ck_assert(r.p == r.end);
    px_buf_free(&out);
}
END_TEST

START_TEST(test_event_row_binary__one_column_each)
{
    /* the INSERT's column list names every column the writer writes */
    const char  *c = PX_EVENT_ROW_BINARY_COLUMNS;
    size_t       commas = 0;

    for (; *c != '\0'; c++) {
        commas += *c == ',';
    }
    ck_assert_uint_eq(commas + 1, 54);
}
END_TEST

START_TEST(test_event_row_binary__not_a_literal_kept_as_is)
{
    static const char  bad[] = "\"{\\q}\"";
    px_buf_t           out;
    rd_t               r;
    size_t             i;
    const char        *s;

    row.msg.properties = bad;
    row.msg.properties_len = sizeof(bad) - 1;
    px_buf_init(&out, NULL, 0);
    ck_assert_int_eq(px_event_row_binary(&row, 0, &out), 0);
    r.p = (const unsigned char *) out.data;
    r.end = r.p + out.len;
    for (i = 0; i < 6; i++) {
        (void) rd_str(&r, &s);
    }
    r.p += 4 + 4 + 8 + 8 + 4 + 8;       /* session_seq .. received_at_ms */
    expect_str(&r, bad);
    px_buf_free(&out);
}
END_TEST

Suite *
make_suite_event_row_binary(void)
{
    Suite  *s = suite_create("event_row_binary");
    TCase  *tc = tcase_create("rowbinary");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_event_row_binary__columns);
    tcase_add_test(tc, test_event_row_binary__one_column_each);
    tcase_add_test(tc, test_event_row_binary__not_a_literal_kept_as_is);
    suite_add_tcase(s, tc);

    return s;
}
