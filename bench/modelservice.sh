#!/usr/bin/env bash
# ModelService: create to first answered request (vs a hand-written
# Deployment + Service of the same pod), and `skiff serve` end to end, on a
# fresh skiff.
#   SKIFF_BIN=bin/skiff bench/modelservice.sh [runs]
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
N=${1:-10}
work=$(mktemp -d /tmp/skiff-msbench.XXXXXX)
api=$((20000 + RANDOM % 20000))
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cp internal/modelserver/testdata/xgb-reg.json "$work/model.json"
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) --write-kubeconfig=false >/dev/null 2>&1
export KUBECONFIG="$work/data/kubeconfig"
until kubectl get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done
go run ./bench/modelservice -kubeconfig "$KUBECONFIG" -n "$N" -model "$work/model.json" -features 3

# skiff serve: from the command to its return (the model placed, the
# ModelService Ready), then the first request it suggests.
times=()
for i in $(seq 1 5); do
  start=$(date +%s%N)
  "$SKIFF" serve "$work/model.json" --name "serve-$i" --models-dir "$work/served" -q >/dev/null
  url=$(kubectl get ms "serve-$i" -o jsonpath='{.status.url}')
  curl -sf -d '{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP64","data":[0,0,0]}]}' "$url/v2/models/serve-$i/infer" >/dev/null
  times+=($(( ($(date +%s%N) - start) / 1000000 )))
  kubectl delete ms "serve-$i" --wait >/dev/null
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
echo "| skiff serve model.json, to its first answered request (ms, 5 runs) | median $(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p) | all: $sorted|"
