#!/usr/bin/env bash
# Pod start latency over 100 pods and a 100-completion Job, on a fresh skiff.
#   SKIFF_BIN=bin/skiff bench/podstart.sh [pods]
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
N=${1:-100}
work=$(mktemp -d /tmp/skiff-podstart.XXXXXX)
api=$((20000 + RANDOM % 20000))
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) --write-kubeconfig=false >/dev/null 2>&1
go run ./bench/podstart -kubeconfig "$work/data/kubeconfig" -n "$N" -skiff-pid "$(cat "$work/data/run/skiff.lock")"
