# bench/lib.sh -- the preamble every bench/*.sh script shares, sourced first:
# where things are (HERE, ROOT, KEEL, FIX, PY), a temporary directory TMP removed
# at exit (kept with KEEP=1), and one server at a time on a free loopback port,
# stopped at exit.
#
#   BENCH_NAME=serve-bench
#   . "$(dirname "$0")/lib.sh"
#   PORT=$(bench_free_port)
#   bench_start /ping "$TMP/serve.log" "$KEEL" models serve -m MODEL --port "$PORT"
#   ... SERVER_PID is the server's ...
#   bench_stop
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
KEEL=${KEEL:-$ROOT/build/keel}
FIX=${KEEL_FIXTURES:-$ROOT/../shared/fixtures}
PY=/usr/bin/python3
export KEEL_BENCH_DIR=$HERE # the wrk scripts find common.lua through it
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/keel-${BENCH_NAME:-bench}.XXXXXX")
SERVER_PID=

bench_stop() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}

bench_cleanup() {
  bench_stop
  if [ "${KEEP:-0}" = 1 ]; then echo "kept: $TMP" >&2; else rm -rf "$TMP"; fi
}
trap bench_cleanup EXIT

bench_free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_start READY_PATH LOG COMMAND...: runs the server in the background (its
# output to LOG) and waits until GET http://127.0.0.1:$PORT/READY_PATH answers 2xx;
# exits, showing LOG, when the server dies or is not up within 10 s.
bench_start() {
  local ready=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT$ready" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "the server did not come up within 10 s: $*" >&2
  cat "$log" >&2
  exit 1
}
