# autoclipd: `make run` and `make test` set up everything on a fresh Debian 12.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/autoclipd
DEMO := demo
GOFILES := $(shell git ls-files '*.go' 2>/dev/null)
# Tests read the CLIP reference data from ../shared; race detection is on.
TESTFLAGS ?= -race -count=1 -timeout 30m

.PHONY: help deps deps-test go-check ort build demo run test vet fmt-check tidy-check clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z0-9_-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

go-check: ## check that Go 1.26 or newer is installed
	@$(GO) version >/dev/null 2>&1 || { echo "Go not found: install Go 1.26+ (https://go.dev/dl) or set GO=/path/to/go" >&2; exit 1; }
	@$(GO) run ./scripts/gover >/dev/null 2>&1 || { echo "Go 1.26+ needed, have: $$($(GO) version)" >&2; exit 1; }

deps: ## install the Debian packages the daemon needs (OpenCV)
	@scripts/deps.sh run

deps-test: ## install the Debian packages the tests need too (mosquitto, Pillow, scikit-image)
	@scripts/deps.sh test

ort: ## find or fetch the ONNX Runtime library (prints its path)
	@scripts/ort.sh

build: deps go-check ## build bin/autoclipd
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/autoclipd

demo: build ## write the demo model, video, labels and config into demo/
	$(BIN) demo --out $(DEMO)

run: build ## run the daemon on the demo (embedded MQTT broker on 127.0.0.1:1883)
	@lib=$$(scripts/ort.sh) || exit 1; \
	[ -f $(DEMO)/config.yaml ] && [ -f $(DEMO)/model/onnx/vision_model.onnx ] && [ -f $(DEMO)/colours.avi ] || $(BIN) demo --out $(DEMO); \
	echo "watch it: mosquitto_sub -h 127.0.0.1 -t 'autoclipd/#' -v"; \
	ORT_LIB=$$lib exec $(BIN) run --config $(DEMO)/config.yaml

vet: go-check ## go vet
	$(GO) vet ./...

fmt-check: ## fail if gofmt would change a file
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy-check: go-check ## fail if go mod tidy would change go.mod or go.sum
	@cp go.mod /tmp/autoclipd.go.mod && cp go.sum /tmp/autoclipd.go.sum; \
	$(GO) mod tidy; changed=0; \
	cmp -s go.mod /tmp/autoclipd.go.mod && cmp -s go.sum /tmp/autoclipd.go.sum || changed=1; \
	cp /tmp/autoclipd.go.mod go.mod; cp /tmp/autoclipd.go.sum go.sum; \
	if [ $$changed = 1 ]; then echo "go mod tidy changes go.mod/go.sum: run it and commit" >&2; exit 1; fi

test: deps-test go-check fmt-check vet tidy-check ## run every test (race detector on)
	@lib=$$(scripts/ort.sh) || exit 1; \
	echo "ONNX Runtime: $$lib"; \
	ORT_LIB=$$lib $(GO) test $(TESTFLAGS) ./...

clean: ## remove build output (keeps the ONNX Runtime cache)
	rm -rf bin $(DEMO)
