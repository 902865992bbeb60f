/*
 * px-worker/state/session_rules.c and sha1.c: the session rules on a
 * visitor's state in memory (no Redis), its Redis value, and the session
 * id formula.  The rules themselves are tested end to end, through Redis,
 * in test_session.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "session_rules.h"
#include "sha1.h"

#define T0      1700000000000LL
#define MIN_MS  (60 * 1000LL)

static const px_session_rules_t  rules = { 30 * MIN_MS, 24 * 60 * MIN_MS };

static void
sha1_hex(const void *p, size_t n, char out[41])
{
    int            i;
    unsigned char  h[20];
    px_sha1_t      s;

    px_sha1_init(&s);
    px_sha1_update(&s, p, n);
    px_sha1_final(&s, h);
    for (i = 0; i < 20; i++) {
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
}

START_TEST(test_session_rules__sha1_vectors)
{
    char            hex[41];
    char           *million;
    px_sha1_t       s;
    size_t          i;
    unsigned char   h1[20], h2[20];
    const char     *two = "abcdbcdecdefdefgefghfghighijhijk"
                          "ijkljklmklmnlmnomnopnopq";

    /* FIPS 180 examples */
    sha1_hex("", 0, hex);
    ck_assert_str_eq(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    sha1_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    sha1_hex(two, strlen(two), hex);
    ck_assert_str_eq(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");

    million = malloc(1000000);
    ck_assert_ptr_nonnull(million);
    memset(million, 'a', 1000000);
    sha1_hex(million, 1000000, hex);
    ck_assert_str_eq(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");

    /* fed in odd pieces: the same digest */
    px_sha1_init(&s);
    for (i = 0; i < 1000000; i += 997) {
        px_sha1_update(&s, million + i, 1000000 - i < 997 ? 1000000 - i : 997);
    }
    px_sha1_final(&s, h1);
    px_sha1_init(&s);
    px_sha1_update(&s, million, 1000000);
    px_sha1_final(&s, h2);
    ck_assert_mem_eq(h1, h2, 20);
    free(million);
}
END_TEST

START_TEST(test_session_rules__session_id_formula)
{
    char  id[PX_SESSION_ID_LEN + 1];
    const char  *v = "2:p1:a";
    const char  *e = "2:p1:00000001-0000-4000-8000-000000000000";

    /* docs/sessions.md's example, which Redis's sha1hex gave before */
    px_session_id(id, v, strlen(v), e, strlen(e));
    ck_assert_str_eq(id, "e326a2e6-c9ef-56c8-8ac6-9374fbaab64f");
}
END_TEST

START_TEST(test_session_rules__state_value)
{
    px_buf_t            out;
    px_visitor_state_t  v;
    const char  *one = "e326a2e6-c9ef-56c8-8ac6-9374fbaab64f 1700000000000 "
                       "1700000060000 2 1700000000000";
    const char  *two = "e326a2e6-c9ef-56c8-8ac6-9374fbaab64f -5 7 3 4 "
                       "11111111-2222-5333-8444-555555555555 1 2 1 1";
    /* the same as an older worker wrote them, without first: first is
     * the start then */
    const char  *old1 = "e326a2e6-c9ef-56c8-8ac6-9374fbaab64f 1700000000000 "
                        "1700000060000 2";
    const char  *old2 = "e326a2e6-c9ef-56c8-8ac6-9374fbaab64f -5 7 3 "
                        "11111111-2222-5333-8444-555555555555 1 2 1";
    const char  *no_seq = "e326a2e6-c9ef-56c8-8ac6-9374fbaab64f 1 2";

    px_buf_init(&out, NULL, 0);

    px_visitor_state_parse(&v, one, strlen(one));
    ck_assert(v.has_cur && !v.has_other);
    ck_assert_int_eq(v.cur.start_ms, T0);
    ck_assert_int_eq(v.cur.last_ms, T0 + MIN_MS);
    ck_assert_uint_eq(v.cur.seq, 2);
    ck_assert_int_eq(px_visitor_state_format(&out, &v), 0);
    ck_assert_int_eq(out.len, strlen(one));
    ck_assert_mem_eq(out.data, one, out.len);

    px_visitor_state_parse(&v, two, strlen(two));
    ck_assert(v.has_cur && v.has_other);
    ck_assert_int_eq(v.cur.start_ms, -5);
    ck_assert_int_eq(v.cur.first_ms, 4);
    ck_assert_str_eq(v.other.sid, "11111111-2222-5333-8444-555555555555");
    ck_assert_int_eq(v.other.first_ms, 1);
    out.len = 0;
    ck_assert_int_eq(px_visitor_state_format(&out, &v), 0);
    ck_assert_int_eq(out.len, strlen(two));
    ck_assert_mem_eq(out.data, two, out.len);

    px_visitor_state_parse(&v, old1, strlen(old1));
    ck_assert(v.has_cur && !v.has_other);
    ck_assert_int_eq(v.cur.first_ms, T0);
    out.len = 0;
    ck_assert_int_eq(px_visitor_state_format(&out, &v), 0);
    ck_assert_int_eq(out.len, strlen(one));
    ck_assert_mem_eq(out.data, one, out.len);

    px_visitor_state_parse(&v, old2, strlen(old2));
    ck_assert(v.has_cur && v.has_other);
    ck_assert_int_eq(v.cur.first_ms, -5);
    ck_assert_int_eq(v.other.seq, 1);
    ck_assert_int_eq(v.other.first_ms, 1);

    /* not of the form: no state (the visitor starts anew), as the script
     * did; a malformed other session is dropped */
    px_visitor_state_parse(&v, "garbage", 7);
    ck_assert(!v.has_cur && !v.has_other);
    px_visitor_state_parse(&v, no_seq, strlen(no_seq));
    ck_assert(!v.has_cur);
    px_visitor_state_parse(&v, two, strlen(two) - 6);   /* other: no seq */
    ck_assert(v.has_cur && !v.has_other);
    px_visitor_state_parse(&v, one, strlen(one) - 1);   /* first cut */
    ck_assert(v.has_cur && v.cur.first_ms == T0 / 10);
    px_visitor_state_parse(&v, "e326a2e6-c9ef-56c8-8ac6-9374fbaab64f 1 2 3 x",
                           44);
    ck_assert(!v.has_cur);

    px_buf_free(&out);
}
END_TEST

/* Assign events[0..n) of visitor "2:p1:a" from state v. */
static void
run(px_visitor_state_t *v, const int64_t *ts, size_t n,
    char (*sids)[PX_SESSION_ID_LEN + 1], uint64_t *seqs, int64_t *firsts,
    int *kinds)
{
    size_t       i;
    char         ev[64];
    const char  *sid;

    for (i = 0; i < n; i++) {
        snprintf(ev, sizeof(ev), "2:p1:%08zx-0000-4000-8000-000000000000",
                 i + 1);
        kinds[i] = px_session_assign(v, &rules, ts[i], "2:p1:a", 6, ev,
                                     strlen(ev), &sid, &seqs[i],
                                     &firsts[i]);
        memcpy(sids[i], sid, PX_SESSION_ID_LEN + 1);
    }
}

START_TEST(test_session_rules__assign_from_state_deterministic)
{
    size_t              i;
    int                 k1[8], k2[8];
    uint64_t            q1[8], q2[8];
    int64_t             f1[8], f2[8];
    char                s1[8][PX_SESSION_ID_LEN + 1];
    char                s2[8][PX_SESSION_ID_LEN + 1];
    px_visitor_state_t  v, start;
    const int64_t       ts[8] = {
        T0, T0 + MIN_MS, T0 + 40 * MIN_MS, T0 + 2 * MIN_MS,
        T0 + 41 * MIN_MS, T0 - 90 * MIN_MS, T0 - 89 * MIN_MS, T0 + 42 * MIN_MS
    };

    memset(&v, 0, sizeof(v));
    run(&v, ts, 8, s1, q1, f1, k1);

    /* new, continues, new (gap 39 min), late of the previous session,
     * continues, late of its own, late joining that one, continues */
    ck_assert_int_eq(k1[0], PX_KIND_NEW);
    ck_assert_int_eq(k1[1], PX_KIND_CONTINUES);
    ck_assert_int_eq(k1[2], PX_KIND_NEW);
    ck_assert_int_eq(k1[3], PX_KIND_LATE_OTHER);
    ck_assert_int_eq(k1[4], PX_KIND_CONTINUES);
    ck_assert_int_eq(k1[5], PX_KIND_LATE_OWN);
    ck_assert_int_eq(k1[6], PX_KIND_LATE_OTHER);
    ck_assert_int_eq(k1[7], PX_KIND_CONTINUES);
    ck_assert_str_eq(s1[3], s1[0]);
    ck_assert_uint_eq(q1[3], 3);
    ck_assert_str_eq(s1[6], s1[5]);
    ck_assert_uint_eq(q1[6], 2);
    ck_assert_str_eq(s1[7], s1[2]);
    ck_assert_uint_eq(q1[7], 3);

    /* the same events again from the same state: the same answers (what
     * a replay after a lost write relies on) */
    memset(&start, 0, sizeof(start));
    run(&start, ts, 8, s2, q2, f2, k2);
    for (i = 0; i < 8; i++) {
        ck_assert_str_eq(s1[i], s2[i]);
        ck_assert_uint_eq(q1[i], q2[i]);
        ck_assert_int_eq(k1[i], k2[i]);
        ck_assert_int_eq(f1[i], f2[i]);
    }

    /* first: the time of the event each session started with */
    ck_assert_int_eq(f1[1], T0);
    ck_assert_int_eq(f1[3], T0);
    ck_assert_int_eq(f1[7], T0 + 40 * MIN_MS);
    ck_assert_int_eq(f1[6], T0 - 90 * MIN_MS);
}
END_TEST

/* A late event before the start moves the start back, never first: the
 * session's rows all carry the same first (its sessions_by_month
 * partition), however late its events come. */
START_TEST(test_session_rules__first_never_moves)
{
    size_t              i;
    int                 k[4];
    int64_t             f[4];
    uint64_t            q[4];
    char                s[4][PX_SESSION_ID_LEN + 1];
    px_buf_t            out;
    px_visitor_state_t  v, back;
    const int64_t       ts[4] = {
        T0, T0 - 20 * MIN_MS, T0 - 45 * MIN_MS, T0 + MIN_MS
    };

    memset(&v, 0, sizeof(v));
    run(&v, ts, 4, s, q, f, k);
    ck_assert_int_eq(k[1], PX_KIND_LATE);
    ck_assert_int_eq(k[2], PX_KIND_LATE);   /* within the timeout of the
                                             * moved start */
    for (i = 0; i < 4; i++) {
        ck_assert_str_eq(s[i], s[0]);
        ck_assert_int_eq(f[i], T0);
    }
    ck_assert_int_eq(v.cur.start_ms, T0 - 45 * MIN_MS);
    ck_assert_int_eq(v.cur.first_ms, T0);

    /* and through Redis: the value carries it */
    px_buf_init(&out, NULL, 0);
    ck_assert_int_eq(px_visitor_state_format(&out, &v), 0);
    px_visitor_state_parse(&back, out.data, out.len);
    ck_assert(back.has_cur);
    ck_assert_int_eq(back.cur.first_ms, T0);
    ck_assert_int_eq(back.cur.start_ms, T0 - 45 * MIN_MS);
    px_buf_free(&out);
}
END_TEST

Suite *
make_suite_session_rules(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("session_rules");
    tc = tcase_create("memory");
    tcase_add_test(tc, test_session_rules__sha1_vectors);
    tcase_add_test(tc, test_session_rules__session_id_formula);
    tcase_add_test(tc, test_session_rules__first_never_moves);
    tcase_add_test(tc, test_session_rules__state_value);
    tcase_add_test(tc, test_session_rules__assign_from_state_deterministic);
    suite_add_tcase(s, tc);
    return s;
}
