# skiff's build and test entry points. `make run` and `make test` are the
# README's two quick-start commands.
GO ?= go
K8S_VERSION := $(shell $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes 2>/dev/null)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The Kubernetes version the API server reports (kubectl version) comes from
# component-base's link-time variables, as in upstream builds.
LDFLAGS := -X github.com/skiff-dev/skiff/internal/instance.Version=$(VERSION) \
  -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
  -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION))) \
  -X k8s.io/component-base/version.gitTreeState=clean \
  -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z

.PHONY: build install run test unit e2e bench proto generate verify-generate conformance
PREFIX ?= /usr/local
BIN ?= bin/skiff
APIS := github.com/skiff-dev/skiff/apis/ml/v1alpha1
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/skiff ./cmd/skiff

# install puts skiff on the PATH (PREFIX=~/.local for a user's own bin).
install: build
	install -D -m 0755 $(BIN) $(PREFIX)/bin/skiff

run: build
	./bin/skiff up

unit:
	$(GO) test ./internal/... ./cmd/... ./config/...
	cd apis && $(GO) vet ./... && $(GO) test ./...

# Deepcopy code and CRDs come from the API types' markers, RBAC from the
# controllers' (controller-gen, a tool of go.mod, built once into the
# build cache); the Gateway API's standard CRDs are copied from its module.
generate:
	$(GO) tool controller-gen object paths=$(APIS)
	$(GO) tool controller-gen crd:allowDangerousTypes=true paths=$(APIS) output:crd:artifacts:config=config/crd
	$(GO) tool controller-gen rbac:roleName=skiff-operator paths=./internal/controllers/... output:rbac:artifacts:config=deploy/rbac
	rm -f config/gateway-api/gateway.networking.k8s.io_*.yaml
	install -m 0644 $$($(GO) list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)/config/crd/standard/gateway.networking.k8s.io_*.yaml config/gateway-api/
	rm -f config/gateway-api/gateway.networking.k8s.io_vap_*.yaml
	$(GO) tool controller-gen rbac:roleName=skiff-gateway paths=./internal/controllers/gateway/... output:rbac:artifacts:config=deploy/gateway/rbac
	{ echo "# The Gateway API's standard CRDs, for kubectl apply -k (make generate writes it)."; \
	  echo "apiVersion: kustomize.config.k8s.io/v1beta1"; echo "kind: Kustomization"; echo "resources:"; \
	  for f in config/gateway-api/gateway.networking.k8s.io_*.yaml; do echo "- $$(basename $$f)"; done; } > config/gateway-api/kustomization.yaml

# CI fails when the checked-in generated files are not what make generate writes.
verify-generate: generate
	@git diff --exit-code -- apis config deploy/rbac deploy/gateway/rbac || { echo "generated files are stale: run make generate and commit them" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- apis config deploy/rbac deploy/gateway/rbac)" || { git status --porcelain -- apis config deploy/rbac deploy/gateway/rbac; echo "make generate wrote new files: commit them" >&2; exit 1; }

# End-to-end tests build bin/skiff themselves (with these flags) and drive it
# with the real kubectl.
e2e: build
	SKIFF_BIN=$(CURDIR)/bin/skiff $(GO) test -count=1 -timeout 30m ./test/e2e/...

test: unit e2e

# The Gateway API's conformance suite against a fresh skiff (its own module,
# test/conformance; the report goes to test/conformance/report.yaml).
conformance: build
	SKIFF_BIN=$(CURDIR)/bin/skiff test/conformance/run.sh

bench: build
	SKIFF_BIN=$(CURDIR)/bin/skiff bench/startup.sh
	SKIFF_BIN=$(CURDIR)/bin/skiff bench/podstart.sh
	SKIFF_BIN=$(CURDIR)/bin/skiff bench/volumes.sh
	SKIFF_BIN=$(CURDIR)/bin/skiff bench/modelservice.sh
	SKIFF_BIN=$(CURDIR)/bin/skiff bench/coldstart.sh
	SKIFF_BIN=$(CURDIR)/bin/skiff bench/registry.sh
	SKIFF_BIN=$(CURDIR)/bin/skiff bench/batch.sh
	SKIFF_BIN=$(CURDIR)/bin/skiff $(GO) test -run '^$$' -bench . -benchtime 5x ./bench/modelcache/
	$(GO) run ./bench/gateway -d 4s -skiff $(CURDIR)/bin/skiff
	$(GO) test -run XXX -bench Judge -benchtime 50x ./internal/controllers/modelservice/
	$(GO) test -run '^$$' -bench BenchmarkPodStart -benchtime 30x ./internal/node/podruntime

# Regenerates the Open Inference Protocol's gRPC code (needs protoc, Debian's
# protobuf-compiler, and the Go plugins at the versions the header names).
proto:
	cd internal/modelserver/inferencepb && protoc --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative inference.proto
