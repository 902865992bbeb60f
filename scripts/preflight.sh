#!/usr/bin/env bash
# Check, in a few seconds, that this machine has everything a goal needs,
# before any long step starts: each program and data file the build and the
# tests call, and that the compilers can link what they are asked to (an
# ASan + UBSan binary with gcc, a libFuzzer binary with clang). Whatever is
# missing is named with the Debian package that brings it, all at once.
#
#   scripts/preflight.sh test    everything `make test` uses (default)
#   scripts/preflight.sh up      what `make up` uses
#
# Exit 0: all present; 1: something is missing (listed on stderr).
# scripts/install-deps.sh installs all of it; docs/stack.md says how to
# check a machine by hand.
set -uo pipefail

goal="${1:-test}"
case "$goal" in
    test|up) ;;
    *) echo "preflight: unknown goal '$goal' (test or up)" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kafka_home="${PX_KAFKA_HOME:-${HOME}/.cache/px/kafka-3.9.1}"
kustomize_home="${PX_KUSTOMIZE_HOME:-${HOME}/.cache/px/kustomize-v5.0.3}"
missing=()     # "what (fix)"

lack() { missing+=("$1"); }

# program PACKAGE GOALS: a command on PATH
need_cmd() {
    local cmd=$1 pkg=$2 goals=$3
    [[ " $goals " == *" $goal "* ]] || return 0
    command -v "$cmd" >/dev/null 2>&1 || lack "$cmd (apt-get install $pkg)"
}

# file PACKAGE GOALS
need_file() {
    local path=$1 pkg=$2 goals=$3
    [[ " $goals " == *" $goal "* ]] || return 0
    [ -e "$path" ] || lack "$path (apt-get install $pkg)"
}

# --- programs: what calls them ------------------------------------------------
need_cmd gcc            gcc              "test up"   # the build
need_cmd make           make             "test up"
need_cmd pkg-config     pkg-config       "test up"   # ./configure
need_cmd readelf        binutils         "test up"   # pxstack: which libs a binary needs
need_cmd nm             binutils         "test"      # make lint: globals no file uses
need_cmd clang          clang            "test"      # tests/fuzz
need_cmd nginx          nginx            "test up"   # the module's host
need_cmd redis-server   redis-server     "test up"
need_cmd clickhouse-server clickhouse-server "test up"
need_cmd clickhouse-client clickhouse-client "test up"
need_cmd kcat           kcat             "test up"   # topics and reads in the tests
need_cmd java           openjdk-17-jre-headless "test up"   # Kafka
need_cmd mvn            maven            "test up"   # fetches Kafka's jars
need_cmd python3        python3          "test up"
need_cmd node           nodejs           "test"      # sdk-web
need_cmd npm            npm              "test"
need_cmd chromium       chromium         "test"      # sdk-web browser and e2e tests
need_cmd docker-compose docker-compose   "test"      # test_compose.py: config validation
need_cmd curl           curl             "up"        # the sample batch

# --- data files ---------------------------------------------------------------
need_file /usr/share/uap-core/regexes.yaml uap-core "test up"
need_file /usr/share/nginx/src/src/core/nginx.h nginx-dev "test up"
[ -f "$repo/tests/data/geoip/GeoIP2-City-Test.mmdb" ] ||
    lack "tests/data/geoip/GeoIP2-City-Test.mmdb (part of the repository: an incomplete checkout?)"

# --- Kafka's jars, Python and npm packages --------------------------------------
[ -f "$kafka_home/.complete" ] ||
    lack "Kafka jars in $kafka_home (bash scripts/install-deps.sh fetches them with Maven)"
if [ "$goal" = test ]; then     # test_clickhouse_cluster.py: the coordinator
    [ -f "$kafka_home/libs/zookeeper-3.8.4.jar" ] &&
    [ -f "$kafka_home/libs/zookeeper-jute-3.8.4.jar" ] ||
        lack "ZooKeeper 3.8.4 jars in $kafka_home/libs (they come with Kafka's: bash scripts/install-deps.sh)"
fi
if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import pytest, xdist, requests, yaml' 2>/dev/null ||
        lack "python3 modules pytest, pytest-xdist, requests and yaml (python3 -m pip install pytest pytest-xdist requests pyyaml)"
    if [ "$goal" = test ]; then     # test_segment_*.py: the real clients
        python3 -c 'import segment.analytics, rudderstack.analytics' 2>/dev/null ||
            lack "python3 modules segment.analytics and rudderstack.analytics (python3 -m pip install segment-analytics-python==2.4.0 rudder-sdk-python==2.1.9)"
    fi
    if [ "$goal" = test ]; then     # test_clickhouse_current.py: ClickHouse 26.x
        python3 -c 'import chdb' 2>/dev/null ||
            lack "python3 module chdb (python3 -m pip install chdb-core)"
        # make test-sdk-python: pip install ./sdk-python, offline
        python3 -c 'import setuptools, wheel' 2>/dev/null ||
            lack "python3 modules setuptools and wheel, the build backend of sdk-python (python3 -m pip install setuptools wheel)"
        # tests/repo/test_k8s.py: the Kubernetes schemas
        python3 -c 'import kubernetes_validate' 2>/dev/null ||
            lack "python3 module kubernetes_validate (python3 -m pip install kubernetes-validate)"
    fi
fi
# tests/repo/test_k8s.py renders k8s/ with it
if [ "$goal" = test ] && [ ! -x "$kustomize_home/kustomize" ]; then
    lack "kustomize in $kustomize_home (bash scripts/install-deps.sh builds it with Go)"
fi
if [ "$goal" = test ] && [ ! -d "$repo/sdk-web/node_modules/playwright-core" ]; then
    lack "sdk-web/node_modules (cd sdk-web && npm ci)"
fi
if [ "$goal" = test ] && [ ! -d "$repo/tests/segment-node/node_modules/@segment/analytics-node" ]; then
    lack "tests/segment-node/node_modules (cd tests/segment-node && npm ci)"
fi

# --- the toolchain links what the build asks of it ------------------------------
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf 'int main(void){return 0;}\n' > "$tmp/main.c"
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){(void)d;(void)n;return 0;}\n' > "$tmp/fuzz.c"

# try_link WHAT FIX CC FLAGS... : compile and link $tmp/main.c (or fuzz.c)
try_link() {
    local what=$1 fix=$2 src=$3 cc=$4
    shift 4
    command -v "$cc" >/dev/null 2>&1 || return 0   # named above already
    if ! "$cc" "$@" "$tmp/$src" -o "$tmp/a.out" >"$tmp/link.log" 2>&1; then
        lack "$what: $cc cannot link it ($fix): $(grep -m1 -E 'cannot find|error' "$tmp/link.log")"
    fi
}

try_link "ASan + UBSan build (make SAN=1)" "apt-get install gcc libasan8 libubsan1" \
    main.c "${CC:-gcc}" -fsanitize=address,undefined
if [ "$goal" = test ]; then
    try_link "libFuzzer with ASan + UBSan (tests/fuzz)" "apt-get install libclang-rt-14-dev" \
        fuzz.c "${FUZZ_CC:-clang}" -fsanitize=fuzzer,address,undefined
fi

if [ "${#missing[@]}" -ne 0 ]; then
    echo "preflight: make $goal needs what this machine lacks:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "preflight: bash scripts/install-deps.sh installs all of it" >&2
    exit 1
fi
echo "preflight: make $goal: every tool, file and toolchain link present"
