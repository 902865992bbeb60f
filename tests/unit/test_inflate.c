/* libpx/px_inflate: gzip with caps on output and ratio. */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <zlib.h>

#include "px_buf.h"
#include "px_inflate.h"

static unsigned char  *gz;
static size_t          gz_len;
static px_buf_t        out;

static void
gzip_data(const void *data, size_t len)
{
    z_stream  zs;

    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    gz_len = deflateBound(&zs, len);
    gz = malloc(gz_len);
    ck_assert_ptr_nonnull(gz);
    zs.next_in = (Bytef *) data;
    zs.avail_in = (uInt) len;
    zs.next_out = gz;
    zs.avail_out = (uInt) gz_len;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    gz_len = zs.total_out;
    deflateEnd(&zs);
}

static int
sink(void *ctx, const void *data, size_t len)
{
    (void) ctx;
    return px_buf_append(&out, data, len);
}

static void
setup(void)
{
    gz = NULL;
    px_buf_init(&out, NULL, 0);
}

static void
teardown(void)
{
    free(gz);
    px_buf_free(&out);
}

static px_inflate_status_t
run(size_t max_out, size_t max_ratio, size_t chunk)
{
    size_t               i, n;
    px_inflate_t         z;
    px_inflate_status_t  st = PX_INFLATE_OK;

    ck_assert_int_eq(px_inflate_init(&z, max_out, max_ratio, NULL), 0);
    for (i = 0; i < gz_len && st == PX_INFLATE_OK; i += n) {
        n = gz_len - i < chunk ? gz_len - i : chunk;
        st = px_inflate_feed(&z, gz + i, n, sink, NULL);
    }
    if (st == PX_INFLATE_OK) {
        st = px_inflate_finish(&z);
    }
    px_inflate_free(&z);
    return st;
}

START_TEST(test_inflate__round_trip_in_chunks)
{
    const char  *text = "{\"events\":[{\"event\":\"hello\"}]}";

    gzip_data(text, strlen(text));
    ck_assert(px_inflate_is_gzip(gz, gz_len));
    ck_assert(!px_inflate_is_gzip(text, strlen(text)));
    ck_assert_int_eq(run(1024, 0, 3), PX_INFLATE_OK);
    ck_assert_uint_eq(out.len, strlen(text));
    ck_assert_int_eq(memcmp(out.data, text, out.len), 0);
}
END_TEST

START_TEST(test_inflate__bomb_stops_at_cap)
{
    char  *zeros = calloc(1, 64 * 1024 * 1024);

    ck_assert_ptr_nonnull(zeros);
    gzip_data(zeros, 64 * 1024 * 1024);
    free(zeros);

    /* ~64 KB of gzip that inflates to 64 MB */
    ck_assert_uint_lt(gz_len, 128 * 1024);
    ck_assert_int_eq(run(1024 * 1024, 0, 65536), PX_INFLATE_ERR_TOO_LARGE);
    ck_assert_uint_le(out.len, 1024 * 1024 + 16384);

    px_buf_free(&out);
    ck_assert_int_eq(run(SIZE_MAX, 100, 65536), PX_INFLATE_ERR_TOO_LARGE);
}
END_TEST

START_TEST(test_inflate__corrupt_and_truncated)
{
    const char  *text = "{\"events\":[{\"event\":\"hello there\"}]}";

    gzip_data(text, strlen(text));
    gz_len -= 4;  /* cut the trailer */
    ck_assert_int_eq(run(1024, 0, 1024), PX_INFLATE_ERR_CORRUPT);

    gz_len += 4;
    gz[12] ^= 0xff;
    gz[13] ^= 0xff;
    px_buf_free(&out);
    ck_assert_int_eq(run(1024, 0, 1024), PX_INFLATE_ERR_CORRUPT);
}
END_TEST

START_TEST(test_inflate__sink_stop)
{
    const char  *text = "0123456789";

    gzip_data(text, strlen(text));
    out.max = 4;  /* the sink refuses more than 4 bytes */
    ck_assert_int_eq(run(1024, 0, 1024), PX_INFLATE_ERR_SINK);
}
END_TEST

Suite *
make_suite_inflate(void)
{
    Suite  *s = suite_create("inflate");
    TCase  *tc = tcase_create("inflate");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_inflate__round_trip_in_chunks);
    tcase_add_test(tc, test_inflate__bomb_stops_at_cap);
    tcase_add_test(tc, test_inflate__corrupt_and_truncated);
    tcase_add_test(tc, test_inflate__sink_stop);
    suite_add_tcase(s, tc);
    return s;
}
