/*
 * ip_anon: IPv4 to /24, IPv6 to /48. See ip_anon.h.
 */
#include "ip_anon.h"

#include <arpa/inet.h>
#include <string.h>

#define IPV6_KEEP_BYTES 6   /* /48 */

static const unsigned char v4mapped_prefix[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static int
fail(char *out, size_t outlen)
{
    if (out != NULL && outlen > 0) {
        out[0] = '\0';
    }
    return -1;
}

int
px_ip_anon(const char *ip, char *out, size_t outlen)
{
    unsigned char  addr[16];
    char           text[PX_IP_ANON_MAX];
    int            family;
    size_t         len;

    if (ip == NULL || out == NULL || outlen == 0) {
        return fail(out, outlen);
    }

    if (inet_pton(AF_INET, ip, addr) == 1) {
        family = AF_INET;
        addr[3] = 0;

    } else if (inet_pton(AF_INET6, ip, addr) == 1) {
        family = AF_INET6;
        if (memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
            addr[15] = 0;
        } else {
            memset(addr + IPV6_KEEP_BYTES, 0, 16 - IPV6_KEEP_BYTES);
        }

    } else {
        return fail(out, outlen);
    }

    /* Format into a local buffer first: `out` may alias `ip`. */
    if (inet_ntop(family, addr, text, sizeof(text)) == NULL) {
        return fail(out, outlen);
    }

    len = strlen(text);
    if (len >= outlen) {
        return fail(out, outlen);
    }

    memcpy(out, text, len + 1);
    return 0;
}
