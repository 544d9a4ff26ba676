# restorepoint: build, test and package. Everything it needs comes from go.mod
# and the Go module proxy; no tool is installed by hand.

GO        ?= go
BIN       := bin/restorepoint
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 5s

.PHONY: all build test vet fmt-check fuzz-short fuzz demo clean

all: build

## build: the restorepoint binary into bin/
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/restorepoint

## test: format and vet checks, the race-enabled test suite, and a short run of every fuzz target
test: fmt-check vet
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz-short

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every Fuzz* function in the module, FUZZTIME each (make fuzz: longer).
fuzz-short:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > /tmp/restorepoint-fuzz.log 2>&1 || { cat /tmp/restorepoint-fuzz.log; exit 1; }; \
	  done; \
	done

## fuzz: every fuzz target for one minute
fuzz:
	$(MAKE) fuzz-short FUZZTIME=1m

## demo: the whole job against the embedded CBR emulator, offline
demo:
	$(GO) run ./cmd/restorepoint demo

clean:
	rm -rf bin dist
