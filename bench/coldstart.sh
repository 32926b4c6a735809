#!/usr/bin/env bash
# The request autoscaler: cold start from zero of a native XGBoost
# ModelService, the warm overhead of the gateway's hold, and a load step
# to the replicas needed, on a fresh skiff.
#   SKIFF_BIN=bin/skiff bench/coldstart.sh [cold starts]
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
N=${1:-20}
work=$(mktemp -d /tmp/skiff-coldbench.XXXXXX)
api=$((20000 + RANDOM % 20000))
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cp internal/modelserver/testdata/xgb-reg.json "$work/model.json"
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) \
  --metrics-port $((api + 6)) --gateway-port $((api + 7)) --gateway-metrics-port $((api + 8)) --write-kubeconfig=false >/dev/null 2>&1
export KUBECONFIG="$work/data/kubeconfig"
until kubectl get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done
go run ./bench/coldstart -kubeconfig "$KUBECONFIG" -n "$N" -model "$work/model.json" -features 3
echo
echo "gateway's cold starts (skiff_gateway_cold_start_duration_seconds):"
curl -s "http://127.0.0.1:$((api + 8))/metrics" | grep -E '^skiff_gateway_cold_start_duration_seconds_(sum|count)\{backend="default/bench-cold'
