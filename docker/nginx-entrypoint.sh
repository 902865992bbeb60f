#!/bin/sh
# Entrypoint of the nginx-px image (Dockerfile).
#
#   nginx-entrypoint.sh [nginx args]     check the keys, write the realip
#                                        list, exec nginx (PID 1)
#   nginx-entrypoint.sh COMMAND [ARG ...]  run something else
#
# Keys: the image ships none. Mount a directory holding keys.conf at
# /etc/px/keys (docker-compose.yml mounts ./keys); nginx reads it through
# a link in its tmpfs, so an editor that replaces the file and
# `docker-compose kill -s HUP nginx-px` are both seen. No key file: the
# container stops with a message, unless PX_DEMO_KEYS=1 asks for the demo
# key of the README (never on a reachable host).
#
# Client addresses: PX_TRUSTED_PROXIES, space-separated addresses or CIDR
# ranges, are trusted to set X-Forwarded-For (default: loopback only;
# behind Docker's port publishing every client appears as the bridge
# gateway: docs/deploy.md).
set -eu

keys_dir=${PX_KEYS_DIR:-/etc/px/keys}
run_dir=${PX_RUN_DIR:-/tmp/nginx}
demo=${PX_DEMO_KEYS_FILE:-/usr/share/px/keys.demo.conf}

die() { echo "nginx-px: $*" >&2; exit 1; }

keys() {
    if [ -f "$keys_dir/keys.conf" ]; then
        ln -sfn "$keys_dir/keys.conf" "$run_dir/keys.conf"
    elif [ "${PX_DEMO_KEYS:-0}" = 1 ]; then
        echo "nginx-px: WARNING: PX_DEMO_KEYS=1: the demo key of the README" \
             "accepts events for proj_demo_uuid; never on a reachable host" >&2
        cp "$demo" "$run_dir/keys.conf"
    else
        die "no key file: mount a directory holding keys.conf" \
            "(\"<key> <project_id> <tier> [origin ...]\" lines) at $keys_dir" \
            "(docker-compose.yml: ./keys), or set PX_DEMO_KEYS=1 for a demo"
    fi
}

realip() {
    out="$run_dir/realip.conf"
    : > "$out.tmp"
    for p in ${PX_TRUSTED_PROXIES:-127.0.0.1}; do
        case $p in
        *[!0-9a-fA-F.:/]* | '') die "PX_TRUSTED_PROXIES: \"$p\" is not an address or CIDR range" ;;
        esac
        echo "set_real_ip_from $p;" >> "$out.tmp"
    done
    mv "$out.tmp" "$out"
}

case ${1:-} in
'' | -*)
    mkdir -p "$run_dir"
    keys
    realip
    exec nginx "$@"
    ;;
*)
    exec "$@"
    ;;
esac
