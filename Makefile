# restorepoint: build, test and package. Everything it needs comes from go.mod
# and the Go module proxy; no tool is installed by hand.

GO        ?= go
BIN       := bin/restorepoint
DEVBIN    := bin/restorepoint-dev
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# A count, not a duration: a duration -fuzztime races the fuzz coordinator
# in Go 1.26 (golang/go#75804) and fails with "context deadline exceeded".
FUZZTIME  ?= 10000x
DIST      ?= dist
# Features with heavy dependencies are build tags, off by default (see
# README): RULES=1 links the CEL rules engine (RULES_FILE), about 10 MB and
# 9 ms of start-up more; OTLP=1 the OpenTelemetry SDK and its OTLP/HTTP
# exporters (OTEL_EXPORTER_OTLP_*), about 8 MB and 6 ms more.
RULES     ?=
OTLP      ?=
comma     := ,
enabled    = $(filter 1 true yes,$(1))
# Every build of the deployed binary carries lambda.norpc (aws-lambda-go
# without net/rpc and encoding/gob) and nethttpomithttp2: net/http without its
# bundled HTTP/2, about 0.5 MB of bootstrap. Every peer of the function speaks
# HTTP/1.1 (CBR, IAM, GitHub, the sink, the Lambda and FunctionGraph runtime
# APIs, Knative's queue-proxy); HTTP/2 would only share one connection.
TAGS      := lambda.norpc,nethttpomithttp2$(if $(call enabled,$(RULES)),$(comma)rules)$(if $(call enabled,$(OTLP)),$(comma)otlp)
# Packages whose tests cover the tagged wiring (make test runs them once
# more with each tag).
RULES_PKGS := ./handler/... ./internal/app/... ./cmd/restorepoint/...
OTLP_PKGS  := ./internal/app/ ./internal/telemetry/

.PHONY: all build test redis-server vet fmt-check fuzz-short fuzz demo clean lambda-zip functiongraph-zip build-RestorePointFunction bench print-tags

all: build

## build: the restorepoint binary (the one deployed) and restorepoint-dev (emulator, demo) into bin/; RULES=1 links the rules engine, OTLP=1 the OTLP exporters
build:
	$(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/restorepoint
	$(GO) build -trimpath -o $(DEVBIN) ./cmd/restorepoint-dev

# print-tags: the build tags of the deployed binary, for the e2e suite's build
# of it (RULES and OTLP count, as in build).
print-tags:
	@echo '$(TAGS)'

## test: format and vet checks, the race-enabled test suite, and a short run of every fuzz target
test: redis-server fmt-check vet
	$(GO) test -race -count=1 ./...
	$(GO) test -race -count=1 -tags rules $(RULES_PKGS)
	$(GO) test -race -count=1 -tags otlp $(OTLP_PKGS)
	$(MAKE) --no-print-directory fuzz-short

# The tests of the Redis store, e2e and the benchmark start a real redis-server
# on a loopback port (none is skipped for want of it): install it when missing.
redis-server:
	@command -v redis-server >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing redis-server (apt-get)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; \
	else echo "redis-server not found: install the Debian package redis-server"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet -tags rules,otlp ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every Fuzz* function in the module, FUZZTIME each (make fuzz: longer).
fuzz-short:
	@set -e; log=$$(mktemp); n=0; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > $$log 2>&1 || { cat $$log; rm -f $$log; echo "fuzz: $$n passed, 1 failed"; exit 1; }; \
	    n=$$((n+1)); \
	  done; \
	done; rm -f $$log; echo "fuzz: $$n passed, 0 failed"

## fuzz: every fuzz target for 300000 executions
fuzz:
	$(MAKE) fuzz-short FUZZTIME=300000x

## demo: the whole job against the embedded CBR emulator, offline (a dev tool: cmd/restorepoint-dev)
demo:
	$(GO) run ./cmd/restorepoint-dev demo

## lambda-zip: dist/restorepoint-lambda.zip, the AWS Lambda package (provided.al2023, arm64)
lambda-zip:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/lambda/bootstrap ./cmd/restorepoint
	$(GO) run ./internal/tools/zipbootstrap -o $(DIST)/restorepoint-lambda.zip $(DIST)/lambda/bootstrap

## functiongraph-zip: dist/restorepoint-functiongraph.zip, the FunctionGraph package (linux/amd64): the same bootstrap serves an HTTP function and, with FUNCTIONGRAPH_MODE=event, an event function (custom runtime)
functiongraph-zip:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/functiongraph/bootstrap ./cmd/restorepoint
	$(GO) run ./internal/tools/zipbootstrap -o $(DIST)/restorepoint-functiongraph.zip $(DIST)/functiongraph/bootstrap

# build-RestorePointFunction is called by `sam build` (template.yaml, BuildMethod: makefile).
# RULES=1 in the environment of `sam build` links the rules engine.
build-RestorePointFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)"; exit 2; }
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o $(ARTIFACTS_DIR)/bootstrap ./cmd/restorepoint

## bench: restorepoint against the floor and the SDK function (bench/sdkfn), side by side (about 3-5 minutes); writes docs/benchmarks.md
bench:
	GO='$(GO)' $(GO) run ./bench -out docs/benchmarks.md

clean:
	rm -rf bin dist
