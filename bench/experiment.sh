#!/usr/bin/env bash
# An Experiment's overhead: N trials that each sleep SLEEP s (1), P at a
# time, on a fresh skiff; wall time from kubectl create to Succeeded
# against the floor N*SLEEP/P seconds, the overhead per trial per slot,
# the throughput, and skiff's peak memory.
#   SKIFF_BIN=bin/skiff bench/experiment.sh [trials] [parallel]
# The scale run: SLEEP=0 TIMEOUT=60m bench/experiment.sh 10000 50
# PROFILE=cpu.pprof also saves a CPU profile of skiff for the first 15 s;
# REQUESTS=1 prints the API requests the run made, by verb and resource.
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
N=${1:-200}
P=${2:-10}
SLEEP=${SLEEP:-1}
TIMEOUT=${TIMEOUT:-20m}
work=$(mktemp -d /tmp/skiff-experiment.XXXXXX)
api=$((20000 + RANDOM % 20000))
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) \
  --metrics-port $((api + 6)) --gateway-port 0 --write-kubeconfig=false ${PROFILE:+--pprof-address=127.0.0.1:$((api + 7))} >/dev/null 2>&1
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
              command: [sh, -c, "sleep $SLEEP; echo loss=\${trialParameters.x}"]
YAML
start=$(date +%s.%N)
k create -f "$work/experiment.yaml" >/dev/null
if [ -n "${PROFILE:-}" ]; then
  curl -sf -o "$PROFILE" "http://127.0.0.1:$((api + 7))/debug/pprof/profile?seconds=15" &
fi
k wait experiment/overhead --for=condition=Succeeded --timeout=$TIMEOUT >/dev/null
end=$(date +%s.%N)
wait
k get experiment overhead
if [ -n "${REQUESTS:-}" ]; then
  k get --raw /metrics | awk -F'[{}]' '/^apiserver_request_total\{/ {
    split($2, kv, ","); verb = res = subr = ""
    for (i in kv) { split(kv[i], p, "="); gsub(/"/, "", p[2])
      if (p[1] == "verb") verb = p[2]; if (p[1] == "resource") res = p[2]; if (p[1] == "subresource") subr = p[2] }
    n[verb " " res (subr != "" ? "/" subr : "")] += $3 }
    END { for (k in n) { printf "%8d %s\n", n[k], k; all += n[k] }; printf "%8d all (from skiff up on)\n", all }' | sort -rn | head -25
fi
echo "trial objects: $(k get trials -o name | wc -l)"
pid=$(pgrep -f -- "up .*--data-dir $work/data" | head -1)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
awk -v s="$start" -v e="$end" -v n="$N" -v p="$P" -v t="$SLEEP" -v rss="$rss" 'BEGIN {
  wall = e - s; floor = n * t / p
  printf "trials %d, parallel %d, %g s each: wall %.1f s, floor %.1f s, overhead %.3f s a trial a slot, %.1f trials/s, skiff peak RSS %.0f MiB\n", n, p, t, wall, floor, (wall - floor) / (n / p), n / wall, rss / 1024
}'
