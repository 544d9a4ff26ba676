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

.PHONY: all build build-otlp test vet fmt-check fuzz-short fuzz demo clean lambda-zip functiongraph-zip build-RestorePointFunction bench

all: build

## build: the restorepoint binary (the one deployed) and restorepoint-dev (emulator, demo) into bin/
build:
	$(GO) build -tags lambda.norpc -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/restorepoint
	$(GO) build -trimpath -o $(DEVBIN) ./cmd/restorepoint-dev

## build-otlp: the deployed binary with OTLP/HTTP export of traces and metrics (OpenTelemetry SDK, protobuf; about twice the size)
build-otlp:
	$(GO) build -tags lambda.norpc,otlp -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)-otlp ./cmd/restorepoint

## test: format and vet checks, the race-enabled test suite, and a short run of every fuzz target
test: fmt-check vet
	$(GO) test -race -count=1 ./...
	$(GO) test -race -count=1 -tags otlp ./internal/app/ ./internal/telemetry/
	$(MAKE) --no-print-directory fuzz-short

vet:
	$(GO) vet ./...

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
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/lambda/bootstrap ./cmd/restorepoint
	$(GO) run ./internal/tools/zipbootstrap -o $(DIST)/restorepoint-lambda.zip $(DIST)/lambda/bootstrap

## functiongraph-zip: dist/restorepoint-functiongraph.zip, the FunctionGraph HTTP function package (linux/amd64)
functiongraph-zip:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -tags lambda.norpc -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/functiongraph/bootstrap ./cmd/restorepoint
	$(GO) run ./internal/tools/zipbootstrap -o $(DIST)/restorepoint-functiongraph.zip $(DIST)/functiongraph/bootstrap

# build-RestorePointFunction is called by `sam build` (template.yaml, BuildMethod: makefile).
build-RestorePointFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)"; exit 2; }
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags '$(LDFLAGS)' -o $(ARTIFACTS_DIR)/bootstrap ./cmd/restorepoint

## bench: restorepoint against the floor, side by side (about 2-4 minutes); writes docs/benchmarks.md
bench:
	GO='$(GO)' $(GO) run ./bench -out docs/benchmarks.md

clean:
	rm -rf bin dist
