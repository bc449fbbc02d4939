# prober: `make test` and `make run` work on a fresh Debian/Ubuntu machine with the Swift toolchain.
SWIFT      ?= swift
PROBES     ?= probes
DB         ?= prober.db
DEMO_PORT  ?= 18080
LISTEN     ?= 127.0.0.1:9464
SYSTEM_PACKAGES := libcurl4-openssl-dev libsqlite3-dev zlib1g-dev libpq-dev libjemalloc-dev
# The tools some tests run (openssl: certificates; curl: the container health check; util-linux: flock;
# systemd: systemd-analyze verifies the unit; binutils: readelf lists the libraries the binary links). Without them
# those tests skip, and `make test` counts the skips.
# chromium: the page tests load pages in headless Chromium (Tests/ProberTestSupport/Chromium.swift); postgresql:
# the PostgreSQL backend's tests start a throwaway cluster. Without either, those tests fail, saying so.
TEST_PACKAGES   := openssl curl util-linux systemd binutils chromium postgresql
FUZZ_SECONDS    ?= 60
SHELL           := /bin/bash

.PHONY: deps test-deps install-missing build release test fuzz run bench man clean

## deps: install the C libraries prober links against, when they are missing.
deps:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(SYSTEM_PACKAGES)"

## test-deps: the C libraries and the tools the tests run.
test-deps:
	@$(MAKE) --no-print-directory install-missing PACKAGES="$(SYSTEM_PACKAGES) $(TEST_PACKAGES)"

install-missing:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing) || exit 1; \
	  else \
	    echo "prober needs:$$missing"; \
	    echo "run: sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --static-swift-stdlib --product prober

## test: every test, real libcurl and SQLite against servers on 127.0.0.1; then every skipped test and why.
## Tests run one at a time (--no-parallel): on 2 cores, tests that wait on a child process or a socket held both
## of Swift's cooperative threads and starved the async tests beside them (a check that never started within 10 s).
## The fault suite (Tests/ProberCLITests/Fault*Tests.swift: kill -9 loops, full disks, hostile clients) runs last.
FAULT_SUITE := ProberCLITests\.Fault
test: test-deps
	@mkdir -p .build; set -o pipefail; \
	$(SWIFT) test --no-parallel --skip '$(FAULT_SUITE)' 2>&1 | tee .build/test-output.txt; status=$$?; \
	$(SWIFT) test --no-parallel --filter '$(FAULT_SUITE)' 2>&1 | tee -a .build/test-output.txt; fault=$$?; \
	Tests/skipped-summary .build/test-output.txt; [ $$status = 0 ] && [ $$fault = 0 ]

## fuzz: the probe-file loader under libFuzzer and AddressSanitizer for FUZZ_SECONDS, from the committed corpus
## (Tests/ProberFuzz/corpus; what it finds goes to .build-fuzz/corpus). Its own build folder: `make build` is untouched.
## A crash, a check taking over 10 s or over 2 GiB stops it and leaves `crash-…`/`timeout-…`/`oom-…` here; replay
## one with `swift build --product ProberFuzz && .build/debug/ProberFuzz FILE`. Leak detection is off: Foundation's
## FileManager.contents leaks 4 KiB reading an empty file (not prober's memory).
fuzz: deps
	$(SWIFT) build --scratch-path .build-fuzz -c debug --product ProberFuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
	@mkdir -p .build-fuzz/corpus
	ASAN_OPTIONS=detect_leaks=0 .build-fuzz/debug/ProberFuzz -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	  -detect_leaks=0 -print_final_stats=1 .build-fuzz/corpus Tests/ProberFuzz/corpus

## run: the watchdog on the example probes, beside a local demo target whose latency and errors drift.
run: release
	@bin=$$($(SWIFT) build -c release --show-bin-path)/prober; \
	$$bin demo-target --port $(DEMO_PORT) & demo=$$!; \
	trap 'kill $$demo 2>/dev/null' EXIT INT TERM; \
	$$bin run --probes $(PROBES) --db $(DB) --listen $(LISTEN)

## run-fleet: a local PostgreSQL and three probers (locations a, b, c from 127.0.0.2, .3, .4) against the demo target,
## to watch quorum at work: /regional fails for a alone (no incident), then for a and b (one incident), then resolves.
run-fleet: release
	@$(MAKE) --no-print-directory install-missing PACKAGES="postgresql"
	@DEMO_PORT=$(DEMO_PORT) deploy/fleet-demo/run "$$($(SWIFT) build -c release --show-bin-path)/prober" $(PROBES)

## bench: benchmarks that print figures beside their C baselines (see bench/README.md).
bench: deps
	bench/run

## man: regenerate docs/prober.1 from the command definitions, with argument-parser's generate-manual plugin
## (it runs offline, from the package's own checkout) on the debug build. Then two touches, so the page reads as
## one: a blank line of a discussion becomes a paragraph break (.Pp), an indented example line a literal one (.Dl).
## The date is the last commit's, so regenerating an unchanged tool changes nothing. A test checks that the page
## lists every subcommand and option the binary has.
man: deps
	$(SWIFT) package plugin generate-manual --configuration debug --date "$$(git log -1 --format=%cs 2>/dev/null || date -u +%F)"
	sed -e 's/^$$/.Pp/' -e 's/^  *\(.*\)$$/.Dl \1/' .build/plugins/GenerateManual/outputs/prober/prober.1 > docs/prober.1

clean:
	rm -rf .build
