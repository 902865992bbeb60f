# PX images, built from one Dockerfile:
#
#   docker build --target nginx-px  -t px/nginx-px  .
#   docker build --target px-worker -t px/px-worker .
#
# (docker-compose.yml builds both.) Every stage is Debian 12 (bookworm): the
# module is compiled against the nginx-dev sources of the very nginx package
# that the nginx-px image runs (same release, --with-compat), so load_module
# accepts it. Both runtime images run as the unprivileged user px (uid 10001).

ARG DEBIAN_IMAGE=debian:bookworm-slim
# The module is built against nginx-dev and loaded into nginx: both stages
# install this same version, so the module's ABI always matches.
ARG NGINX_VERSION=1.22.1-9+deb12u11

# --- build: ngx_http_px_module.so and px-worker --------------------------------
FROM ${DEBIAN_IMAGE} AS build
ARG NGINX_VERSION

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config ca-certificates \
        nginx=${NGINX_VERSION} nginx-dev=${NGINX_VERSION} libssl-dev libpcre2-dev zlib1g-dev \
        librdkafka-dev libhiredis-dev libyajl-dev libmaxminddb-dev \
        libcurl4-openssl-dev libyaml-dev libsystemd-dev check \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# configure writes config.mk (never copied in: see .dockerignore); the two
# targets are the Makefile's $(BUILD)/ngx_http_px_module.so and
# $(BUILD)/px-worker, with the nginx sources from nginx-dev.
RUN ./configure \
 && make -j"$(nproc)" build/ngx_http_px_module.so build/px-worker \
 && strip --strip-unneeded build/ngx_http_px_module.so build/px-worker \
 && build/px-worker --version

# --- nginx-px: Debian's nginx with the module, listening on 8000 ---------------
FROM ${DEBIAN_IMAGE} AS nginx-px
ARG NGINX_VERSION

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx=${NGINX_VERSION} librdkafka1 libyajl2 zlib1g libssl3 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /etc/nginx/sites-enabled/default \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin px \
 && install -d -o px -g px -m 0750 /tmp/nginx \
 && install -d -m 0755 /etc/px

COPY --from=build /src/build/ngx_http_px_module.so /usr/lib/nginx/modules/
COPY docker/nginx.conf /etc/nginx/nginx.conf
COPY docker/nginx-entrypoint.sh /usr/local/bin/nginx-entrypoint.sh
# No key in the image: keys.conf comes from a directory mounted at
# /etc/px/keys. The demo key file is used only when PX_DEMO_KEYS=1 asks.
COPY conf/keys.conf /usr/share/px/keys.demo.conf
RUN install -d -m 0755 /etc/px/keys /usr/share/px \
 && chmod 0755 /usr/local/bin/nginx-entrypoint.sh

# the configuration (and the module's link against this image's libraries)
# is checked at build time, as the user that runs it, with the demo keys
# (stdout to a file the user owns: the conf logs to /dev/stdout)
USER px
RUN PX_DEMO_KEYS=1 nginx-entrypoint.sh -t -q > /tmp/nginx/test.log 2>&1 \
 || { cat /tmp/nginx/test.log; exit 1; }; rm -rf /tmp/nginx/*

EXPOSE 8000
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8000/health || exit 1
ENTRYPOINT ["/usr/local/bin/nginx-entrypoint.sh"]
CMD ["-g", "daemon off;"]

# --- px-worker ----------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS px-worker

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libhiredis0.14 libyajl2 zlib1g libmaxminddb0 libcurl4 \
        libpcre2-8-0 libyaml-0-2 libsystemd0 ca-certificates curl uap-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin px \
 && install -d -m 0755 /etc/px /geoip

COPY --from=build /src/build/px-worker /usr/local/bin/px-worker
COPY docker/worker-entrypoint.sh /usr/local/bin/worker-entrypoint.sh
COPY conf/px-worker.conf /etc/px/px-worker.conf
RUN chmod 0755 /usr/local/bin/worker-entrypoint.sh

# Settings come from the environment (names as in conf/px-worker.conf);
# these are the image's defaults, docker-compose.yml sets the rest.
# PX_HEALTH_PORT: the worker's /health, /ready, /metrics on 127.0.0.1 in the
# container, used by the HEALTHCHECK.
ENV PX_GEOIP_DIR=/geoip \
    PX_UAP_REGEXES=/usr/share/uap-core/regexes.yaml \
    PX_HEALTH_PORT=9101

USER px
RUN px-worker --version && px-worker --check-config

# MaxMind databases (GeoLite2-City.mmdb, GeoLite2-ASN.mmdb, ...) go in /geoip;
# empty, the geo columns stay empty.
VOLUME ["/geoip"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/worker-entrypoint.sh", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/worker-entrypoint.sh"]
CMD []
