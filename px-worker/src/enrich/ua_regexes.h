/*
 * ua_regexes: uap-core's regexes.yaml, loaded once and compiled with PCRE2
 * (JIT when the platform has it).
 *
 * Three ordered rule lists: user_agent_parsers (browser), os_parsers and
 * device_parsers. Each rule is a compiled regex plus, per output field, an
 * optional replacement template (the *_replacement keys). The database is
 * read-only once loaded: any number of threads may parse with it at once.
 */
#ifndef PX_UA_REGEXES_H
#define PX_UA_REGEXES_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif

#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

/* Debian's uap-core package puts the file here. */
#define PX_UA_REGEXES_DEFAULT_PATH "/usr/share/uap-core/regexes.yaml"

typedef enum {
    PX_UA_LIST_BROWSER = 0,
    PX_UA_LIST_OS,
    PX_UA_LIST_DEVICE,
    PX_UA_LIST_COUNT
} px_ua_list_id_t;

#define PX_UA_MAX_FIELDS 5

/*
 * What a list produces: field i is the replacement template under
 * repl_key[i] when the rule has one, else capture group group[i]
 * (0: no default, the field stays empty).
 *   browser: family $1, major $2, minor $3, patch $4
 *   os:      family $1, major $2, minor $3, patch $4, patch_minor $5
 *   device:  family $1, brand (none), model $1
 */
typedef struct {
    const char  *section;
    size_t       nfields;
    const char  *repl_key[PX_UA_MAX_FIELDS];
    unsigned     group[PX_UA_MAX_FIELDS];
} px_ua_list_spec_t;

extern const px_ua_list_spec_t px_ua_list_specs[PX_UA_LIST_COUNT];

typedef struct {
    pcre2_code     *code;
    char           *repl[PX_UA_MAX_FIELDS];  /* template, or NULL */
    unsigned long   line;                    /* in regexes.yaml */
} px_ua_rule_t;

typedef struct {
    px_ua_rule_t  *rules;
    size_t         count;
} px_ua_rule_list_t;

typedef struct {
    px_ua_rule_list_t  lists[PX_UA_LIST_COUNT];
    uint32_t           max_pairs;   /* ovector pairs the largest regex needs */
    int                all_jit;     /* every rule has JIT code */
    size_t             code_bytes;  /* compiled patterns (PCRE2_INFO_SIZE) */
    size_t             jit_bytes;   /* JIT machine code (PCRE2_INFO_JITSIZE) */
} px_ua_db_t;

/*
 * px_ua_db_load() flags.
 * PX_UA_DB_NO_JIT: interpret, do not JIT-compile (about 3x slower). For
 * valgrind and sanitizer runs: PCRE2's JIT code reads the subject in aligned
 * 16-byte blocks past its end and tests uninitialised stack words, which
 * memcheck reports although it is safe, and neither tool checks what JIT
 * code reads; the interpreter's reads are checked in full. The tests set it
 * when the environment has PX_UA_NO_JIT=1.
 */
#define PX_UA_DB_NO_JIT  0x1u

/*
 * Load and compile the regexes file at `path` into a new *out.
 * regex_flag 'i' compiles caseless; any other flag is an error. Patterns are
 * byte-oriented (no UTF mode): any byte string can be parsed.
 * Returns 0, or -1 with *out NULL and a reason naming file and line in err
 * (missing/unreadable file, YAML error, missing section, rule without regex,
 * regex that does not compile, out of memory).
 */
int px_ua_db_load(const char *path, unsigned flags, px_ua_db_t **out,
    char *err, size_t errlen);

/* PX_UA_DB_NO_JIT when the environment has PX_UA_NO_JIT=1, else 0. */
unsigned px_ua_db_env_flags(void);

/* Release a database; NULL is fine. */
void px_ua_db_free(px_ua_db_t *db);

/* Total number of rules across the three lists. */
size_t px_ua_db_rules(const px_ua_db_t *db);

#endif /* PX_UA_REGEXES_H */
