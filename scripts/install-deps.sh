#!/usr/bin/env bash
# Install everything PX needs to build, run its local stack and run its tests
# on a fresh Debian 12 machine (as root, or with sudo available):
#
#   - Debian packages (compilers, nginx + nginx-dev, C libraries, Redis,
#     ClickHouse, kcat, Chromium, docker-compose, Java 17, Maven, ...);
#   - Apache Kafka, pinned (tools/kafka/pom.xml), from Maven Central into a
#     cache outside the checkout: $PX_KAFKA_HOME/libs
#     (default ~/.cache/px/kafka-3.9.1), with the ZooKeeper jars that Kafka
#     depends on (the coordinator of the ClickHouse cluster test);
#   - the npm packages of sdk-web and tests/segment-node (npm ci) when a lock file is newer than
#     node_modules;
#   - pytest and requests for python3, setuptools and wheel (sdk-python's
#     build backend), and kubernetes-validate (the
#     Kubernetes JSON schemas, per release, for tests/repo/test_k8s.py);
#   - kustomize, pinned, built with Go from the Go module proxy into
#     $PX_KUSTOMIZE_HOME (default ~/.cache/px/kustomize-v5.0.3), for
#     rendering k8s/ in the tests and `make k8s`.
#
# Idempotent and quick when everything is present: apt-get runs only when a
# package is missing, Maven only when the Kafka jars are missing, npm only
# when node_modules is missing or older than package-lock.json.
#
#   scripts/install-deps.sh           install what is missing
#   scripts/install-deps.sh --list    print the Debian packages, one a line
#                                     (dpkg -s $(scripts/install-deps.sh --list))
#
# Environment:
#   PX_KAFKA_HOME   where the Kafka jars go (default ~/.cache/px/kafka-3.9.1)
#   PX_KUSTOMIZE_HOME  where kustomize goes (default ~/.cache/px/kustomize-v5.0.3)
#   PX_SKIP_APT=1   do not check/install Debian packages
#   PX_SKIP_NPM=1   do not run npm ci in sdk-web
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kafka_version=3.9.1
# Kafka 3.9's own dependency, so it comes with Kafka's jars: the
# coordinator of the ClickHouse cluster test (tools/pxstack/zookeeper.py)
zookeeper_version=3.8.4
kafka_home="${PX_KAFKA_HOME:-${HOME}/.cache/px/kafka-${kafka_version}}"
# v5.0.3: the newest kustomize whose go.mod asks for no more than Debian 12's
# Go (1.19)
kustomize_version=v5.0.3
kustomize_home="${PX_KUSTOMIZE_HOME:-${HOME}/.cache/px/kustomize-${kustomize_version}}"

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo"
    sudo_cmd=(sudo)
fi

# --- Debian packages ---------------------------------------------------------

apt_packages=(
    # build
    build-essential pkg-config make gcc
    nginx nginx-dev libpcre2-dev zlib1g-dev libssl-dev
    librdkafka-dev libhiredis-dev libyajl-dev libmaxminddb-dev
    libcurl4-openssl-dev libsystemd-dev libyaml-dev check
    # run and test
    nginx redis-server clickhouse-server clickhouse-client
    mmdb-bin uap-core kcat wrk chromium docker-compose
    curl jq valgrind ca-certificates
    # libFuzzer (clang) for tests/fuzz. The sanitizer and libFuzzer
    # runtimes are only *recommended* by clang-14, and this script installs
    # without recommends: name them, or the fuzz build cannot link.
    clang libclang-rt-14-dev
    # Kafka runs on the JVM, fetched with Maven
    openjdk-17-jre-headless maven
    python3 python3-pip
)

install_apt() {
    local missing=() p status
    for p in "${apt_packages[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
        case "$status" in
            *" installed") ;;
            *) missing+=("$p") ;;
        esac
    done
    # node 20 may come from another source than Debian's nodejs package:
    # only ask apt for it when there is no node at all.
    command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
    if [ "${#missing[@]}" -eq 0 ]; then
        log "Debian packages: all present"
        return
    fi
    log "Debian packages missing: ${missing[*]}"
    # Keep the packages' own services (redis on 6379, clickhouse on
    # 8123/9000, nginx on 80) from being started by their postinst: PX starts
    # its own instances and the local stack wants those ports.
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo_cmd[@]}" chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
    if [ "$rc" -eq 0 ]; then
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
    fi
    if [ "$made_policy" -eq 1 ]; then
        "${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d
    fi
    [ "$rc" -eq 0 ] || die "apt-get failed (exit $rc)"
}

# --- Apache Kafka from Maven Central -------------------------------------------

kafka_ok() {
    [ -f "$kafka_home/libs/kafka_2.13-${kafka_version}.jar" ] &&
    [ -f "$kafka_home/libs/kafka-tools-${kafka_version}.jar" ] &&
    [ -f "$kafka_home/libs/reload4j-1.2.25.jar" ] &&
    [ -f "$kafka_home/libs/zookeeper-${zookeeper_version}.jar" ] &&
    [ -f "$kafka_home/.complete" ] &&
    cmp -s "$kafka_home/.complete" "$repo/tools/kafka/pom.xml"
}

install_kafka() {
    if kafka_ok; then
        log "Kafka ${kafka_version}: present in $kafka_home/libs"
        return
    fi
    log "Kafka ${kafka_version}: resolving from Maven Central into $kafka_home/libs"
    local tmp="$kafka_home/libs.tmp"
    rm -rf "$tmp"
    mkdir -p "$kafka_home"
    local mvn_log="$kafka_home/mvn.log"
    if ! mvn -B -Dstyle.color=never -f "$repo/tools/kafka/pom.xml" \
            org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
        grep -E 'ERROR|FAIL|Could not' "$mvn_log" | head -40 >&2 || tail -40 "$mvn_log" >&2
        rm -rf "$tmp"
        die "Maven could not resolve Kafka ${kafka_version} (full log: $mvn_log)"
    fi
    rm -rf "$kafka_home/libs"
    mv "$tmp" "$kafka_home/libs"
    # a check that the jars load: the storage tool prints a cluster id
    local id
    id="$(java -cp "$kafka_home/libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)" ||
        die "the Kafka jars in $kafka_home/libs do not run (java -cp ... kafka.tools.StorageTool)"
    [ -n "$id" ] || die "kafka.tools.StorageTool printed no cluster id"
    cp "$repo/tools/kafka/pom.xml" "$kafka_home/.complete"
    log "Kafka ${kafka_version}: $(ls "$kafka_home/libs" | wc -l) jars"
}

# --- kustomize from the Go module proxy ------------------------------------------

install_kustomize() {
    local bin="$kustomize_home/kustomize"
    if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
        log "kustomize ${kustomize_version}: present in $kustomize_home"
        return
    fi
    # Go: the machine's, else Debian's golang-go (1.19 on Debian 12)
    if ! command -v go >/dev/null 2>&1; then
        log "Go missing: installing golang-go"
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends golang-go ||
            die "apt-get install golang-go failed"
    fi
    log "kustomize ${kustomize_version}: go install (about 2 minutes, once)"
    local work="$kustomize_home/build.tmp"
    rm -rf "$work" && mkdir -p "$work"
    # a private module cache and GOPATH, removed after: nothing left in ~/go;
    # GOTOOLCHAIN=local: build with this Go, fetch no other toolchain
    if ! GOTOOLCHAIN=local GOFLAGS=-modcacherw GOPATH="$work/gopath" \
            GOBIN="$work/bin" GOCACHE="$work/cache" \
            go install "sigs.k8s.io/kustomize/kustomize/v5@${kustomize_version}" \
            >"$work/go.log" 2>&1; then
        tail -20 "$work/go.log" >&2
        die "go install sigs.k8s.io/kustomize/kustomize/v5@${kustomize_version} failed"
    fi
    mv -f "$work/bin/kustomize" "$bin"
    rm -rf "$work"
    "$bin" version >/dev/null 2>&1 || die "$bin does not run"
    log "kustomize ${kustomize_version}: $bin"
}

# --- sdk-web npm packages --------------------------------------------------------

# npm_ci DIR: npm ci in DIR when its node_modules is older than its lock file
npm_ci() {
    local dir="$1" name="${1#"$repo"/}"
    if [ ! -f "$dir/package-lock.json" ]; then
        log "$name: no package-lock.json, nothing to install"
        return
    fi
    if [ -d "$dir/node_modules" ] && [ "$dir/node_modules" -nt "$dir/package-lock.json" ]; then
        log "$name: node_modules up to date"
        return
    fi
    log "$name: npm ci"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$dir/node_modules"
}

install_npm() {
    npm_ci "$repo/sdk-web"
    # Segment's Node client, unmodified, for tests/integration/test_segment_*
    npm_ci "$repo/tests/segment-node"
}

# --- python test tools ---------------------------------------------------------

install_python() {
    # pytest-xdist: the integration tests run on two processes, each with
    # its own stack (make test-integration, PX_TEST_JOBS)
    if python3 -c 'import pytest, xdist, requests, yaml, kubernetes_validate' 2>/dev/null; then
        log "python3: pytest, pytest-xdist, requests, yaml and kubernetes-validate present"
    else
        log "python3: installing pytest, pytest-xdist, requests, yaml and kubernetes-validate with pip"
        python3 -m pip install -q pytest pytest-xdist requests pyyaml kubernetes-validate ||
            python3 -m pip install -q --break-system-packages pytest pytest-xdist \
                requests pyyaml kubernetes-validate
    fi
    # setuptools + wheel: the build backend of sdk-python, so that the
    # pip install check of make test-sdk-python builds it offline
    if python3 -c 'import setuptools, wheel' 2>/dev/null; then
        log "python3: setuptools and wheel present"
    else
        log "python3: installing setuptools and wheel with pip"
        python3 -m pip install -q setuptools wheel ||
            python3 -m pip install -q --break-system-packages setuptools wheel
    fi
    # Segment's and RudderStack's Python clients, unmodified, for
    # tests/integration/test_segment_*.py
    if python3 -c 'import segment.analytics, rudderstack.analytics' 2>/dev/null; then
        log "python3: segment-analytics-python and rudder-sdk-python present"
    else
        log "python3: installing segment-analytics-python and rudder-sdk-python with pip"
        python3 -m pip install -q segment-analytics-python==2.4.0 rudder-sdk-python==2.1.9 ||
            python3 -m pip install -q --break-system-packages \
                segment-analytics-python==2.4.0 rudder-sdk-python==2.1.9
    fi
    # chdb-core: current ClickHouse (26.x) in-process, behind the test-only
    # HTTP front tools/pxstack/chdb_front.py (test_clickhouse_current.py);
    # ~180 MB
    if python3 -c 'import chdb' 2>/dev/null; then
        log "python3: chdb present"
        return
    fi
    log "python3: installing chdb-core with pip"
    python3 -m pip install -q chdb-core ||
        python3 -m pip install -q --break-system-packages chdb-core
}

main() {
    if [ "${1:-}" = --list ]; then
        printf '%s\n' "${apt_packages[@]}" | sort -u
        return
    fi
    local t0=$SECONDS
    [ "${PX_SKIP_APT:-0}" = 1 ] || install_apt
    install_kafka
    install_kustomize
    [ "${PX_SKIP_NPM:-0}" = 1 ] || install_npm
    install_python
    log "done in $((SECONDS - t0))s"
}

main "$@"
