# edgetoon: `make serve` starts the product, `make test` runs every test.
GO      ?= go
GOROOT  := $(shell $(GO) env GOROOT)
DIST    := web/dist
WASM    := $(DIST)/edgetoon.wasm
MODEL   := $(DIST)/models/whitebox.safetensors
PY      ?= /usr/bin/python3

.PHONY: all build wasm model serve test test-go test-wasm fuzz deps bench bench-cpu bench-gpu vet clean

all: build

build: wasm model
	$(GO) build -o bin/edgetoon ./cmd/edgetoon

# The engine that runs in the browser.
wasm:
	mkdir -p $(DIST)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o $(WASM) ./wasm
	cp $(GOROOT)/lib/wasm/wasm_exec.js $(DIST)/wasm_exec.js

# The default model: White-box imported from ../shared/models, or downloaded
# from its public source and checked by SHA-256.
model: $(MODEL)
$(MODEL):
	$(GO) run ./cmd/edgetoon fetch-teacher -o $(MODEL)

serve: build
	./bin/edgetoon serve $(ARGS)

# Browser tests need Chromium; install it where we may (CI runs as root).
deps:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Chromium (apt-get install chromium) for the browser tests"; fi; }

test: deps wasm model vet test-go test-wasm fuzz

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt needed"; exit 1; }

test-go:
	$(GO) test -timeout 25m ./...

# Pure-Go parts of the WASM program, run under Node.
test-wasm:
	GOOS=js GOARCH=wasm $(GO) test -exec="$(GOROOT)/lib/wasm/go_js_wasm_exec" ./wasm/...

# A short fuzzing run of each reader of untrusted bytes.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 20s ./model/
	$(GO) test -run '^$$' -fuzz '^FuzzImport$$' -fuzztime 20s ./model/tflite/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 10s ./latency/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMLP$$' -fuzztime 10s ./latency/

bench: bench-cpu bench-gpu

bench-cpu: model
	$(GO) test -run '^$$' -bench . -benchtime 5x ./model/cpu/

bench-gpu: wasm model
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 20m ./wasm/...

clean:
	rm -rf bin $(DIST)/*.wasm $(DIST)/wasm_exec.js $(DIST)/models
