/*
 * ua_parse: run the uap-core rule lists over a UA string. See ua_parse.h.
 */
#include "ua_parse.h"

#include <stdalign.h>
#include <string.h>

/*
 * Stack arena for the per-call PCRE2 contexts and match data: a general
 * context, a match context and an ovector of db->max_pairs pairs fit in a
 * few hundred bytes. Larger needs fall back to the heap.
 */
#define ARENA_BYTES 2048

typedef struct {
    size_t                   used;
    alignas(max_align_t) unsigned char  mem[ARENA_BYTES];
} arena_t;

/* Bounded output: appends are cut at a UTF-8 character boundary. */
typedef struct {
    char    *buf;
    size_t   cap;
    size_t   len;
    int      full;
    int      skip_space;   /* drop whitespace while nothing is written */
} out_t;

static void *
arena_alloc(PCRE2_SIZE n, void *data)
{
    arena_t  *a = data;
    size_t    off;

    off = (a->used + alignof(max_align_t) - 1)
          & ~(size_t) (alignof(max_align_t) - 1);
    if (off > ARENA_BYTES || n > ARENA_BYTES - off) {
        return NULL;
    }
    a->used = off + n;
    return a->mem + off;
}

static void
arena_release(void *p, void *data)
{
    (void) p;
    (void) data;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'
           || c == '\f';
}

static void
out_put(out_t *o, const char *p, size_t n)
{
    size_t  room;

    if (o->full) {
        return;
    }
    while (o->skip_space && o->len == 0 && n > 0 && is_space(*p)) {
        p++;
        n--;
    }

    room = o->cap - 1 - o->len;
    if (n > room) {
        /* back off so that no character is cut in two */
        n = room;
        while (n > 0 && ((unsigned char) p[n] & 0xC0) == 0x80) {
            n--;
        }
        o->full = 1;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
out_put_group(out_t *o, const char *subject, const PCRE2_SIZE *ov,
    uint32_t npairs, unsigned g)
{
    if (g == 0 || g >= npairs || ov[2 * g] == PCRE2_UNSET) {
        return;
    }
    out_put(o, subject + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
}

size_t
px_ua_expand(const char *tmpl, const char *subject, const PCRE2_SIZE *ovector,
    uint32_t npairs, char *out, size_t outlen)
{
    out_t        o = { out, outlen, 0, 0, 1 };
    const char  *p, *lit;

    out[0] = '\0';
    lit = tmpl;
    for (p = tmpl; *p != '\0'; p++) {
        if (p[0] == '$' && p[1] >= '1' && p[1] <= '9') {
            out_put(&o, lit, (size_t) (p - lit));
            out_put_group(&o, subject, ovector, npairs,
                          (unsigned) (p[1] - '0'));
            p++;
            lit = p + 1;
        }
    }
    out_put(&o, lit, (size_t) (p - lit));

    while (o.len > 0 && is_space(out[o.len - 1])) {
        out[--o.len] = '\0';
    }

    return o.len;
}

size_t
px_ua_fields(px_ua_t *u, px_ua_list_id_t id, char **buf, size_t *cap)
{
#define FIELD(i, m)  (buf[i] = (m), cap[i] = sizeof(m))
    switch (id) {
    case PX_UA_LIST_BROWSER:
        FIELD(0, u->browser.family);
        FIELD(1, u->browser.major);
        FIELD(2, u->browser.minor);
        FIELD(3, u->browser.patch);
        return 4;
    case PX_UA_LIST_OS:
        FIELD(0, u->os.family);
        FIELD(1, u->os.major);
        FIELD(2, u->os.minor);
        FIELD(3, u->os.patch);
        FIELD(4, u->os.patch_minor);
        return 5;
    default:
        FIELD(0, u->device.family);
        FIELD(1, u->device.brand);
        FIELD(2, u->device.model);
        return 3;
    }
#undef FIELD
}

static void
parse_list(const px_ua_db_t *db, px_ua_list_id_t id, const char *ua,
    size_t len, pcre2_match_data *md, pcre2_match_context *mc, px_ua_t *u)
{
    const px_ua_list_spec_t  *spec = &px_ua_list_specs[id];
    const px_ua_rule_list_t  *list = &db->lists[id];
    const px_ua_rule_t       *r;
    const PCRE2_SIZE         *ov;
    char                     *buf[PX_UA_MAX_FIELDS];
    size_t                    cap[PX_UA_MAX_FIELDS];
    out_t                     o;
    size_t                    i, n;
    int                       rc = -1;

    n = px_ua_fields(u, id, buf, cap);

    for (r = list->rules; r < list->rules + list->count; r++) {
        /* no match, or the match limit was hit: both mean "next rule" */
        rc = db->all_jit
             ? pcre2_jit_match(r->code, (PCRE2_SPTR) ua, len, 0, 0, md, mc)
             : pcre2_match(r->code, (PCRE2_SPTR) ua, len, 0, 0, md, mc);
        if (rc > 0) {
            break;
        }
    }

    if (rc > 0) {
        ov = pcre2_get_ovector_pointer(md);
        for (i = 0; i < n; i++) {
            if (r->repl[i] != NULL) {
                px_ua_expand(r->repl[i], ua, ov, (uint32_t) rc, buf[i],
                             cap[i]);
            } else {
                o = (out_t) { buf[i], cap[i], 0, 0, 0 };
                out_put_group(&o, ua, ov, (uint32_t) rc, spec->group[i]);
            }
        }
    }

    if (buf[0][0] == '\0') {
        o = (out_t) { buf[0], cap[0], 0, 0, 0 };
        out_put(&o, "Other", 5);
    }
}

/* s equals an entry of the NULL-terminated list; "x*" matches prefix x. */
static int
name_in(const char *s, const char *const *list)
{
    size_t  n;

    for (; *list != NULL; list++) {
        n = strlen(*list);
        if ((*list)[n - 1] == '*' ? strncmp(s, *list, n - 1) == 0
                                  : strcmp(s, *list) == 0)
        {
            return 1;
        }
    }
    return 0;
}

static const char *const bot_words[] = { "bot", "crawler", "spider", NULL };

static const char *const tablet_devices[] = { "iPad*", "Kindle*", NULL };

static const char *const mobile_devices[] = { "iPhone*", "iPod*", NULL };

static const char *const mobile_os[] = {
    "iOS", "Android", "Windows Phone", "Windows Mobile", "BlackBerry OS",
    "KaiOS", "Symbian*", "Firefox OS", "Tizen", "Sailfish", "webOS", "Bada",
    "BREW", "Brew MP", "Nokia Series*", "MeeGo", "Maemo", NULL
};

static const char *const desktop_os[] = {
    "Windows", "Mac OS X", "Mac OS", "Chrome OS", "Linux", "Ubuntu",
    "Debian", "Fedora", "Gentoo", "Red Hat", "Mandriva", "SUSE", "openSUSE",
    "Mint", "Arch Linux", "Slackware", "CentOS", "FreeBSD", "OpenBSD",
    "NetBSD", "BSD", "Solaris", NULL
};

static int
has(const char *ua, size_t len, const char *word)
{
    return memmem(ua, len, word, strlen(word)) != NULL;
}

static px_ua_device_type_t
device_type(const px_ua_t *u, const char *ua, size_t len)
{
    const char *const  *w;

    if (strcmp(u->device.family, "Spider") == 0) {
        return PX_UA_BOT;
    }
    for (w = bot_words; *w != NULL; w++) {
        if (strcasestr(u->browser.family, *w) != NULL) {
            return PX_UA_BOT;
        }
    }

    if (name_in(u->device.family, tablet_devices)
        || strstr(u->device.family, "Tablet") != NULL
        || strcmp(u->os.family, "BlackBerry Tablet OS") == 0
        || has(ua, len, "Tablet")
        || (strcmp(u->os.family, "Android") == 0 && !has(ua, len, "Mobile")))
    {
        return PX_UA_TABLET;
    }

    if (name_in(u->os.family, mobile_os)
        || name_in(u->device.family, mobile_devices)
        || has(ua, len, "Mobi"))
    {
        return PX_UA_MOBILE;
    }

    if (name_in(u->os.family, desktop_os)) {
        return PX_UA_DESKTOP;
    }

    return PX_UA_OTHER;
}

int
px_ua_parse(const px_ua_db_t *db, const char *ua, size_t len, px_ua_t *out)
{
    pcre2_general_context  *gc = NULL;
    pcre2_match_context    *mc = NULL;
    pcre2_match_data       *md = NULL;
    arena_t                 arena;
    size_t                  l;
    int                     rc = -1;

    memset(out, 0, sizeof(*out));
    if (ua == NULL) {
        ua = "";
        len = 0;
    }

    /* Without JIT, pcre2_match() wants heap frames: use the heap then. */
    if (db->all_jit) {
        arena.used = 0;
        gc = pcre2_general_context_create(arena_alloc, arena_release, &arena);
        if (gc != NULL) {
            md = pcre2_match_data_create(db->max_pairs, gc);
            mc = pcre2_match_context_create(gc);
        }
    }
    if (md == NULL || mc == NULL) {
        gc = NULL;
        md = pcre2_match_data_create(db->max_pairs, NULL);
        mc = pcre2_match_context_create(NULL);
        if (md == NULL || mc == NULL) {
            goto done;
        }
    }
    pcre2_set_match_limit(mc, PX_UA_MATCH_LIMIT);

    for (l = 0; l < PX_UA_LIST_COUNT; l++) {
        parse_list(db, (px_ua_list_id_t) l, ua, len, md, mc, out);
    }
    out->device_type = device_type(out, ua, len);
    out->is_bot = out->device_type == PX_UA_BOT;
    rc = 0;

done:
    if (gc == NULL) {
        /* heap-allocated (arena memory needs no release) */
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
    }
    if (rc != 0) {
        memset(out, 0, sizeof(*out));
        strcpy(out->browser.family, "Other");
        strcpy(out->os.family, "Other");
        strcpy(out->device.family, "Other");
    }
    return rc;
}

const char *
px_ua_device_type_name(px_ua_device_type_t t)
{
    switch (t) {
    case PX_UA_DESKTOP:
        return "desktop";
    case PX_UA_MOBILE:
        return "mobile";
    case PX_UA_TABLET:
        return "tablet";
    case PX_UA_BOT:
        return "bot";
    default:
        return "other";
    }
}


size_t
px_ua_version_str(char v[PX_UA_VERSION_STR_LEN], const char *a,
    const char *b, const char *c)
{
    const char  *part[3] = { a, b, c };
    size_t       n = 0, l, i;

    for (i = 0; i < 3 && part[i][0] != '\0'; i++) {
        if (i > 0) {
            v[n++] = '.';
        }
        l = strnlen(part[i], PX_UA_VERSION_LEN - 1);
        memcpy(v + n, part[i], l);
        n += l;
    }
    v[n] = '\0';

    return n;
}
