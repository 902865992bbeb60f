#!/bin/sh
# Entrypoint of the px-worker image (Dockerfile).
#
#   worker-entrypoint.sh [--SETTING VALUE ...]   run px-worker (PID 1)
#   worker-entrypoint.sh --healthcheck           the image's HEALTHCHECK
#   worker-entrypoint.sh COMMAND [ARG ...]       run something else (sh, ...)
#
# px-worker reads its settings from the environment itself
# (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL, CLICKHOUSE_URL, BATCH_SIZE,
# FLUSH_INTERVAL, PX_GEOIP_DIR, ...; conf/px-worker.conf lists them all),
# after the file $PX_WORKER_CONFIG (default /etc/px/px-worker.conf) when it
# exists; flags given to the container override both. exec keeps px-worker
# as PID 1, so `docker stop` (SIGTERM) makes it flush, commit and exit 0, and
# `docker kill -s HUP` reloads the GeoIP and user-agent data.
set -eu

config=${PX_WORKER_CONFIG:-/etc/px/px-worker.conf}

healthcheck() {
    port=${PX_HEALTH_PORT:-0}
    if [ "$port" != 0 ]; then
        # the worker's own /health on 127.0.0.1 (PX_HEALTH_PORT); docker
        # wants 0 (healthy) or 1 (unhealthy)
        curl -fsS -o /dev/null --max-time 4 "http://127.0.0.1:$port/health" \
            || exit 1
        exit 0
    fi
    # otherwise: is px-worker running? (it exits when it cannot go on)
    for comm in /proc/[0-9]*/comm; do
        if [ "$(cat "$comm" 2>/dev/null)" = px-worker ]; then
            exit 0
        fi
    done
    echo "px-worker is not running" >&2
    exit 1
}

case ${1:-} in
--healthcheck)
    healthcheck
    ;;
'' | -*)
    if [ -r "$config" ]; then
        set -- --config "$config" "$@"
    fi
    exec /usr/local/bin/px-worker "$@"
    ;;
*)
    exec "$@"
    ;;
esac
