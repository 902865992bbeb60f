#include <string.h>

#include "sha1.h"

#define PX_ROL(x, n)  (((x) << (n)) | ((x) >> (32 - (n))))

static void
px_sha1_block(px_sha1_t *s, const unsigned char *p)
{
    int       i;
    uint32_t  w[80], a, b, c, d, e, f, k, t;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | (uint32_t) p[4 * i + 3];
    }
    for (i = 16; i < 80; i++) {
        w[i] = PX_ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }

    a = s->h[0];
    b = s->h[1];
    c = s->h[2];
    d = s->h[3];
    e = s->h[4];

    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        t = PX_ROL(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = PX_ROL(b, 30);
        b = a;
        a = t;
    }

    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
}

void
px_sha1_init(px_sha1_t *s)
{
    s->h[0] = 0x67452301;
    s->h[1] = 0xefcdab89;
    s->h[2] = 0x98badcfe;
    s->h[3] = 0x10325476;
    s->h[4] = 0xc3d2e1f0;
    s->bytes = 0;
    s->used = 0;
}

void
px_sha1_update(px_sha1_t *s, const void *data, size_t n)
{
    size_t                take;
    const unsigned char  *p = data;

    s->bytes += n;

    while (n > 0) {
        take = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->block + s->used, p, take);
        s->used += take;
        p += take;
        n -= take;
        if (s->used == 64) {
            px_sha1_block(s, s->block);
            s->used = 0;
        }
    }
}

void
px_sha1_final(px_sha1_t *s, unsigned char out[20])
{
    int            i;
    uint64_t       bits = s->bytes * 8;
    unsigned char  pad[72];
    size_t         npad;

    /* 0x80, zeros up to 56 mod 64, the length in bits big-endian */
    npad = (s->used < 56 ? 56 - s->used : 120 - s->used);
    memset(pad, 0, sizeof(pad));
    pad[0] = 0x80;
    for (i = 0; i < 8; i++) {
        pad[npad + i] = (unsigned char) (bits >> (56 - 8 * i));
    }
    px_sha1_update(s, pad, npad + 8);

    for (i = 0; i < 20; i++) {
        out[i] = (unsigned char) (s->h[i / 4] >> (24 - 8 * (i % 4)));
    }
}
