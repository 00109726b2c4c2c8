# The verbs of go-webapp. `make` alone lists them.
#
# Every variable below can be overridden: make prod IMAGE=acme/shop ALPINE_VERSION=3.20
# or once for the checkout in .env, which docker compose reads too.

# .env sets these for make as for compose (IMAGE, HOST_PORT, ...), so every
# target, compose's or not, sees one image name and one port. As with
# compose, the environment and the command line win over it. make reads
# plain NAME=value lines; quotes around the value are dropped.
ifneq ($(wildcard .env),)
$(foreach setting,$(shell sed -n -e "s/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)=[\"']*\([^\"'[:space:]]*\)[\"']*[[:space:]]*$$/\1=\2/p" .env),\
  $(if $(filter environment command line,$(origin $(firstword $(subst =, ,$(setting))))),,$(eval $(setting))))
endif

# The image name: the one place it is written.
IMAGE          ?= go-webapp
# renovate: datasource=docker depName=golang
GO_VERSION     ?= 1.26
# renovate: datasource=docker depName=alpine
ALPINE_VERSION ?= 3.12
# A mirror for both base images, e.g. mirror.example.internal/library/
BASE_REGISTRY  ?=
# Empty: the engine's own platform. Set for another: PLATFORM=linux/arm64
PLATFORM       ?=
# Extra flags for docker buildx build, e.g. BUILDFLAGS=--no-cache
BUILDFLAGS     ?=
HOST_PORT      ?= 1323

# Kubernetes: the cluster is the one in KUBECONFIG (kubectl's default), the
# namespace is named after the image, and the overlay is the local one.
KUBECTL       ?= kubectl
K8S_OVERLAY   ?= deploy/kubernetes/overlays/local
K8S_NAMESPACE ?= $(notdir $(IMAGE))

# Version metadata from git, with fallbacks for a tarball without .git.
# BUILD_DATE is the commit's date, so rebuilding a commit gives the same image.
VERSION    ?= $(or $(shell git describe --tags --always --dirty 2>/dev/null),dev)
COMMIT     ?= $(or $(shell git rev-parse --short HEAD 2>/dev/null),unknown)
BUILD_DATE ?= $(or $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null),unknown)
# The clone URL without any user:token@ in it: labels are public.
SOURCE     ?= $(shell git config --get remote.origin.url 2>/dev/null | sed -E 's#^([a-z+]+://)[^/@]*@#\1#')

DOCKERFILE := docker/Dockerfile
# The Go modules of the repository: the app (.), the dev container's
# supervisor, the end-to-end tests and bench, and the lint and supply-chain
# tools. vet, tidy, staticcheck and vuln go through each.
MODULES    := . devloop e2e tools
# The module of lint and supply-chain tools (staticcheck, govulncheck, ...).
TOOLS      ?= tools
# A log that cannot fill the disk, as the prod profile in compose.yaml has it.
LOG_OPTS   := --log-driver json-file --log-opt max-size=10m --log-opt max-file=3
LDFLAGS    := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(BUILD_DATE)
# GOPROXY, GOPRIVATE and GOFLAGS without a value: docker takes them from the
# environment when set there, for builds behind a module mirror.
BUILD_ARGS := --build-arg GO_VERSION=$(GO_VERSION) --build-arg ALPINE_VERSION=$(ALPINE_VERSION) \
	--build-arg BASE_REGISTRY=$(BASE_REGISTRY) \
	--build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE) \
	--build-arg TITLE=$(notdir $(IMAGE)) --build-arg SOURCE=$(SOURCE) \
	--build-arg GOPROXY --build-arg GOPRIVATE --build-arg GOFLAGS \
	$(if $(PLATFORM),--platform $(PLATFORM)) $(BUILDFLAGS)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Ctrl-C ends compose with status 130 once the container has stopped (exit
# 0): that is no error. make itself still reports the interrupt.
.PHONY: dev
dev: ## Start the hot-reload dev container (same as docker compose up)
	HOST_PORT=$(HOST_PORT) docker compose up --build || [ $$? -eq 130 ]

# The debug service publishes the dev service's port: beside a running dev
# service its container would be created, fail to start ("port is already
# allocated") and stay behind in state Created. So make debug says what to
# do instead, and removes a container that was created but never started.
.PHONY: debug
debug: ## Start the dev loop under delve for breakpoints (same as docker compose --profile debug up)
	@if [ -n "$$(docker compose ps -q --status running dev 2>/dev/null)" ]; then \
		echo "make debug: the dev service of this project is running (docker compose up) and holds the port debug needs: stop it first (docker compose stop dev, or Ctrl-C where it runs), then make debug" >&2; exit 1; fi
	HOST_PORT=$(HOST_PORT) docker compose --profile debug up --build || { status=$$?; \
		created=$$(docker compose --profile debug ps -a -q --status created debug); \
		[ -z "$$created" ] || docker rm $$created >/dev/null; [ $$status -eq 130 ]; }

.PHONY: prod
prod: ## Build the production image, tagged IMAGE:latest and IMAGE:VERSION
	docker buildx build --load -f $(DOCKERFILE) --target runner $(BUILD_ARGS) \
		-t $(IMAGE):latest -t $(IMAGE):$(VERSION) .

.PHONY: prod-scratch
prod-scratch: ## Build the smallest image, FROM scratch, as IMAGE:scratch
	docker buildx build --load -f $(DOCKERFILE) --target runner-scratch $(BUILD_ARGS) \
		-t $(IMAGE):scratch .

.PHONY: run-prod
run-prod: ## Run IMAGE:latest on 127.0.0.1:HOST_PORT
	docker run --rm -p 127.0.0.1:$(HOST_PORT):1323 $(LOG_OPTS) $(IMAGE):latest

# compose.yaml's prod service runs IMAGE:latest when IMAGE is set, as here:
# the image make prod builds, not one of compose's own.
.PHONY: prod-up
prod-up: prod ## Build with make prod, then run IMAGE:latest locked down with compose (profile prod) on 127.0.0.1:HOST_PORT
	IMAGE=$(IMAGE) HOST_PORT=$(HOST_PORT) docker compose --profile prod up -d --no-build --wait prod

# Only the prod service: the project's network stays for a dev container
# that may be running beside it.
.PHONY: prod-down
prod-down: ## Stop and remove what prod-up started
	IMAGE=$(IMAGE) docker compose --profile prod rm --stop --force prod

# The overlay with the namespace and IMAGE:VERSION set, written to bin/k8s
# for deploy and undeploy: no tracked file is edited.
define K8S_KUSTOMIZATION
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $(K8S_NAMESPACE)
resources:
  - ../../$(K8S_OVERLAY)
images:
  - name: app-image
    newName: $(IMAGE)
    newTag: $(VERSION)
endef
export K8S_KUSTOMIZATION
K8S_RENDER := bin/k8s
define K8S_PREPARE
$(KUBECTL) version --request-timeout=5s >/dev/null 2>&1 || { \
  echo "$@: no Kubernetes cluster reachable with $(KUBECTL) (KUBECONFIG=$${KUBECONFIG:-~/.kube/config}); start one (kind, k3d, minikube) or point KUBECONFIG at yours" >&2; exit 1; }
mkdir -p $(K8S_RENDER) && printf '%s\n' "$$K8S_KUSTOMIZATION" > $(K8S_RENDER)/kustomization.yaml
endef

.PHONY: deploy
deploy: ## Deploy IMAGE:VERSION to the cluster in KUBECONFIG (K8S_OVERLAY, K8S_NAMESPACE) and wait for the rollout
	@$(K8S_PREPARE)
	$(KUBECTL) apply -k $(K8S_RENDER)
	$(KUBECTL) -n $(K8S_NAMESPACE) rollout status deployment/app --timeout=5m
	@port=$$($(KUBECTL) -n $(K8S_NAMESPACE) get service app -o jsonpath='{.spec.ports[0].nodePort}'); \
		[ -z "$$port" ] || echo "$(K8S_NAMESPACE) answers on NodePort $$port of the cluster's nodes"

.PHONY: undeploy
undeploy: ## Remove everything deploy created: the namespace and all in it
	@$(K8S_PREPARE)
	$(KUBECTL) delete -k $(K8S_RENDER) --ignore-not-found --wait

# The production binary, exported from the builder target (for PLATFORM), and
# a CycloneDX SBOM of it: every module it links, read from the build info Go
# writes into every binary.
.PHONY: sbom
sbom: ## Write bin/sbom.cdx.json, a CycloneDX SBOM of the production binary (bin/prod/usr/local/bin/app)
	docker buildx build -f $(DOCKERFILE) --target builder $(BUILD_ARGS) --output type=local,dest=bin/prod .
	cyclonedx=$$(go -C $(TOOLS) tool -n cyclonedx-gomod) && \
		$$cyclonedx bin -json -version $(VERSION) -output bin/sbom.cdx.json bin/prod/usr/local/bin/app
	@echo "bin/sbom.cdx.json: the modules of bin/prod/usr/local/bin/app"

.PHONY: build
build: ## Build the binary on the host into bin/app
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/app ./app

.PHONY: test
test: test-unit test-e2e ## Run every test: unit, then end-to-end against Docker (and Kubernetes when set up)

.PHONY: test-unit
test-unit: ## Run the Go tests that need no Docker (the app, devloop), with the race detector
	go test -race -count=1 ./...
	go -C devloop test -race -count=1 ./...
	go -C tools test -count=1 ./pincheck

.PHONY: test-e2e
test-e2e: ## Run the end-to-end tests against Docker, and Kubernetes when a test cluster is set up (docs/testing.md)
	@# -p 1: one package at a time, Kubernetes first, so its rollouts under
	@# load share the machine with neither the Docker tests' builds nor the
	@# iptables churn of their containers coming and going.
	cd e2e && go test -count=1 -failfast -p 1 -timeout 30m ./kubernetes ./...
	@# go test shows a passing package's output only with -v: this repeats the
	@# Kubernetes tests' check alone, to show its one line when they skipped.
	@cd e2e && go test -count=1 -run '^$$' -v ./kubernetes | grep '^e2e/kubernetes: skipped' || true

.PHONY: test-k8s
test-k8s: ## Run only the Kubernetes tests; fail when no test cluster is set up
	cd e2e && K8S_REQUIRED=1 go test -count=1 -failfast -timeout 30m ./kubernetes

.PHONY: bench
bench: ## Measure cold start, reload, image size, rebuild, start, stop under load, throughput, rollout (BENCH_QUICK=1, BENCH_ONLY=..., BENCH_BASELINE=rev)
	cd e2e && go run ./cmd/bench

# The vulnerability database govulncheck reads: empty for its default (Go's
# public database, which needs the network); a mirror's URL, or file:///path
# to a copy of it, for an air-gapped machine.
VULNDB ?=

.PHONY: vuln
vuln: ## Fail on a known vulnerability reachable from the code of any module (govulncheck; needs its database: VULNDB)
	@govulncheck=$$(go -C $(TOOLS) tool -n govulncheck) || exit 1; status=0; \
	for module in $(MODULES); do \
		echo "govulncheck: $$module"; \
		$$govulncheck -C $$module $(if $(VULNDB),-db $(VULNDB)) ./...; \
		case $$? in \
			0) ;; \
			3) status=1 ;; \
			*) echo "make vuln: govulncheck could not scan $$module (above). Most often the vulnerability database$(if $(VULNDB), $(VULNDB),) could not be read: it needs the network, or VULNDB set to a mirror or to file:///path of a copy."; exit 2 ;; \
		esac; \
	done; exit $$status

.PHONY: fuzz
fuzz: ## Fuzz the server's request handling for FUZZTIME (default 60s); the seeds run in test-unit
	go test -run '^$$' -fuzz FuzzServer -fuzztime $(or $(FUZZTIME),60s) ./app

.PHONY: lint
lint: ## gofmt, vet, go mod tidy, staticcheck, Dockerfile rules, actionlint, Renovate's coverage of every pin, shellcheck, the Kubernetes manifests
	@out=$$(gofmt -l app devloop e2e tools); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@for module in $(MODULES); do echo "go -C $$module vet ./..."; go -C $$module vet ./... || exit 1; done
	@# go get leaves a module `// indirect` until go mod tidy sees the import.
	@for module in $(MODULES); do go -C $$module mod tidy -diff >/dev/null || { \
		echo "lint: $$module/go.mod is not tidy: run go -C $$module mod tidy"; exit 1; }; done
	@# staticcheck and the Dockerfile linter live in tools/, their own module,
	@# so the app's go.mod lists only what the app needs.
	@staticcheck=$$(go -C tools tool -n staticcheck) && for module in $(MODULES); do \
		echo "staticcheck: $$module"; (cd $$module && $$staticcheck ./...) || exit 1; done
	go -C tools run ./dockerfilelint ../$(DOCKERFILE) $(addprefix ../,$(wildcard e2e/cmd/bench/baselines/*/Dockerfile))
	go -C tools tool actionlint $(abspath $(wildcard .github/workflows/*.yaml))
	@# renovate.json is valid and updates every version pinned here: none
	@# that no rule reads, that Renovate leaves disabled (indirect modules),
	@# or whose value its datasource cannot read.
	go -C $(TOOLS) run ./pincheck $(CURDIR)
	@# Every shell script, found by its #! line.
	@scripts=$$(grep -rlE --exclude-dir=.git --exclude-dir=bin '^#!(/usr)?/bin/(env )?(ba|da)?sh' .); \
	if command -v shellcheck >/dev/null; then shellcheck $$scripts && echo "shellcheck:" $$scripts; \
	else echo "lint: shellcheck is not installed (Debian and Ubuntu: apt-get install shellcheck); shell scripts not checked"; fi
	@command -v $(KUBECTL) >/dev/null || { echo "lint: $(KUBECTL) renders the Kubernetes manifests: install kubectl, or set KUBECTL"; exit 1; }
	@for overlay in deploy/kubernetes/overlays/*/; do \
		$(KUBECTL) kustomize $$overlay >/dev/null && echo "$$overlay renders" || exit 1; done

# --profile '*': the dev, debug and prod services alike, whichever ran; a
# stopped debug container would otherwise keep the volumes in use.
.PHONY: clean
clean: ## Remove bin/, every container and volume of the compose project (all profiles) and the images this Makefile built
	rm -rf bin
	docker compose --profile '*' down --volumes --remove-orphans --rmi local
	docker image rm $(IMAGE):latest $(IMAGE):$(VERSION) $(IMAGE):scratch 2>/dev/null || true

# print-VAR prints a variable, for the end-to-end tests: make -s print-IMAGE
print-%:
	@echo '$($*)'
