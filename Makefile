# PX: ./configure && make          builds into build/
#     make SAN=1                   the ASan + UBSan build, into build-asan/
#     make test                    unit + sanitizer + integration + SDK tests
#     make up | status | down      the local stack (README.md)

ifeq ($(wildcard config.mk),)

# A fresh clone: install what the machine lacks, configure, then go on with
# the goal asked for (make up, make test, make).
.DEFAULT_GOAL := all
BOOTSTRAP_GOALS := $(or $(MAKECMDGOALS),all)
.PHONY: $(BOOTSTRAP_GOALS) bootstrap
$(BOOTSTRAP_GOALS): bootstrap
	$(MAKE) $@
bootstrap:
	bash scripts/install-deps.sh
	./configure

else

include config.mk

SAN ?= 0
ifeq ($(SAN),1)
BUILD    ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
            -fno-omit-frame-pointer
OPT      := -O1
else
BUILD    ?= build
SANFLAGS :=
OPT      := -O2
endif

SHELL    := /bin/bash
CC       ?= cc
WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes
CFLAGS   := -std=c11 -D_GNU_SOURCE $(WARN) $(OPT) -g -fPIC $(SANFLAGS)
LDFLAGS  := $(SANFLAGS)

DEP_CFLAGS := $(RDKAFKA_CFLAGS) $(YAJL_CFLAGS) $(ZLIB_CFLAGS) \
    $(HIREDIS_CFLAGS) $(MMDB_CFLAGS) $(CURL_CFLAGS) $(PCRE2_CFLAGS) \
    $(YAML_CFLAGS) $(SYSTEMD_CFLAGS)
WORKER_LIBS := $(RDKAFKA_LIBS) $(HIREDIS_LIBS) $(MMDB_LIBS) $(CURL_LIBS) \
    $(PCRE2_LIBS) $(YAML_LIBS) $(YAJL_LIBS) $(ZLIB_LIBS) $(SYSTEMD_LIBS) \
    -lpthread -lm

# --- libpx: the core both C parts build from -------------------------------
LIBPX_SRCS := $(wildcard libpx/*.c)
LIBPX_OBJS := $(LIBPX_SRCS:%.c=$(BUILD)/obj/%.o)
LIBPX      := $(BUILD)/libpx.a

# --- px-worker: one folder a pipeline stage (docs/worker.md) -----------------
WORKER_DIRS := $(sort $(dir $(wildcard px-worker/src/*/*.c px-worker/src/*/*.h)))
WORKER_INCS := $(addprefix -I,$(WORKER_DIRS:%/=%))
WORKER_MAIN := px-worker/src/daemon/main.c
WORKER_SRCS := $(filter-out $(WORKER_MAIN),$(wildcard px-worker/src/*/*.c))
WORKER_OBJS := $(WORKER_SRCS:%.c=$(BUILD)/obj/%.o)
LIBWORKER   := $(BUILD)/libpxworker.a
WORKER      := $(BUILD)/px-worker

# --- unit tests (Check): one driver, a suite per tests/unit/test_<name>.c ----
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_OBJS  := $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/unit/check_main.o
UNIT_BIN   := $(BUILD)/check_px
SUITES_H   := $(BUILD)/tests/unit/suites.h

# --- tools (tools/uap/: uap-core's suites, for the unit test and a tool) -------
UA_SUITE   := $(BUILD)/obj/tools/uap/ua_suite.o
TOOL_SRCS  := $(wildcard tools/*.c)
TOOL_BINS  := $(TOOL_SRCS:tools/%.c=$(BUILD)/%)

# --- the nginx module ---------------------------------------------------------
NGX_DIR    := $(BUILD)/nginx
NGX_MOD    := $(BUILD)/ngx_http_px_module.so
NGX_SRCS   := $(wildcard ngx_px_module/src/*.c ngx_px_module/src/*.h) \
              ngx_px_module/config

.PHONY: all module worker unit asan test test-unit lint test-integration \
        test-integration-asan test-sdk test-sdk-python test-repo up down status install clean fuzz \
        deps bench bench-ingest bench-worker bench-worker-quick k8s

all: $(LIBPX) $(WORKER) $(NGX_MOD) $(UNIT_BIN) $(TOOL_BINS)

module: $(NGX_MOD)
worker: $(WORKER)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(CHECK_CFLAGS) -Ilibpx $(WORKER_INCS) \
	    -Itools/uap -I$(BUILD)/tests/unit -MMD -MP -c $< -o $@

# Archives are written anew, so a moved or removed file leaves no member.
$(LIBPX): $(LIBPX_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(LIBWORKER): $(WORKER_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

# Binaries are written aside and renamed into place, so a running nginx or
# worker keeps its own copy instead of crashing on a rewritten file.
$(WORKER): $(WORKER_MAIN:%.c=$(BUILD)/obj/%.o) $(LIBWORKER) $(LIBPX)
	$(CC) $(LDFLAGS) -o $@.tmp $^ $(WORKER_LIBS) && mv -f $@.tmp $@

$(BUILD)/%: tools/%.c $(UA_SUITE) $(LIBWORKER) $(LIBPX)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) -Ilibpx $(WORKER_INCS) -Itools/uap -o $@ $^ \
	    $(LDFLAGS) $(WORKER_LIBS)

$(SUITES_H): $(UNIT_SRCS)
	@mkdir -p $(dir $@)
	@for f in $(notdir $(basename $(UNIT_SRCS))); do \
	    echo "PX_SUITE($${f#test_})"; done > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/tests/unit/check_main.o: $(SUITES_H)

$(UNIT_BIN): $(UNIT_OBJS) $(UA_SUITE) $(LIBWORKER) $(LIBPX)
	$(CC) $(LDFLAGS) -o $@ $^ $(WORKER_LIBS) $(CHECK_LIBS)

# nginx: a private copy of the sources configured like the stock binary
# (--with-compat), so the module loads into /usr/sbin/nginx.
$(NGX_DIR)/objs/Makefile: ngx_px_module/config
	rm -rf $(NGX_DIR) && mkdir -p $(NGX_DIR)
	cp -r $(NGINX_SRC)/. $(NGX_DIR)/
	cd $(NGX_DIR) && NGX_CONF_FLAGS=(--with-compat) && \
	    { [ ! -f conf_flags ] || . ./conf_flags; } && \
	    PX_ROOT=$(CURDIR) PX_LIBPX=$(abspath $(LIBPX)) \
	    PX_LIBS="$(RDKAFKA_LIBS) $(YAJL_LIBS) $(ZLIB_LIBS)" \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --with-compat \
	    --with-cc-opt="-g $(OPT) -fPIC $(SANFLAGS) $(YAJL_CFLAGS)" \
	    --with-ld-opt="$(SANFLAGS)" \
	    --add-dynamic-module=$(CURDIR)/ngx_px_module > configure.log 2>&1 \
	    || { tail -20 configure.log; exit 1; }

$(NGX_MOD): $(NGX_DIR)/objs/Makefile $(NGX_SRCS) $(LIBPX)
	$(MAKE) -C $(NGX_DIR) -f objs/Makefile modules
	cp $(NGX_DIR)/objs/ngx_http_px_module.so $@.tmp && mv -f $@.tmp $@

unit: $(UNIT_BIN)
	PX_GEOIP_TESTDATA=$(CURDIR)/tests/data/geoip \
	PX_SOURCE_DIR=$(CURDIR) $(UNIT_BIN)

asan:
	$(MAKE) SAN=1

deps:
	bash scripts/install-deps.sh

# The test command of README.md: everything, as CI runs it. The preflight
# names any missing package in seconds, before the long steps.
test: deps
	bash scripts/preflight.sh test
	$(MAKE) all
	$(MAKE) lint
	$(MAKE) test-repo
	$(MAKE) asan
	$(MAKE) test-unit
	$(MAKE) SAN=1 test-unit
	$(MAKE) fuzz
	$(MAKE) test-integration
	$(MAKE) test-integration-asan
	$(MAKE) test-sdk
	$(MAKE) test-sdk-python

test-unit: unit

# The cheap checks (scripts/lint.sh): missing prototypes and unused code as
# errors, globals no other file uses, and the duplicates list where the
# machine has that tool.  Needs the module's nginx tree: after make.
lint: all
	BUILD=$(BUILD) YAJL_CFLAGS="$(YAJL_CFLAGS)" \
	LINT_CFLAGS="-std=c11 -D_GNU_SOURCE $(WARN) -g -fPIC $(DEP_CFLAGS) \
	    $(CHECK_CFLAGS) -Ilibpx $(WORKER_INCS) -Itools/uap \
	    -I$(BUILD)/tests/unit" bash scripts/lint.sh

# The repository stands on its own (no path outside the clone, no document
# named that does not exist) and installs (make install into a temp dir).
test-repo:
	python3 -m pytest -q tests/repo

# Every integration test on the optimised build, on PX_TEST_JOBS processes
# (pytest-xdist, one test file to a process: each process starts its own
# stack on free ports; most of a test's time is waiting on services)...
PX_TEST_JOBS ?= 2
PYTEST_JOBS = $(if $(filter-out 0 1,$(PX_TEST_JOBS)),-n $(PX_TEST_JOBS) --dist loadfile)
test-integration:
	python3 -m pytest -q $(PYTEST_JOBS) tests/integration

# ... and the request and storage paths again on the ASan + UBSan build
# (nginx with the instrumented module, the instrumented worker); any
# sanitizer report fails the run.
ASAN_INTEGRATION ?= tests/integration/test_pipeline.py \
    tests/integration/test_module_errors.py tests/integration/test_auth.py \
    tests/integration/test_api_errors.py tests/integration/test_health.py \
    tests/integration/test_module_ack.py \
    tests/integration/test_module_one_answer.py \
    tests/integration/test_worker_geoip.py \
    tests/integration/test_worker_migrations.py \
    tests/integration/test_segment_api.py \
    tests/integration/test_segment_clients.py \
    tests/integration/test_module_limit_redis.py
test-integration-asan:
	PX_BUILD_DIR=build-asan python3 -m pytest -q $(PYTEST_JOBS) $(ASAN_INTEGRATION)

test-sdk:
	cd sdk-web && npm test && npm run test:browser && npm run test:e2e

# sdk-python: its unit tests from the source tree (a scripted local HTTP
# server) and pip install into a fresh venv; its test on the real stack is
# tests/integration/test_sdk_python.py (make test-integration).
test-sdk-python:
	cd sdk-python && PYTHONPATH=src python3 -m pytest -q tests

# libFuzzer over validation + inflate, over the message reader and over the
# Segment translation (clang), FUZZ_SECONDS (30) each (see tests/fuzz/run.sh).
fuzz:
	bash tests/fuzz/run.sh

up: deps
	bash scripts/preflight.sh up
	$(MAKE) all
	python3 tools/pxstack/cli.py up
down:
	python3 tools/pxstack/cli.py down
status:
	python3 tools/pxstack/cli.py status

# Benchmarks (bench/README.md): each starts its own stack, prints figures.
bench: bench-ingest bench-worker
bench-ingest: all
	python3 bench/ingest_bench.py $(BENCH_ARGS)
bench-worker: all
	python3 bench/worker_bench.py $(BENCH_ARGS)
bench-worker-quick: all
	python3 bench/worker_bench.py --events 100000 --miss-events 20000 $(BENCH_ARGS)

# k8s/px.yaml, the manifests `kubectl apply -f k8s/` applies: the prod
# overlay rendered (tests/repo/test_k8s.py fails when it is out of date).
KUSTOMIZE ?= $(or $(PX_KUSTOMIZE_HOME),$(HOME)/.cache/px/kustomize-v5.0.3)/kustomize
k8s:
	{ sed '/^[^#]/,$$d' k8s/px.yaml; $(KUSTOMIZE) build k8s/overlays/prod; } \
	    > k8s/px.yaml.tmp && mv k8s/px.yaml.tmp k8s/px.yaml

DESTDIR ?=
# a worker built without libsystemd cannot sd_notify: its unit is simple
UNIT_WITHOUT_NOTIFY := $(if $(findstring PX_HAVE_SYSTEMD,$(SYSTEMD_CFLAGS)),,\
    -e 's/^Type=notify/Type=simple/' -e '/^NotifyAccess=/d' \
    -e '/^WatchdogSec=/d')
install: all
	install -D -m 0755 $(WORKER) $(DESTDIR)$(PREFIX)/bin/px-worker
	install -D -m 0644 $(NGX_MOD) \
	    $(DESTDIR)$(PREFIX)/lib/nginx/modules/ngx_http_px_module.so
	install -d $(DESTDIR)$(PREFIX)/share/px/conf
	install -m 0644 conf/* $(DESTDIR)$(PREFIX)/share/px/conf/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed -e 's#/usr/local/#$(PREFIX)/#g' $(UNIT_WITHOUT_NOTIFY) \
	    px-worker/px-worker.service \
	    > $(DESTDIR)$(PREFIX)/lib/systemd/system/px-worker.service
	install -m 0644 px-worker/px-geoipupdate.service \
	    px-worker/px-geoipupdate.timer $(DESTDIR)$(PREFIX)/lib/systemd/system/

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

endif
