#!/usr/bin/env bash
# Why this exists: the soak run of docs/reliability.md -- a keel server under a sustained
# mixed workload (bench/soak.py) for DURATION seconds (default 300), with its memory and
# file descriptors sampled. Not part of `make check` (it takes minutes); part of `make bench`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
KEEL=${KEEL:-$ROOT/build/keel}
FIX=${KEEL_FIXTURES:-$ROOT/../shared/fixtures}
DURATION=${DURATION:-300}
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/keel-soak.XXXXXX")
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
  rm -rf "$TMP"
}
trap cleanup EXIT
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$KEEL" server --port "$PORT" --data-dir "$TMP/data" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
$PY "$HERE/soak.py" "http://127.0.0.1:$PORT" "$SERVER_PID" "$DURATION" \
  "$FIX/models/xgb-classifier-iris" "$FIX/golden/xgb-classifier-iris/input.csv"
