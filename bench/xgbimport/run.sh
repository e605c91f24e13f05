#!/usr/bin/env bash
# The XGBoost import benchmark, in one run:
#
#   bash bench/xgbimport/run.sh [BANK_CSV]
#
# 1. Drift: reruns model/xgbimport/testdata/gen.py into a scratch directory
#    and fails when any golden file differs from the committed one (a new
#    XGBoost, pandas or data file changed them).
# 2. Speed: bench/xgbimport/xgb.py trains a 200-tree depth-6 XGBoost model
#    on a seeded synthetic table (30 numeric columns, one one-hot column),
#    and times XGBoost's single-thread prediction of 50,000 rows
#    (inplace_predict of margins); bench/xgbimport/main.go imports the same
#    model, times reading and converting it, checks every margin against
#    XGBoost's, and times leadscore's single-thread scoring of the same
#    rows (the whole score, and the margin alone). REPEAT=n (default 3)
#    alternates the two sides n times and keeps each side's best, which
#    evens out other work on the machine; the load average is printed.
#
# It needs Go and Debian's python3-xgboost and python3-pandas (run with the
# system /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."

bank=${1:-/work/shared/datasets/bank-marketing/bank-full.csv}
repeat=${REPEAT:-3}
python=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "golden files: regenerating into $work/golden"
"$python" model/xgbimport/testdata/gen.py "$bank" "$work/golden" >/dev/null
drift=0
for f in "$work"/golden/*; do
  name=$(basename "$f")
  if ! cmp -s "$f" "model/xgbimport/testdata/$name"; then
    echo "golden files: $name differs from model/xgbimport/testdata/$name" >&2
    drift=1
  fi
done
if [ "$drift" = 1 ]; then
  echo "golden files: DRIFTED" >&2
  exit 1
fi
echo "golden files: unchanged"

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
go build -o "$work/xgbimport" ./bench/xgbimport
for i in $(seq 1 "$repeat"); do
  echo "run $i of $repeat" >&2
  "$python" bench/xgbimport/xgb.py "$work" >"$work/xgboost.$i.json"
  "$work/xgbimport" "$work" >"$work/leadscore.$i.json"
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

"$python" - "$work" "$repeat" <<'PY'
import json, sys
work, repeat = sys.argv[1], int(sys.argv[2])
xs = [json.load(open(f"{work}/xgboost.{i}.json")) for i in range(1, repeat + 1)]
ls = [json.load(open(f"{work}/leadscore.{i}.json")) for i in range(1, repeat + 1)]
xgb = max(x["xgboost_rows_per_second_1t"] for x in xs)
score = max(l["score_rows_per_second_1t"] for l in ls)
margin = max(l["margin_rows_per_second_1t"] for l in ls)
convert = min(l["read_convert_seconds"] for l in ls)
diff = max(l["max_margin_difference"] for l in ls)
print(f"model: 200 trees of depth 6 ({xs[0]['nodes']} nodes, {ls[0]['model_bytes']/1e6:.1f} MB), XGBoost {xs[0]['xgboost_version']}")
print(f"read, check and convert the model:   {convert*1000:.0f} ms (best of {5*repeat})")
print(f"largest margin difference from XGBoost over {ls[0]['rows']} rows: {diff:.3g}")
print(f"single-thread rows/s, best of {repeat}:")
print(f"  xgboost inplace_predict (margin):  {xgb:12,.0f}")
print(f"  leadscore margin (PredictBatch):   {margin:12,.0f}   ratio {margin/xgb:.2f}")
print(f"  leadscore score (ScoreBatch):      {score:12,.0f}   ratio {score/xgb:.2f}")
PY
