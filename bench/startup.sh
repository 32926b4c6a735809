#!/usr/bin/env bash
# Benchmarks `skiff up`: cold start (empty data dir) and warm restart to API
# ready, idle RSS after a minute, and how fast the controllers create the
# pods of a 100-replica Deployment. Prints a Markdown table.
#
#   SKIFF_BIN=bin/skiff bench/startup.sh [runs]     (make bench)
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
RUNS=${1:-5}
IDLE_SECONDS=${IDLE_SECONDS:-60}
work=$(mktemp -d /tmp/skiff-bench.XXXXXX)
api=$((20000 + RANDOM % 20000)); etcd=$((api + 2)); kubelet=$((api + 5))
cleanup() {
  "$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
up() { HOME=$work "$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $etcd --kubelet-port $kubelet --write-kubeconfig=false >/dev/null 2>&1; }
down() { "$SKIFF" down --data-dir "$work/data" >/dev/null; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
range() { sort -n | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.2f-%.2f", lo, hi}'; }

cold=(); warm=()
for i in $(seq "$RUNS"); do
  rm -rf "$work/data"
  t0=$(now); up; t1=$(now); cold+=("$(echo "$t1 - $t0" | bc)")
  down
  t0=$(now); up; t1=$(now); warm+=("$(echo "$t1 - $t0" | bc)")
  down
done

up
pid=$(cat "$work/data/run/skiff.lock")
sleep "$IDLE_SECONDS"
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)

k="kubectl --kubeconfig $work/data/kubeconfig"
t0=$(now)
$k create deployment burst --image=example/model:1 --replicas=100 >/dev/null
until [ "$($k get rs -l app=burst -o jsonpath='{.items[0].status.replicas}' 2>/dev/null)" = "100" ]; do sleep 0.05; done
t1=$(now)
burst=$(echo "$t1 - $t0" | bc)

echo "| measure | median | range | runs |"
echo "|---|---|---|---|"
echo "| cold start to API ready (s) | $(printf '%s\n' "${cold[@]}" | median) | $(printf '%s\n' "${cold[@]}" | range) | $RUNS |"
echo "| warm restart to API ready (s) | $(printf '%s\n' "${warm[@]}" | median) | $(printf '%s\n' "${warm[@]}" | range) | $RUNS |"
echo "| idle RSS after ${IDLE_SECONDS}s (MB) | $((rss_kb / 1024)) | | 1 |"
echo "| 100-replica Deployment to 100 pods created (s) | $(printf '%.2f' "$burst") | | 1 |"
