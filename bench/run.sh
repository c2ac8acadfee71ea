#!/usr/bin/env bash
# Why this exists: one command (`make bench` or bench/run.sh) that measures keel
# against the product spec's performance targets, end to end: it starts its own
# keel server on a free loopback port with a fresh temporary store, does the
# setup calls, runs short bounded wrk benchmarks (Lua scripts in bench/wrk/),
# checks that every answer was 2xx and that rows really landed, stops the
# server, and prints a summary. Results are written up in docs/benchmarks.md.
#
# Environment:
#   KEEL=path            keel binary (default: build/keel)
#   DURATION=10s         length of each wrk run
#   BENCH_SEARCH=1       0 skips the runs/search bench (it needs a populated
#                        store: SEARCH_RUNS runs x 10 params x 10 metrics)
#   SEARCH_RUNS=100000   runs to populate for the search bench
#   LB_RUNS=3000         runs pre-created for the log-batch bench
#   KEEP=1               keep the temporary store and logs
BENCH_NAME=bench
. "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-10s}
BENCH_SEARCH=${BENCH_SEARCH:-1}
SEARCH_RUNS=${SEARCH_RUNS:-100000}
LB_RUNS=${LB_RUNS:-3000}

command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 2; }
[ -x "$KEEL" ] || { echo "keel binary not found: $KEEL" >&2; exit 2; }

PORT=$(bench_free_port)
URL=http://127.0.0.1:$PORT
API=$URL/api/2.0/mlflow

bench_start /health "$TMP/server.log" "$KEEL" server --host 127.0.0.1 --port "$PORT" \
  --backend-store-uri "sqlite:///$TMP/keel.db" \
  --artifacts-destination "$TMP/artifacts" --data-dir "$TMP/data"

post() { curl -fsS -H 'Content-Type: application/json' -d "$2" "$API/$1"; }
new_exp() { post experiments/create "{\"name\":\"$1\"}" | $PY -c 'import json,sys; print(json.load(sys.stdin)["experiment_id"])'; }
count() { command -v sqlite3 >/dev/null && sqlite3 "$TMP/keel.db" "$1" || echo "?"; }

echo "keel bench: $KEEL on $URL, $(nproc) cpus, wrk runs of $DURATION"
SUMMARY=()
FAIL=0

# result LINE -> fields from the RESULT line common.lua prints
field() { sed -n "s/.*RESULT.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
check_errors() { # name wrk-output
  local r; r=$(grep '^RESULT' <<<"$2")
  local bad; bad=$(grep -o 'statuses:.*' <<<"$r" | tr ' ' '\n' | grep -v -e '^200=' -e '^statuses:' -e '^$' || true)
  if [ -n "$bad" ] || grep -q 'Non-2xx\|Socket errors' <<<"$2"; then
    SUMMARY+=("  !! $1: non-2xx answers or socket errors: $(grep -o 'statuses:.*' <<<"$r") $(grep 'Socket errors' <<<"$2" || true)")
    grep '^FIRST_ERROR' <<<"$2" | sed 's/^/     /' || true
    FAIL=1
  fi
}

# --- log-batch: 1000 metrics per request, 4 connections -----------------------
EXP=$(new_exp "bench-log-batch")
$PY "$HERE/populate.py" --url "$URL" --experiment-id "$EXP" --runs "$LB_RUNS" \
  --no-data --ids-out "$TMP/run_ids.txt" >/dev/null
before=$(count "select count(*) from metrics")
OUT=$(KEEL_RUN_IDS="$TMP/run_ids.txt" KEEL_WRK_THREADS=2 \
  wrk -t2 -c4 -d"$DURATION" --timeout 10s --latency -s "$HERE/wrk/log_batch.lua" "$URL" 2>&1)
echo "$OUT" >"$TMP/log_batch.txt"
after=$(count "select count(*) from metrics")
rows=$(field "$OUT" rows_per_s); reqs=$(field "$OUT" requests)
verdict=$(awk -v r="$rows" 'BEGIN{print (r>=500000)?"MEETS":"MISSES"}')
SUMMARY+=("log-batch (1000 metrics/req, 4 conns): $(field "$OUT" req_per_s) req/s = $rows metric rows/s; p50 $(field "$OUT" p50_ms) ms p99 $(field "$OUT" p99_ms) ms; target >= 500000 rows/s: $verdict")
SUMMARY+=("  rows stored during the run: $before -> $after (wrk counted $reqs completed requests x 1000; up to 4 more may finish after wrk stops)")
check_errors log-batch "$OUT"

# --- runs/create, 8 connections ------------------------------------------------
EXP=$(new_exp "bench-runs-create")
OUT=$(KEEL_EXP_ID=$EXP wrk -t2 -c8 -d"$DURATION" --timeout 10s --latency -s "$HERE/wrk/runs_create.lua" "$URL" 2>&1)
echo "$OUT" >"$TMP/runs_create.txt"
rps=$(field "$OUT" req_per_s)
stored=$(count "select count(*) from runs where experiment_id=$EXP")
verdict=$(awk -v r="$rps" 'BEGIN{print (r>=10000)?"MEETS":"MISSES"}')
SUMMARY+=("runs/create (8 conns): $rps runs/s; p50 $(field "$OUT" p50_ms) ms p99 $(field "$OUT" p99_ms) ms; target >= 10000/s: $verdict")
SUMMARY+=("  runs stored: $stored (wrk counted $(field "$OUT" requests))")
check_errors runs/create "$OUT"

# --- runs/search over SEARCH_RUNS x 10 params x 10 metrics -----------------------
if [ "$BENCH_SEARCH" != 0 ]; then
  EXP=$(new_exp "bench-search")
  POP=$($PY "$HERE/populate.py" --url "$URL" --experiment-id "$EXP" --runs "$SEARCH_RUNS" --threads 8)
  SUMMARY+=("populate ($SEARCH_RUNS runs x 10 params x 10 metrics, 8 threads): $POP")
  # correctness sanity check: the answer must honour the filter and the order.
  CHECK=$(post runs/search "{\"experiment_ids\":[\"$EXP\"],\"filter\":\"metrics.m0 > 0.5 and params.p0 = 'x'\",\"order_by\":[\"metrics.m1 DESC\"],\"max_results\":100}" | $PY -c '
import json, sys
runs = json.load(sys.stdin).get("runs", [])
bad = 0; prev = None; unsorted = 0
for r in runs:
    m = {x["key"]: x["value"] for x in r["data"].get("metrics", [])}
    p = {x["key"]: x["value"] for x in r["data"].get("params", [])}
    if not (m.get("m0", 0) > 0.5 and p.get("p0") == "x"): bad += 1
    if prev is not None and m.get("m1", 0) > prev: unsorted += 1
    prev = m.get("m1", 0)
print("returned=%d not_matching_filter=%d out_of_order=%d" % (len(runs), bad, unsorted))')
  OUT=$(KEEL_EXP_ID=$EXP wrk -t1 -c1 -d"$DURATION" --timeout 10s --latency -s "$HERE/wrk/search.lua" "$URL" 2>&1)
  echo "$OUT" >"$TMP/search.txt"
  p50=$(field "$OUT" p50_ms)
  verdict=$(awk -v r="$p50" 'BEGIN{print (r<=20)?"MEETS":"MISSES"}')
  SUMMARY+=("runs/search (1 conn, filter metric+param, order by metric, 100 results): p50 $p50 ms p90 $(field "$OUT" p90_ms) ms p99 $(field "$OUT" p99_ms) ms, $(field "$OUT" req_per_s) req/s; target p50 <= 20 ms: $verdict")
  SUMMARY+=("  answer check: $CHECK")
  case $CHECK in *"returned=100 not_matching_filter=0 out_of_order=0"*) ;; *) SUMMARY+=("  !! search answer is wrong (filter/order not applied?) - latency figure not meaningful"); FAIL=1;; esac
  check_errors runs/search "$OUT"
else
  SUMMARY+=("runs/search: skipped (BENCH_SEARCH=0)")
fi

kill -0 "$SERVER_PID" 2>/dev/null || { SUMMARY+=("  !! keel exited during the benchmarks"); FAIL=1; }
grep -i -m5 'error\|assert\|abort' "$TMP/server.log" | sed 's/^/  server log: /' || true
echo
echo "=== summary ==="
printf '%s\n' "${SUMMARY[@]}"
echo "(full wrk output: $TMP/*.txt with KEEP=1)"
exit $FAIL
