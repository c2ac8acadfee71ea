#!/usr/bin/env bash
# Why this exists: measures online scoring against the product spec -- single-row
# requests/s and p50/p99 latency of `keel models serve` for every XGBoost fixture model
# (wrk, 8 connections, 2 threads), in MLflow's JSON and CSV forms and KServe v2, next to
# the cost of the bare XGBoost call on the same row and keel's in-process overhead over it
# (build/bench/scoring_overhead). Starts its own server per model on a free loopback port.
#
# Environment: KEEL (binary, default build/keel), DURATION (10s), CONNS (8), WORKERS (2).
BENCH_NAME=serve-bench
. "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-8}
WORKERS=${WORKERS:-2}

# one-row bodies of the model's first golden row: dataframe_split JSON, CSV, KServe v2
bodies() { # model -> files in $TMP
  $PY - "$FIX/golden/$1/input.csv" "$TMP" <<'PYEOF'
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1])))
cols, row = rows[0], [float(v) for v in rows[1]]
out = sys.argv[2]
json.dump({"dataframe_split": {"columns": cols, "data": [row]}}, open(f"{out}/split.json", "w"))
open(f"{out}/row.csv", "w").write(",".join(cols) + "\n" + ",".join(rows[1]) + "\n")
json.dump({"inputs": [{"name": "x", "shape": [1, len(row)], "datatype": "FP64", "data": row}]},
          open(f"{out}/v2.json", "w"))
PYEOF
}

run_wrk() { # label path content-type body-file
  local out
  out=$(KEEL_PATH=$2 KEEL_CONTENT_TYPE=$3 KEEL_BODY_FILE=$4 \
    wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 10s --latency -s "$HERE/wrk/invocations.lua" \
    "http://127.0.0.1:$PORT" | grep '^RESULT')
  echo "$1 $out"
}

for model in xgb-booster-binary xgb-classifier-iris xgb-regressor-diabetes; do
  PORT=$(bench_free_port)
  bench_start /ping "$TMP/serve.log" "$KEEL" models serve -m "$FIX/models/$model" \
    --port "$PORT" -w "$WORKERS"
  bodies "$model"
  run_wrk "$model json" /invocations application/json "$TMP/split.json"
  run_wrk "$model csv " /invocations text/csv "$TMP/row.csv"
  run_wrk "$model v2  " /v2/models/model/infer application/json "$TMP/v2.json"
  bench_stop
  if [ -x "$ROOT/build/bench/scoring_overhead" ]; then
    "$ROOT/build/bench/scoring_overhead" "$FIX/models/$model" "$TMP/split.json"
  fi
done
