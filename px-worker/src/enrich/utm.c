/*
 * utm: query-string parsing for campaign parameters. See utm.h.
 */
#include "utm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longer parameter names cannot be one of ours. */
#define KEY_MAX 16

typedef struct {
    const char  *name;
    size_t       offset;     /* of the value field in px_utm_t */
    unsigned     slot;       /* bit in the "seen" mask */
} param_t;

_Static_assert(sizeof("li_fat_id") <= PX_UTM_CLICK_TYPE_MAX,
               "click_id_type holds the longest click id name");

enum { SLOT_SOURCE, SLOT_MEDIUM, SLOT_CAMPAIGN, SLOT_TERM, SLOT_CONTENT,
       SLOT_CLICK };

static const param_t params[] = {
    { "utm_source", offsetof(px_utm_t, source), SLOT_SOURCE },
    { "utm_medium", offsetof(px_utm_t, medium), SLOT_MEDIUM },
    { "utm_campaign", offsetof(px_utm_t, campaign), SLOT_CAMPAIGN },
    { "utm_term", offsetof(px_utm_t, term), SLOT_TERM },
    { "utm_content", offsetof(px_utm_t, content), SLOT_CONTENT },
    { "gclid", offsetof(px_utm_t, click_id), SLOT_CLICK },
    { "fbclid", offsetof(px_utm_t, click_id), SLOT_CLICK },
    { "msclkid", offsetof(px_utm_t, click_id), SLOT_CLICK },
    { "ttclid", offsetof(px_utm_t, click_id), SLOT_CLICK },
    { "twclid", offsetof(px_utm_t, click_id), SLOT_CLICK },
    { "li_fat_id", offsetof(px_utm_t, click_id), SLOT_CLICK },
    { "dclid", offsetof(px_utm_t, click_id), SLOT_CLICK },
};


static int
hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/*
 * Percent-decode [s, e) into dst[cap] ('+' is a space, NUL bytes dropped),
 * stopping when full. Returns the decoded length; *cut says whether input
 * was left over.
 */
static size_t
decode(const char *s, const char *e, char *dst, size_t cap, bool *cut)
{
    size_t  n = 0;
    int     hi, lo;
    char    c;

    *cut = false;
    while (s < e) {
        c = *s++;
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && e - s >= 2
                   && (hi = hex_value((unsigned char) s[0])) >= 0
                   && (lo = hex_value((unsigned char) s[1])) >= 0)
        {
            c = (char) (hi << 4 | lo);
            s += 2;
        }
        if (c == '\0') {
            continue;
        }
        if (n + 1 >= cap) {
            *cut = true;
            break;
        }
        dst[n++] = c;
    }
    dst[n] = '\0';
    return n;
}

/*
 * Length of the UTF-8 sequence at s[0..avail): > 0 when valid, 0 when
 * invalid, -1 when a valid start runs out of bytes.
 */
static int
utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char  c = s[0], lo = 0x80, hi = 0xbf;
    int            len, i;

    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;      /* no overlongs */
        hi = c == 0xed ? 0x9f : 0xbf;      /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;      /* up to U+10FFFF */
    } else {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if ((size_t) i >= avail) {
            return -1;
        }
        if (s[i] < lo || s[i] > hi) {
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return len;
}

/*
 * Make dst[0..n) valid UTF-8 in place: invalid bytes become '?'; a sequence
 * cut short at the end is removed when the value was `cut`, else it was
 * invalid input and becomes '?'s too.
 */
static void
fix_utf8(char *dst, size_t n, bool cut)
{
    unsigned char  *s = (unsigned char *) dst;
    size_t          i = 0;
    int             len;

    while (i < n) {
        len = utf8_seq(s + i, n - i);
        if (len > 0) {
            i += (size_t) len;
        } else if (len < 0 && cut) {
            s[i] = '\0';
            return;
        } else {
            s[i++] = '?';
        }
    }
}

static const param_t *
find_param(const char *key)
{
    size_t  i;

    for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        if (strcasecmp(key, params[i].name) == 0) {
            return &params[i];
        }
    }
    return NULL;
}

/* Handle one "key=value" pair [s, e); returns 1 if it filled a field. */
static int
take_pair(const char *s, const char *e, px_utm_t *out, unsigned *seen)
{
    char            key[KEY_MAX + 1];
    const param_t  *p;
    const char     *eq;
    char           *dst;
    size_t          n;
    bool            cut;

    eq = memchr(s, '=', (size_t) (e - s));
    if (eq == NULL) {
        eq = e;                            /* "utm_source" alone: empty */
    }

    decode(s, eq, key, sizeof(key), &cut);
    if (cut || (p = find_param(key)) == NULL || (*seen & (1u << p->slot))) {
        return 0;
    }
    *seen |= 1u << p->slot;

    dst = (char *) out + p->offset;
    n = decode(eq < e ? eq + 1 : e, e, dst, PX_UTM_VALUE_MAX, &cut);
    fix_utf8(dst, n, cut);

    if (p->slot == SLOT_CLICK) {
        snprintf(out->click_id_type, sizeof(out->click_id_type), "%s",
                 p->name);
    }
    return 1;
}

int
px_utm_parse(const char *page_url, px_utm_t *out)
{
    const char  *s, *e, *amp;
    unsigned     seen = 0;
    int          found = 0;

    if (out == NULL) {
        return 0;
    }
    memset(out, 0, sizeof(*out));
    if (page_url == NULL) {
        return 0;
    }

    s = page_url + strcspn(page_url, "?#");
    if (*s != '?') {
        return 0;
    }
    s++;
    e = s + strcspn(s, "#");

    while (s < e) {
        amp = memchr(s, '&', (size_t) (e - s));
        if (amp == NULL) {
            amp = e;
        }
        if (amp > s) {
            found += take_pair(s, amp, out, &seen);
        }
        s = amp + 1;
    }
    return found;
}
