# claude-gateway: `make run` starts the gateway locally on the simulated
# provider; `make test` runs every check CI runs.
GO      ?= go
PORT    ?= 4000
CONFIG  ?= config.example.yaml
PKGS    := ./...
export GATEWAY_MASTER_KEY ?= sk-local-dev

# Packaging: the Lambda bootstrap (arm64, provided.al2023) and the Cloud Run
# image (linux/amd64). Both bundle config.yaml if there is one, else the example.
LAMBDA_ARCH   ?= arm64
LAMBDA_PORT   ?= 9000
IMAGE_ARCH    ?= amd64
IMAGE_TAR     ?= bin/gateway-image.tar
BUNDLE_CONFIG ?= $(firstword $(wildcard config.yaml) config.example.yaml)
# Per-runtime builds leave out what the runtime does not use (build tags:
# core/store/selector and core/telemetry; README "Builds"). The Lambda
# bootstrap has no Firestore, Redis, OTLP export (so no gRPC) or Prometheus
# /metrics: DynamoDB state, EMF metrics. The Cloud Run binary has no
# DynamoDB, Redis or Firestore (Firestore's gRPC, protos and Google auth are
# ~2 ms of every cold start): embedded or memory state; nor net/http/pprof
# (GATEWAY_PPROF_ADDR: `make build` has it). A store is put back
# in when the bundled config names it (state_store, or redis_host /
# redis_url) or the build asks for it: CLOUDRUN_STORE / LAMBDA_STORE, a
# comma-separated list (`make image CLOUDRUN_STORE=firestore,redis`). `make
# image` and the Dockerfile (what infra/service.yaml and deploy-cloudrun.sh
# run, with GATEWAY_STATE_STORE=firestore) ask for Firestore. Set
# LAMBDA_TAGS / CLOUDRUN_TAGS to choose by hand ("" keeps everything).
comma := ,
wants_store = $(shell grep -Eqi '^[[:space:]]*state_store:[[:space:]]*["'"'"']?$(1)' $(BUNDLE_CONFIG) && echo yes)
wants_redis = $(shell grep -Eq '^[[:space:]]*redis_(host|url):' $(BUNDLE_CONFIG) && echo yes)
# asks_store,STORE,LIST: STORE is in the comma-separated LIST.
asks_store = $(filter $(1),$(subst $(comma), ,$(2)))
lambda_has = $(or $(call asks_store,$(1),$(LAMBDA_STORE)),$(call wants_store,$(1)))
cloudrun_has = $(or $(call asks_store,$(1),$(CLOUDRUN_STORE)),$(call wants_store,$(1)))
LAMBDA_TAGS   ?= lambda.norpc grpcnotrace nootlp noprometheus $(if $(call lambda_has,firestore),,nofirestore) $(if $(or $(call lambda_has,redis),$(wants_redis)),,noredis)
CLOUDRUN_TAGS ?= grpcnotrace nopprof $(if $(call cloudrun_has,dynamodb),,nodynamodb) $(if $(call cloudrun_has,firestore),,nofirestore) $(if $(or $(call cloudrun_has,redis),$(wants_redis)),,noredis)
taglist = $(subst $() ,$(comma),$(strip $(1)))
# Recursive, so that a target's own CLOUDRUN_STORE (image) is in its flags.
LAMBDA_FLAGS   = -tags $(call taglist,$(LAMBDA_TAGS)) -trimpath -ldflags="-s -w"
CLOUDRUN_FLAGS = -tags $(call taglist,$(CLOUDRUN_TAGS)) -trimpath -ldflags="-s -w"

.PHONY: all build sizes print-tags run test fmt-check vet unit fuzz bench bench-go bench-load bench-startup bench-soak clean \
	lambda lambda-local build-GatewayFunction image deploy-aws deploy-gcp smoke-claude-code

all: build

# bin/gateway: the local server with every store and exporter.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o bin/gateway ./functions/cloudrun

# The build tags of each runtime's binary (read by functions/*'s build tests).
print-tags:
	@echo lambda $(call taglist,$(LAMBDA_TAGS))
	@echo cloudrun $(call taglist,$(CLOUDRUN_TAGS))

# bin/cloudrun/gateway and bin/lambda/bootstrap for this machine, with their sizes.
sizes:
	mkdir -p bin/cloudrun bin/lambda
	CGO_ENABLED=0 $(GO) build $(CLOUDRUN_FLAGS) -o bin/cloudrun/gateway ./functions/cloudrun
	CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o bin/lambda/bootstrap ./functions/lambda
	@ls -l bin/cloudrun/gateway bin/lambda/bootstrap | awk '{printf "%-22s %6.1f MB\n", $$NF, $$5/1048576}'

run:
	PORT=$(PORT) $(GO) run ./functions/cloudrun -config $(CONFIG)

test: fmt-check vet unit fuzz

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# The real Claude Code CLI (npm, pinned) runs in core/gateway's TestClaudeCodeCLI,
# the official Node SDKs (@anthropic-ai/sdk, openai; npm, pinned) in its
# TestOfficialNodeSDKs;
# a real OpenID provider (zitadel/oidc's example OP, module proxy) in core/sso;
# Debian's Chromium drives the web console in core/gateway's TestConsoleInBrowser.
unit:
	CLAUDE_CODE_BIN=$$(bash scripts/claude-code-cli.sh) OIDC_OP_BIN=$$(bash scripts/oidc-provider.sh) \
		CHROMIUM_BIN=$$(bash scripts/chromium.sh) NODE_SDKS_DIR=$$(bash scripts/node-sdks.sh) \
		bash scripts/test-services.sh $(GO) test -race -count=1 $(PKGS)

# Each fuzz target runs for FUZZTIME beyond its checked-in seeds (which
# `unit` already runs as tests); a failure leaves its input under the
# package's testdata/fuzz for `go test -run` to replay.
FUZZTIME ?= 3s
FUZZ_TARGETS := \
	./core/server:FuzzParseMessagesRequest \
	./core/sse:FuzzReader \
	./core/providers/bedrock:FuzzEventStreamDecode \
	./core/providers/bedrock:FuzzChunkEnvelope \
	./core/providers/bedrock:FuzzStreamRead \
	./core/openai:FuzzTranslateRequest \
	./core/openai:FuzzTranslateResponse \
	./core/config:FuzzParse \
	./core/identity/keyadmin:FuzzKeyRoutes

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		log=$$(mktemp); \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) $$pkg >$$log 2>&1 || { cat $$log; rm -f $$log; exit 1; }; \
		rm -f $$log; \
	done

bench: bench-go bench-load bench-soak

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

bench-load:
	bash scripts/bench.sh

# Only the start-up figures of bench-load (sizes, cold starts, idle RSS; ~20 s).
bench-startup:
	bash scripts/bench.sh -only startup -starts 21

# A steady streaming soak with injected upstream faults for SOAK (RSS, goroutines,
# p99 per tenth of it; spend records == requests), then 2,000 streams opened at once.
SOAK ?= 10m
bench-soak:
	GATEWAY_BENCH_SOAK=$(SOAK) $(GO) test -count=1 -v -timeout 60m -run '^TestBench(Soak|Burst)$$' ./core/gateway

# bin/gateway-lambda.zip: bootstrap + config.yaml, for `aws lambda update-function-code --zip-file`.
lambda:
	rm -rf bin/lambda && mkdir -p bin/lambda
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build $(LAMBDA_FLAGS) -o bin/lambda/bootstrap ./functions/lambda
	cp $(BUNDLE_CONFIG) bin/lambda/config.yaml
	rm -f bin/gateway-lambda.zip && cd bin/lambda && zip -q -X ../gateway-lambda.zip bootstrap config.yaml
	@echo "bin/gateway-lambda.zip ($(LAMBDA_ARCH), config from $(BUNDLE_CONFIG))"

# Called by `sam build` (template.yaml: BuildMethod makefile) with ARTIFACTS_DIR set.
build-GatewayFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/lambda
	cp $(BUNDLE_CONFIG) $(ARTIFACTS_DIR)/config.yaml

# The Lambda build served on :$(LAMBDA_PORT) as a streaming function URL, under
# a local fake of the Lambda Runtime API (the AWS emulator buffers streams).
lambda-local:
	mkdir -p bin/lambda-local
	CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o bin/lambda-local/bootstrap ./functions/lambda
	$(GO) run ./functions/lambda/localharness -bootstrap bin/lambda-local/bootstrap -config $(CONFIG) -port $(LAMBDA_PORT)

# The Cloud Run container as an OCI image archive, assembled without a Docker
# daemon (push: skopeo copy oci-archive:$(IMAGE_TAR) docker://REGISTRY/IMAGE).
# With Firestore, the state store infra/service.yaml gives the service (as the
# Dockerfile's CLOUDRUN_STORE build argument does).
image: CLOUDRUN_STORE = firestore
image:
	mkdir -p bin/image
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build $(CLOUDRUN_FLAGS) -o bin/image/gateway ./functions/cloudrun
	$(GO) run ./infra/image/buildimage -binary bin/image/gateway -config $(BUNDLE_CONFIG) -arch $(IMAGE_ARCH) -o $(IMAGE_TAR)

# The real Claude Code CLI (npm): the pinned and the newest version through
# Bedrock, Vertex and mixed-group fakes, then against `make run`'s simulated gateway.
smoke-claude-code:
	bash scripts/claude-code-smoke.sh

deploy-aws:
	bash scripts/deploy-aws.sh

deploy-gcp:
	bash scripts/deploy-cloudrun.sh

clean:
	rm -rf bin .aws-sam
