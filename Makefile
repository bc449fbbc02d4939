# prober: `make test` and `make run` work on a fresh Debian/Ubuntu machine with the Swift toolchain.
SWIFT      ?= swift
PROBES     ?= probes
DB         ?= prober.db
DEMO_PORT  ?= 18080
SYSTEM_PACKAGES := libcurl4-openssl-dev libsqlite3-dev

.PHONY: deps build release test run bench clean

## deps: install the C libraries prober links against, when they are missing.
deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
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
	$(SWIFT) build -c release --static-swift-stdlib

## test: every test, real libcurl and SQLite against servers on 127.0.0.1.
test: deps
	$(SWIFT) test

## run: the watchdog on the example probes, beside a local demo target whose latency and errors drift.
run: release
	@bin=$$($(SWIFT) build -c release --show-bin-path)/prober; \
	$$bin demo-target --port $(DEMO_PORT) & demo=$$!; \
	trap 'kill $$demo 2>/dev/null' EXIT INT TERM; \
	$$bin run --probes $(PROBES) --db $(DB)

## bench: benchmarks that print figures beside their C baselines (see bench/README.md).
bench: deps
	bench/run

clean:
	rm -rf .build
