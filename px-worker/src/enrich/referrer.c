/*
 * referrer: URL host extraction and referrer classification. See referrer.h.
 */
#include "referrer.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#define HOST_NAME_MAX_LEN 253

typedef enum {
    MATCH_DOMAIN,   /* the host is this domain or a subdomain of it */
    MATCH_BRAND     /* a label of the host is this, then a short suffix */
} match_t;

typedef struct {
    const char          *name;
    match_t              how;
    px_referrer_type_t   type;
} rule_t;

/* First match wins; internal is decided before this list. */
static const rule_t rules[] = {
    { "google", MATCH_BRAND, PX_REFERRER_SEARCH },
    { "bing.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "duckduckgo.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "yahoo", MATCH_BRAND, PX_REFERRER_SEARCH },
    { "yandex", MATCH_BRAND, PX_REFERRER_SEARCH },
    { "ya.ru", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "baidu.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "ecosia.org", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "search.brave.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "startpage.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "qwant.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "kagi.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "ask.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "aol.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "naver.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "seznam.cz", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    { "sogou.com", MATCH_DOMAIN, PX_REFERRER_SEARCH },
    /* the Google app's android-app:// referrer */
    { "com.google.android.googlequicksearchbox", MATCH_DOMAIN,
      PX_REFERRER_SEARCH },

    { "facebook.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "fb.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "messenger.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "instagram.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "threads.net", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "t.co", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "twitter.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "x.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "linkedin.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "lnkd.in", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "reddit.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "youtube.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "youtu.be", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "pinterest", MATCH_BRAND, PX_REFERRER_SOCIAL },
    { "tiktok.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "news.ycombinator.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "bsky.app", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "mastodon.social", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "tumblr.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "quora.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "vk.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "ok.ru", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "weibo.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "snapchat.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "discord.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "t.me", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
    { "whatsapp.com", MATCH_DOMAIN, PX_REFERRER_SOCIAL },
};


/* ---- host extraction ---------------------------------------------------- */

static bool
is_blank(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

static bool
is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_slash(unsigned char c)
{
    return c == '/' || c == '\\';
}

static bool
ends_authority(unsigned char c)
{
    return is_slash(c) || c == '?' || c == '#';
}

static unsigned char
lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c - 'A' + 'a') : c;
}

/* Whether [p, e) is a port: digits, up to the end of the authority. */
static bool
is_port(const char *p, const char *e)
{
    for (; p < e && !ends_authority((unsigned char) *p); p++) {
        if (!is_digit((unsigned char) *p)) {
            return false;
        }
    }
    return true;
}

/*
 * Skip the scheme of [p, e): returns where the authority starts, or NULL
 * when the URL has no authority ("about:blank", "mailto:x", "/path").
 */
static const char *
skip_scheme(const char *p, const char *e)
{
    const char  *q = p;

    if (q < e && is_alpha((unsigned char) *q)) {
        while (q < e && (is_alpha((unsigned char) *q)
                         || is_digit((unsigned char) *q)
                         || *q == '+' || *q == '-' || *q == '.'))
        {
            q++;
        }
        if (q < e && *q == ':') {
            if (e - q >= 3 && is_slash((unsigned char) q[1])
                && is_slash((unsigned char) q[2]))
            {
                p = q + 3;
            } else if (q + 1 < e && is_port(q + 1, e)) {
                return p;                  /* "localhost:3000/..." */
            } else {
                return NULL;               /* "about:blank" */
            }
        }
    } else if (e - p >= 2 && is_slash((unsigned char) p[0])
               && is_slash((unsigned char) p[1]))
    {
        p += 2;                            /* "//host/..." */
    } else if (p < e && is_slash((unsigned char) *p)) {
        return NULL;                       /* a path */
    }

    while (p < e && is_slash((unsigned char) *p)) {
        p++;                               /* "http:///host", as browsers */
    }
    return p;
}

/* The first `c` in [p, e), or NULL. */
static const char *
find_char(const char *p, const char *e, char c)
{
    for (; p < e; p++) {
        if (*p == c) {
            return p;
        }
    }
    return NULL;
}

static bool
host_char_ok(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_'
           || c >= 0x80;
}

/* Copy the bracketed IPv6 literal [h, e) ("[...]") lowercased; 0 or -1. */
static int
copy_ipv6_literal(const char *h, const char *e, char *host, size_t hostlen)
{
    unsigned char  addr[16];
    char           inner[INET6_ADDRSTRLEN];
    size_t         n = (size_t) (e - h), i;

    if (n < 3 || n - 2 >= sizeof(inner) || n >= hostlen) {
        return -1;
    }
    memcpy(inner, h + 1, n - 2);
    inner[n - 2] = '\0';
    if (inet_pton(AF_INET6, inner, addr) != 1) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        host[i] = (char) lower((unsigned char) h[i]);
    }
    host[n] = '\0';
    return 0;
}

/* Copy the host name [h, e) lowercased, checking its characters and
 * labels and dropping one trailing dot; 0 or -1. */
static int
copy_host_name(const char *h, const char *e, char *host, size_t hostlen)
{
    const char  *p;
    size_t       n;

    if (e > h && e[-1] == '.') {
        e--;
    }
    n = (size_t) (e - h);
    if (n == 0 || n > HOST_NAME_MAX_LEN || n >= hostlen) {
        return -1;
    }
    for (p = h; p < e; p++) {
        if (!host_char_ok((unsigned char) *p)
            || (*p == '.' && (p == h || p[-1] == '.')))
        {
            return -1;
        }
        host[p - h] = (char) lower((unsigned char) *p);
    }
    host[n] = '\0';
    return 0;
}

int
px_url_host(const char *url, char *host, size_t hostlen)
{
    const char  *p, *e, *a, *h, *he, *q;

    if (host == NULL || hostlen == 0) {
        return -1;
    }
    host[0] = '\0';
    if (url == NULL) {
        return -1;
    }

    p = url;
    e = url + strlen(url);
    while (p < e && is_blank((unsigned char) *p)) {
        p++;
    }
    while (e > p && is_blank((unsigned char) e[-1])) {
        e--;
    }

    p = skip_scheme(p, e);
    if (p == NULL) {
        return -1;
    }

    /* authority [p, a); the host follows the last '@' */
    for (a = p; a < e && !ends_authority((unsigned char) *a); a++) {
        /* find the end */
    }
    h = p;
    for (q = p; q < a; q++) {
        if (*q == '@') {
            h = q + 1;
        }
    }

    if (h < a && *h == '[') {
        he = find_char(h, a, ']');
        if (he == NULL) {
            return -1;
        }
        he++;
        if (he < a && (*he != ':' || !is_port(he + 1, a))) {
            return -1;
        }
        if (copy_ipv6_literal(h, he, host, hostlen) != 0) {
            host[0] = '\0';
            return -1;
        }
        return 0;
    }

    he = find_char(h, a, ':');
    if (he == NULL) {
        he = a;
    } else if (!is_port(he + 1, a)) {
        return -1;
    }
    if (copy_host_name(h, he, host, hostlen) != 0) {
        host[0] = '\0';
        return -1;
    }
    return 0;
}


/* ---- classification ----------------------------------------------------- */

/* The host without one leading "www.", if a dot remains after it. */
static const char *
strip_www(const char *host)
{
    if (strncmp(host, "www.", 4) == 0 && strchr(host + 4, '.') != NULL) {
        return host + 4;
    }
    return host;
}

/* `host` is `name` or ends with ".name". */
static bool
match_domain(const char *host, size_t hlen, const char *name)
{
    size_t  nlen = strlen(name);

    if (hlen < nlen || memcmp(host + hlen - nlen, name, nlen) != 0) {
        return false;
    }
    return hlen == nlen || host[hlen - nlen - 1] == '.';
}

/* One or two labels of 2 or 3 letters: "com", "de", "co.uk", "com.br". */
static bool
is_short_suffix(const char *s)
{
    size_t  labels = 0, len = 0;

    for (;; s++) {
        if (*s == '.' || *s == '\0') {
            if (len < 2 || len > 3 || ++labels > 2) {
                return false;
            }
            if (*s == '\0') {
                return true;
            }
            len = 0;
        } else if (is_alpha((unsigned char) *s)) {
            len++;
        } else {
            return false;
        }
    }
}

/* A whole label of `host` is `brand`, followed by a short suffix. */
static bool
match_brand(const char *host, const char *brand)
{
    size_t       blen = strlen(brand);
    const char  *label = host;

    for (;;) {
        if (strncmp(label, brand, blen) == 0 && label[blen] == '.'
            && is_short_suffix(label + blen + 1))
        {
            return true;
        }
        label = strchr(label, '.');
        if (label == NULL) {
            return false;
        }
        label++;
    }
}

static px_referrer_type_t
classify_host(const char *domain)
{
    size_t  i, len = strlen(domain);

    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (rules[i].how == MATCH_DOMAIN
            ? match_domain(domain, len, rules[i].name)
            : match_brand(domain, rules[i].name))
        {
            return rules[i].type;
        }
    }
    return PX_REFERRER_OTHER;
}

void
px_referrer_classify(const char *referrer, const char *page_url,
    px_referrer_t *out)
{
    char         ref_host[PX_HOST_MAX], page_host[PX_HOST_MAX];
    const char  *domain;
    size_t       n;

    if (out == NULL) {
        return;
    }
    out->type = PX_REFERRER_DIRECT;
    out->domain[0] = '\0';

    if (px_url_host(referrer, ref_host, sizeof(ref_host)) != 0) {
        return;
    }

    domain = strip_www(ref_host);
    n = strlen(domain);
    memcpy(out->domain, domain, n + 1);

    if (px_url_host(page_url, page_host, sizeof(page_host)) == 0
        && strcmp(domain, strip_www(page_host)) == 0)
    {
        out->type = PX_REFERRER_INTERNAL;
        return;
    }

    out->type = classify_host(domain);
}

const char *
px_referrer_type_name(px_referrer_type_t type)
{
    switch (type) {
    case PX_REFERRER_DIRECT:
        return "direct";
    case PX_REFERRER_INTERNAL:
        return "internal";
    case PX_REFERRER_SEARCH:
        return "search";
    case PX_REFERRER_SOCIAL:
        return "social";
    case PX_REFERRER_OTHER:
        return "other";
    }
    return "";
}
