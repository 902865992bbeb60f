/*
 * utm: campaign parameters and ad click ids from the page URL's query.
 */
#ifndef PX_UTM_H
#define PX_UTM_H

#include <stddef.h>

/* Longest stored value is PX_UTM_VALUE_MAX - 1 bytes. */
#define PX_UTM_VALUE_MAX      256
#define PX_UTM_CLICK_TYPE_MAX 16

/*
 * Each field is "" when absent. Values are percent-decoded with '+' as a
 * space; a '%' not followed by two hex digits is kept as it is; decoded NUL
 * bytes are dropped, bytes that are not valid UTF-8 become '?', and a value
 * too long is cut at a character boundary.
 *
 * Click ids: one pair. click_id_type is the parameter name ("gclid",
 * "fbclid", "msclkid", "ttclid", "twclid", "li_fat_id", "dclid") of the
 * first click id in the URL, click_id its value; later click ids are
 * ignored (a URL carries one ad click).
 */
typedef struct {
    char  source[PX_UTM_VALUE_MAX];     /* utm_source */
    char  medium[PX_UTM_VALUE_MAX];     /* utm_medium */
    char  campaign[PX_UTM_VALUE_MAX];   /* utm_campaign */
    char  term[PX_UTM_VALUE_MAX];       /* utm_term */
    char  content[PX_UTM_VALUE_MAX];    /* utm_content */
    char  click_id_type[PX_UTM_CLICK_TYPE_MAX];
    char  click_id[PX_UTM_VALUE_MAX];
} px_utm_t;

/*
 * Read the query of `page_url` (after the first '?', up to '#'; the fragment
 * is ignored, also a "#/route?utm_source=x" one) into `out`, cleared first.
 * Parameter names match ASCII case-insensitively, after percent-decoding;
 * when a name repeats, its first occurrence wins, even if empty.
 * Returns how many of the six fields (five utm_*, the click id pair) were
 * present; 0 also for NULL or a URL without query.
 */
int px_utm_parse(const char *page_url, px_utm_t *out);

#endif /* PX_UTM_H */
