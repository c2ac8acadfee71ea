#!/usr/bin/env bash
# Why this exists: the soak run of docs/reliability.md -- a keel server under a sustained
# mixed workload (bench/soak.py) for DURATION seconds (default 300), with its memory and
# file descriptors sampled. Not part of `make check` (it takes minutes); part of `make bench`.
BENCH_NAME=soak
. "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-300}
PORT=$(bench_free_port)
bench_start /health "$TMP/server.log" "$KEEL" server --port "$PORT" --data-dir "$TMP/data"
$PY "$HERE/soak.py" "http://127.0.0.1:$PORT" "$SERVER_PID" "$DURATION" \
  "$FIX/models/xgb-classifier-iris" "$FIX/golden/xgb-classifier-iris/input.csv"
