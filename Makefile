# aws-pod-identity-policy — the targets Kubewarden policy users expect.
#   make run          build and evaluate the example Pod (examples/), readable output
#   make test         fmt, lint, unit + golden tests, e2e suite (what CI runs)
#   make e2e-tests    the bats suite; KWCTL=kwctl make e2e-tests runs it with the real kwctl
#   make bench        our policy vs the floor and typed modules, warm and fresh, three Pods
#   make fuzz         both fuzz targets for FUZZ_SECONDS each (default 300)
#   make irsa-oidc    the self-hosted issuer tool (README: Self-hosted clusters)
CARGO ?= cargo
# Build outputs live where cargo puts them: honour CARGO_TARGET_DIR.
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
HOST := $(TARGET_DIR)/debug/policy-host
POLICY_SOURCES := Cargo.toml Cargo.lock $(shell find src -name '*.rs')

# With the real kwctl, only an annotated module may read ServiceAccounts.
ifdef KWCTL
E2E_POLICY ?= annotated-policy.wasm
else
E2E_POLICY ?= policy.wasm
KWCTL := $(HOST)
endif

.PHONY: all host bench-host fmt lint unit-tests test test-tools e2e-tests run bench fuzz irsa-oidc clean

all: policy.wasm

policy.wasm: $(POLICY_SOURCES)
	$(CARGO) build --locked --release --target wasm32-wasip1 -p aws-pod-identity-policy
	cp $(TARGET_DIR)/wasm32-wasip1/release/aws_pod_identity_policy.wasm policy.wasm
	@echo "policy.wasm: $$(wc -c < policy.wasm) bytes"

annotated-policy.wasm: policy.wasm metadata.yml README.md
	@command -v kwctl >/dev/null || { echo "kwctl is not installed: see https://github.com/kubewarden/kwctl"; exit 1; }
	kwctl annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

# The first build compiles wasmtime: about 10 minutes on 2 cores.
host:
	@echo "building policy-host (the first build compiles wasmtime, ~10 min on 2 cores)..."
	$(CARGO) build --locked -p policy-host

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

unit-tests: policy.wasm
	POLICY=$(CURDIR)/policy.wasm $(CARGO) test --locked --workspace

# The e2e suite needs bats and jq: installed with apt-get when running as root
# (CI, fresh machines), otherwise the one command to run is printed.
TEST_TOOLS := bats jq
test-tools:
	@missing=""; for tool in $(TEST_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing with apt-get..."; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq$$missing >/dev/null || exit 1; \
	  else \
	    echo "the e2e suite needs$$missing: run  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

e2e-tests: test-tools $(E2E_POLICY) $(if $(findstring $(HOST),$(KWCTL)),host)
	KWCTL=$(KWCTL) POLICY=$(CURDIR)/$(E2E_POLICY) bats e2e-tests/e2e.bats

test: test-tools fmt lint unit-tests e2e-tests

run: policy.wasm host
	$(HOST) run --request-path examples/request.json \
	  --allow-context-aware --replay-host-capabilities-interactions examples/session.yml \
	  --explain policy.wasm

# The benchmark's baseline: the least work a mutating, context-aware policy does.
floor-policy.wasm: benches/floor-policy/Cargo.toml $(shell find benches/floor-policy/src -name '*.rs') Cargo.lock
	$(CARGO) build --locked --release --target wasm32-wasip1 -p floor-policy
	cp $(TARGET_DIR)/wasm32-wasip1/release/floor_policy.wasm floor-policy.wasm

# The peer: a conventional typed-Pod mutating policy, as most Kubewarden policies are written.
typed-policy.wasm: benches/typed-policy/Cargo.toml $(shell find benches/typed-policy/src -name '*.rs') Cargo.lock
	$(CARGO) build --locked --release --target wasm32-wasip1 -p typed-policy
	cp $(TARGET_DIR)/wasm32-wasip1/release/typed_policy.wasm typed-policy.wasm

ITERATIONS ?= 2000
WARMUP ?= 200
# The bench host is built with the release profile, as kwctl and policy-server
# are: a debug host's own JSON work would hide the guests' differences.
BENCH_HOST := $(TARGET_DIR)/release/policy-host
bench-host:
	@echo "building policy-host --release (the first build compiles wasmtime, ~12 min on 2 cores)..."
	$(CARGO) build --locked --release -p policy-host

# Not a test: prints one table of medians and ratios, no thresholds.
bench: policy.wasm floor-policy.wasm typed-policy.wasm bench-host
	$(BENCH_HOST) bench --iterations $(ITERATIONS) --warmup $(WARMUP) \
	  -r benches/pods/small.json -r benches/pods/typical.json -r benches/pods/large.json \
	  --allow-context-aware --replay-host-capabilities-interactions benches/session.yml \
	  --baseline floor=floor-policy.wasm --baseline typed=typed-policy.wasm policy.wasm

FUZZ_SECONDS ?= 300
# Both fuzz targets, FUZZ_SECONDS each (needs the nightly toolchain and cargo-fuzz).
fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is not installed: cargo install cargo-fuzz"; exit 1; }
	cd fuzz && for target in validate_bytes pod_json; do \
	  $(CARGO) +nightly fuzz run $$target corpus/$$target -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

irsa-oidc:
	$(CARGO) build --locked --release -p irsa-oidc
	@echo "irsa-oidc: $(TARGET_DIR)/release/irsa-oidc"

clean:
	$(CARGO) clean
	rm -f policy.wasm annotated-policy.wasm floor-policy.wasm typed-policy.wasm
