# claude-gateway: `make run` starts the gateway locally on the simulated
# provider; `make test` runs every check CI runs.
GO      ?= go
PORT    ?= 4000
CONFIG  ?= config.example.yaml
PKGS    := ./...
export GATEWAY_MASTER_KEY ?= sk-local-dev

.PHONY: all build run test fmt-check vet unit bench bench-go bench-load clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o bin/gateway ./functions/cloudrun

run:
	PORT=$(PORT) $(GO) run ./functions/cloudrun -config $(CONFIG)

test: fmt-check vet unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 $(PKGS)

bench: bench-go bench-load

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

bench-load:
	bash scripts/bench.sh

clean:
	rm -rf bin
