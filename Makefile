# aws-pod-identity-policy — the targets Kubewarden policy users expect.
#   make run          build and evaluate the example Pod (examples/), readable output
#   make test         fmt, lint, unit + golden tests, e2e suite, webhook oracle + converter proof, SDK and cluster suites (what CI runs)
#   make e2e-tests    the bats suite, with the real kwctl when it is on PATH, else policy-host
#   make cluster-test the real-cluster suite: etcd + kube-apiserver + policy-server, faults included
#   make sdk-test     the credential-chain suite: real AWS SDKs on what the policy injects (root)
#   make webhook-oracle  the EKS webhook's own code as the oracle: random cases and its fixtures
#   make bench        our policy vs the floor and typed modules, warm and fresh, three Pods
#   make fuzz         both fuzz targets for FUZZ_SECONDS each (default 300)
#   make irsa-oidc    the self-hosted issuer tool (docs/self-hosted.md)
#   make webhook-migrate  the converter from a running EKS webhook (docs/migration.md)
#   make migration-equality  the converter proven by the webhook's code: random configurations and Pods
CARGO ?= cargo
# Build outputs live where cargo puts them: honour CARGO_TARGET_DIR.
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
HOST := $(TARGET_DIR)/debug/policy-host
POLICY_SOURCES := Cargo.toml Cargo.lock $(shell find src -name '*.rs')

# The real kwctl when it is on PATH (`KWCTL=` forces policy-host). With the
# real kwctl, only an annotated module may read ServiceAccounts.
KWCTL ?= $(shell command -v kwctl 2>/dev/null)
ifeq ($(KWCTL),)
ENGINE := policy-host
E2E_POLICY ?= policy.wasm
override KWCTL := $(HOST)
else
ENGINE := kwctl
E2E_POLICY ?= annotated-policy.wasm
endif

# The cluster suite runs when all of these are on PATH (CONTRIBUTING.md says where to get them).
CLUSTER_TOOLS := etcd kube-apiserver kubectl policy-server openssl curl python3
MISSING_CLUSTER_TOOLS := $(strip $(foreach tool,$(CLUSTER_TOOLS),$(if $(shell command -v $(tool) 2>/dev/null),,$(tool))))

# A toolchain installed before rust-toolchain.toml named the target lacks it
# ("can't find crate for `core`"): add it once, with rustup.
WASM_TARGET = @if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip1; then \
	  echo "adding the wasm32-wasip1 target with rustup..."; rustup target add wasm32-wasip1 || exit 1; fi

.PHONY: all host webhook-oracle migration-equality bench-host bench-reader fmt lint unit-tests test test-tools e2e-tests cluster-test cluster-test-if-tools sdk-test sdk-test-if-root sdk-tools run bench fuzz irsa-oidc artifacthub clean

all: policy.wasm

policy.wasm: $(POLICY_SOURCES)
	$(WASM_TARGET)
	$(CARGO) build --locked --release --target wasm32-wasip1 -p aws-pod-identity-policy
	cp $(TARGET_DIR)/wasm32-wasip1/release/aws_pod_identity_policy.wasm policy.wasm
	@echo "policy.wasm: $$(wc -c < policy.wasm) bytes"

annotated-policy.wasm: policy.wasm metadata.yml README.md
	@command -v kwctl >/dev/null || { echo "kwctl is not installed: see https://docs.kubewarden.io/howtos/install-kwctl"; exit 1; }
	kwctl annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

# What ArtifactHub reads, exactly as kwctl writes it (tests/consistency.rs compares).
artifacthub:
	kwctl scaffold artifacthub -m metadata.yml -q questions-ui.yml -o artifacthub-pkg.yml

# The first build compiles wasmtime: about 10 minutes on 2 cores.
host:
	@echo "building policy-host (the first build compiles wasmtime, ~10 min on 2 cores)..."
	$(CARGO) build --locked -p policy-host

fmt:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path $(SDK_RUST)/Cargo.toml -- --check

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
	@echo "e2e suite with $(ENGINE): $(KWCTL) on $(E2E_POLICY)"
	KWCTL=$(KWCTL) POLICY=$(CURDIR)/$(E2E_POLICY) bats e2e-tests/e2e.bats

IRSA_OIDC := $(TARGET_DIR)/debug/irsa-oidc
cluster-test: test-tools annotated-policy.wasm sdk-tools
	@if [ -n "$(MISSING_CLUSTER_TOOLS)" ]; then echo "the cluster suite needs $(MISSING_CLUSTER_TOOLS) on PATH (CONTRIBUTING.md: Testing)"; exit 1; fi
	$(CARGO) build --locked -p irsa-oidc
	POLICY=$(CURDIR)/annotated-policy.wasm IRSA_OIDC=$(IRSA_OIDC) SDK_SUITE="$(SDK_SUITE)" bats --timing e2e-tests/cluster.bats

# make test runs the cluster suite when it can, and says so when it cannot.
cluster-test-if-tools:
ifeq ($(MISSING_CLUSTER_TOOLS),)
	$(MAKE) cluster-test
else
	@echo "cluster suite skipped: $(MISSING_CLUSTER_TOOLS) not on PATH (CONTRIBUTING.md: Testing says where to get them)"
endif

# The credential-chain suite (docs/sdks.md): boto3, the AWS CLI v1, the AWS SDKs for
# JavaScript v3, Rust, Go v2, Go v1, Java v2 and Java v1, each pinned, installed or built
# under $(SDK_DIR).
SDK_DIR := $(TARGET_DIR)/sdk
SDK_VENV := $(SDK_DIR)/venv
SDK_RUST := e2e-tests/sdk/rust
SDK_JS := e2e-tests/sdk/js
SDK_GO := e2e-tests/sdk/go
SDK_JAVA := e2e-tests/sdk/java
SDK_PROBE := $(TARGET_DIR)/debug/sdk-probe-rust
SDK_GO_PROBES := $(SDK_DIR)/go-probe-v2 $(SDK_DIR)/go-probe-v1
SDK_JAVA_BUILT := $(SDK_DIR)/java/built
SDK_SUITE = $(SDK_VENV)/bin/python $(CURDIR)/e2e-tests/sdk/python/suite.py \
	--irsa-oidc $(IRSA_OIDC) --python $(SDK_VENV)/bin/python --aws $(SDK_VENV)/bin/aws \
	--node $(shell command -v node) --js-probe $(CURDIR)/$(SDK_JS)/probe.mjs --rust-probe $(SDK_PROBE) \
	--go-probes $(SDK_DIR) --java $(shell command -v java) --java-probes $(SDK_DIR)/java

$(SDK_VENV)/installed: e2e-tests/sdk/python/requirements.txt
	@echo "installing boto3, the AWS CLI v1, PyJWT and jsonpatch (pinned) into $(SDK_VENV)..."
	python3 -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --quiet --disable-pip-version-check -r e2e-tests/sdk/python/requirements.txt
	touch $@

$(SDK_JS)/node_modules/.package-lock.json: $(SDK_JS)/package-lock.json $(SDK_JS)/package.json
	@echo "installing the AWS SDK for JavaScript v3 (package-lock.json) with npm ci..."
	cd $(SDK_JS) && npm ci --no-audit --no-fund --loglevel=error

$(SDK_PROBE): $(SDK_RUST)/Cargo.toml $(SDK_RUST)/Cargo.lock $(SDK_RUST)/src/main.rs
	@echo "building the AWS SDK for Rust probe (the first build compiles aws-lc-sys, a few minutes)..."
	$(CARGO) build --locked --manifest-path $(SDK_RUST)/Cargo.toml --target-dir $(TARGET_DIR)
	$(CARGO) clippy --locked --manifest-path $(SDK_RUST)/Cargo.toml --target-dir $(TARGET_DIR) -- -D warnings

# The Go probes: one module, go.sum pinned, the machine's module and build caches.
$(SDK_DIR)/go-probe-%: $(SDK_GO)/go.mod $(SDK_GO)/go.sum $(SDK_GO)/%/main.go
	@command -v go >/dev/null || { echo "the Go SDK probes need Go on PATH (CONTRIBUTING.md: Testing)"; exit 1; }
	@echo "building the AWS SDK for Go $* probe..."
	cd $(SDK_GO) && go build -mod=readonly -buildvcs=false -trimpath -o $@ ./$*

# The Java probes: Maven resolves each classpath from Maven Central into ~/.m2 (Java v2 and
# Java v1, each with and without its sts module); javac compiles the probes; the suite runs
# `java -cp`.
SDK_MVN = mvn -q -B -Dstyle.color=never dependency:build-classpath
$(SDK_JAVA_BUILT): $(SDK_JAVA)/v2/pom.xml $(SDK_JAVA)/v1/pom.xml $(wildcard $(SDK_JAVA)/v2/*.java $(SDK_JAVA)/v1/*.java)
	@for tool in mvn javac java keytool; do command -v $$tool >/dev/null || { echo "the Java SDK probes need $$tool on PATH (a JDK 17 and Maven; CONTRIBUTING.md: Testing)"; exit 1; }; done
	@echo "resolving the AWS SDKs for Java v2 and v1 with Maven and compiling their probes..."
	mkdir -p $(SDK_DIR)/java
	$(SDK_MVN) -f $(SDK_JAVA)/v2/pom.xml -Dmdep.outputFile=$(SDK_DIR)/java/v2.classpath
	$(SDK_MVN) -f $(SDK_JAVA)/v2/pom.xml -DexcludeArtifactIds=sts -Dmdep.outputFile=$(SDK_DIR)/java/v2-no-sts.classpath
	$(SDK_MVN) -f $(SDK_JAVA)/v1/pom.xml -Dmdep.outputFile=$(SDK_DIR)/java/v1.classpath
	$(SDK_MVN) -f $(SDK_JAVA)/v1/pom.xml -DexcludeArtifactIds=aws-java-sdk-sts -Dmdep.outputFile=$(SDK_DIR)/java/v1-no-sts.classpath
	javac --release 17 -d $(SDK_DIR)/java/v2 -cp "$$(cat $(SDK_DIR)/java/v2.classpath)" $(SDK_JAVA)/v2/*.java
	javac --release 17 -d $(SDK_DIR)/java/v1 -cp "$$(cat $(SDK_DIR)/java/v1.classpath)" $(SDK_JAVA)/v1/*.java
	touch $@

sdk-tools: $(SDK_VENV)/installed $(SDK_JS)/node_modules/.package-lock.json $(SDK_PROBE) $(SDK_GO_PROBES) $(SDK_JAVA_BUILT)
	$(CARGO) build --locked -p irsa-oidc

# SDK_ONLY=text runs the cases whose name holds it; SDK_WRITE_DOCS=1 rewrites docs/sdks.md's table.
sdk-test: sdk-tools $(E2E_POLICY) $(if $(findstring $(HOST),$(KWCTL)),host)
	@[ "$$(id -u)" = 0 ] || { echo "the credential-chain suite needs root (private mount and network namespaces): sudo make sdk-test"; exit 1; }
	$(SDK_SUITE) --engine $(KWCTL) --policy $(CURDIR)/$(E2E_POLICY) \
	  $(if $(SDK_ONLY),--only "$(SDK_ONLY)") $(if $(SDK_WRITE_DOCS),--write-docs)

# make test runs it as root (CI, fresh machines) and says so when it cannot.
sdk-test-if-root:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) sdk-test; else echo "credential-chain suite skipped: it needs root (sudo make sdk-test)"; fi

# The EKS webhook's own code as the oracle (CONTRIBUTING.md: The webhook as oracle): REFDIFF_N
# random cases from REFDIFF_SEED, and the webhook's fixtures, through the policy and through the
# webhook's handler; a difference no documented class explains fails and is written to
# $(ORACLE_FAILURES) as a case that `$(ORACLE) -replay FILE …` runs alone.
REFDIFF_N ?= 500
REFDIFF_SEED ?= 29
ORACLE_DIR := e2e-tests/webhook-oracle
ORACLE := $(TARGET_DIR)/webhook-oracle
ORACLE_FAILURES := $(TARGET_DIR)/webhook-oracle-failures
webhook-oracle: $(E2E_POLICY) $(if $(findstring $(HOST),$(KWCTL)),host)
	@command -v go >/dev/null || { echo "the webhook oracle needs Go (https://go.dev/dl/)"; exit 1; }
	cd $(ORACLE_DIR) && go build -mod=readonly -buildvcs=false -o $(ORACLE) . && go vet . && go test . && { ! gofmt -l . | grep .; }
	rm -rf $(ORACLE_FAILURES)
	$(ORACLE_RUN) -n $(REFDIFF_N) -seed $(REFDIFF_SEED) -failures $(ORACLE_FAILURES)

ORACLE_RUN = $(ORACLE) -engine $(KWCTL) -policy $(CURDIR)/$(E2E_POLICY) $(if $(findstring $(HOST),$(KWCTL)),-batch) \
	  -webhook-dir "$$(cd $(ORACLE_DIR) && go list -m -f '{{.Dir}}' github.com/aws/amazon-eks-pod-identity-webhook)"

# The converter's proof of equality (docs/migration.md): random flag sets, ConfigMaps and
# identities files go through `webhook-migrate convert --settings-only`; the webhook runs with
# the originals, the policy with the converted settings, on random Pods; then both orders of
# side by side are measured (the second must add nothing where both decide alike).
MIGRATION_N ?= 500
MIGRATION_SEED ?= 30
migration-equality: webhook-oracle
	$(CARGO) build --locked -p webhook-migrate
	$(ORACLE_RUN) -n $(MIGRATION_N) -seed $(MIGRATION_SEED) -failures $(ORACLE_FAILURES)-migration \
	  -converter $(TARGET_DIR)/debug/webhook-migrate -side-by-side

test: test-tools fmt lint unit-tests e2e-tests webhook-oracle migration-equality sdk-test-if-root cluster-test-if-tools

# With kwctl (seconds): its AdmissionResponse, the patch decoded. Without it,
# policy-host is built (minutes, once) and explains the patch itself.
run: $(if $(findstring $(HOST),$(KWCTL)),policy.wasm host,annotated-policy.wasm)
ifeq ($(ENGINE),kwctl)
	$(KWCTL) run --request-path examples/request.json \
	  --allow-context-aware --replay-host-capabilities-interactions examples/session.yml \
	  annotated-policy.wasm | tail -n 1 | \
	  { if command -v jq >/dev/null; then jq '.patch |= (if . then @base64d | fromjson else . end)'; else cat; fi; }
else
	$(HOST) run --request-path examples/request.json \
	  --allow-context-aware --replay-host-capabilities-interactions examples/session.yml \
	  --explain policy.wasm
endif

# The benchmark's baseline: the least work a mutating, context-aware policy does.
floor-policy.wasm: benches/floor-policy/Cargo.toml $(shell find benches/floor-policy/src -name '*.rs') Cargo.lock
	$(WASM_TARGET)
	$(CARGO) build --locked --release --target wasm32-wasip1 -p floor-policy
	cp $(TARGET_DIR)/wasm32-wasip1/release/floor_policy.wasm floor-policy.wasm

# The peer: a conventional typed-Pod mutating policy, as most Kubewarden policies are written.
typed-policy.wasm: benches/typed-policy/Cargo.toml $(shell find benches/typed-policy/src -name '*.rs') Cargo.lock
	$(WASM_TARGET)
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

# The reader decision's measurement (docs/performance.md): native, optimised, printed.
bench-reader:
	$(CARGO) test --locked --release -p aws-pod-identity-policy --test reader_cost -- --ignored --nocapture

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

# The converter from the EKS webhook (docs/migration.md). Phony: webhook-migrate/ is also a folder.
.PHONY: webhook-migrate
webhook-migrate:
	$(CARGO) build --locked --release -p webhook-migrate
	@echo "webhook-migrate: $(TARGET_DIR)/release/webhook-migrate"

clean:
	$(CARGO) clean
	rm -f policy.wasm annotated-policy.wasm floor-policy.wasm typed-policy.wasm
