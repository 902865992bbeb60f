/*
 * referrer: where a visit came from, from the document.referrer URL and the
 * page URL: the referring domain and its type.
 */
#ifndef PX_REFERRER_H
#define PX_REFERRER_H

#include <stddef.h>

/* A host name (253) or a bracketed IPv6 literal, NUL included. */
#define PX_HOST_MAX 256

typedef enum {
    PX_REFERRER_DIRECT = 0,  /* no referrer, or one without a host */
    PX_REFERRER_INTERNAL,    /* same host as the page (www-insensitive) */
    PX_REFERRER_SEARCH,      /* a search engine */
    PX_REFERRER_SOCIAL,      /* a social network */
    PX_REFERRER_OTHER        /* any other site */
} px_referrer_type_t;

typedef struct {
    px_referrer_type_t  type;
    char                domain[PX_HOST_MAX];  /* "" when direct */
} px_referrer_t;

/*
 * Extract the host of `url` into host[hostlen], lowercased (ASCII), without
 * scheme, userinfo, port, path, query, fragment or trailing dot. Accepts
 * "scheme://host", "//host", a URL without scheme ("www.example.com/a",
 * "localhost:3000"), surrounding white space, backslashes for slashes and
 * IPv6 literals ("[2001:db8::1]", kept in brackets, validated).
 * Returns -1 (host "") for NULL, empty, host-less URLs ("about:blank",
 * "mailto:a@b", "/path"), characters not allowed in a host name, empty
 * labels, a non-numeric port, or a host longer than 253 or than `hostlen`.
 * UTF-8 (IDN) host names are kept as they are, not converted to punycode.
 */
int px_url_host(const char *url, char *host, size_t hostlen);

/*
 * Classify `referrer` (NULL or "" = direct) against `page_url` (may be NULL).
 * out->domain is the referrer's host without a leading "www." (kept when
 * nothing with a dot would remain). The type is, first match wins: direct
 * (no referrer, or no host in it), internal (same domain as the page),
 * search, social (built-in lists, matched on whole labels: "bing.com" also
 * matches "cn.bing.com"; "google" matches google.<suffix> on any subdomain,
 * where <suffix> is one or two labels of 2-3 letters: google.co.uk), other.
 * Subdomains of the page's domain count as other: without a public suffix
 * list the registrable domain is not known.
 */
void px_referrer_classify(const char *referrer, const char *page_url,
    px_referrer_t *out);

/* "direct", "internal", "search", "social", "other" ("" for bad values). */
const char *px_referrer_type_name(px_referrer_type_t type);

#endif /* PX_REFERRER_H */
