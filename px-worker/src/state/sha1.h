/*
 * SHA-1 (FIPS 180-1), for session ids only (docs/sessions.md fixes the
 * formula): not for anything that needs a secure hash.
 */
#ifndef PX_SHA1_H
#define PX_SHA1_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t       h[5];
    uint64_t       bytes;       /* hashed so far */
    unsigned char  block[64];
    size_t         used;        /* of block */
} px_sha1_t;

void px_sha1_init(px_sha1_t *s);
void px_sha1_update(px_sha1_t *s, const void *p, size_t n);
void px_sha1_final(px_sha1_t *s, unsigned char out[20]);

#endif
