# edgetoon: `make serve` starts the product, `make test` runs every test.
GO      ?= go
GOROOT  := $(shell $(GO) env GOROOT)
DIST    := web/dist
WASM    := $(DIST)/edgetoon.wasm
MODEL   := $(DIST)/models/whitebox.safetensors
PY      ?= /usr/bin/python3

.PHONY: all build wasm model serve test test-go test-wasm fuzz deps bench bench-cpu bench-gpu bench-peers latency-tables vet clean

all: build

build: wasm
	@$(MAKE) --no-print-directory model || echo "make: no teacher (White-box) model: serving the committed student only"
	$(GO) build -o bin/edgetoon ./cmd/edgetoon

# The engine that runs in the browser.
wasm:
	mkdir -p $(DIST)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="-s -w" -o $(WASM) ./wasm
	cp $(GOROOT)/lib/wasm/wasm_exec.js $(DIST)/wasm_exec.js

# The teacher, offered beside the default model (web/models/student.safetensors,
# committed): White-box imported from ../shared/models, or downloaded from its
# public source and checked by SHA-256.
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

test: deps wasm model vet test-go test-wasm train-test fuzz

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
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeImage$$' -fuzztime 10s ./internal/photo/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 10s ./latency/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMLP$$' -fuzztime 10s ./latency/

bench: bench-cpu bench-gpu bench-peers

bench-cpu: model
	$(GO) test -run '^$$' -bench . -benchtime 5x ./model/cpu/

# The same network in TF.js, ONNX Runtime Web and LiteRT.js, same browser
# run: the student at 128 (every backend), 256 and 512 (no WebGPU peers:
# over a minute a frame each under SwiftShader), the teacher at 224 with
# LiteRT.js on the TFLite file it was imported from. Every backend is
# loaded afresh 3 times (A/B order), 1 warm-up + 2 timed frames a load.
# Each writes a JSON and a PNG; about 30 minutes, nothing else running.
BENCH_OUT ?= bench/results
BENCH := $(GO) run ./bench -rounds 3 -warmup 1 -reps 2
NO_WEBGPU := ours-fp32,ours-fp16,ort-wasm,ort-webgl,tfjs-webgl,tfjs-wasm
bench-peers: wasm model
	cd bench && npm ci
	mkdir -p $(BENCH_OUT)
	$(BENCH) -model web/models/student.safetensors -size 128 -o $(BENCH_OUT)/student-128.json
	$(BENCH) -model web/models/student.safetensors -size 256 -only $(NO_WEBGPU) -o $(BENCH_OUT)/student-256.json
	$(BENCH) -model web/models/student.safetensors -size 512 -only $(NO_WEBGPU) -o $(BENCH_OUT)/student-512.json
	$(BENCH) -model $(MODEL) -size 224 -tflite ../shared/models/whitebox_cartoon_fp16.tflite \
	  -only $(NO_WEBGPU),litert-wasm,litert-webgpu -o $(BENCH_OUT)/teacher-224.json

# The measured SwiftShader latency data in testdata/latency (see its README):
# the full block catalogue, seven whole networks, the predictor fitted on
# the table and its check against the networks. About 85 minutes on 2
# cores; run it with nothing else on the machine.
LAT := testdata/latency
latency-tables: wasm
	$(GO) build -o bin/edgetoon ./cmd/edgetoon
	bin/edgetoon profile -catalog full -precision fp32 -rounds 4 -warmup 1 -reps 2 -min-ms 150 -o $(LAT)/swiftshader_fp32.json
	bin/edgetoon profile -networks $(LAT)/archs.json -rounds 10 -size 256 -precision fp32 -warmup 1 -reps 2 -o $(LAT)/swiftshader_fp32_networks.json
	bin/edgetoon fit-latency -table $(LAT)/swiftshader_fp32.json -o $(LAT)/swiftshader_fp32_predictor.json
	bin/edgetoon predict-latency -predictor $(LAT)/swiftshader_fp32_predictor.json -measured $(LAT)/swiftshader_fp32_networks.json

bench-gpu: wasm model
	$(GO) test -run '^$$' -bench GPU -benchtime 2x -timeout 60m ./wasm/browsertest

clean:
	rm -rf bin $(DIST)/*.wasm $(DIST)/wasm_exec.js $(DIST)/models

# --- train/ (issue 6): the searched and distilled student generator ---
# `make student`: search -> finetune -> export -> Go checks on the CPU,
# fitted to STUDENT_MINUTES of wall clock (2 cores: under 2 h), with
# progress and ETA. `make trainpack` packs ../shared/images into .trainpack/
# for a GPU machine (train/gpu.sh).
STUDENT_OUT     ?= out/student
STUDENT_MINUTES ?= 105
.PHONY: student train-test train-deps trainpack
student: model
	EDGETOON_TEACHER=$(CURDIR)/$(MODEL) $(PY) train/main.py all --out $(STUDENT_OUT) --minutes $(STUDENT_MINUTES) $(ARGS)

train-test: model
	EDGETOON_TEACHER=$(CURDIR)/$(MODEL) $(PY) -m unittest discover -s train -p 'test_*.py'

trainpack:
	$(PY) train/pack_data.py

train-deps:
	@missing=""; \
	$(PY) -c "import torch" 2>/dev/null || missing="$$missing python3-torch"; \
	$(PY) -c "import numpy" 2>/dev/null || missing="$$missing python3-numpy"; \
	$(PY) -c "import PIL" 2>/dev/null || missing="$$missing python3-pil"; \
	$(PY) -c "import onnx" 2>/dev/null || missing="$$missing python3-onnx"; \
	$(PY) -c "import matplotlib" 2>/dev/null || missing="$$missing python3-matplotlib"; \
	if [ -z "$$missing" ]; then echo "train-deps: all present"; \
	elif [ "$$(id -u)" != 0 ]; then echo "train-deps: run as root: apt-get install -y$$missing" >&2; exit 1; \
	else apt-get install -y$$missing; fi
