#!/usr/bin/env bash
# Build the libFuzzer harness into build-fuzz/ and run it briefly on a copy
# of the seed corpus (the repo is never written).  Exit 0: nothing found;
# exit 1: a crash or broken invariant (the reproducer path is printed);
# exit 2: could not build or run.
#
#   FUZZ_SECONDS=30      how long to fuzz fuzz_batch (libFuzzer -max_total_time)
#   FUZZ_SEGMENT_SECONDS=10  how long to fuzz fuzz_segment
#   FUZZ_JOBS=1          parallel fuzzing processes (-fork)
#   FUZZ_BUILD=build-fuzz
#   FUZZ_KEEP=1          keep the work directory (grown corpus, logs)
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
SECONDS_=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-1}
BUILD=${FUZZ_BUILD:-build-fuzz}
BIN=$BUILD/fuzz_batch

command -v "${FUZZ_CC:-clang}" >/dev/null || {
    echo "run.sh: ${FUZZ_CC:-clang} not found (apt-get install -y clang)" >&2
    exit 2
}

make -s -f tests/fuzz/Makefile FUZZ_BUILD="$BUILD" || {
    echo "run.sh: build failed" >&2
    exit 2
}

WORK=$(mktemp -d "$ROOT/$BUILD/run.XXXXXX") || exit 2
[ "${FUZZ_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0

# 1. Known reproducers (corpus/crash-*) must not crash any more.
for f in tests/fuzz/corpus/crash-*; do
    [ -e "$f" ] || continue
    if ! "$BIN" "$f" >"$WORK/replay.log" 2>&1; then
        echo "run.sh: known reproducer still crashes: $f" >&2
        grep -E 'INVARIANT BROKEN|ERROR: (Address|Undefined|Leak)Sanitizer|runtime error|^    ' \
            "$WORK/replay.log" | head -5 >&2
        status=1
    fi
done

# 2. Fuzz each harness from a copy of its seeds (crash-* replayed above,
#    not used as seeds): fuzz_batch, then fuzz_segment (the Segment API's
#    translation, FUZZ_SEGMENT_SECONDS, 10 by default).
fuzz_one() {
    local bin="$1" seeds="$2" secs="$3" name
    name=$(basename "$bin")
    mkdir -p "$WORK/$name/corpus" "$WORK/$name/artifacts"
    for f in "$seeds"/*; do
        case "$(basename "$f")" in crash-*) continue ;; esac
        cp "$f" "$WORK/$name/corpus/"
    done

    local args=(-max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
                -print_final_stats=1 -artifact_prefix="$WORK/$name/artifacts/")
    [ "$JOBS" -gt 1 ] && args+=(-fork="$JOBS")

    echo "run.sh: fuzzing $bin for ${secs}s (log: $WORK/$name/fuzz.log)"
    "$bin" "${args[@]}" "$WORK/$name/corpus" >"$WORK/$name/fuzz.log" 2>&1
    local rc=$?

    grep -E '^#[0-9]+[[:space:]]+INITED' "$WORK/$name/fuzz.log" | tail -1
    grep -E '^#[0-9]+[[:space:]].*cov: ' "$WORK/$name/fuzz.log" | tail -1
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
        "$WORK/$name/fuzz.log" | awk '!seen[$0]++'

    local found
    found=$(ls "$WORK/$name/artifacts" 2>/dev/null)
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        status=1
        mkdir -p "$BUILD/crashes"
        for a in $found; do
            cp "$WORK/$name/artifacts/$a" "$BUILD/crashes/$a"
            echo "run.sh: libFuzzer found a crash; reproducer: $ROOT/$BUILD/crashes/$a" >&2
            echo "        replay: $bin $BUILD/crashes/$a" >&2
        done
        cp "$WORK/$name/fuzz.log" "$BUILD/crashes/$name.log"
        grep -E -A20 'INVARIANT BROKEN|ERROR: (Address|Undefined|Leak)Sanitizer|runtime error|ERROR: libFuzzer' \
            "$WORK/$name/fuzz.log" | head -40 >&2
        [ -z "$found" ] && echo "run.sh: libFuzzer exited $rc (log: $BUILD/crashes/$name.log)" >&2
    fi
}

fuzz_one "$BIN" tests/fuzz/corpus "$SECONDS_"
fuzz_one "$BUILD/fuzz_segment" tests/fuzz/corpus-segment "${FUZZ_SEGMENT_SECONDS:-10}"

exit $status
