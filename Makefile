# polyjobs: the spec-first Go kit for Polytomic's Get Job endpoint.
# `make run` starts the dev server; `make test` runs the whole suite.

GO       ?= go
BIN      := bin/polyjobs
SPECTRAL := npx --yes @stoplight/spectral-cli@6.15.0
FUZZTIME ?= 30s

.PHONY: all generate check-generated lint-spec lint build run test test-short bench bench-load soak fuzz clean

all: build

## generate: regenerate generated/ from openapi.yaml with the pinned oapi-codegen
generate:
	$(GO) generate ./...

## check-generated: fail when the committed generated code is stale
check-generated: generate
	@git diff --exit-code -- generated/ || { echo "generated/ is stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- generated/)" || { git status --porcelain -- generated/; echo "generated/ has untracked files: commit them" >&2; exit 1; }

## lint-spec: lint openapi.yaml with spectral's oas ruleset
lint-spec:
	$(SPECTRAL) lint --fail-severity error openapi.yaml

## lint: go vet and staticcheck (pinned)
lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## build: build the polyjobs binary into bin/
build:
	$(GO) build -o $(BIN) ./cmd/polyjobs

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

## bench: Go micro-benchmarks of the hot paths
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

BENCH_LOAD_FLAGS ?=

## bench-load: load benchmark, baseline vs polyjobs on SQLite and PostgreSQL under wrk, and the handler
##             chain's allocs/op; rewrites BENCHMARKS.md (on a busy machine: BENCH_LOAD_FLAGS='-nice -10')
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
	@for target in FuzzPath FuzzAuthorization FuzzHeaders; do \
		echo "== $$target"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) ./server/ || exit 1; \
	done

clean:
	rm -rf bin
