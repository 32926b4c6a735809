#!/usr/bin/env bash
# An Experiment's overhead: N trials that each sleep 1 s, P at a time, on
# a fresh skiff; wall time from kubectl create to Succeeded against the
# floor N/P seconds, and the overhead per trial per slot.
#   SKIFF_BIN=bin/skiff bench/experiment.sh [trials] [parallel]
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
N=${1:-200}
P=${2:-10}
work=$(mktemp -d /tmp/skiff-experiment.XXXXXX)
api=$((20000 + RANDOM % 20000))
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) \
  --metrics-port $((api + 6)) --gateway-port 0 --write-kubeconfig=false >/dev/null 2>&1
k() { kubectl --kubeconfig "$work/data/kubeconfig" "$@"; }
cat > "$work/experiment.yaml" <<YAML
apiVersion: ml.skiff.dev/v1alpha1
kind: Experiment
metadata: {name: overhead}
spec:
  objective: {type: minimize, objectiveMetricName: loss}
  algorithm: {algorithmName: random}
  parallelTrialCount: $P
  maxTrialCount: $N
  parameters:
  - {name: x, parameterType: double, feasibleSpace: {min: "0", max: "1"}}
  trialTemplate:
    primaryContainerName: trial
    trialParameters: [{name: x, reference: x}]
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        backoffLimit: 0
        template:
          spec:
            restartPolicy: Never
            containers:
            - name: trial
              image: busybox
              command: [sh, -c, "sleep 1; echo loss=\${trialParameters.x}"]
YAML
start=$(date +%s.%N)
k create -f "$work/experiment.yaml" >/dev/null
k wait experiment/overhead --for=condition=Succeeded --timeout=20m >/dev/null
end=$(date +%s.%N)
k get experiment overhead
awk -v s="$start" -v e="$end" -v n="$N" -v p="$P" 'BEGIN {
  wall = e - s; floor = n / p
  printf "trials %d, parallel %d: wall %.1f s, floor %.1f s, ratio %.2f, overhead %.3f s a trial a slot\n", n, p, wall, floor, wall / floor, (wall - floor) / (n / p)
}'
