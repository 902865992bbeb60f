/*
 * ua_yaml: read "flat records" from a YAML file with libyaml.
 *
 * The shape is the one of uap-core's regexes.yaml and of its test suites: a
 * top-level mapping whose named keys each hold a sequence of mappings from
 * scalar keys to scalar values. Errors name the file and the line.
 */
#ifndef PX_UA_YAML_H
#define PX_UA_YAML_H

#include <stddef.h>

/* At most this many keys can be asked for per record. */
#define PX_UA_YAML_MAX_KEYS 8

typedef struct px_ua_yaml_s px_ua_yaml_t;

/*
 * Called once per record, in file order. values[i]/lens[i] hold the scalar
 * of keys[i] (NUL-terminated; lens excludes the NUL), or NULL/0 when the key
 * is absent or its value is a YAML null (empty, "~" or "null", unquoted).
 * `line` is 1-based. Return 0 to go on, -1 (with a reason in err) to stop.
 */
typedef int (*px_ua_yaml_record_pt)(void *ctx, const char *const *values,
    const size_t *lens, unsigned long line, char *err, size_t errlen);

/*
 * Parse the whole YAML file at `path` into *out.
 * Returns 0, or -1 with "path: reason" in err (cannot open, YAML syntax
 * error with line, empty document, root not a mapping).
 */
int px_ua_yaml_load(const char *path, px_ua_yaml_t **out, char *err,
    size_t errlen);

/* Release a document from px_ua_yaml_load(); NULL is fine. */
void px_ua_yaml_free(px_ua_yaml_t *y);

/*
 * Walk the sequence under top-level key `section`, calling fn for each
 * record with the values of `keys` (nkeys <= PX_UA_YAML_MAX_KEYS). Keys of a
 * record that are not in `keys` are ignored.
 * Returns 0, or -1 with a reason in err: section missing or not a sequence,
 * an item that is not a mapping, a non-scalar value for a wanted key, a
 * wanted key given twice, or fn's own failure.
 */
int px_ua_yaml_records(const px_ua_yaml_t *y, const char *section,
    const char *const *keys, size_t nkeys, px_ua_yaml_record_pt fn, void *ctx,
    char *err, size_t errlen);

#endif /* PX_UA_YAML_H */
