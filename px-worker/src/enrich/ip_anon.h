/*
 * ip_anon: truncate a client IP address before it is stored.
 *
 * IPv4 keeps its /24 (last octet zeroed), IPv6 keeps its /48 (the site
 * prefix); an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is treated as the
 * IPv4 address it carries. Output is the canonical text form (RFC 5952 for
 * IPv6), so two spellings of one address anonymise to the same string.
 */
#ifndef PX_IP_ANON_H
#define PX_IP_ANON_H

#include <stddef.h>

/* Enough for any output of px_ip_anon(), NUL included (INET6_ADDRSTRLEN). */
#define PX_IP_ANON_MAX 46

/*
 * Anonymise the NUL-terminated address `ip` into `out` (`outlen` bytes).
 * `out` may be `ip` itself (in place). Only strict numeric forms are accepted
 * (inet_pton: no "127.1", no zone id, no brackets, no spaces).
 * Returns 0, or -1 with `out` set to "" when `ip` is NULL, not an address,
 * or the result does not fit in `outlen`.
 */
int px_ip_anon(const char *ip, char *out, size_t outlen);

#endif /* PX_IP_ANON_H */
