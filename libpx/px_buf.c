#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "px_buf.h"

void
px_buf_init(px_buf_t *b, const px_alloc_t *alloc, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max != 0 ? max : SIZE_MAX / 2;
    b->alloc = PX_ALLOC(alloc);
}

void
px_buf_free(px_buf_t *b)
{
    if (b->data != NULL) {
        b->alloc->free(b->alloc->ctx, b->data);
    }

    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int
px_buf_reserve(px_buf_t *b, size_t n)
{
    size_t  need, cap;
    char   *p;

    if (n > b->max || b->len > b->max - n) {
        return -1;
    }

    need = b->len + n;
    if (need <= b->cap) {
        return 0;
    }

    cap = b->cap != 0 ? b->cap : 256;
    while (cap < need) {
        cap = cap > SIZE_MAX / 4 ? need : cap * 2;
    }

    p = b->alloc->realloc(b->alloc->ctx, b->data, cap);
    if (p == NULL) {
        return -1;
    }

    b->data = p;
    b->cap = cap;
    return 0;
}

int
px_buf_append(px_buf_t *b, const void *p, size_t n)
{
    if (n == 0) {
        return 0;
    }

    if (px_buf_reserve(b, n) != 0) {
        return -1;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int
px_buf_append_str(px_buf_t *b, const char *s)
{
    return px_buf_append(b, s, strlen(s));
}

size_t
px_utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t    len, i;
    uint32_t  cp;

    if (s[0] < 0x80) {
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }

    if (len > n) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }

    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800)
        || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
    {
        return 0;
    }

    return len;
}

/* Exact: each test is the "has a zero byte" / "has a byte less than n"
 * bit trick. */
int
px_json_plain8(const unsigned char *s)
{
    const uint64_t  ones = 0x0101010101010101ULL;
    const uint64_t  high = 0x8080808080808080ULL;
    uint64_t        x, q, bs;

    memcpy(&x, s, 8);
    q = x ^ (ones * '"');
    bs = x ^ (ones * '\\');

    return (((x - ones * 0x20) & ~x)
            | ((q - ones) & ~q)
            | ((bs - ones) & ~bs)
            | x) & high ? 0 : 1;
}

int
px_buf_append_json_str(px_buf_t *b, const char *s, size_t n)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i, run, seq;
    unsigned char      c;
    char               esc[6];

    /* room for the common case at once (a hint: every append checks) */
    if (n < b->max && b->cap - b->len < n + 2) {
        (void) px_buf_reserve(b, n + 2);
    }

    if (px_buf_append(b, "\"", 1) != 0) {
        return -1;
    }

    run = 0;
    i = 0;
    while (i < n) {
        /* runs of plain ASCII, 8 bytes at a time */
        while (n - i >= 8 && px_json_plain8((const unsigned char *) s + i)) {
            i += 8;
        }
        if (i == n) {
            break;
        }

        c = (unsigned char) s[i];
        if (c >= 0x80) {
            seq = px_utf8_seq_len((const unsigned char *) s + i, n - i);
            if (seq > 0) {
                i += seq;
                continue;
            }

            /* not UTF-8 (a header, a raw Kafka message): U+FFFD */
            if (px_buf_append(b, s + run, i - run) != 0
                || px_buf_append(b, "\\ufffd", 6) != 0)
            {
                return -1;
            }
            run = ++i;
            continue;
        }

        if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }

        if (px_buf_append(b, s + run, i - run) != 0) {
            return -1;
        }
        run = ++i;

        esc[0] = '\\';
        switch (c) {
        case '"':  esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            if (px_buf_append(b, esc, 6) != 0) {
                return -1;
            }
            continue;
        }

        if (px_buf_append(b, esc, 2) != 0) {
            return -1;
        }
    }

    if (px_buf_append(b, s + run, n - run) != 0) {
        return -1;
    }

    return px_buf_append(b, "\"", 1);
}

char *
px_i64_digits(char *end, int64_t v)
{
    uint64_t  m = v < 0 ? 0 - (uint64_t) v : (uint64_t) v;

    do {
        *--end = (char) ('0' + m % 10);
        m /= 10;
    } while (m != 0);

    if (v < 0) {
        *--end = '-';
    }

    return end;
}

int
px_buf_append_i64(px_buf_t *b, int64_t v)
{
    char   tmp[PX_I64_DIGITS_MAX];
    char  *s;

    s = px_i64_digits(tmp + sizeof(tmp), v);
    return px_buf_append(b, s, (size_t) (tmp + sizeof(tmp) - s));
}

int
px_buf_terminate(px_buf_t *b)
{
    if (px_buf_reserve(b, 1) != 0) {
        return -1;
    }

    b->data[b->len] = '\0';
    return 0;
}


size_t
px_json_depth(const char *p, size_t len)
{
    size_t  i, depth, max;
    int     in_str;

    depth = 0;
    max = 0;
    in_str = 0;

    for (i = 0; i < len; i++) {
        if (in_str) {
            if (p[i] == '\\') {
                i++;
            } else if (p[i] == '"') {
                in_str = 0;
            }
            continue;
        }

        switch (p[i]) {
        case '"':
            in_str = 1;
            break;
        case '{':
        case '[':
            if (++depth > max) {
                max = depth;
            }
            break;
        case '}':
        case ']':
            if (depth > 0) {
                depth--;
            }
            break;
        }
    }

    return max;
}
