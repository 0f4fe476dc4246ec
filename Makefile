# s3kms — build and test entry points. CI runs `make test` (see .ci/run).
SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
PKGS := ./...

.PHONY: all build test check lint vet fmt-check staticcheck unit fuzz-smoke bench deps run-dev

all: build

build:
	$(GO) build -o bin/s3kms ./cmd/s3kms

# `make test` is the one command that runs every test: it checks that the
# components the tests need are installed (and says how to install them),
# then runs the linters and the whole suite with the race detector. Tests
# start their own PostgreSQL clusters in temporary directories.
test: deps lint unit

deps:
	@./scripts/check-deps.sh

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

unit:
	$(GO) test -race -timeout 20m $(PKGS)

# Runs every fuzz target briefly (their seed corpora also run in `unit`).
fuzz-smoke:
	@./scripts/fuzz-smoke.sh 10s

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./kms/ ./api/

# S3 load driver (internal/s3load) against an in-process node (with an
# in-process KMS), or the `s3kms dev` whose dev.env is sourced. For each
# size, PUT then GET, runs every mode of MODES back to back and prints a
# table: MiB/s, ops/s, p50/p99, ratio to mode none of the same run, KMS
# calls per op (in-process only). LOAD=10s per phase bounds the run (each
# phase also stops after 2 GiB): 3 sizes x 2 ops x 3 modes = 18 phases,
# about 3 minutes with LOAD=10s.
MODES ?= none,sse-s3,sse-c,sse-s3+bk
.PHONY: s3load
s3load:
	$(GO) test -count=1 -timeout=30m -v ./internal/s3load -run TestLoad -args -load=$(or $(LOAD),10s) -sizes=64KiB,1MiB,64MiB -conc=8 -modes=$(MODES)

# Time to first byte of a 1-byte ranged GET in the middle of a 1 GiB
# object, plain vs SSE-S3 (internal/s3load TestTTFB); TTFB_N GETs each.
.PHONY: ttfb
ttfb:
	$(GO) test -count=1 -timeout=30m -v ./internal/s3load -run TestTTFB -args -ttfb -ttfb.n=$(or $(TTFB_N),50)

# docs/config.md, the configuration reference, from internal/config's
# structures, field comments and defaults (a test fails when it is stale).
.PHONY: config-doc
config-doc:
	$(GO) run ./internal/config/configdoc -src internal/config -o docs/config.md

run-dev:
	$(GO) run ./cmd/s3kms dev

# Key rotation (issue 7) against real processes (test/rotation): the
# end-to-end tests with ROTATION_N SSE-S3 object versions on PostgreSQL
# (`kms serve` + `s3 serve`; `s3kms dev` on SQLite gets a fifth), and the
# figures: rewrap rate of REWRAP_N objects on PostgreSQL and GET p50/p99
# without and during the job (REWRAP_GET of GETs without it, REWRAP_CONC
# workers, REWRAP_RATE rows/s: the node's rewrap.rate, 0 for its default).
.PHONY: rotation-e2e rewrapbench
rotation-e2e:
	S3KMS_ROTATION_N=$(or $(ROTATION_N),10000) $(GO) test -count=1 -v -timeout 30m ./test/rotation -run 'TestRotationE2E|TestHarness'

rewrapbench:
	$(GO) test -count=1 -v -timeout 90m ./test/rotation -run TestRewrapFigures -args -rewrapbench=$(or $(REWRAP_N),100000) -rewrapbench.get=$(or $(REWRAP_GET),20s) -rewrapbench.conc=$(or $(REWRAP_CONC),4) -rewrapbench.rate=$(or $(REWRAP_RATE),0)

# Fault tests (test/faults, also part of `make test`) with their figures:
# SIGKILL of the S3 node under load, PostgreSQL and KMS outages (recovery
# times, error counts by code), disk full on a tmpfs data directory (needs
# root). FAULTS_SEED repeats the crash test's kill moments.
.PHONY: faults
faults:
	S3KMS_FAULTS_SEED=$(FAULTS_SEED) $(GO) test -count=1 -v -timeout 15m ./test/faults
