/*
 * The reader of a Kafka message (px_message.h): yajl's streaming callbacks
 * pick what the worker needs into the message's own buffers (no tree),
 * re-encoding properties and context as the JSON text the worker's line
 * holds.  Decoded messages are reused across batches.
 */
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "px_buf.h"
#include "px_message.h"
#include "px_time.h"
#include "px_uuid.h"

/*
 * yajl's callbacks see the message once; what the worker needs is picked
 * on the way: the FIRST member of a name counts (a later duplicate is
 * ignored, even when the first has the wrong type), and a string is cut at
 * its first NUL (a "\u0000" escape).
 */

/* What the next value is, decided by the member name before it. */
enum {
    PX_V_NONE = 0,

    /* strings kept in m->strs: indexes of px_parse_t.off[] */
    PX_S_PROJECT_ID, PX_S_EVENT_ID, PX_S_EVENT, PX_S_ANON, PX_S_USER,
    PX_S_IP, PX_S_UA, PX_S_PAGE_URL, PX_S_PAGE_PATH, PX_S_PAGE_TITLE,
    PX_S_REFERRER, PX_S_LOCALE, PX_S_LIBRARY, PX_S_LIBRARY_VERSION,
    PX_S_CAMP_SOURCE, PX_S_CAMP_MEDIUM, PX_S_CAMP_NAME, PX_S_CAMP_TERM,
    PX_S_CAMP_CONTENT, PX_S_CLICK_TYPE, PX_S_CLICK_ID,
    PX_S_COUNT,

    PX_V_TIMESTAMP = PX_S_COUNT, PX_V_CLIENT_TS, PX_V_RECEIVED,
    PX_V_SCHEMA, PX_V_WIDTH, PX_V_HEIGHT,
    PX_V_PROPERTIES, PX_V_CONTEXT, PX_V_PAGE, PX_V_SCREEN, PX_V_LIBRARY,
    PX_V_CAMPAIGN, PX_V_CLICK_IDS,
    PX_V_CLICK_CANDIDATE            /* a member of context.click_ids */
};

/* The objects whose members are picked. */
enum {
    PX_K_OTHER = 0, PX_K_ROOT, PX_K_CONTEXT, PX_K_PAGE, PX_K_SCREEN,
    PX_K_LIBRARY, PX_K_CAMPAIGN, PX_K_CLICK_IDS, PX_K_COUNT
};

typedef struct {
    const char  *name;
    size_t       len;
    unsigned     what;
} px_member_t;

#define PX_M(name, what)  { name, sizeof(name) - 1, what }

static const px_member_t  px_root_members[] = {
    PX_M(PX_MSG_PROJECT_ID, PX_S_PROJECT_ID),
    PX_M(PX_MSG_EVENT_ID, PX_S_EVENT_ID),
    PX_M(PX_MSG_EVENT, PX_S_EVENT),
    PX_M(PX_MSG_ANONYMOUS_ID, PX_S_ANON),
    PX_M(PX_MSG_USER_ID, PX_S_USER),
    PX_M(PX_MSG_IP, PX_S_IP),
    PX_M(PX_MSG_USER_AGENT, PX_S_UA),
    PX_M(PX_MSG_TIMESTAMP, PX_V_TIMESTAMP),
    PX_M(PX_MSG_CLIENT_TIMESTAMP, PX_V_CLIENT_TS),
    PX_M(PX_MSG_RECEIVED_AT, PX_V_RECEIVED),
    PX_M(PX_MSG_SCHEMA_VERSION, PX_V_SCHEMA),
    PX_M(PX_MSG_PROPERTIES, PX_V_PROPERTIES),
    PX_M(PX_MSG_CONTEXT, PX_V_CONTEXT),
    { NULL, 0, 0 }
};

static const px_member_t  px_context_members[] = {
    PX_M("page", PX_V_PAGE),
    PX_M("locale", PX_S_LOCALE),
    PX_M("screen", PX_V_SCREEN),
    PX_M("library", PX_V_LIBRARY),
    PX_M("campaign", PX_V_CAMPAIGN),
    PX_M("click_ids", PX_V_CLICK_IDS),
    { NULL, 0, 0 }
};

static const px_member_t  px_page_members[] = {
    PX_M("url", PX_S_PAGE_URL),
    PX_M("path", PX_S_PAGE_PATH),
    PX_M("title", PX_S_PAGE_TITLE),
    PX_M("referrer", PX_S_REFERRER),
    { NULL, 0, 0 }
};

static const px_member_t  px_screen_members[] = {
    PX_M("width", PX_V_WIDTH),
    PX_M("height", PX_V_HEIGHT),
    { NULL, 0, 0 }
};

static const px_member_t  px_library_members[] = {
    PX_M("name", PX_S_LIBRARY),
    PX_M("version", PX_S_LIBRARY_VERSION),
    { NULL, 0, 0 }
};

static const px_member_t  px_campaign_members[] = {
    PX_M("source", PX_S_CAMP_SOURCE),
    PX_M("medium", PX_S_CAMP_MEDIUM),
    PX_M("name", PX_S_CAMP_NAME),
    PX_M("term", PX_S_CAMP_TERM),
    PX_M("content", PX_S_CAMP_CONTENT),
    { NULL, 0, 0 }
};

static const px_member_t *const  px_members[PX_K_COUNT] = {
    NULL, px_root_members, px_context_members, px_page_members,
    px_screen_members, px_library_members, px_campaign_members, NULL
};

typedef struct {
    px_message_t    *m;
    const char      *fail;          /* why a callback stopped the parse */
    size_t           depth;         /* open containers */
    uint64_t         items;         /* bit d-1: container d has an item */
    uint64_t         maps;          /* bit d-1: container d is an object */
    unsigned char    kind[PX_MESSAGE_DEPTH_MAX + 1];
    unsigned         pending;       /* PX_V_* of the next value */
    uint32_t         seen[PX_K_COUNT];  /* members met, by table index */

    size_t           lit_depth;     /* depth of the literal written, or 0 */
    size_t           lit_start;
    unsigned         lit_what;      /* PX_V_PROPERTIES or PX_V_CONTEXT */
    size_t           props_off, props_len;
    size_t           ctx_off, ctx_len;

    size_t           off[PX_S_COUNT];   /* in m->strs; SIZE_MAX: none */
    size_t           click_mark;    /* strs length before a click id key */

    int64_t          ts_ms, client_ts_ms, received_ms;
    long long        width, height, schema;
    unsigned         have_width, have_height, have_schema;
    unsigned         root_is_object;
} px_parse_t;

/* the reason for a message deeper than PX_MESSAGE_DEPTH_MAX */
#define PX_DEEP  "nested deeper than 64"
_Static_assert(PX_MESSAGE_DEPTH_MAX == 64, "PX_DEEP names the depth");
/* the bit sets below hold one bit a level */
_Static_assert(PX_MESSAGE_DEPTH_MAX <= 64, "uint64_t holds each level");

#define PX_BIT(d)  ((uint64_t) 1 << ((d) - 1))

/* The length of s up to its first NUL. */
static size_t
px_cstr_len(const unsigned char *s, size_t n)
{
    const unsigned char  *z = memchr(s, '\0', n);

    return z != NULL ? (size_t) (z - s) : n;
}

/* Room for n more bytes in a message buffer, or stop the parse. */
static int
px_room(px_parse_t *p, px_buf_t *b, size_t n)
{
    if (b->cap - b->len >= n) {
        return 1;
    }

    if (px_buf_reserve(b, n) != 0) {
        p->fail = n > b->max || b->len > b->max - n
                  ? "message too large" : "out of memory";
        return 0;
    }

    return 1;
}

static inline int
px_lit(px_parse_t *p, const char *s, size_t n)
{
    px_buf_t  *b = &p->m->lits;

    if (!px_room(p, b, n)) {
        return 0;
    }

    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 1;
}

/* 1 for the bytes a JSON string can hold as they are (in ASCII). */
static const unsigned char  px_plain[256] = {
#define PX_P16(v)  v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    PX_P16(0), PX_P16(0),
    1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    PX_P16(1),
    PX_P16(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \ */, 1, 1, 1,
    PX_P16(1),
    PX_P16(1),
    PX_P16(0), PX_P16(0), PX_P16(0), PX_P16(0),
    PX_P16(0), PX_P16(0), PX_P16(0), PX_P16(0)
#undef PX_P16
};

/*
 * A string as it is inside the literal: the JSON string that
 * px_buf_append_json_str() writes for it (quotes, escapes, U+FFFD for
 * bytes that are not UTF-8), itself escaped again as the content of a JSON
 * string, which doubles every backslash and puts one before every quote.
 */
static int
px_lit_str(px_parse_t *p, const unsigned char *s, size_t n)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i, run, seq;
    unsigned char      c;
    char               esc[8];
    const char        *e;
    size_t             elen;

    if (!px_room(p, &p->m->lits, n + 4)) {
        return 0;
    }

    if (!px_lit(p, "\\\"", 2)) {
        return 0;
    }

    run = 0;
    i = 0;
    while (i < n) {
        while (n - i >= 8 && px_json_plain8(s + i)) {
            i += 8;
        }
        if (i == n) {
            break;
        }

        c = s[i];
        if (px_plain[c]) {
            i++;
            continue;
        }

        if (c >= 0x80) {
            seq = px_utf8_seq_len(s + i, n - i);
            if (seq > 0) {
                i += seq;
                continue;
            }
            e = "\\\\ufffd";
            elen = 7;

        } else {
            switch (c) {
            case '"':  e = "\\\\\\\""; elen = 4; break;
            case '\\': e = "\\\\\\\\"; elen = 4; break;
            case '\n': e = "\\\\n"; elen = 3; break;
            case '\r': e = "\\\\r"; elen = 3; break;
            case '\t': e = "\\\\t"; elen = 3; break;
            case '\b': e = "\\\\b"; elen = 3; break;
            case '\f': e = "\\\\f"; elen = 3; break;
            default:
                memcpy(esc, "\\\\u00", 5);
                esc[5] = hex[c >> 4];
                esc[6] = hex[c & 0xf];
                e = esc;
                elen = 7;
                break;
            }
        }

        if (!px_lit(p, (const char *) s + run, i - run)
            || !px_lit(p, e, elen))
        {
            return 0;
        }
        i++;
        run = i;
    }

    return px_lit(p, (const char *) s + run, n - run)
           && px_lit(p, "\\\"", 2);
}

/* Inside a literal: the comma before an item of an array. */
static int
px_lit_sep(px_parse_t *p)
{
    uint64_t  bit;

    if (p->lit_depth == 0 || p->depth < p->lit_depth) {
        return 1;
    }

    bit = PX_BIT(p->depth);
    if (p->maps & bit) {
        return 1;           /* a member value: its name wrote the comma */
    }

    if (p->items & bit) {
        if (!px_lit(p, ",", 1)) {
            return 0;
        }
    }
    p->items |= bit;
    return 1;
}

#define PX_IN_LIT(p)  ((p)->lit_depth != 0 && (p)->depth >= (p)->lit_depth)

/* Keep a string in m->strs, NUL-terminated. */
static int
px_keep(px_parse_t *p, unsigned what, const unsigned char *s, size_t n)
{
    px_buf_t  *b = &p->m->strs;

    if (!px_room(p, b, n + 1)) {
        return 0;
    }

    p->off[what] = b->len;
    memcpy(b->data + b->len, s, n);
    b->data[b->len + n] = '\0';
    b->len += n + 1;
    return 1;
}

/* A whole number within long long (yajl_parse_integer()'s test).  The
 * lexer has checked the grammar. */
static int
px_integer(const char *s, size_t n, long long *v)
{
    unsigned long long  m = 0;
    size_t              i = 0;
    int                 neg = 0;

    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i == n) {
        return 0;
    }

    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9'
            || m > ((unsigned long long) INT64_MAX - (unsigned) (s[i] - '0'))
                   / 10)
        {
            return 0;
        }
        m = m * 10 + (unsigned) (s[i] - '0');
    }

    *v = neg ? -(long long) m : (long long) m;
    return 1;
}

/* A value that is not what its name asked for drops a click id key. */
static void
px_value_seen(px_parse_t *p)
{
    if (p->pending == PX_V_CLICK_CANDIDATE) {
        p->m->strs.len = p->click_mark;
        p->off[PX_S_CLICK_TYPE] = SIZE_MAX;
    }
    p->pending = PX_V_NONE;
}

static int
px_on_null(void *ctx)
{
    px_parse_t  *p = ctx;

    if (PX_IN_LIT(p) && (!px_lit_sep(p) || !px_lit(p, "null", 4))) {
        return 0;
    }
    px_value_seen(p);
    return 1;
}

static int
px_on_boolean(void *ctx, int v)
{
    px_parse_t  *p = ctx;

    if (PX_IN_LIT(p)
        && (!px_lit_sep(p)
            || !(v ? px_lit(p, "true", 4) : px_lit(p, "false", 5))))
    {
        return 0;
    }
    px_value_seen(p);
    return 1;
}

static int
px_on_number(void *ctx, const char *s, size_t n)
{
    px_parse_t  *p = ctx;

    if (PX_IN_LIT(p) && (!px_lit_sep(p) || !px_lit(p, s, n))) {
        return 0;
    }

    switch (p->pending) {
    case PX_V_SCHEMA:
        p->have_schema = (unsigned) px_integer(s, n, &p->schema);
        break;
    case PX_V_WIDTH:
        p->have_width = (unsigned) px_integer(s, n, &p->width);
        break;
    case PX_V_HEIGHT:
        p->have_height = (unsigned) px_integer(s, n, &p->height);
        break;
    }

    px_value_seen(p);
    return 1;
}

static int64_t
px_time(const unsigned char *s, size_t n)
{
    int64_t  ms;

    return px_time_parse_iso((const char *) s, n, &ms) == 0 ? ms : -1;
}

static int
px_on_string(void *ctx, const unsigned char *s, size_t n)
{
    px_parse_t  *p = ctx;

    n = px_cstr_len(s, n);
    if (PX_IN_LIT(p) && (!px_lit_sep(p) || !px_lit_str(p, s, n))) {
        return 0;
    }

    if (p->pending == PX_V_NONE) {
        return 1;
    }

    if (p->pending < PX_S_COUNT) {
        if (!px_keep(p, p->pending, s, n)) {
            return 0;
        }

    } else {
        switch (p->pending) {
        case PX_V_TIMESTAMP:
            p->ts_ms = px_time(s, n);
            break;
        case PX_V_CLIENT_TS:
            p->client_ts_ms = px_time(s, n);
            break;
        case PX_V_RECEIVED:
            p->received_ms = px_time(s, n);
            break;
        case PX_V_CLICK_CANDIDATE:
            if (n > 0) {
                p->pending = PX_V_NONE;     /* keep the key */
                return px_keep(p, PX_S_CLICK_ID, s, n);
            }
            break;
        }
    }

    px_value_seen(p);
    return 1;
}

static int
px_open(px_parse_t *p, unsigned is_map, const char *bracket)
{
    unsigned  kind = PX_K_OTHER;
    unsigned  what = p->pending;

    if (p->depth == PX_MESSAGE_DEPTH_MAX) {
        p->fail = PX_DEEP;
        return 0;
    }

    if (PX_IN_LIT(p) && (!px_lit_sep(p) || !px_lit(p, bracket, 1))) {
        return 0;
    }

    px_value_seen(p);

    if (is_map) {
        if (p->depth == 0) {
            p->root_is_object = 1;
            kind = PX_K_ROOT;
        }

        switch (what) {
        case PX_V_PROPERTIES:
        case PX_V_CONTEXT:
            p->lit_depth = p->depth + 1;
            p->lit_start = p->m->lits.len;
            p->lit_what = what;
            if (!px_lit(p, "\"{", 2)) {
                return 0;
            }
            kind = what == PX_V_CONTEXT ? PX_K_CONTEXT : PX_K_OTHER;
            break;
        case PX_V_PAGE:
            kind = PX_K_PAGE;
            break;
        case PX_V_SCREEN:
            kind = PX_K_SCREEN;
            break;
        case PX_V_LIBRARY:
            kind = PX_K_LIBRARY;
            break;
        case PX_V_CAMPAIGN:
            kind = PX_K_CAMPAIGN;
            p->m->has_campaign = 1;
            break;
        case PX_V_CLICK_IDS:
            kind = PX_K_CLICK_IDS;
            break;
        }
    }

    p->depth++;
    p->items &= ~PX_BIT(p->depth);
    if (is_map) {
        p->maps |= PX_BIT(p->depth);
    } else {
        p->maps &= ~PX_BIT(p->depth);
    }
    p->kind[p->depth] = (unsigned char) kind;
    return 1;
}

static int
px_close(px_parse_t *p, const char *bracket)
{
    if (PX_IN_LIT(p)) {
        if (!px_lit(p, bracket, 1)) {
            return 0;
        }

        if (p->depth == p->lit_depth) {
            if (!px_lit(p, "\"", 1)) {
                return 0;
            }
            if (p->lit_what == PX_V_PROPERTIES) {
                p->props_off = p->lit_start;
                p->props_len = p->m->lits.len - p->lit_start;
            } else {
                p->ctx_off = p->lit_start;
                p->ctx_len = p->m->lits.len - p->lit_start;
            }
            p->lit_depth = 0;
        }
    }

    p->depth--;
    return 1;
}

static int
px_on_start_map(void *ctx)
{
    return px_open(ctx, 1, "{");
}

static int
px_on_end_map(void *ctx)
{
    return px_close(ctx, "}");
}

static int
px_on_start_array(void *ctx)
{
    return px_open(ctx, 0, "[");
}

static int
px_on_end_array(void *ctx)
{
    return px_close(ctx, "]");
}

static int
px_on_map_key(void *ctx, const unsigned char *s, size_t n)
{
    px_parse_t         *p = ctx;
    const px_member_t  *m;
    unsigned            kind, i;
    uint64_t            bit;

    n = px_cstr_len(s, n);

    if (PX_IN_LIT(p)) {
        bit = PX_BIT(p->depth);
        if (((p->items & bit) && !px_lit(p, ",", 1))
            || !px_lit_str(p, s, n) || !px_lit(p, ":", 1))
        {
            return 0;
        }
        p->items |= bit;
    }

    p->pending = PX_V_NONE;
    kind = p->kind[p->depth];

    if (kind == PX_K_CLICK_IDS) {
        if (p->off[PX_S_CLICK_ID] == SIZE_MAX) {
            p->click_mark = p->m->strs.len;
            if (!px_keep(p, PX_S_CLICK_TYPE, s, n)) {
                return 0;
            }
            p->pending = PX_V_CLICK_CANDIDATE;
        }
        return 1;
    }

    m = px_members[kind];
    if (m == NULL) {
        return 1;
    }

    for (i = 0; m[i].name != NULL; i++) {
        if (m[i].len == n && memcmp(m[i].name, s, n) == 0) {
            if (!(p->seen[kind] & (1u << i))) {
                p->seen[kind] |= 1u << i;
                p->pending = m[i].what;
            }
            break;
        }
    }

    return 1;
}

static const yajl_callbacks  px_callbacks = {
    px_on_null,
    px_on_boolean,
    NULL,
    NULL,
    px_on_number,
    px_on_string,
    px_on_start_map,
    px_on_map_key,
    px_on_end_map,
    px_on_start_array,
    px_on_end_array
};

static int
px_refuse(char *err, size_t errlen, const char *reason)
{
    snprintf(err, errlen, "%s", reason);
    return -1;
}

/* Run yajl over the message.  0, or -1 with the reason in err. */
static int
px_parse_json(px_parse_t *p, const char *msg, size_t len, char *err,
    size_t errlen)
{
    yajl_handle     h;
    yajl_status     st;
    unsigned char  *text;

    if (memchr(msg, '\0', len) != NULL) {
        return px_refuse(err, errlen,
                         px_json_depth(msg, len) > PX_MESSAGE_DEPTH_MAX
                         ? PX_DEEP : "NUL byte in message");
    }

    h = yajl_alloc(&px_callbacks, NULL, p);
    if (h == NULL) {
        return px_refuse(err, errlen, "out of memory");
    }
    (void) yajl_config(h, yajl_allow_comments, 1);

    /* complete_parse even after an error, as yajl_tree_parse() does: the
     * reason then quotes the message from its start */
    (void) yajl_parse(h, (const unsigned char *) msg, len);
    st = yajl_complete_parse(h);

    if (st == yajl_status_ok) {
        yajl_free(h);
        return 0;
    }

    if (p->fail != NULL) {
        (void) px_refuse(err, errlen, p->fail);

    } else if (px_json_depth(msg, len) > PX_MESSAGE_DEPTH_MAX) {
        (void) px_refuse(err, errlen, PX_DEEP);

    } else {
        text = yajl_get_error(h, 1, (const unsigned char *) msg, len);
        if (text != NULL) {
            snprintf(err, errlen, "%s", (const char *) text);
            yajl_free_error(h, text);
        }
        if (err[0] == '\0') {
            snprintf(err, errlen, "not JSON");
        }
    }

    yajl_free(h);
    return -1;
}

static void
px_msg_buf_init(px_buf_t *b)
{
    if (b->alloc == NULL) {
        px_buf_init(b, NULL, PX_MESSAGE_MAX_BYTES);
    }
    b->len = 0;
}

/* "WxH", cut to the size of m->screen (snprintf("%lldx%lld")'s cut) */
static void
px_msg_screen(px_message_t *m, long long w, long long h)
{
    char    bw[24], bh[24], *sw, *sh;
    size_t  lw, lh, n;

    sw = px_i64_digits(bw + sizeof(bw), w);
    sh = px_i64_digits(bh + sizeof(bh), h);
    lw = (size_t) (bw + sizeof(bw) - sw);
    lh = (size_t) (bh + sizeof(bh) - sh);

    n = lw < sizeof(m->screen) - 1 ? lw : sizeof(m->screen) - 1;
    memcpy(m->screen, sw, n);
    if (n < sizeof(m->screen) - 1) {
        m->screen[n++] = 'x';
    }
    if (lh > sizeof(m->screen) - 1 - n) {
        lh = sizeof(m->screen) - 1 - n;
    }
    memcpy(m->screen + n, sh, lh);
    m->screen[n + lh] = '\0';
}

int
px_message_parse(px_message_t *m, const char *msg, size_t len,
    char *err, size_t errlen)
{
    static const char  empty_obj[] = "\"{}\"";
    px_buf_t           strs, lits;
    px_parse_t         p;
    size_t             i;
    const char        *s[PX_S_COUNT];

    strs = m->strs;
    lits = m->lits;
    memset(m, 0, sizeof(*m));
    m->strs = strs;
    m->lits = lits;
    px_msg_buf_init(&m->strs);
    px_msg_buf_init(&m->lits);
    err[0] = '\0';

    memset(&p, 0, sizeof(p));
    p.m = m;
    p.ts_ms = -1;
    p.client_ts_ms = -1;
    p.received_ms = -1;
    p.props_off = SIZE_MAX;
    p.ctx_off = SIZE_MAX;
    for (i = 0; i < PX_S_COUNT; i++) {
        p.off[i] = SIZE_MAX;
    }

    if (px_parse_json(&p, msg, len, err, errlen) != 0) {
        return -1;
    }

    if (!p.root_is_object) {
        return px_refuse(err, errlen, "message is not a JSON object");
    }

    /* the rest of the message is read as this version writes it */
    if (!p.have_schema) {
        return px_refuse(err, errlen, "missing or invalid schema_version");
    }
    if (p.schema != PX_SCHEMA_VERSION) {
        snprintf(err, errlen, "unknown schema_version %lld (this reader "
                 "knows %d)", p.schema, PX_SCHEMA_VERSION);
        return -1;
    }
    m->schema_version = PX_SCHEMA_VERSION;

    for (i = 0; i < PX_S_COUNT; i++) {
        s[i] = p.off[i] != SIZE_MAX ? m->strs.data + p.off[i] : NULL;
    }

    m->project_id = s[PX_S_PROJECT_ID];
    m->event_id = s[PX_S_EVENT_ID];
    m->event = s[PX_S_EVENT];
    m->ts_ms = p.ts_ms;
    m->received_ms = p.received_ms;

    if (m->project_id == NULL || m->project_id[0] == '\0') {
        return px_refuse(err, errlen, "missing project_id");
    }
    if (m->event_id == NULL
        || !px_uuid_valid(m->event_id, strlen(m->event_id)))
    {
        return px_refuse(err, errlen, "missing or invalid event_id");
    }
    if (m->event == NULL || m->event[0] == '\0') {
        return px_refuse(err, errlen, "missing event name");
    }
    if (m->ts_ms < 0 || m->received_ms < 0) {
        return px_refuse(err, errlen,
                         "missing or invalid timestamp/received_at");
    }

    m->client_ts_ms = p.client_ts_ms < 0 ? 0 : p.client_ts_ms;

    m->anonymous_id = s[PX_S_ANON];
    m->user_id = s[PX_S_USER];
    m->ip = s[PX_S_IP];
    m->user_agent = s[PX_S_UA];
    m->page_url = s[PX_S_PAGE_URL];
    m->page_path = s[PX_S_PAGE_PATH];
    m->page_title = s[PX_S_PAGE_TITLE];
    m->referrer = s[PX_S_REFERRER];
    m->locale = s[PX_S_LOCALE];
    m->library = s[PX_S_LIBRARY];
    m->library_version = s[PX_S_LIBRARY_VERSION];
    m->campaign_source = s[PX_S_CAMP_SOURCE];
    m->campaign_medium = s[PX_S_CAMP_MEDIUM];
    m->campaign_name = s[PX_S_CAMP_NAME];
    m->campaign_term = s[PX_S_CAMP_TERM];
    m->campaign_content = s[PX_S_CAMP_CONTENT];
    if (s[PX_S_CLICK_ID] != NULL) {
        m->click_id_type = s[PX_S_CLICK_TYPE];
        m->click_id = s[PX_S_CLICK_ID];
    }

    if (p.props_off != SIZE_MAX) {
        m->properties = m->lits.data + p.props_off;
        m->properties_len = p.props_len;
    } else {
        m->properties = empty_obj;
        m->properties_len = sizeof(empty_obj) - 1;
    }
    if (p.ctx_off != SIZE_MAX) {
        m->context = m->lits.data + p.ctx_off;
        m->context_len = p.ctx_len;
    } else {
        m->context = empty_obj;
        m->context_len = sizeof(empty_obj) - 1;
    }

    if (p.have_width && p.have_height) {
        px_msg_screen(m, p.width, p.height);
    }

    return 0;
}

static void
px_msg_buf_reset(px_buf_t *b)
{
    if (b->cap > PX_MESSAGE_KEEP_BYTES) {
        px_buf_free(b);
    }
    b->len = 0;
}

void
px_message_reset(px_message_t *m)
{
    px_msg_buf_reset(&m->strs);
    px_msg_buf_reset(&m->lits);
}

void
px_message_free(px_message_t *m)
{
    px_buf_free(&m->strs);
    px_buf_free(&m->lits);
}

const char *
px_message_visitor(const px_message_t *m)
{
    if (m->anonymous_id != NULL && m->anonymous_id[0] != '\0') {
        return m->anonymous_id;
    }
    if (m->user_id != NULL && m->user_id[0] != '\0') {
        return m->user_id;
    }
    return m->event_id != NULL ? m->event_id : "";
}
