#!/usr/bin/env bash
# make lint: the cheap checks that keep dead code out (docs/architecture.md).
#   1. every C file of libpx, px-worker, the module, tools and tests
#      compiles with -Wmissing-prototypes -Wmissing-declarations -Wunused
#      -Wunused-macros as errors: a function no other file declares must be
#      static, and nothing unused is left;
#   2. no global function or variable of libpx, px-worker or tools/uap is
#      left that no other file uses (the product, a tool, a test or a
#      benchmark);
#   3. duplicates (where this machine has it): the places that repeat
#      themselves, listed for a look (it reports, never fails).
# The Makefile passes LINT_CFLAGS (its flags and include folders) and
# BUILD (where the module's nginx tree is configured).  Exit 0, or 1.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
: "${LINT_CFLAGS:?run through make lint}"
WARN="-Wmissing-prototypes -Wmissing-declarations -Wunused -Wunused-macros -Werror"
# tests and benchmarks: Check's make_suite_*(), libFuzzer's entry point and
# a benchmark's helpers are found by name or stand alone, declared nowhere
WARN_TESTS="-Wunused -Wunused-macros -Werror"
status=0

TMP=$(mktemp -d) || exit 2
trap 'rm -rf "$TMP"' EXIT

# 1. warnings, each file compiled on its own into TMP
n=0
for f in libpx/*.c px-worker/src/*/*.c tools/*.c tools/uap/*.c \
         tests/unit/*.c tests/fuzz/*.c bench/*.c; do
    o="$TMP/obj/${f%.c}.o"
    mkdir -p "$(dirname "$o")"
    case "$f" in tests/*|bench/*) w=$WARN_TESTS ;; *) w=$WARN ;; esac
    # shellcheck disable=SC2086
    if ! ${CC:-cc} $LINT_CFLAGS $w -O0 -c "$f" -o "$o" 2>"$TMP/cc.log"; then
        cat "$TMP/cc.log" >&2
        status=1
    fi
    n=$((n + 1))
done

NGX=$BUILD/nginx
if [ -f "$NGX/objs/ngx_auto_config.h" ]; then
    for f in ngx_px_module/src/*.c; do
        o="$TMP/obj/${f%.c}.o"
        mkdir -p "$(dirname "$o")"
        # nginx's own flags (-W -Wall, unused parameters allowed), ours on top
        if ! ${CC:-cc} -std=gnu11 -W -Wall -Wno-unused-parameter $WARN -O0 \
                -I"$NGX/src/core" -I"$NGX/src/event" \
                -I"$NGX/src/event/modules" -I"$NGX/src/os/unix" \
                -I"$NGX/objs" -I"$NGX/src/http" -I"$NGX/src/http/modules" \
                -I"$NGX/src/http/v2" -Ilibpx $YAJL_CFLAGS \
                -c "$f" -o "$o" 2>"$TMP/cc.log"; then
            cat "$TMP/cc.log" >&2
            status=1
        fi
        n=$((n + 1))
    done
else
    echo "lint: $NGX is not configured (make first): the module is not checked" >&2
    status=1
fi
echo "lint: $n files compiled with $WARN (tests: $WARN_TESTS)"

# 2. globals that no other file uses
find "$TMP/obj" -name '*.o' | sort > "$TMP/objs"
while read -r o; do
    nm -u "$o" | awk -v o="$o" '{ print $NF "\t" o }'
done < "$TMP/objs" > "$TMP/used"
unused=$(
    while read -r o; do
        case "$o" in
        */obj/libpx/*|*/obj/px-worker/*|*/obj/tools/uap/*) ;;
        *) continue ;;
        esac
        nm -g --defined-only "$o" | awk -v o="$o" '$2 ~ /^[TDBR]$/ { print $3 "\t" o }'
    done < "$TMP/objs" |
    awk -F '\t' 'NR == FNR { users[$1] = users[$1] " " $2; next }
                 $1 != "main" {
                     n = split(users[$1], u, " "); other = 0
                     for (i = 1; i <= n; i++) if (u[i] != $2) other = 1
                     if (!other) print $1 " (" $2 ")"
                 }' "$TMP/used" - |
    sed "s#$TMP/obj/##; s#\.o)#.c)#"
)
if [ -n "$unused" ]; then
    echo "lint: defined but used by no other file (make it static, or remove it):" >&2
    echo "$unused" | sed 's/^/    /' >&2
    status=1
else
    echo "lint: every global of libpx, px-worker and tools/uap is used by another file"
fi

# 3. duplicates: a list to look at, not a verdict
if command -v duplicates >/dev/null 2>&1; then
    echo "lint: duplicates (places that repeat themselves; informational):"
    duplicates --most 10 --seconds 60 | sed 's/^/    /'
else
    echo "lint: duplicates is not on this machine: that list is skipped"
fi

exit $status
