/*
 * A growable byte buffer with a hard cap, and JSON writing helpers on it.
 */
#ifndef PX_BUF_H
#define PX_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "px_alloc.h"

typedef struct {
    char             *data;
    size_t            len;
    size_t            cap;
    size_t            max;      /* 0: no cap beyond SIZE_MAX / 2 */
    const px_alloc_t *alloc;
} px_buf_t;

void px_buf_init(px_buf_t *b, const px_alloc_t *alloc, size_t max);
void px_buf_free(px_buf_t *b);

/* Make room for n more bytes.  Returns 0, or -1 when out of memory or the
 * cap would be passed (the buffer is left as it was). */
int px_buf_reserve(px_buf_t *b, size_t n);

int px_buf_append(px_buf_t *b, const void *p, size_t n);
int px_buf_append_str(px_buf_t *b, const char *s);

/* Append s as a quoted JSON string, escaping what JSON requires; a byte
 * that is not part of well-formed UTF-8 becomes U+FFFD, so the output is
 * always valid JSON whatever the input. */
int px_buf_append_json_str(px_buf_t *b, const char *s, size_t n);

int px_buf_append_i64(px_buf_t *b, int64_t v);

#define PX_I64_DIGITS_MAX  24

/* Write v in decimal so that it ends at end (PX_I64_DIGITS_MAX bytes of
 * room before it); returns where it starts. */
char *px_i64_digits(char *end, int64_t v);

/* Length of the well-formed UTF-8 sequence at s (1..4; n >= 1 bytes
 * there), or 0 when it is not one. */
size_t px_utf8_seq_len(const unsigned char *s, size_t n);

/* Deepest nesting of the JSON text p[0..len) (the root object is depth 1),
 * brackets inside strings ignored; the text's validity is not checked. */
size_t px_json_depth(const char *p, size_t len);

/* 1 when the 8 bytes at s can all go into a JSON string as they are: none
 * is a control character, '"', '\\' or non-ASCII. */
int px_json_plain8(const unsigned char *s);

/* NUL-terminate without counting the NUL in len. */
int px_buf_terminate(px_buf_t *b);

#endif
