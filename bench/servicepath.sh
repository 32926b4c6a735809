#!/usr/bin/env bash
# A Service's cost: requests through a ClusterIP vs straight to the pod IP,
# same client and server, one run, on a fresh skiff.
#   SKIFF_BIN=bin/skiff bench/servicepath.sh [flags of bench/servicepath]
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
work=$(mktemp -d /tmp/skiff-servicepath.XXXXXX)
api=$((20000 + RANDOM % 20000))
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
go build -o "$work/bin/servicepath" ./bench/servicepath
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) --write-kubeconfig=false >/dev/null 2>&1
"$work/bin/servicepath" -kubeconfig "$work/data/kubeconfig" "$@"
