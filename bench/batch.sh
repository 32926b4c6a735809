#!/usr/bin/env bash
# Batch inference: ROWS rows x 13 features through a 100-tree XGBoost model,
# CSV in and out (id + prediction), skiff batch-predict with one and two
# workers against the pandas pipeline (read_csv, Booster.predict, to_csv),
# same file, alternating, RUNS times each; checks the outputs agree to 1e-6.
#   SKIFF_BIN=bin/skiff bench/batch.sh [rows] [runs]
set -euo pipefail
SKIFF=${SKIFF_BIN:-bin/skiff}
ROWS=${1:-1000000}
RUNS=${2:-3}
PY=/usr/bin/python3
work=$(mktemp -d /tmp/skiff-batchbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
$PY bench/batch/data.py "$work" "$ROWS"
echo "input: $(du -h "$work/in.csv" | cut -f1), $ROWS rows; model: 100 trees, depth 6"
now() { date +%s.%N; }
declare -A times
for run in $(seq "$RUNS"); do
  t0=$(now); $PY bench/batch/pandas_pipeline.py "$work/model.json" "$work/in.csv" "$work/pandas.csv" > "$work/pandas.txt"; t1=$(now)
  times[pandas]+="$(echo "$t1 - $t0" | bc) "
  echo "pandas run $run: $(cat "$work/pandas.txt")"
  for w in 1 2; do
    rm -rf "$work/out$w"
    t0=$(now); "$SKIFF" batch-predict --model-path "$work/model.json" --input "$work/in.csv" --output "$work/out$w" --id-column id --workers $w > "$work/skiff$w.txt"; t1=$(now)
    times[skiff$w]+="$(echo "$t1 - $t0" | bc) "
    echo "skiff ($w worker(s)) run $run: $(cat "$work/skiff$w.txt")"
  done
done
$PY bench/batch/compare.py "$work/out2/part-00000.csv" "$work/pandas.csv"
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p=$(echo "${times[pandas]}" | median); s1=$(echo "${times[skiff1]}" | median); s2=$(echo "${times[skiff2]}" | median)
echo
echo "| pipeline | wall (s), median of $RUNS | rows/s | vs pandas |"
echo "|---|---|---|---|"
printf "| pandas read_csv + Booster.predict + to_csv | %.2f | %.0f | 1.00 |\n" "$p" "$(echo "$ROWS / $p" | bc -l)"
printf "| skiff batch-predict, 1 worker | %.2f | %.0f | %.2fx |\n" "$s1" "$(echo "$ROWS / $s1" | bc -l)" "$(echo "$p / $s1" | bc -l)"
printf "| skiff batch-predict, 2 workers | %.2f | %.0f | %.2fx |\n" "$s2" "$(echo "$ROWS / $s2" | bc -l)" "$(echo "$p / $s2" | bc -l)"
