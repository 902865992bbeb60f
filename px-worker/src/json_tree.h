/*
 * Helpers over yajl trees: a bounded-depth parse (the worker trusts no
 * message, even one the module wrote) and compact re-serialisation.
 */
#ifndef PX_JSON_TREE_H
#define PX_JSON_TREE_H

#include <stddef.h>

#include <yajl/yajl_tree.h>

#include "px_buf.h"

#define PX_JSON_MAX_DEPTH  64

/* Parse len bytes (need not be NUL-terminated) into a tree, refusing
 * nesting deeper than PX_JSON_MAX_DEPTH.  NULL with a reason in err. */
yajl_val px_json_parse(const char *data, size_t len, char *err,
    size_t errlen);

/* Append v as compact JSON. */
int px_json_write(px_buf_t *out, yajl_val v);

/* The string at key of object v, or NULL (absent or not a string). */
const char *px_json_str(yajl_val v, const char *key);

/* The object at key of object v, or NULL. */
yajl_val px_json_obj(yajl_val v, const char *key);

#endif
