#!/usr/bin/env bash
# Runs the Gateway API conformance suite (GATEWAY-HTTP profile: core plus
# the extended features skiff's gateway implements) against a fresh skiff,
# and writes the report to $REPORT (default: test/conformance/report.yaml).
#   SKIFF_BIN=bin/skiff test/conformance/run.sh [extra go test args]
# Needs root and pod networking (one networked skiff per machine), as e2e.
set -euo pipefail
cd "$(dirname "$0")"
SKIFF=$(realpath "${SKIFF_BIN:-../../bin/skiff}")
REPORT=$(realpath -m "${REPORT:-report.yaml}")
work=$(mktemp -d /tmp/skiff-conformance.XXXXXX)
api=$((20000 + RANDOM % 20000))
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The suite's backends are its echo-basic image: here, its own program.
mkdir -p "$work/echo" "$work/data"
go build -o "$work/echo/echo-basic" sigs.k8s.io/gateway-api/conformance/echo-basic
cat > "$work/data/images.yaml" <<YAML
images:
- image: "registry.k8s.io/gateway-api/echo-basic:*"
  dir: $work/echo
  command: [$work/echo/echo-basic]
# Only UDPRoute tests (not run) use the suite's CoreDNS; its Corefile
# forwards to public resolvers, which skiff's tests never reach.
- image: "registry.k8s.io/coredns/coredns:*"
  dir: $work/echo
  command: [sh, -c, "exec sleep infinity"]  # the pod's args come after, as $0 and on
YAML
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) \
  --metrics-port $((api + 6)) --gateway-port $((api + 7)) --gateway-metrics-port $((api + 8)) --write-kubeconfig=false
export KUBECONFIG="$work/data/kubeconfig"
until kubectl get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done

features=Gateway,HTTPRoute,ReferenceGrant,GRPCRoute,HTTPRouteQueryParamMatching,HTTPRouteMethodMatching,HTTPRouteResponseHeaderModification,HTTPRoutePortRedirect,HTTPRouteSchemeRedirect,HTTPRoutePathRedirect,HTTPRouteHostRewrite,HTTPRoutePathRewrite,HTTPRouteRequestMirror,HTTPRouteRequestMultipleMirrors,HTTPRouteRequestPercentageMirror,HTTPRouteRequestTimeout,HTTPRouteBackendTimeout,HTTPRouteBackendRequestHeaderModification
go test -count=1 -timeout 60m -run TestConformance . "$@" -args \
  --gateway-class=skiff --supported-features="$features" --conformance-profiles=GATEWAY-HTTP \
  --organization=skiff-dev --project=skiff --url=https://github.com/skiff-dev/skiff --version="$("$SKIFF" version -o json | sed -n 's/.*"skiff": *"\([^"]*\)".*/\1/p' | head -1)" \
  --contact=https://github.com/skiff-dev/skiff/issues --report-output="$REPORT" --allow-crds-mismatch
