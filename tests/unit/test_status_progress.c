/* px-worker/status_server: when /health calls the pipeline stalled. */
#include <string.h>

#include <check.h>

#include "status_server.h"

#define STALL  10000

static px_status_t    st;
static px_progress_t  pr;

static void
setup(void)
{
    memset(&st, 0, sizeof(st));
    memset(&pr, 0, sizeof(pr));
}

static void
lag(int64_t n)
{
    st.nlag = 1;
    st.lag_partition[0] = 0;
    st.lag[0] = n;
}

START_TEST(test_status_progress__nothing_published_yet_is_not_stalled)
{
    ck_assert_ptr_null(px_progress_stalled(&pr, &st, 1000000, STALL));
}
END_TEST

START_TEST(test_status_progress__idle_without_lag_is_healthy)
{
    px_progress_note(&pr, &st, 1000);
    px_progress_note(&pr, &st, 1000 + 3 * STALL);
    ck_assert_ptr_null(px_progress_stalled(&pr, &st, 1000 + 3 * STALL, STALL));
}
END_TEST

START_TEST(test_status_progress__lag_without_progress_stalls)
{
    lag(500);
    st.consumed = 10;
    px_progress_note(&pr, &st, 1000);
    px_progress_note(&pr, &st, 1000 + STALL);
    ck_assert_ptr_null(px_progress_stalled(&pr, &st, 1000 + STALL, STALL));
    px_progress_note(&pr, &st, 1000 + STALL + 1);
    ck_assert_ptr_nonnull(px_progress_stalled(&pr, &st, 1000 + STALL + 1,
                                              STALL));

    /* anything stored again is progress */
    st.stored = 1;
    px_progress_note(&pr, &st, 1000 + STALL + 2);
    ck_assert_ptr_null(px_progress_stalled(&pr, &st, 1000 + STALL + 2, STALL));
}
END_TEST

START_TEST(test_status_progress__an_open_batch_without_progress_stalls)
{
    /* no lag (everything read), but a batch that is never stored */
    st.consumed = 100;
    st.pending = 100;
    px_progress_note(&pr, &st, 1000);
    px_progress_note(&pr, &st, 2000 + STALL);
    ck_assert_ptr_nonnull(px_progress_stalled(&pr, &st, 2000 + STALL, STALL));
}
END_TEST

START_TEST(test_status_progress__a_silent_pipeline_thread_stalls)
{
    px_progress_note(&pr, &st, 1000);
    ck_assert_ptr_nonnull(px_progress_stalled(&pr, &st, 2000 + STALL, STALL));
}
END_TEST

START_TEST(test_status_progress__health_document)
{
    char  out[1024];

    lag(7);
    ck_assert_int_gt(px_status_render_health(&st, "why", 12345, out,
                                             sizeof(out)), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"status\":\"stalled\",\"reason\":\"why\""));
    ck_assert_ptr_nonnull(strstr(out, "\"lag\":7"));
    ck_assert_ptr_nonnull(strstr(out, "\"last_progress_ms_ago\":12345"));
    ck_assert_int_gt(px_status_render_health(&st, NULL, 0, out, sizeof(out)),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "\"status\":\"ok\","));
}
END_TEST

Suite *
make_suite_status_progress(void)
{
    Suite  *s = suite_create("status_progress");
    TCase  *tc = tcase_create("status_progress");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_status_progress__nothing_published_yet_is_not_stalled);
    tcase_add_test(tc, test_status_progress__idle_without_lag_is_healthy);
    tcase_add_test(tc, test_status_progress__lag_without_progress_stalls);
    tcase_add_test(tc, test_status_progress__an_open_batch_without_progress_stalls);
    tcase_add_test(tc, test_status_progress__a_silent_pipeline_thread_stalls);
    tcase_add_test(tc, test_status_progress__health_document);
    suite_add_tcase(s, tc);
    return s;
}
