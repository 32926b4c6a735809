#!/usr/bin/env bash
# Persistent volumes: a StatefulSet of N replicas (Parallel) whose pods each
# get a local-path claim, against the same StatefulSet with an emptyDir
# instead (the floor: same pods, no provisioning), on one fresh skiff; then
# how long deleting the claims takes until every PV and folder is gone.
#
#   SKIFF_BIN=bin/skiff bench/volumes.sh [replicas]     (make bench)
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
N=${1:-20}
work=$(mktemp -d /tmp/skiff-volumes.XXXXXX)
api=$((20000 + RANDOM % 20000))
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) --write-kubeconfig=false >/dev/null 2>&1
k() { kubectl --kubeconfig "$work/data/kubeconfig" "$@"; }
now() { date +%s.%N; }
until k get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done

set_yaml() { # name, volume: claim | empty
  cat <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $1}
spec:
  serviceName: $1
  replicas: $N
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      automountServiceAccountToken: false
      containers:
      - name: main
        image: python:3.6
        command: ["sh", "-c", "echo x > /data/f; exec sleep 3600"]
        volumeMounts: [{name: data, mountPath: /data}]
YAML
  if [ "$2" = empty ]; then
    echo "      volumes: [{name: data, emptyDir: {}}]"
  else
    cat <<YAML
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
YAML
  fi
}

all_running() { # app
  local running
  while :; do
    running=$(k get pods -l app="$1" --no-headers 2>/dev/null | grep -c ' Running ' || true)
    [ "$running" -ge "$N" ] && return
    sleep 0.1
  done
}

time_set() { # name kind
  local t0 t1
  t0=$(now); set_yaml "$1" "$2" | k apply -f - >/dev/null; all_running "$1"; t1=$(now)
  echo "$t1 - $t0" | bc
}

floor=$(time_set scratch empty)
claims=$(time_set store claim)
k delete statefulset store --wait >/dev/null
k wait --for=delete pod -l app=store --timeout=120s >/dev/null 2>&1 || true
t0=$(now)
k delete pvc -l app=store --wait >/dev/null 2>&1 || k delete pvc --all --wait >/dev/null
until [ "$(k get pv --no-headers 2>/dev/null | wc -l)" -eq 0 ] && [ -z "$(ls -A "$work/data/volumes" 2>/dev/null)" ]; do sleep 0.1; done
t1=$(now)
gone=$(echo "$t1 - $t0" | bc)

echo "| $N replicas, Parallel | seconds to all Running |"
echo "|---|---|"
printf '| emptyDir (floor) | %.2f |\n' "$floor"
printf '| local-path claims | %.2f |\n' "$claims"
printf '\nratio claims / floor: %.1fx; deleting %d claims until every PV and folder is gone: %.2f s\n' \
  "$(echo "$claims / $floor" | bc -l)" "$N" "$gone"
