#!/usr/bin/env bash
# Build the libFuzzer harnesses into build-fuzz/ and run each briefly on a
# copy of its seed corpus (the repo is never written):
#   fuzz_batch    tests/fuzz/corpus/           the module's ingest path
#   fuzz_message  tests/fuzz/corpus_message/   the worker's message reader
#   fuzz_segment  tests/fuzz/corpus-segment/   the Segment API's translation
# Exit 0: nothing found; exit 1: a crash or broken invariant (the
# reproducer path is printed); exit 2: could not build or run.
#
#   FUZZ_SECONDS=30      how long to fuzz fuzz_batch and fuzz_message
#                        (-max_total_time)
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

command -v "${FUZZ_CC:-clang}" >/dev/null || {
    echo "run.sh: ${FUZZ_CC:-clang} not found (apt-get install -y clang)" >&2
    exit 2
}

make -s -f tests/fuzz/Makefile FUZZ_BUILD="$BUILD" || {
    echo "run.sh: build failed" >&2
    exit 2
}

WORKS=()
[ "${FUZZ_KEEP:-0}" = 1 ] || trap 'rm -rf "${WORKS[@]}"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0

# fuzz_one BIN CORPUS [SECONDS]: replay, then fuzz one harness
fuzz_one() {
    local BIN=$1 CORPUS=$2 SECS=${3:-$SECONDS_} WORK rc found a f
    WORK=$(mktemp -d "$ROOT/$BUILD/run.XXXXXX") || exit 2
    WORKS+=("$WORK")
    mkdir -p "$WORK/corpus" "$WORK/artifacts"

    # 1. Known reproducers (CORPUS/crash-*) must not crash any more.
    for f in $CORPUS/crash-*; do
        [ -e "$f" ] || continue
        if ! "$BIN" "$f" >"$WORK/replay.log" 2>&1; then
            echo "run.sh: known reproducer still crashes: $f" >&2
            grep -E 'INVARIANT BROKEN|ERROR: (Address|Undefined|Leak)Sanitizer|runtime error|^    ' \
                "$WORK/replay.log" | head -5 >&2
            status=1
        fi
    done

    # 2. Fuzz from a copy of the seeds (crash-* replayed above, not used as seeds).
    for f in $CORPUS/*; do
        case "$(basename "$f")" in crash-*) continue ;; esac
        cp "$f" "$WORK/corpus/"
    done

    args=(-max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048
          -print_final_stats=1 -artifact_prefix="$WORK/artifacts/")
    [ "$JOBS" -gt 1 ] && args+=(-fork="$JOBS")

    echo "run.sh: fuzzing $BIN for ${SECS}s (log: $WORK/fuzz.log)"
    "$BIN" "${args[@]}" "$WORK/corpus" >"$WORK/fuzz.log" 2>&1
    rc=$?

    grep -E '^#[0-9]+[[:space:]]+INITED' "$WORK/fuzz.log" | tail -1
    grep -E '^#[0-9]+[[:space:]].*cov: ' "$WORK/fuzz.log" | tail -1
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
        "$WORK/fuzz.log" | awk '!seen[$0]++'

    found=$(ls "$WORK/artifacts" 2>/dev/null)
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        status=1
        mkdir -p "$BUILD/crashes"
        for a in $found; do
            cp "$WORK/artifacts/$a" "$BUILD/crashes/$a"
            echo "run.sh: libFuzzer found a crash; reproducer: $ROOT/$BUILD/crashes/$a" >&2
            echo "        replay: $BIN $BUILD/crashes/$a" >&2
        done
        cp "$WORK/fuzz.log" "$BUILD/crashes/$(basename "$BIN").log"
        grep -E -A20 'INVARIANT BROKEN|ERROR: (Address|Undefined|Leak)Sanitizer|runtime error|ERROR: libFuzzer' \
            "$WORK/fuzz.log" | head -40 >&2
        [ -z "$found" ] && echo "run.sh: libFuzzer exited $rc (log: $BUILD/crashes/$(basename "$BIN").log)" >&2
    fi
}

fuzz_one "$BUILD/fuzz_batch" tests/fuzz/corpus
fuzz_one "$BUILD/fuzz_message" tests/fuzz/corpus_message
fuzz_one "$BUILD/fuzz_segment" tests/fuzz/corpus-segment "${FUZZ_SEGMENT_SECONDS:-10}"

exit $status
