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
.PHONY: deps-cross deps-deb build-amd64 build-arm64 test-arm64 test-autoclip-arm64 deb test-deb

# Release builds (make deb, make build-arm64): no local paths, stripped, PIE,
# hardened C/C++ in the cgo parts (GoCV).
PKGFLAGS := -trimpath -buildmode=pie -ldflags '-s -w $(LDFLAGS)'
HARDEN_CFLAGS := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
HARDEN_LDFLAGS := -Wl,-z,relro -Wl,-z,now
# The arm64 sysroot (OpenCV headers and libraries), made by scripts/sysroot-arm64.sh.
SYSROOT_ARM64 ?= .cache/sysroot-arm64
SYSROOT_ARM64_ABS = $(abspath $(SYSROOT_ARM64))
DEB_ARCH ?= amd64

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z0-9_-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

go-check: ## check that Go 1.26 or newer is installed
	@$(GO) version >/dev/null 2>&1 || { echo "Go not found: install Go 1.26+ (https://go.dev/dl) or set GO=/path/to/go" >&2; exit 1; }
	@$(GO) run ./scripts/gover >/dev/null 2>&1 || { echo "Go 1.26+ needed, have: $$($(GO) version)" >&2; exit 1; }

deps: ## install the Debian packages the daemon needs (OpenCV)
	@scripts/deps.sh run

deps-cross: ## install the aarch64 cross toolchain, qemu-user and mmdebstrap
	@scripts/deps.sh cross

deps-deb: ## install lintian and debootstrap (make deb, make test-deb)
	@scripts/deps.sh deb

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

vet: go-check ## go vet (also with the matprofile build tag)
	$(GO) vet ./...
	$(GO) vet -tags matprofile ./capture/

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
	ORT_LIB=$$lib $(GO) test $(TESTFLAGS) ./... && \
	ORT_LIB=$$lib $(GO) test $(TESTFLAGS) -tags matprofile -run '^TestNoMatLeaks' ./capture/

build-amd64: deps go-check ## build build/amd64/autoclipd, the release binary that make deb packages
	@mkdir -p build/amd64
	CGO_CFLAGS='$(HARDEN_CFLAGS)' CGO_CXXFLAGS='$(HARDEN_CFLAGS)' CGO_LDFLAGS='$(HARDEN_LDFLAGS)' \
	$(GO) build $(PKGFLAGS) -o build/amd64/autoclipd ./cmd/autoclipd

build-arm64: go-check ## cross-compile build/arm64/autoclipd for linux/arm64 against an arm64 OpenCV sysroot in .cache/
	@scripts/deps.sh cross
	@scripts/sysroot-arm64.sh $(SYSROOT_ARM64) >/dev/null
	@mkdir -p build/arm64
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ \
	PKG_CONFIG_SYSROOT_DIR=$(SYSROOT_ARM64_ABS) \
	PKG_CONFIG_LIBDIR=$(SYSROOT_ARM64_ABS)/usr/lib/aarch64-linux-gnu/pkgconfig:$(SYSROOT_ARM64_ABS)/usr/share/pkgconfig \
	CGO_CFLAGS='$(HARDEN_CFLAGS) --sysroot=$(SYSROOT_ARM64_ABS)' \
	CGO_CXXFLAGS='$(HARDEN_CFLAGS) --sysroot=$(SYSROOT_ARM64_ABS)' \
	CGO_LDFLAGS='$(HARDEN_LDFLAGS) --sysroot=$(SYSROOT_ARM64_ABS)' \
	$(GO) build $(PKGFLAGS) -o build/arm64/autoclipd ./cmd/autoclipd
	@file -b build/arm64/autoclipd | grep -q 'ELF 64-bit.*ARM aarch64' || { echo "build/arm64/autoclipd is not an aarch64 ELF: $$(file -b build/arm64/autoclipd)" >&2; exit 1; }
	@echo "build/arm64/autoclipd: $$(file -b build/arm64/autoclipd | cut -d, -f1-2)"

test-arm64: ## run the arm64 build under qemu-user: version, demo, classify (same labels as amd64)
	@if [ "$$(id -u)" -eq 0 ]; then scripts/deps.sh cross; fi
	@if ! command -v qemu-aarch64 >/dev/null 2>&1 && ! command -v qemu-aarch64-static >/dev/null 2>&1; then \
	  echo "test-arm64: SKIPPED: qemu-user is not installed (no qemu-aarch64); install it with 'scripts/deps.sh cross' as root"; exit 0; \
	fi; \
	$(MAKE) --no-print-directory test-autoclip-arm64 build-arm64 build-amd64 && \
	scripts/test-arm64.sh build/arm64/autoclipd $(SYSROOT_ARM64) build/amd64/autoclipd

test-autoclip-arm64: ## run autoclip's product tests (the NEON kernels) for linux/arm64 under qemu-user
	@if ! command -v qemu-aarch64 >/dev/null 2>&1; then \
	  echo "test-autoclip-arm64: SKIPPED: qemu-user is not installed (no qemu-aarch64); install it with 'scripts/deps.sh cross' as root"; exit 0; \
	fi; \
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) test -c -o /tmp/autoclip.arm64.test ./autoclip/ && \
	qemu-aarch64 /tmp/autoclip.arm64.test -test.run 'Similar|Product|Kernel' -test.v

deb: ## build build/autoclipd_VERSION_ARCH.deb with nfpm (DEB_ARCH=amd64 or arm64), then lintian it
	@scripts/deps.sh deb
	@$(MAKE) --no-print-directory build-$(DEB_ARCH)
	@pkg=$$(SYSROOT_ARM64=$(SYSROOT_ARM64) scripts/deb.sh $(DEB_ARCH)) && echo "$$pkg" && dpkg-deb --info "$$pkg" && \
	echo "lintian $$pkg:" && lintian --tag-display-limit 0 --fail-on error "$$pkg"

test-deb: ## install the .deb in a fresh Debian chroot (debootstrap, cached), run check-config and classify there (DEB_ARCH=arm64: under qemu-user)
	@scripts/deps.sh deb
	@$(MAKE) --no-print-directory build-$(DEB_ARCH)
	@pkg=$$(SYSROOT_ARM64=$(SYSROOT_ARM64) scripts/deb.sh $(DEB_ARCH)) && scripts/test-deb.sh "$$pkg"

clean: ## remove build output (keeps the ONNX Runtime cache and the arm64 sysroot in .cache/)
	rm -rf bin build $(DEMO)
