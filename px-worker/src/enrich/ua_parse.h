/*
 * ua_parse: user agent string -> browser, OS, device (uap-core semantics),
 * plus a derived device type and bot flag.
 *
 * Per list (browser, os, device) the rules are tried in file order; the
 * first regex that matches decides every field of that part:
 *   - a field with a *_replacement template takes the template with "$1".."$9"
 *     replaced by those capture groups (an unset or missing group is empty),
 *     then trimmed of leading and trailing whitespace;
 *   - a field without one takes its default capture group as it is
 *     (browser/os: $1..$5 in order; device family and model: $1);
 *   - an empty result means "not defined" and is stored as "".
 * When no rule matches, or the family came out empty, family is "Other".
 *
 * Derived fields, decided in this order (first that applies wins):
 *   is_bot / PX_UA_BOT     device family is "Spider" (uap-core's marker for
 *                          crawlers), or the browser family contains "bot",
 *                          "crawler" or "spider" (any case);
 *   PX_UA_TABLET           device family starts with "iPad" or "Kindle" or
 *                          contains "Tablet", or the UA contains "Tablet",
 *                          or the OS is Android and the UA lacks "Mobile"
 *                          (Android tablets omit it, per Google's advice);
 *   PX_UA_MOBILE           OS is iOS, Android, Windows Phone, Windows Mobile,
 *                          BlackBerry OS, KaiOS, Symbian OS, Firefox OS,
 *                          Tizen, Sailfish or webOS, or the device family is
 *                          iPhone/iPod, or the UA contains "Mobi";
 *   PX_UA_DESKTOP          OS is Windows, Mac OS X, Chrome OS, Linux or a
 *                          Linux distribution uap-core names, or a BSD,
 *                          Solaris;
 *   PX_UA_OTHER            everything else (empty UA, TVs, consoles, ...).
 *
 * Strings are truncated to their buffer at a UTF-8 character boundary.
 * Thread-safety: px_ua_parse() keeps its PCRE2 match data in a small arena
 * on its own stack (no malloc when every rule has JIT code), so any number
 * of threads may call it with one shared, read-only database.
 */
#ifndef PX_UA_PARSE_H
#define PX_UA_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "ua_regexes.h"

#define PX_UA_NAME_LEN     160   /* families and model, NUL included */
#define PX_UA_BRAND_LEN    64
#define PX_UA_VERSION_LEN  32

/* Backtracking bound per regex and UA; a regex that hits it is a no-match. */
#define PX_UA_MATCH_LIMIT  100000

typedef enum {
    PX_UA_OTHER = 0,
    PX_UA_DESKTOP,
    PX_UA_MOBILE,
    PX_UA_TABLET,
    PX_UA_BOT
} px_ua_device_type_t;

typedef struct {
    struct {
        char  family[PX_UA_NAME_LEN];
        char  major[PX_UA_VERSION_LEN];
        char  minor[PX_UA_VERSION_LEN];
        char  patch[PX_UA_VERSION_LEN];
    } browser;
    struct {
        char  family[PX_UA_NAME_LEN];
        char  major[PX_UA_VERSION_LEN];
        char  minor[PX_UA_VERSION_LEN];
        char  patch[PX_UA_VERSION_LEN];
        char  patch_minor[PX_UA_VERSION_LEN];
    } os;
    struct {
        char  family[PX_UA_NAME_LEN];
        char  brand[PX_UA_BRAND_LEN];
        char  model[PX_UA_NAME_LEN];
    } device;
    px_ua_device_type_t  device_type;
    bool                 is_bot;
} px_ua_t;

/*
 * Parse `len` bytes of `ua` (need not be NUL-terminated; NULL with len 0 is
 * the empty UA) with `db` into *out, which is fully overwritten.
 * Returns 0, or -1 when PCRE2 could not get memory for its match data (only
 * possible without JIT); *out then holds the "Other" result.
 */
int px_ua_parse(const px_ua_db_t *db, const char *ua, size_t len,
    px_ua_t *out);

/*
 * The uap-core replacement rule on its own: expand `tmpl` ("$1".."$9" are
 * capture groups of the match `ovector` (npairs pairs) over `subject`; a
 * "$" not followed by a digit 1-9 is literal), trim whitespace at both ends
 * and store it NUL-terminated in out (outlen >= 1), truncated at a UTF-8
 * boundary. Returns the length stored.
 */
size_t px_ua_expand(const char *tmpl, const char *subject,
    const PCRE2_SIZE *ovector, uint32_t npairs, char *out, size_t outlen);

/*
 * The output fields of list `id` inside *u, in px_ua_list_specs order:
 * buf[i] and its size cap[i] (arrays of PX_UA_MAX_FIELDS). Returns how many.
 */
size_t px_ua_fields(px_ua_t *u, px_ua_list_id_t id, char **buf, size_t *cap);

/* "desktop", "mobile", "tablet", "bot" or "other". */
const char *px_ua_device_type_name(px_ua_device_type_t t);

/* A version's parts as a column holds them: "a", "a.b" or "a.b.c", the
 * parts present ("" without a).  Returns the length. */
#define PX_UA_VERSION_STR_LEN  (3 * PX_UA_VERSION_LEN + 3)
size_t px_ua_version_str(char v[PX_UA_VERSION_STR_LEN], const char *a,
    const char *b, const char *c);

#endif /* PX_UA_PARSE_H */
