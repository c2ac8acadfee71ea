#!/usr/bin/env bash
# Why this exists: what the prediction log costs a deployment inside `keel server`
# (spec: best-effort mode <= 10 % of throughput) -- single-row requests/s and p99 with the log
# off, best-effort and required, wrk 8 connections, the breast-cancer booster; next to
# `keel models serve` on the same model (bench/serve.sh measures that one alone).
#
# Environment: KEEL (binary, default build/keel), DURATION (10s), CONNS (8).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
KEEL=${KEEL:-$ROOT/build/keel}
FIX=${KEEL_FIXTURES:-$ROOT/../shared/fixtures}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-8}
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/keel-deploy-bench.XXXXXX")
SERVER_PID=
export KEEL_BENCH_DIR=$HERE
cleanup() {
  [ -n "$SERVER_PID" ] && { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
  rm -rf "$TMP"
}
trap cleanup EXIT

$PY - "$FIX/golden/xgb-booster-binary/input.csv" "$TMP/split.json" <<'PYEOF'
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1])))
json.dump({"dataframe_split": {"columns": rows[0], "data": [[float(v) for v in rows[1]]]}},
          open(sys.argv[2], "w"))
PYEOF
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$KEEL" server --port "$PORT" --data-dir "$TMP/data" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
# name:prediction_log:max_batch_rows:max_batch_wait_us
for spec in off:off:0:0 best-effort:best-effort:0:0 required:required:0:0 \
            batched:off:64:200 batched-logged:best-effort:64:200; do
  IFS=: read -r mode log rows wait <<<"$spec"
  curl -sf -X POST "http://127.0.0.1:$PORT/api/2.0/keel/deployments/create" \
    -H 'Content-Type: application/json' \
    -d "{\"name\": \"bc-$mode\", \"model_uri\": \"$FIX/models/xgb-booster-binary\", \"prediction_log\": \"$log\", \"max_batch_rows\": $rows, \"max_batch_wait_us\": $wait}" >/dev/null
  out=$(KEEL_PATH=/deployments/bc-$mode/invocations KEEL_CONTENT_TYPE=application/json \
    KEEL_BODY_FILE=$TMP/split.json wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 10s --latency \
    -s "$HERE/wrk/invocations.lua" "http://127.0.0.1:$PORT" | grep '^RESULT')
  echo "$mode (log $log, batch $rows rows / $wait us) $out"
done
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^keel_prediction_log|^keel_deployment_batch'
