#!/usr/bin/env bash
# Why this exists: what the prediction log costs a deployment inside `keel server`
# (spec: best-effort mode <= 10 % of throughput) -- single-row requests/s and p99 with the log
# off, best-effort and required, wrk 8 connections, the breast-cancer booster; next to
# `keel models serve` on the same model (bench/serve.sh measures that one alone).
#
# Environment: KEEL (binary, default build/keel), DURATION (4s a run), CONNS (8),
# ROUNDS (9: every configuration runs once a round, in turn).
BENCH_NAME=deploy-bench
. "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-4s}
ROUNDS=${ROUNDS:-9}
CONNS=${CONNS:-8}

$PY - "$FIX/golden/xgb-booster-binary/input.csv" "$TMP/split.json" <<'PYEOF'
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1])))
json.dump({"dataframe_split": {"columns": rows[0], "data": [[float(v) for v in rows[1]]]}},
          open(sys.argv[2], "w"))
PYEOF
PORT=$(bench_free_port)
bench_start /health "$TMP/server.log" "$KEEL" server --port "$PORT" --data-dir "$TMP/data"
# name:prediction_log:max_batch_rows:max_batch_wait_us
SPECS="off:off:0:0 best-effort:best-effort:0:0 required:required:0:0 batched:off:64:200
       batched-logged:best-effort:64:200"
for spec in $SPECS; do
  IFS=: read -r mode log rows wait <<<"$spec"
  curl -sf -X POST "http://127.0.0.1:$PORT/api/2.0/keel/deployments/create" \
    -H 'Content-Type: application/json' \
    -d "{\"name\": \"bc-$mode\", \"model_uri\": \"$FIX/models/xgb-booster-binary\", \"prediction_log\": \"$log\", \"max_batch_rows\": $rows, \"max_batch_wait_us\": $wait}" >/dev/null
done
# The configurations take turns, ROUNDS times, and each figure is the median
# of its rounds: on a shared two-core machine one run alone can be off by a
# quarter, and turns spread that over every configuration alike. A run with
# any answer that is not 2xx is reported and left out of the medians (wrk's
# rate and latencies count every answer, refusals too).
for round in $(seq "$ROUNDS"); do
  for spec in $SPECS; do
    IFS=: read -r mode log rows wait <<<"$spec"
    out=$(KEEL_PATH=/deployments/bc-$mode/invocations KEEL_CONTENT_TYPE=application/json \
      KEEL_BODY_FILE=$TMP/split.json wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 10s --latency \
      -s "$HERE/wrk/invocations.lua" "http://127.0.0.1:$PORT" | grep '^RESULT')
    echo "round $round $mode (log $log, batch $rows rows / $wait us) $out" | tee -a "$TMP/results"
  done
done
$PY - "$TMP/results" <<'PYEOF'
import re, statistics, sys
runs, modes = {}, []
for line in open(sys.argv[1]):
    m = re.match(r"round (\d+) (\S+) .*req_per_s=([\d.]+) p50_ms=([\d.]+) .*p99_ms=([\d.]+)", line)
    if not m:
        continue
    if m.group(2) not in modes:
        modes.append(m.group(2))
    statuses = re.findall(r" (\d{3})=(\d+)", line.partition("statuses:")[2])
    bad = sum(int(n) for code, n in statuses if not 200 <= int(code) < 300)
    if bad or not statuses:
        print(f"  round {m.group(1)} {m.group(2)}: left out, {bad} answers not 2xx")
        continue
    runs.setdefault(m.group(2), {})[int(m.group(1))] = tuple(map(float, m.group(3, 4, 5)))
print("median of the rounds whose answers were all 2xx:")
for mode in modes:
    r = runs.get(mode, {})
    if not r:
        print(f"  {mode:15s} no round without refusals")
        continue
    rps, p50, p99 = (statistics.median(v[i] for v in r.values()) for i in range(3))
    print(f"  {mode:15s} {rps:9.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
          f"({len(r)} rounds)")
both = [k for k in runs.get("off", {}) if k in runs.get("best-effort", {})]
if both:
    ratio = statistics.median(runs["best-effort"][k][0] / runs["off"][k][0] for k in both)
    print(f"  best-effort / off, median of {len(both)} rounds' ratios: {ratio:.1%}")
PYEOF
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^keel_prediction_log|^keel_deployment_batch'
