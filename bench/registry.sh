#!/usr/bin/env bash
# The model registry: registration time of 1 MB and 100 MB model files
# (against the same work in-process), and a ModelService's start from
# models:/ against the same file from file://, on a fresh skiff.
#   SKIFF_BIN=bin/skiff bench/registry.sh [registrations per size] [ModelService starts per kind]
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
N=${1:-3}
SERVES=${2:-20}
work=$(mktemp -d /tmp/skiff-registrybench.XXXXXX)
api=$((20000 + RANDOM % 20000))
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) \
  --metrics-port $((api + 6)) --gateway-port $((api + 7)) --gateway-metrics-port $((api + 8)) --write-kubeconfig=false >/dev/null 2>&1
export KUBECONFIG="$work/data/kubeconfig"
until kubectl get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done
mkdir -p "$work/models"
go run ./bench/registry -kubeconfig "$KUBECONFIG" -runs "$N" -serves "$SERVES" -dir "$work/models"
