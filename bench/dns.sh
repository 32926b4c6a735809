#!/usr/bin/env bash
# Cluster DNS from a pod, on a fresh skiff: lookups of an existing Service,
# of a Service created just before (the first query), and of a name that
# does not exist (the search path, then the node's resolvers), timed inside
# the pod by the resolver pods use (glibc's getaddrinfo).
# With SILENT=1 the node's resolver is one that never answers (a local
# socket that only reads, named by --resolv-conf), as on a machine whose
# network is down: a missing name then costs what the cluster DNS waits.
#   SKIFF_BIN=bin/skiff [SILENT=1] bench/dns.sh [rounds]
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
N=${1:-10}
work=$(mktemp -d /tmp/skiff-dns.XXXXXX)
api=$((20000 + RANDOM % 20000))
hole=
trap '"$SKIFF" down --data-dir "$work/data" >/dev/null 2>&1 || true; [ -z "$hole" ] || kill "$hole"; rm -rf "$work"' EXIT
resolv=()
if [ "${SILENT:-}" = 1 ]; then
  python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.99", 53))
while True: s.recv(512)' &
  hole=$!
  echo "nameserver 127.0.0.99" > "$work/resolv.conf"
  resolv=(--resolv-conf "$work/resolv.conf")
fi
"$SKIFF" up -d --data-dir "$work/data" --api-port $api --etcd-port $((api + 2)) --kubelet-port $((api + 5)) \
  --metrics-port $((api + 6)) --gateway-port 0 --write-kubeconfig=false "${resolv[@]}" >/dev/null 2>&1
k() { kubectl --kubeconfig "$work/data/kubeconfig" "$@"; }
k run resolver --image=python:3.6 --restart=Never -- sleep 600 >/dev/null
k wait pod/resolver --for=condition=Ready --timeout=1m >/dev/null
# One lookup, timed in the pod: prints milliseconds and whether it resolved.
lookup() {
  k exec resolver -- python3 -c '
import socket, sys, time
t = time.perf_counter()
try:
    socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET); ok = "ok"
except socket.gaierror:
    ok = "missing"
print("%.1f %s" % ((time.perf_counter() - t) * 1000, ok))' "$1"
}
for i in $(seq "$N"); do
  echo "existing $(lookup kubernetes)"
  k create service clusterip "fresh-$i" --tcp=80:80 >/dev/null
  echo "fresh $(lookup "fresh-$i")"
  echo "missing $(lookup "no-such-service-$i")"
done | awk '
  { ms[$1] = ms[$1] " " $2; n[$1]++; if ($3 != "ok") bad[$1]++ }
  END {
    printf "%-9s %6s %8s %8s %9s\n", "lookup", "count", "p50 ms", "max ms", "resolved"
    split("existing fresh missing", order, " ")
    for (o = 1; o <= 3; o++) {
      kind = order[o]; c = split(ms[kind], v, " ")
      for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
      printf "%-9s %6d %8.1f %8.1f %9d\n", kind, c, v[int((c + 1) / 2)], v[c], c - bad[kind]
    }
  }'
