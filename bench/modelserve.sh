#!/usr/bin/env bash
# Model serving: skiff serve-model (REST v2, gRPC v2, /predict) against the
# seed's Flask API (dev server and gunicorn) and Python's own predict in a
# loop; same machine, same models, same bounded loopback load, one run.
#   SKIFF_BIN=bin/skiff bench/modelserve.sh [seconds per row, default 5]
# Needs python3-xgboost, python3-sklearn, python3-flask, gunicorn and wrk
# (Debian). REST rows are driven by wrk (a light C client, so the latency is
# mostly the server's); gRPC by bench/modelload, which also repeats the REST
# v2 row so that the two protocols are compared with one client.
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
secs=${1:-5}
py=/usr/bin/python3
work=$(mktemp -d /tmp/skiff-modelserve.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# Ports below Linux's ephemeral range (32768+), where no client socket sits.
port() { echo $((20000 + RANDOM % 12000)); }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

go build -o "$work/modelload" ./bench/modelload
$py bench/modelserve/setup.py "$work"
rest=$(port); grpc=$((rest + 1)); flask=$((rest + 2)); guni=$((rest + 3)); empty=$((rest + 4))
"$SKIFF" serve-model --model-repository "$work/repo" --http-address 127.0.0.1:$rest \
  --grpc-address 127.0.0.1:$grpc --default-model housing 2>"$work/serve.log" & pids+=($!)
(cd "$work/seed" && exec $py -m flask --app api run --host 127.0.0.1 --port $flask >/dev/null 2>&1) & pids+=($!)
(cd "$work/seed" && exec gunicorn --workers 2 --bind 127.0.0.1:$guni --log-level warning api:app >/dev/null 2>&1) & pids+=($!)
"$work/modelload" -serve 127.0.0.1:$empty & pids+=($!)
wait_http http://127.0.0.1:$rest/v2/health/ready || { cat "$work/serve.log" >&2; exit 1; }
wait_http http://127.0.0.1:$empty/
wait_http http://127.0.0.1:$flask/
wait_http http://127.0.0.1:$guni/

load() { "$work/modelload" -d "${secs}s" "$@"; }
# wrk_row NAME CLIENTS URL BODY: one line in modelload's format.
wrk_row() {
  BODY=$4 wrk -t1 -c"$2" -d1s -s bench/modelserve/post.lua "$3" >/dev/null # warm-up, not counted
  BODY=$4 wrk -t$(( $2 < 2 ? 1 : 2 )) -c"$2" -d"${secs}s" --latency -s bench/modelserve/post.lua "$3" |
    awk -v name="$1" -v c="$2" '
      function us(v) { if (v ~ /ms$/) return v * 1000; if (v ~ /us$/) return v + 0; return v * 1e6 }
      / 50%/ { p50 = us($2) } / 99%/ { p99 = us($2) } /^Requests\/sec/ { rps = $2 }
      /requests in/ { n = $1 } /Non-2xx/ { bad = $NF }
      END { if (bad) { print name ": " bad " failed requests" > "/dev/stderr"; exit 1 }
            printf "%-34s c=%-2d requests=%-7d req/s=%-9.0f p50_us=%-7.0f p99_us=%.0f  (wrk)\n", name, c, n, rps, p50, p99 }'
}
echo "# $(nproc) cores, $(date -u +%F), ${secs}s per row after 1s warm-up"
echo "{\"instances\":[[$(cat "$work/row.txt")]]}" >"$work/v1.json"
for c in 1 8; do
  wrk_row "skiff REST v2 (xgb)" $c http://127.0.0.1:$rest/v2/models/boost/infer "$work/v2.json"
  wrk_row "skiff REST v1 (xgb)" $c http://127.0.0.1:$rest/v1/models/boost:predict "$work/v1.json"
  wrk_row "skiff /predict (seed)" $c http://127.0.0.1:$rest/predict "$work/predict.json"
  wrk_row "skiff REST v2 (seed)" $c http://127.0.0.1:$rest/v2/models/housing/infer "$work/v2.json"
  wrk_row "flask dev server /predict (seed)" $c http://127.0.0.1:$flask/predict "$work/predict.json"
  wrk_row "gunicorn 2 workers /predict (seed)" $c http://127.0.0.1:$guni/predict "$work/predict.json"
  wrk_row "Go net/http empty answer (floor)" $c http://127.0.0.1:$empty/ "$work/predict.json"
  load -c $c -name "skiff REST v2 (xgb), Go client" -url http://127.0.0.1:$rest/v2/models/boost/infer -body "$work/v2.json"
  load -c $c -name "skiff gRPC v2 (xgb), Go client" -grpc 127.0.0.1:$grpc -model boost -row "$(cat "$work/row.txt")"
done
wrk_row "skiff REST v2 (xgb, batching on)" 8 http://127.0.0.1:$rest/v2/models/boost-batched/infer "$work/v2.json"
curl -s http://127.0.0.1:$rest/metrics | awk '/^skiff_model_batch_size_(sum|count)\{model="boost-batched"/ { v[$1 ~ /sum/] = $2 }
  END { if (v[0]) printf "  batching: %d evaluations, %.2f rows each on average\n", v[0], v[1] / v[0] }'
$py bench/modelserve/pyloop.py "$work" "$secs"
