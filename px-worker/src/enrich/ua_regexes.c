/*
 * ua_regexes: load and compile uap-core's regexes.yaml. See ua_regexes.h.
 */
#include "ua_regexes.h"
#include "ua_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys asked of the YAML reader: these two, then the list's repl_key. */
#define KEY_REGEX  0
#define KEY_FLAG   1
#define KEY_REPL0  2

const px_ua_list_spec_t px_ua_list_specs[PX_UA_LIST_COUNT] = {
    { "user_agent_parsers", 4,
      { "family_replacement", "v1_replacement", "v2_replacement",
        "v3_replacement", NULL },
      { 1, 2, 3, 4, 0 } },
    { "os_parsers", 5,
      { "os_replacement", "os_v1_replacement", "os_v2_replacement",
        "os_v3_replacement", "os_v4_replacement" },
      { 1, 2, 3, 4, 5 } },
    { "device_parsers", 3,
      { "device_replacement", "brand_replacement", "model_replacement",
        NULL, NULL },
      { 1, 0, 1, 0, 0 } },
};

typedef struct {
    px_ua_db_t         *db;
    px_ua_rule_list_t  *list;
    size_t              cap;
    const char         *path;
    unsigned            flags;
} load_ctx_t;

static void
rule_free(px_ua_rule_t *r)
{
    size_t  i;

    pcre2_code_free(r->code);
    for (i = 0; i < PX_UA_MAX_FIELDS; i++) {
        free(r->repl[i]);
    }
}

static int
rule_compile(load_ctx_t *lc, px_ua_rule_t *r, const char *re, size_t relen,
    const char *flag, char *err, size_t errlen)
{
    PCRE2_UCHAR  msg[128];
    PCRE2_SIZE   off, size = 0, jsize = 0;
    uint32_t     opts = 0, ncap = 0;
    int          rc;

    if (flag != NULL) {
        if (strcmp(flag, "i") != 0) {
            snprintf(err, errlen, "%s:%lu: unknown regex_flag \"%s\"",
                     lc->path, r->line, flag);
            return -1;
        }
        opts |= PCRE2_CASELESS;
    }

    r->code = pcre2_compile((PCRE2_SPTR) re, relen, opts, &rc, &off, NULL);
    if (r->code == NULL) {
        pcre2_get_error_message(rc, msg, sizeof(msg));
        snprintf(err, errlen, "%s:%lu: regex does not compile at offset %zu:"
                 " %s", lc->path, r->line, (size_t) off, (char *) msg);
        return -1;
    }

    /* Without JIT support pcre2_match() interprets: slower, same answers. */
    if ((lc->flags & PX_UA_DB_NO_JIT)
        || pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE) != 0)
    {
        lc->db->all_jit = 0;
    }

    pcre2_pattern_info(r->code, PCRE2_INFO_CAPTURECOUNT, &ncap);
    pcre2_pattern_info(r->code, PCRE2_INFO_SIZE, &size);
    if (pcre2_pattern_info(r->code, PCRE2_INFO_JITSIZE, &jsize) != 0) {
        jsize = 0;
    }
    lc->db->code_bytes += size;
    lc->db->jit_bytes += jsize;
    if (ncap + 1 > lc->db->max_pairs) {
        lc->db->max_pairs = ncap + 1;
    }

    return 0;
}

static int
add_rule(void *ctx, const char *const *values, const size_t *lens,
    unsigned long line, char *err, size_t errlen)
{
    load_ctx_t    *lc = ctx;
    px_ua_rule_t  *r, *grown;
    size_t         i, ncap;

    if (values[KEY_REGEX] == NULL) {
        snprintf(err, errlen, "%s:%lu: rule without \"regex\"", lc->path,
                 line);
        return -1;
    }

    if (lc->list->count == lc->cap) {
        ncap = lc->cap ? lc->cap * 2 : 256;
        grown = realloc(lc->list->rules, ncap * sizeof(*grown));
        if (grown == NULL) {
            snprintf(err, errlen, "%s: out of memory", lc->path);
            return -1;
        }
        lc->list->rules = grown;
        lc->cap = ncap;
    }

    r = &lc->list->rules[lc->list->count];
    memset(r, 0, sizeof(*r));
    r->line = line;
    lc->list->count++;   /* counted now so that a failure below frees it */

    for (i = 0; i < PX_UA_MAX_FIELDS; i++) {
        if (values[KEY_REPL0 + i] == NULL) {
            continue;
        }
        r->repl[i] = strndup(values[KEY_REPL0 + i], lens[KEY_REPL0 + i]);
        if (r->repl[i] == NULL) {
            snprintf(err, errlen, "%s: out of memory", lc->path);
            return -1;
        }
    }

    return rule_compile(lc, r, values[KEY_REGEX], lens[KEY_REGEX],
                        values[KEY_FLAG], err, errlen);
}

int
px_ua_db_load(const char *path, unsigned flags, px_ua_db_t **out, char *err,
    size_t errlen)
{
    const px_ua_list_spec_t  *spec;
    const char               *keys[PX_UA_YAML_MAX_KEYS];
    px_ua_yaml_t             *y;
    px_ua_db_t               *db;
    load_ctx_t                lc;
    size_t                    l, i;

    *out = NULL;

    if (px_ua_yaml_load(path, &y, err, errlen) != 0) {
        return -1;
    }

    db = calloc(1, sizeof(*db));
    if (db == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        px_ua_yaml_free(y);
        return -1;
    }
    db->all_jit = 1;

    for (l = 0; l < PX_UA_LIST_COUNT; l++) {
        spec = &px_ua_list_specs[l];
        keys[KEY_REGEX] = "regex";
        keys[KEY_FLAG] = "regex_flag";
        for (i = 0; i < spec->nfields; i++) {
            keys[KEY_REPL0 + i] = spec->repl_key[i];
        }

        lc.db = db;
        lc.list = &db->lists[l];
        lc.cap = 0;
        lc.path = path;
        lc.flags = flags;

        if (px_ua_yaml_records(y, spec->section, keys, KEY_REPL0
                               + spec->nfields, add_rule, &lc, err, errlen)
            != 0)
        {
            goto failed;
        }
        if (db->lists[l].count == 0) {
            snprintf(err, errlen, "%s: \"%s\" has no rules", path,
                     spec->section);
            goto failed;
        }
    }

    px_ua_yaml_free(y);
    *out = db;
    return 0;

failed:
    px_ua_yaml_free(y);
    px_ua_db_free(db);
    return -1;
}

unsigned
px_ua_db_env_flags(void)
{
    const char  *v = getenv("PX_UA_NO_JIT");

    return v != NULL && strcmp(v, "1") == 0 ? PX_UA_DB_NO_JIT : 0;
}

void
px_ua_db_free(px_ua_db_t *db)
{
    size_t  l, i;

    if (db == NULL) {
        return;
    }
    for (l = 0; l < PX_UA_LIST_COUNT; l++) {
        for (i = 0; i < db->lists[l].count; i++) {
            rule_free(&db->lists[l].rules[i]);
        }
        free(db->lists[l].rules);
    }
    free(db);
}

size_t
px_ua_db_rules(const px_ua_db_t *db)
{
    return db->lists[PX_UA_LIST_BROWSER].count
           + db->lists[PX_UA_LIST_OS].count
           + db->lists[PX_UA_LIST_DEVICE].count;
}
