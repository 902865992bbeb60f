#include <stdint.h>
#include <sys/random.h>

#include "px_uuid.h"

int
px_uuid_valid(const char *s, size_t len)
{
    size_t  i;
    char    c;

    if (len != PX_UUID_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }
            continue;
        }

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
              || (c >= 'A' && c <= 'F')))
        {
            return 0;
        }
    }

    return 1;
}

int
px_uuid_v4(char *out)
{
    static const char  hex[] = "0123456789abcdef";
    uint8_t            r[16];
    size_t             i, o;

    if (getrandom(r, sizeof(r), 0) != (ssize_t) sizeof(r)) {
        return -1;
    }

    r[6] = (uint8_t) ((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t) ((r[8] & 0x3f) | 0x80);

    for (i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[r[i] >> 4];
        out[o++] = hex[r[i] & 0xf];
    }

    out[o] = '\0';
    return 0;
}
