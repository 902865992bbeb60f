/*
 * ua_yaml: flat YAML records over libyaml's document API. See ua_yaml.h.
 */
#include "ua_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct px_ua_yaml_s {
    yaml_document_t  doc;
    char             path[256];
};

static yaml_node_t *
mapping_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t  *p;
    yaml_node_t       *k;

    for (p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++)
    {
        k = yaml_document_get_node(doc, p->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE
            && strcmp((const char *) k->data.scalar.value, key) == 0)
        {
            return yaml_document_get_node(doc, p->value);
        }
    }

    return NULL;
}

static int
is_null_scalar(const yaml_node_t *n)
{
    const char  *v = (const char *) n->data.scalar.value;

    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return 0;
    }

    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

/* Fill values/lens of one record mapping; 0 or -1 with err. */
static int
record_values(const px_ua_yaml_t *y, yaml_node_t *map, const char *const *keys,
    size_t nkeys, const char **values, size_t *lens, char *err, size_t errlen)
{
    yaml_document_t   *doc = (yaml_document_t *) &y->doc;
    yaml_node_pair_t  *p;
    yaml_node_t       *k, *v;
    size_t             i;
    int                seen[PX_UA_YAML_MAX_KEYS] = { 0 };

    for (p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++)
    {
        k = yaml_document_get_node(doc, p->key);
        v = yaml_document_get_node(doc, p->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE) {
            continue;
        }

        for (i = 0; i < nkeys; i++) {
            if (strcmp((const char *) k->data.scalar.value, keys[i]) == 0) {
                break;
            }
        }
        if (i == nkeys) {
            continue;
        }

        if (seen[i]++) {
            snprintf(err, errlen, "%s:%lu: key \"%s\" given twice", y->path,
                     (unsigned long) k->start_mark.line + 1, keys[i]);
            return -1;
        }
        if (v->type != YAML_SCALAR_NODE) {
            snprintf(err, errlen, "%s:%lu: \"%s\" is not a scalar", y->path,
                     (unsigned long) v->start_mark.line + 1, keys[i]);
            return -1;
        }
        if (!is_null_scalar(v)) {
            values[i] = (const char *) v->data.scalar.value;
            lens[i] = v->data.scalar.length;
        }
    }

    return 0;
}

int
px_ua_yaml_load(const char *path, px_ua_yaml_t **out, char *err,
    size_t errlen)
{
    px_ua_yaml_t   *y;
    yaml_parser_t   parser;
    yaml_node_t    *root;
    FILE           *f;
    int             ok;

    *out = NULL;

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }

    y = calloc(1, sizeof(*y));
    if (y == NULL || !yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(y);
        fclose(f);
        return -1;
    }
    snprintf(y->path, sizeof(y->path), "%s", path);

    yaml_parser_set_input_file(&parser, f);
    ok = yaml_parser_load(&parser, &y->doc);
    if (!ok) {
        snprintf(err, errlen, "%s:%lu:%lu: YAML error: %s", path,
                 (unsigned long) parser.problem_mark.line + 1,
                 (unsigned long) parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "unknown");
    }
    yaml_parser_delete(&parser);
    fclose(f);

    if (!ok) {
        free(y);
        return -1;
    }

    root = yaml_document_get_root_node(&y->doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s: %s", path, root == NULL
                 ? "empty document" : "top level is not a mapping");
        px_ua_yaml_free(y);
        return -1;
    }

    *out = y;
    return 0;
}

void
px_ua_yaml_free(px_ua_yaml_t *y)
{
    if (y == NULL) {
        return;
    }
    yaml_document_delete(&y->doc);
    free(y);
}

int
px_ua_yaml_records(const px_ua_yaml_t *y, const char *section,
    const char *const *keys, size_t nkeys, px_ua_yaml_record_pt fn, void *ctx,
    char *err, size_t errlen)
{
    yaml_document_t  *doc = (yaml_document_t *) &y->doc;
    yaml_node_item_t *it;
    yaml_node_t      *seq, *item;
    const char       *values[PX_UA_YAML_MAX_KEYS];
    size_t            lens[PX_UA_YAML_MAX_KEYS];
    unsigned long     line;

    if (nkeys > PX_UA_YAML_MAX_KEYS) {
        snprintf(err, errlen, "%s: too many keys asked (%zu)", y->path, nkeys);
        return -1;
    }

    seq = mapping_get(doc, yaml_document_get_root_node(doc), section);
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE) {
        snprintf(err, errlen, "%s: \"%s\" %s", y->path, section,
                 seq == NULL ? "is missing" : "is not a sequence");
        return -1;
    }

    for (it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++)
    {
        item = yaml_document_get_node(doc, *it);
        if (item == NULL) {
            continue;
        }
        line = (unsigned long) item->start_mark.line + 1;
        if (item->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%lu: item of \"%s\" is not a mapping",
                     y->path, line, section);
            return -1;
        }

        memset(values, 0, sizeof(values));
        memset(lens, 0, sizeof(lens));
        if (record_values(y, item, keys, nkeys, values, lens, err, errlen)
            != 0 || fn(ctx, values, lens, line, err, errlen) != 0)
        {
            return -1;
        }
    }

    return 0;
}
