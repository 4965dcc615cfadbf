# mesosd build and test entry points. `make help` lists them.
GO       ?= go
BIN      := bin
MESOSD   := $(BIN)/mesosd
PKGS     := ./...
# Tests that need a real containerd read its socket from here.
export MESOSD_CONTAINERD_SOCKET ?= /tmp/mesosd-test-ctrd/containerd.sock

.PHONY: help build static test e2e compat bench verify proto dev test-all clean

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/mesosd
	$(GO) build -o $(MESOSD) ./cmd/mesosd

static: ## build a static bin/mesosd-static (CGO_ENABLED=0, for FROM scratch images)
	CGO_ENABLED=0 $(GO) build -o $(BIN)/mesosd-static ./cmd/mesosd

test: ## unit and integration tests with the race detector
	$(GO) test -race -count=1 $(PKGS)

e2e: build ## end-to-end tests: real mesosd processes, containerd, Docker partitions (root)
	MESOSD_E2E=1 MESOSD_DOCKER=1 MESOSD_BIN=$(abspath $(MESOSD)) $(GO) test -count=1 -v -timeout 25m ./e2e/...

compat: build ## compatibility tests with third-party clients (mesos-go), both codecs
	cd e2e/compat && MESOSD_BIN=$(abspath $(MESOSD)) $(GO) test -count=1 -v -timeout 20m ./...

bench: ## benchmarks (results go to BENCHMARKS.md by hand, with the command)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

verify: ## gofmt, vet, generated code up to date, go mod tidy clean, deterministic apply
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	scripts/verify-genproto.sh
	scripts/verify-tidy.sh
	scripts/verify-determinism.sh

proto: ## regenerate .pb.go from .proto
	scripts/genproto.sh

dev: build ## run mesosd dev (installs containerd/runc if missing; needs root)
	scripts/setup.sh
	$(MESOSD) dev

test-all: ## everything CI runs: setup, private containerd, verify, test, e2e, compat
	scripts/test-all.sh

clean:
	rm -rf $(BIN)
