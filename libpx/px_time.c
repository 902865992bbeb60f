#include <stdio.h>

#include "px_time.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil / civil_from_days: exact for any date). */
static int64_t
px_time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t   era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

static void
px_time_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t   era;
    unsigned  doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t) yoe + era * 400 + (*m <= 2);
}

static int
px_digits(const char *s, size_t n, unsigned *out)
{
    size_t    i;
    unsigned  v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (unsigned) (s[i] - '0');
    }

    *out = v;
    return 0;
}

static unsigned
px_days_in_month(unsigned y, unsigned m)
{
    static const unsigned char  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        return 29;
    }

    return days[m - 1];
}

int
px_time_parse_iso(const char *s, size_t len, int64_t *ms)
{
    unsigned  y, mo, d, h, mi, sec, frac, oh, om;
    size_t    i, nfrac;
    int64_t   t, offset;

    if (len < 19
        || px_digits(s, 4, &y) != 0 || s[4] != '-'
        || px_digits(s + 5, 2, &mo) != 0 || s[7] != '-'
        || px_digits(s + 8, 2, &d) != 0 || (s[10] != 'T' && s[10] != ' ')
        || px_digits(s + 11, 2, &h) != 0 || s[13] != ':'
        || px_digits(s + 14, 2, &mi) != 0 || s[16] != ':'
        || px_digits(s + 17, 2, &sec) != 0)
    {
        return -1;
    }

    if (y < 1970 || mo < 1 || mo > 12 || d < 1
        || d > px_days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
    {
        return -1;
    }

    i = 19;
    frac = 0;
    if (i < len && s[i] == '.') {
        i++;
        for (nfrac = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++, nfrac++) {
            if (nfrac < 3) {
                frac = frac * 10 + (unsigned) (s[i] - '0');
            }
        }
        if (nfrac == 0) {
            return -1;
        }
        for (; nfrac < 3; nfrac++) {
            frac *= 10;
        }
    }

    offset = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;

    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        if (len - i != 6 || px_digits(s + i + 1, 2, &oh) != 0
            || s[i + 3] != ':' || px_digits(s + i + 4, 2, &om) != 0
            || oh > 23 || om > 59)
        {
            return -1;
        }
        offset = ((int64_t) oh * 60 + om) * 60000;
        if (s[i] == '+') {
            offset = -offset;
        }
        i += 6;
    }

    if (i != len) {
        return -1;
    }

    t = px_time_days_from_civil(y, mo, d) * 86400
        + (int64_t) h * 3600 + (int64_t) mi * 60 + sec;
    *ms = t * 1000 + frac + offset;

    /* up to 9999-12-31T23:59:59.999Z, what px_time_format_iso can write */
    return *ms >= 0 && *ms <= 253402300799999LL ? 0 : -1;
}

size_t
px_time_format_iso(int64_t ms, char *out)
{
    int64_t   days, rem, y;
    unsigned  m, d;

    if (ms < 0) {
        ms = 0;
    }

    days = ms / 86400000;
    rem = ms % 86400000;
    px_time_civil_from_days(days, &y, &m, &d);

    if (y > 9999) {
        y = 9999;
    }

    return (size_t) snprintf(out, PX_TIME_ISO_LEN + 1,
                             "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                             (int) y, m, d, (int) (rem / 3600000),
                             (int) (rem / 60000 % 60), (int) (rem / 1000 % 60),
                             (int) (rem % 1000));
}
