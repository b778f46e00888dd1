# Every target runs on the Node.js 24 that `npm ci` installs into node_modules
# (the `node` devDependency), whatever node the machine has: node_modules/.bin
# comes first on PATH, and npm itself then runs on it too.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
DEV_DIR := $(CURDIR)/.dev
KUBECONFIG ?= $(HOME)/.kube/config
IMAGE ?= security-baseline-operator:dev
# The base images of `make image`: local stand-ins made from Debian's archive
# and the npm registry (hack/image/bases.sh), or the Dockerfile's published ones.
BASES ?= local
KUBECTL ?= $(shell command -v kubectl || echo $(DEV_DIR)/bin/kubectl)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@node --version | grep -q '^v24\.' || { echo "expected Node.js 24 from node_modules/.bin, got $$(node --version)"; exit 1; }
	@touch $@

.PHONY: deps
deps: node_modules/.installed ## install npm packages, Node.js 24 among them

.PHONY: kube
kube: ## build (or reuse) the control plane binaries
	@hack/kube/build.sh >/dev/null

.PHONY: limit
limit: ## build (or reuse) the client-go writer that sets the benchmark's limit
	@hack/limit/build.sh >/dev/null

.PHONY: openreports
openreports: ## fetch (or reuse) the OpenReports Report CRD the reports tests install
	@hack/openreports/crd.sh >/dev/null

.PHONY: toxiproxy
toxiproxy: ## build (or reuse) toxiproxy-server, the TCP fault proxy of the fault tests
	@hack/toxiproxy/build.sh >/dev/null

.PHONY: promtool
promtool: ## install promtool (Debian's prometheus package) when missing, for the alert rule tests
	@hack/prometheus/ensure-promtool.sh >/dev/null

.PHONY: helm
helm: ## build (or reuse) the helm CLI the chart's tests use (hack/helm)
	@hack/helm/build.sh >/dev/null

.PHONY: chart
chart: deps ## copy crds/, the alert rules and the dashboard into the Helm chart (charts/)
	node hack/helm/sync.ts

.PHONY: alerting
alerting: ## install Prometheus and Alertmanager (Debian's packages) when missing, for the alert path test
	@hack/prometheus/ensure-servers.sh >/dev/null

.PHONY: build
build: deps ## compile src/ to dist/
	npm run --silent build

.PHONY: typecheck
typecheck: deps
	npm run --silent typecheck

.PHONY: lint
lint: deps
	npm run --silent lint

# The tools build side by side: the Go builds (control plane, the client-go
# limit writer, helm, toxiproxy) are CPU-bound and the image's bases mostly
# download, so on a fresh machine running them together saves minutes. The two Debian installs share dpkg's
# lock, so they run first, one after the other.
TEST_TOOLS := kube limit helm openreports toxiproxy test-image typecheck lint

.PHONY: test
test: deps ## every check and test, against a real control plane it starts itself
	@$(MAKE) --no-print-directory alerting promtool
	@$(MAKE) --no-print-directory -j4 --output-sync=target $(TEST_TOOLS)
	@echo "node $$(node --version)"
	SBO_TEST_IMAGE=$(IMAGE) npm test

.PHONY: unit
unit: deps promtool ## the tests that need no cluster
	npm test -- --selectProjects unit

.PHONY: chaos
chaos: deps kube toxiproxy ## the long fault and load tests (410 Gone, network faults, restarts over 2,000 namespaces, throttling): a table, and JSON under bench/results/
	SBO_CHAOS=long SBO_CHAOS_RESULTS=1 SBO_CHAOS_RESULTS_NAME=chaos npm test -- test/chaos --selectProjects cluster --testPathIgnorePatterns soak.test.ts

.PHONY: soak
soak: deps kube ## the soak test, SOAK_MINUTES (30) of churn: the series, a table, and JSON under bench/results/
	SBO_CHAOS=long SBO_CHAOS_RESULTS=1 SBO_CHAOS_RESULTS_NAME=soak SBO_SOAK_SECONDS=$$(( $${SOAK_MINUTES:-30} * 60 )) \
	  npm test -- test/chaos/soak.test.ts --selectProjects cluster

.PHONY: dev
dev: deps kube ## from a fresh clone: local control plane, CRD, samples, tenant namespaces, the operator in the foreground
	@node hack/dev.ts

.PHONY: cluster-up
cluster-up: deps kube ## start the local control plane in the background (.dev/kubeconfig, .dev/bin/)
	@mkdir -p $(DEV_DIR)
	@if [[ -f $(DEV_DIR)/cluster.pid ]] && kill -0 $$(cat $(DEV_DIR)/cluster.pid) 2>/dev/null; then \
	  echo "already running (pid $$(cat $(DEV_DIR)/cluster.pid))"; exit 0; fi; \
	rm -f $(DEV_DIR)/kubeconfig; \
	nohup node hack/kube/cluster.ts $(DEV_DIR) > $(DEV_DIR)/cluster.log 2>&1 & echo $$! > $(DEV_DIR)/cluster.pid; \
	for _ in $$(seq 1 600); do \
	  if grep -q 'control plane ready' $(DEV_DIR)/cluster.log; then cat $(DEV_DIR)/cluster.log; exit 0; fi; \
	  if ! kill -0 $$(cat $(DEV_DIR)/cluster.pid) 2>/dev/null; then cat $(DEV_DIR)/cluster.log; exit 1; fi; \
	  sleep 0.5; done; \
	echo "control plane not ready after 300s"; cat $(DEV_DIR)/cluster.log; exit 1

.PHONY: cluster-down
cluster-down: ## stop the local control plane
	@if [[ -f $(DEV_DIR)/cluster.pid ]]; then \
	  pid=$$(cat $(DEV_DIR)/cluster.pid); kill $$pid 2>/dev/null || true; \
	  while kill -0 $$pid 2>/dev/null; do sleep 0.2; done; rm -f $(DEV_DIR)/cluster.pid; echo "control plane stopped"; \
	else echo "not running"; fi

.PHONY: install
install: deps ## apply crds/ to the cluster in $$KUBECONFIG
	KUBECONFIG=$(KUBECONFIG) node hack/apply-crds.ts

.PHONY: run
run: deps ## run the operator in the foreground against $$KUBECONFIG
	KUBECONFIG=$(KUBECONFIG) LOG_FORMAT=$${LOG_FORMAT:-pretty} OPERATOR_NAMESPACE=$${OPERATOR_NAMESPACE:-security-baseline-system} \
	  METRICS_SECURE=$${METRICS_SECURE:-false} METRICS_BIND_ADDRESS=$${METRICS_BIND_ADDRESS:-127.0.0.1:8080} HEALTH_PROBE_BIND_ADDRESS=$${HEALTH_PROBE_BIND_ADDRESS:-127.0.0.1:8081} node src/main.ts

.PHONY: bench
bench: deps kube limit openreports ## the benchmarks (N=200 by default; see docs/performance.md for the published runs): a table, and JSON under bench/results/
	node bench/bench.ts --namespaces $${N:-200} --rates $${RATES:-20,50} --seconds $${SECONDS_PER_SCENARIO:-10} --drift-rate $${DRIFT_RATE:-10} \
	  --many-baselines $${MANY_BASELINES:-20} --many-namespaces $${MANY_NAMESPACES:-500} --skip "$${SKIP:-}" \
	  --operator-identity $${OPERATOR_IDENTITY:-masters}

.PHONY: bench-attribution
bench-attribution: deps kube limit openreports ## the operator's cold start taken apart against the client-go limit (N=1000 by default): its own CPU, the Report, the API server's share
	node bench/attribution.ts --namespaces $${N:-1000} --rounds $${ROUNDS:-3}

.PHONY: bench-ratio
bench-ratio: deps kube limit openreports ## the operator's cold start ÷ the client-go limit in pairs, each on a control plane of its own, the order alternating (N=1000, PAIRS=4)
	node bench/ratio.ts --namespaces $${N:-1000} --pairs $${PAIRS:-4} $$( [ -n "$${CONCURRENCY:-}" ] && echo --concurrency $$CONCURRENCY )

.PHONY: bench-transport
bench-transport: deps kube ## the client's CPU per request: the operator's KubeClient, undici alone, node:http2 alone (APPLY=1: server-side applies)
	node bench/transport.ts --requests $${REQUESTS:-3000} $$( [ "$${APPLY:-}" = 1 ] && echo --apply )

.PHONY: bench-plot
bench-plot: deps ## the scaling table and docs/scaling.svg from the published results in bench/results/
	node bench/plot.ts

.PHONY: image
image: ## build the container image $(IMAGE) with podman; BASES=local (default: stand-ins made here) or published
	@BASES=$(BASES) hack/image/build.sh $(IMAGE)

.PHONY: test-image
test-image: ## the image the cluster tests run: `make image`, or a note why not where podman cannot run at all
	@hack/image/build.sh --optional $(IMAGE)

.PHONY: deploy
deploy: ## install everything into the cluster in $$KUBECONFIG (kubectl apply -k config/default)
	KUBECONFIG=$(KUBECONFIG) $(KUBECTL) apply --server-side -k config/default

.PHONY: clean
clean: ## remove build output (not the cached control plane binaries)
	rm -rf dist coverage
