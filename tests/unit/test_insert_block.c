/*
 * px-worker insert_block.c and event_row_decode.c: rows encoded into an
 * insert block as their batches are staged (the block outlives the
 * batches), each row's bytes, origin and message found again, a batch
 * that could not be added taken back out; and a RowBinary row read back
 * as the JSON line of its dead letter.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "event_row.h"
#include "insert_block.h"

/* a message whose JSON line px_event_row_json() and the decoder write
 * alike (no escapes in its literals, which both may write differently) */
#define MSG(id) \
    "{\"event\":\"page_view\",\"anonymous_id\":\"a1\",\"user_id\":\"u\"," \
    "\"properties\":{\"plan\":\"pro\",\"n\":[1,2.5]}," \
    "\"context\":{\"page\":{\"url\":\"https://s.example/p\",\"path\":\"/p\"}}," \
    "\"event_id\":\"" id "\"," \
    "\"timestamp\":\"2026-11-30T09:59:58.250Z\"," \
    "\"project_id\":\"proj\",\"received_at\":\"2026-11-30T10:00:00.500Z\"," \
    "\"ip\":\"81.2.69.142\",\"user_agent\":\"ua\"," \
    "\"schema_version\":1}"

static const char  *msgs[3] = {
    MSG("0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a50"),
    MSG("0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51"),
    MSG("0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a52")
};

static px_event_row_t     rows[3];
static px_insert_block_t  blk;
static char               err[256];

static void
setup(void)
{
    size_t  i;

    memset(rows, 0, sizeof(rows));
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(px_message_parse(&rows[i].msg, msgs[i],
                                          strlen(msgs[i]), err, sizeof(err)),
                         0);
        snprintf(rows[i].session_id, sizeof(rows[i].session_id), "s-%zu", i);
        rows[i].session_seq = (uint32_t) i + 1;
        rows[i].geo.loc.latitude = 51.5142;
        rows[i].geo.loc.longitude = -0.0931;
        rows[i].geo.as.number = 64512;
    }
    px_insert_block_init(&blk);
}

static void
teardown(void)
{
    size_t  i;

    for (i = 0; i < 3; i++) {
        px_message_free(&rows[i].msg);
    }
    px_insert_block_free(&blk);
}

static void
add(size_t i, int with_msg)
{
    px_stage_origin_t  o = { (int32_t) i, 100 + (int64_t) i };

    ck_assert_int_eq(px_insert_block_add(&blk, &rows[i], &o,
                                         with_msg ? msgs[i] : NULL,
                                         with_msg ? strlen(msgs[i]) : 0,
                                         1796032801), 0);
}

/* Each row's bytes are what px_event_row_binary() writes for it, in order,
 * with its origin and message: the rows themselves can be reused. */
START_TEST(test_insert_block__rows_found_again)
{
    px_buf_t     one;
    const char  *rb;
    size_t       i, len;

    add(0, 1);
    add(1, 0);
    add(2, 1);
    ck_assert_uint_eq(blk.n, 3);

    px_buf_init(&one, NULL, 0);
    for (i = 0; i < 3; i++) {
        one.len = 0;
        ck_assert_int_eq(px_event_row_binary(&rows[i], 1796032801, &one), 0);
        rb = px_insert_block_row(&blk, i, &len);
        ck_assert_uint_eq(len, one.len);
        ck_assert(memcmp(rb, one.data, len) == 0);
        ck_assert_int_eq(blk.rows[i].origin.partition, (int) i);
        ck_assert(blk.rows[i].origin.offset == 100 + (int64_t) i);
        ck_assert_int_eq(blk.rows[i].state, PX_BLOCK_ROW_PENDING);
    }
    px_buf_free(&one);

    ck_assert_uint_eq(blk.rows[1].raw_len, 0);       /* none kept */
    ck_assert_uint_eq(blk.rows[2].raw_len, strlen(msgs[2]));
    ck_assert(memcmp(blk.raw.data + blk.rows[2].raw_off, msgs[2],
                     strlen(msgs[2])) == 0);
    ck_assert_uint_eq(px_insert_block_bytes(&blk),
                      blk.body.len + strlen(msgs[0]) + strlen(msgs[2]));
}
END_TEST

/* A batch whose rows could not all be added is taken back out whole; the
 * rows before it stay as they were, and the next add goes after them. */
START_TEST(test_insert_block__truncate_takes_a_batch_back)
{
    size_t       len0, len1, body0;
    const char  *rb;

    add(0, 1);
    body0 = blk.body.len;
    add(1, 1);
    add(2, 1);
    px_insert_block_truncate(&blk, 1);
    ck_assert_uint_eq(blk.n, 1);
    ck_assert_uint_eq(blk.body.len, body0);
    ck_assert_uint_eq(blk.raw.len, strlen(msgs[0]));

    add(2, 1);
    ck_assert_uint_eq(blk.n, 2);
    (void) px_insert_block_row(&blk, 0, &len0);
    rb = px_insert_block_row(&blk, 1, &len1);
    ck_assert_uint_eq(len0 + len1, blk.body.len);
    ck_assert_int_eq(blk.rows[1].origin.partition, 2);
    ck_assert(memcmp(blk.raw.data + blk.rows[1].raw_off, msgs[2],
                     strlen(msgs[2])) == 0);
    (void) rb;

    /* reset keeps nothing: the next block starts empty */
    px_insert_block_reset(&blk);
    ck_assert_uint_eq(blk.n, 0);
    ck_assert_uint_eq(px_insert_block_bytes(&blk), 0);
    add(1, 1);
    ck_assert_uint_eq(blk.rows[0].raw_off, 0);
}
END_TEST

/* The dead letter of a refused row, written from its RowBinary bytes: the
 * very line px_event_row_json() writes from the row, its columns in the
 * order of the INSERT's column list, and its event_id for the key. */
START_TEST(test_insert_block__decoded_row_is_its_json_line)
{
    px_buf_t     want, got;
    const char  *rb, *id, *c, *k;
    size_t       len, id_len, n;
    char         name[64];

    add(1, 1);
    rb = px_insert_block_row(&blk, 0, &len);

    px_buf_init(&want, NULL, 0);
    px_buf_init(&got, NULL, 0);
    ck_assert_int_eq(px_event_row_json(&rows[1], 1796032801, &want), 0);
    ck_assert_int_eq(px_event_row_binary_json(rb, len, &got), 0);
    ck_assert_msg(got.len == want.len
                  && memcmp(got.data, want.data, got.len) == 0,
                  "got %.*s\nwant %.*s", (int) got.len, got.data,
                  (int) want.len, want.data);

    /* member names in the order of PX_EVENT_ROW_BINARY_COLUMNS */
    k = got.data;
    for (c = PX_EVENT_ROW_BINARY_COLUMNS; *c != '\0'; c += n) {
        c += strspn(c, ", ");
        n = strcspn(c, ",");
        snprintf(name, sizeof(name), "\"%.*s\":", (int) n, c);
        k = strstr(k, name);
        ck_assert_msg(k != NULL, "%s missing or out of order", name);
    }

    ck_assert_int_eq(px_event_row_binary_event_id(rb, len, &id, &id_len), 0);
    ck_assert_uint_eq(id_len, 36);
    ck_assert(memcmp(id, "0b5c7a4e-2f61-4c1e-9a43-6f1d2c3b4a51", 36) == 0);

    px_buf_free(&want);
    px_buf_free(&got);
}
END_TEST

/* Bytes that are not one whole row: an error, nothing written. */
START_TEST(test_insert_block__decoding_a_cut_row_fails)
{
    px_buf_t     got;
    const char  *rb, *id;
    size_t       len, id_len;

    add(0, 0);
    add(1, 0);
    rb = px_insert_block_row(&blk, 0, &len);

    px_buf_init(&got, NULL, 0);
    ck_assert_int_eq(px_buf_append(&got, "x", 1), 0);
    ck_assert_int_eq(px_event_row_binary_json(rb, len - 1, &got), -2);
    ck_assert_uint_eq(got.len, 1);
    /* two rows are not one */
    ck_assert_int_eq(px_event_row_binary_json(rb, blk.body.len, &got), -2);
    ck_assert_uint_eq(got.len, 1);
    ck_assert_int_eq(px_event_row_binary_event_id(rb, 6, &id, &id_len), -1);
    px_buf_free(&got);
}
END_TEST

Suite *
make_suite_insert_block(void)
{
    Suite  *s = suite_create("insert_block");
    TCase  *tc = tcase_create("block");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_insert_block__rows_found_again);
    tcase_add_test(tc, test_insert_block__truncate_takes_a_batch_back);
    tcase_add_test(tc, test_insert_block__decoded_row_is_its_json_line);
    tcase_add_test(tc, test_insert_block__decoding_a_cut_row_fails);
    suite_add_tcase(s, tc);
    return s;
}
