# marina — common tasks. `make help` lists them.
SHELL := /usr/bin/env bash
export PATH := $(PATH):/usr/local/go/bin:$(shell go env GOPATH 2>/dev/null)/bin

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# One build configuration for lint, builds, images and tests: -trimpath, which the images need to be reproducible.
# The Go build cache then compiles marina's dependency graph once per cgo setting (and once with -race), not once
# more for every command that builds it differently; .ci/run sets the same.
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)

.PHONY: help build image image-lock demo sandbox-demo test e2e lint generate fuzz bench

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

build: ## build bin/marina (static, CGO_ENABLED=0: CLI, controller, router) and bin/marina-serve (cgo: the model server with ONNX Runtime)
	CGO_ENABLED=0 go build -o bin/marina ./cmd/marina
	CGO_ENABLED=1 go build -o bin/marina-serve ./cmd/marina-serve

IMAGE_OUT ?= bin/image
image: ## marina's container images (marina, marina-serve) without Docker into bin/image (IMAGE_OUT), an OCI layout; REGISTRY=host:port[/path] also pushes them (PLAIN_HTTP=1: without TLS)
	go run ./hack/image -onnxruntime "$$(bash hack/onnxruntime.sh)" -out $(IMAGE_OUT) $(if $(REGISTRY),-registry $(REGISTRY)) $(if $(PLAIN_HTTP),-plain-http)

image-lock: ## pin the images' Debian packages (hack/image/debian.lock) to the versions apt offers now; run apt-get update first
	go run ./hack/image -update-lock

demo: ## marina's main job on the bundled example repository, in Git only (no cluster): a quick tour
	bash hack/demo.sh

sandbox-demo: ## as root: bin/marina, then marina sandbox up unless one runs (builds what it runs once, ~30+ min) and marina sandbox demo, marina's loop on one machine
	CGO_ENABLED=0 go build -o bin/marina ./cmd/marina
	bin/marina sandbox status >/dev/null 2>&1 || bin/marina sandbox up
	bin/marina sandbox demo

# make test and make e2e install what their tests run against, so a test that would skip for lack of it fails
# instead (MARINA_REQUIRE_ASSETS=1, internal/prereq): a green run never hides skipped cluster tests.
# TEST_ASSETS is the environment both tiers' go test runs with: the CRDs, the control plane and the OCI registry.
TEST_ASSETS = MARINA_CRDS_DIR="$$(bash hack/crds.sh | tail -n 1)" \
	KUBEBUILDER_ASSETS="$$(bash hack/controlplane.sh | tail -n 1)" \
	MARINA_REGISTRY_BIN="$$(bash hack/registry.sh | tail -n 1)" \
	MARINA_REQUIRE_ASSETS=1
test: ## unit and envtest tests (race detector on); builds the control plane (~15 min once) and the OCI registry (~8 min once), fetches CRDs once
	bash hack/sarif-schema.sh >/dev/null
	bash hack/onnxruntime.sh >/dev/null
	bash hack/models.sh >/dev/null
	bash hack/prometheus.sh >/dev/null
	bash hack/chromium.sh >/dev/null
	$(TEST_ASSETS) \
	go test -race -count=1 -timeout 30m ./...
	CGO_ENABLED=0 go test -count=1 ./internal/inference/

E2E_LOG ?= /tmp/marina-e2e.log
e2e: ## end-to-end tier: marina controller killed and restarted; kill sweeps and a push race on marina itself; real Flux and Argo CD syncing a marina repo (builds them once, ~20 min); a real Gitea takes a push, a pull request, a commit status and a review (builds it once, ~8 min); make image twice, its images run under runc; a real node (kubelet, containerd, runc, CNI) runs Pods; the closed loop (router, shadow analysis, abort written to Git, Flux applies it) on it; marina sandbox up, status, demo and down
	bash hack/prometheus.sh >/dev/null
	bash hack/runc.sh >/dev/null
	bash hack/onnxruntime.sh >/dev/null
	$(TEST_ASSETS) \
	MARINA_FLUX_ASSETS="$$(bash hack/flux.sh | tail -n 1)" \
	MARINA_ARGOCD_ASSETS="$$(bash hack/argocd.sh | tail -n 1)" \
	MARINA_NODE_ASSETS="$$(bash hack/node.sh | tail -n 1)" \
	MARINA_ADDON_ASSETS="$$(bash hack/addons.sh | tail -n 1)" \
	MARINA_GITEA_ASSETS="$$(bash hack/gitea.sh | tail -n 1)" \
	go test -tags e2e -count=1 -timeout 30m -v ./test/e2e/ ./test/crash/ ./test/image/ ./test/node/ ./test/sandbox/ 2>&1 | tee $(E2E_LOG) | \
	  grep -E '^(=== RUN|---|ok|FAIL|PASS|panic)|^ +--- FAIL|^ +[A-Za-z0-9_]+\.go:[0-9]+: '; status=$${PIPESTATUS[0]}; \
	if [ $$status -ne 0 ]; then echo "== the failed tests' whole output (all of it: $(E2E_LOG))"; \
	  awk '/^=== RUN   [^\/]+$$/ { buf = "" } { buf = buf $$0 "\n" } /^--- FAIL: / { printf "%s", buf; buf = "" }' $(E2E_LOG); fi; \
	exit $$status

lint: ## gofmt, go vet, staticcheck, package layering (hack/layering.sh)
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go vet -tags bench,e2e,failpoints ./bench/... ./test/... ./internal/repo/
	go run $(STATICCHECK) ./...
	bash hack/layering.sh

generate: ## regenerate the API's deepcopy and CRD, the example repository, golden files and generated docs
	bash hack/gen-api.sh
	bash hack/gen-example.sh
	go run ./hack/gendocs
	go test ./internal/scaffold/ ./internal/render/ ./internal/validate/ ./internal/ci/ ./examples/ -update

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	bash hack/fuzz.sh

BENCH_LOG ?= /tmp/marina-bench.log
bench: ## benchmarks under bench/, each printing a ratio against the tool users would otherwise run; then bench/README.md's table of goals from this run (output in BENCH_LOG); ~30 min
	: >$(BENCH_LOG)
	set -o pipefail; for b in register sign validate ui serve router controller oci; do bash bench/$$b/run.sh | tee -a $(BENCH_LOG); done
	bash bench/goals.sh $(BENCH_LOG)
