# polyjobs: the spec-first Go kit for Polytomic's Get Job endpoint.
# `make run` starts the dev server; `make test` runs the whole suite.

GO       ?= go
BIN      := bin/polyjobs
SPECTRAL := npx --yes @stoplight/spectral-cli@6.15.0
FUZZTIME ?= 30s

.PHONY: all generate check-generated lint-spec lint build install run test test-short test-docs vendor-docs bench bench-load soak fuzz clean

all: build

## generate: regenerate generated/ from openapi.yaml with the pinned oapi-codegen; the old
##           files go first, so that one no configuration in api/ writes any more is removed
generate:
	rm -f generated/*/*.gen.go
	$(GO) generate ./...

## check-generated: fail when generated/ has uncommitted changes, or when the committed code is
##                  stale (a fresh `make generate` changes it), and say which
check-generated:
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { \
		echo "check-generated compares generated/ with what git has committed: run it in a git checkout" >&2; exit 1; }
	@dirty=$$(git status --porcelain --untracked-files=all -- generated/) || exit 1; \
	if [ -n "$$dirty" ]; then \
		echo "$$dirty" >&2; \
		echo "generated/ has uncommitted changes (above), so it cannot be checked against a fresh generation: commit them (make generate may have made them) or discard them (git checkout -- generated/), then run make check-generated again" >&2; \
		exit 1; \
	fi
	@$(MAKE) --no-print-directory generate
	@stale=$$(git status --porcelain --untracked-files=all -- generated/) || exit 1; \
	if [ -n "$$stale" ]; then \
		git --no-pager diff --stat -- generated/ >&2; \
		echo "$$stale" >&2; \
		echo "generated/ is stale: make generate changed the files above; commit them" >&2; \
		exit 1; \
	fi

## lint-spec: lint openapi.yaml and control.openapi.yaml with spectral's oas ruleset
lint-spec:
	$(SPECTRAL) lint --fail-severity error openapi.yaml control.openapi.yaml

## lint: go vet and staticcheck (pinned)
lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## build: build the polyjobs binary into bin/
build:
	$(GO) build -o $(BIN) ./cmd/polyjobs

## install: install polyjobs into $(go env GOBIN), or $(go env GOPATH)/bin, and say whether it is on PATH
install:
	$(GO) install ./cmd/polyjobs
	@dir=$$($(GO) env GOBIN); [ -n "$$dir" ] || dir=$$($(GO) env GOPATH)/bin; \
	echo "installed $$dir/polyjobs"; \
	case ":$$PATH:" in *":$$dir:"*) ;; *) echo "$$dir is not on your PATH: add it, e.g. export PATH=\"$$dir:\$$PATH\"" ;; esac

## run: the reference server in dev mode on an embedded SQLite database
run: build
	./$(BIN) serve --dev

## test: the whole suite, with the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

## test-short: the suite without the race detector, for a quick loop
test-short:
	$(GO) test -count=1 ./...

## test-docs: the API reference's tests, the headless-Chromium one included, keeping its screenshots
##            in bin/artifacts/ (needs chromium: apt-get install chromium fonts-liberation)
test-docs:
	@mkdir -p bin/artifacts
	$(GO) test -count=1 -v -artifacts -outputdir $(CURDIR)/bin/artifacts ./server/apidocs/

SCALAR_DIR     := server/apidocs/scalar
SCALAR_VERSION ?= $(shell cat $(SCALAR_DIR)/VERSION)

## vendor-docs: fetch the API reference's UI bundle, @scalar/api-reference@SCALAR_VERSION, from the npm
##              registry into server/apidocs/scalar/ (gzipped). The pinned version (scalar/VERSION) must
##              match scalar/SHA256SUMS; another version (make vendor-docs SCALAR_VERSION=x.y.z) rewrites both
vendor-docs:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	tgz=$$(npm pack --silent --pack-destination "$$tmp" "@scalar/api-reference@$(SCALAR_VERSION)" | tail -n 1); \
	tar -xzf "$$tmp/$$tgz" -C "$$tmp" package/dist/browser/standalone.js; \
	sum=$$(cd "$$tmp/package/dist/browser" && sha256sum standalone.js); \
	if [ "$(SCALAR_VERSION)" = "$$(cat $(SCALAR_DIR)/VERSION)" ]; then \
		if [ "$$sum" != "$$(cat $(SCALAR_DIR)/SHA256SUMS)" ]; then \
			echo "@scalar/api-reference@$(SCALAR_VERSION) is not the bundle $(SCALAR_DIR)/SHA256SUMS names: $$sum" >&2; exit 1; \
		fi; \
	else \
		echo "$$sum" > $(SCALAR_DIR)/SHA256SUMS; echo "$(SCALAR_VERSION)" > $(SCALAR_DIR)/VERSION; \
	fi; \
	gzip -9 -n -c "$$tmp/package/dist/browser/standalone.js" > $(SCALAR_DIR)/standalone.js.gz; \
	echo "$(SCALAR_DIR): @scalar/api-reference@$(SCALAR_VERSION), $$(wc -c < $(SCALAR_DIR)/standalone.js.gz) bytes gzipped"

## bench: Go micro-benchmarks of the hot paths
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

BENCH_LOAD_FLAGS ?=

## bench-load: load benchmark, baseline vs polyjobs on SQLite and PostgreSQL under wrk, and the handler
##             chain's allocs/op, then 10,000 held long-polls on one SQLite server (memory, errors, ordinary
##             req/s, wake-ups; needs an open-file hard limit of at least 11,100, or BENCH_LOAD_FLAGS='-waiters N');
##             rewrites BENCHMARKS.md (on a busy machine: BENCH_LOAD_FLAGS='-nice -10')
bench-load:
	$(GO) run ./bench/cmd/polybench load -rounds 5 -duration 10s $(BENCH_LOAD_FLAGS)

SOAK_DURATION ?= 5m
SOAK_FLAGS    ?=

## soak: open-loop load at 80 % of the measured capacity for SOAK_DURATION (default 5m) while jobs change;
##       fails on any error or RSS not flat; writes bench/results/soak.{json,md} (SOAK_FLAGS='-db postgres')
soak:
	$(GO) run ./bench/cmd/polybench soak -duration $(SOAK_DURATION) $(SOAK_FLAGS)

## fuzz: fuzz each request-surface target for FUZZTIME (default 30s); seeds live in server/testdata/fuzz
fuzz:
	@for target in FuzzPath FuzzAuthorization FuzzHeaders FuzzRawRequest; do \
		echo "== $$target"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) ./server/ || exit 1; \
	done

clean:
	rm -rf bin
