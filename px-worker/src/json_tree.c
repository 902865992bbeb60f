#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_tree.h"

/* Deepest nesting of the JSON text, brackets inside strings ignored. */
static size_t
px_json_depth(const char *p, size_t len)
{
    size_t  i, depth, max;
    int     in_str;

    depth = 0;
    max = 0;
    in_str = 0;

    for (i = 0; i < len; i++) {
        if (in_str) {
            if (p[i] == '\\') {
                i++;
            } else if (p[i] == '"') {
                in_str = 0;
            }
            continue;
        }

        switch (p[i]) {
        case '"':
            in_str = 1;
            break;
        case '{':
        case '[':
            if (++depth > max) {
                max = depth;
            }
            break;
        case '}':
        case ']':
            if (depth > 0) {
                depth--;
            }
            break;
        }
    }

    return max;
}

yajl_val
px_json_parse(const char *data, size_t len, char *err, size_t errlen)
{
    char     *copy;
    yajl_val  v;

    if (px_json_depth(data, len) > PX_JSON_MAX_DEPTH) {
        snprintf(err, errlen, "nested deeper than %d", PX_JSON_MAX_DEPTH);
        return NULL;
    }

    if (memchr(data, '\0', len) != NULL) {
        snprintf(err, errlen, "NUL byte in message");
        return NULL;
    }

    copy = malloc(len + 1);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    memcpy(copy, data, len);
    copy[len] = '\0';

    v = yajl_tree_parse(copy, err, errlen);
    free(copy);

    if (v == NULL && err[0] == '\0') {
        snprintf(err, errlen, "not JSON");
    }

    return v;
}

int
px_json_write(px_buf_t *out, yajl_val v)
{
    size_t  i;

    if (v == NULL) {
        return px_buf_append_str(out, "null");
    }

    switch (v->type) {

    case yajl_t_string:
        return px_buf_append_json_str(out, v->u.string, strlen(v->u.string));

    case yajl_t_number:
        return px_buf_append_str(out, v->u.number.r);

    case yajl_t_true:
        return px_buf_append_str(out, "true");

    case yajl_t_false:
        return px_buf_append_str(out, "false");

    case yajl_t_object:
        if (px_buf_append(out, "{", 1)) {
            return -1;
        }
        for (i = 0; i < v->u.object.len; i++) {
            if ((i > 0 && px_buf_append(out, ",", 1))
                || px_buf_append_json_str(out, v->u.object.keys[i],
                                          strlen(v->u.object.keys[i]))
                || px_buf_append(out, ":", 1)
                || px_json_write(out, v->u.object.values[i]))
            {
                return -1;
            }
        }
        return px_buf_append(out, "}", 1);

    case yajl_t_array:
        if (px_buf_append(out, "[", 1)) {
            return -1;
        }
        for (i = 0; i < v->u.array.len; i++) {
            if ((i > 0 && px_buf_append(out, ",", 1))
                || px_json_write(out, v->u.array.values[i]))
            {
                return -1;
            }
        }
        return px_buf_append(out, "]", 1);

    default:
        return px_buf_append_str(out, "null");
    }
}

static yajl_val
px_json_get(yajl_val v, const char *key, yajl_type type)
{
    const char  *path[2] = { key, NULL };

    if (v == NULL || !YAJL_IS_OBJECT(v)) {
        return NULL;
    }

    return yajl_tree_get(v, path, type);
}

const char *
px_json_str(yajl_val v, const char *key)
{
    yajl_val  s = px_json_get(v, key, yajl_t_string);

    return s != NULL ? s->u.string : NULL;
}

yajl_val
px_json_obj(yajl_val v, const char *key)
{
    return px_json_get(v, key, yajl_t_object);
}
