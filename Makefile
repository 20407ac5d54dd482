# backplane — `make demo` and `make test` are the two commands a new user needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPX := npx --no-install

# command -> Debian package that provides it
SYSTEM_DEPS := nats-server:nats-server docker-registry:docker-registry skopeo:skopeo htpasswd:apache2-utils tmux:tmux

.PHONY: help deps system-deps build typecheck lint format test test-only demo bench bench-scale chaos clean

help:
	@echo "make demo     run a whole local cluster and open the dashboard"
	@echo "make test     install what is missing, typecheck, lint, run the whole suite"
	@echo "make deps     install nats-server, docker-registry, skopeo, htpasswd, tmux and node_modules"
	@echo "make build    compile TypeScript to dist/"
	@echo "make lint     eslint + prettier --check"
	@echo "make bench    run the benchmarks under bench/"
	@echo "make bench-scale  fan-out, heartbeat, dashboard, rollout and CLI-list benches at 10,000 nodes x 30 backends"
	@echo "make chaos    kill agents, controllers and NATS servers under load; print what held (docs/reliability.md)"

deps: system-deps node_modules/.installed

system-deps:
	@missing=""; \
	for pair in $(SYSTEM_DEPS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing system packages:$$missing"; \
	    echo "run: sudo apt-get update && sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

# npm ci only when the lockfile is newer than the last install.
# The registry sometimes stalls mid-download (EIDLETIMEOUT): npm retries each
# fetch itself, and the whole install is tried three times before giving up.
NPM_CI := npm ci --no-audit --no-fund --fetch-retries=5 --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=30000
node_modules/.installed: package-lock.json
	@for try in 1 2 3; do \
	  $(NPM_CI) && break; \
	  [ $$try = 3 ] && exit 1; \
	  echo "npm ci failed (try $$try of 3), retrying in $$((try * 10)) s"; sleep $$((try * 10)); \
	done
	@touch $@

build: dist/.built

# Compile only when a source or the compiler settings changed since the last build.
dist/.built: node_modules/.installed tsconfig.json tsconfig.build.json $(shell find src bin -type f 2>/dev/null)
	$(NPX) tsc -p tsconfig.build.json
	@touch $@

typecheck: node_modules/.installed
	$(NPX) tsc -p tsconfig.json --noEmit

lint: node_modules/.installed
	$(NPX) eslint .
	$(NPX) prettier --check .

format: node_modules/.installed
	$(NPX) prettier --write .

test: deps build typecheck lint test-only

test-only:
	$(NPX) vitest run

demo: deps build
	node bin/backplane.js demo

bench: deps build
	@for b in bench/*.ts; do echo "== $$b"; $(NPX) tsx $$b || exit 1; done

# The fleet of issue 15: 10,000 nodes x 30 backends (each bench takes --nodes/--backends/--ops).
SCALE := --nodes 10000 --backends 30
bench-scale: deps build
	@for b in fanout heartbeats dash-load rollout; do echo "== bench/$$b.ts $(SCALE)"; $(NPX) tsx bench/$$b.ts $(SCALE) || exit 1; done
	@echo "== bench/cli-lists.ts $(SCALE) --ops 10000"; $(NPX) tsx bench/cli-lists.ts $(SCALE) --ops 10000

# The chaos suite of issue 13 (docs/reliability.md); CHAOS_ARGS e.g. "--scenario agent-kill --rounds 20".
chaos: deps build
	$(NPX) tsx chaos/run.ts $(CHAOS_ARGS)

clean:
	rm -rf dist coverage .bench-out
