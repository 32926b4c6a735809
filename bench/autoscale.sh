#!/usr/bin/env bash
# Autoscaling latency: load start to scale-up (>= 3 replicas) and load stop
# to scale-down (1 replica), from the end-to-end HPA test, N runs.
#   SKIFF_BIN=bin/skiff bench/autoscale.sh [runs]
set -euo pipefail
SKIFF=$(realpath "${SKIFF_BIN:-bin/skiff}")
N=${1:-3}
for i in $(seq "$N"); do
  SKIFF_BIN=$SKIFF go test -count=1 -v -run '^TestHorizontalAutoscaling$' ./test/e2e/ | grep -E 'scaled (to|back)'
done
