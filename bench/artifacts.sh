#!/usr/bin/env bash
# Why this exists: measures the artifact store against the product spec: upload and
# download of a 1 GiB file through the MLflow artifact proxy compared with `cp` on the same
# disk (target >= 70 %), the server's peak RSS during both (it must not grow with the
# file), and the bytes a second upload of the same content adds on disk (target ~0).
# Starts its own keel server on a free loopback port with a fresh store; prints a summary.
#
# Environment: KEEL (binary, default build/keel), SIZE_MB (1024), RUNS (3), KEEP=1.
BENCH_NAME=art-bench
. "$(dirname "$0")/lib.sh"
SIZE_MB=${SIZE_MB:-1024}
PORT=$(bench_free_port)
URL=http://127.0.0.1:$PORT/api/2.0/mlflow-artifacts/artifacts

bench_start /health "$TMP/server.log" "$KEEL" server --host 127.0.0.1 --port "$PORT" \
  --backend-store-uri "sqlite:///$TMP/keel.db" --artifacts-destination "$TMP/artifacts"

hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status"; }
du_kb() { du -sk "$TMP/artifacts/blobs" | cut -f1; }
# Each transfer starts with a clean page cache (as root), so every one reads its source
# from the disk and ends with its data on the disk; the figure is the median of RUNS.
RUNS=${RUNS:-3}
cold() { sync; [ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
median_rate() { # command...: MiB/s of the median of RUNS timed runs
  local times=()
  for _ in $(seq "$RUNS"); do
    cold
    local t0 t1; t0=$($PY -c 'import time; print(time.monotonic())')
    "$@"; sync
    t1=$($PY -c 'import time; print(time.monotonic())')
    times+=("$($PY -c "print($t1 - $t0)")")
  done
  $PY -c "import statistics, sys; print(f'{$SIZE_MB / statistics.median(map(float, sys.argv[1:])):.0f}')" "${times[@]}"
}
do_cp() { cp "$TMP/src.bin" "$TMP/copy.bin"; }
do_up() { curl -sf -T "$TMP/src.bin" -H 'Content-Type: application/octet-stream' "$URL/0/run1/artifacts/big.bin" >/dev/null; }
do_down() { # an 8 MiB-buffer client: curl's 16 KiB writes make the client the bottleneck
  $PY - "$URL/0/run1/artifacts/big.bin" "$TMP/down.bin" <<'PYEOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1]) as r, open(sys.argv[2], "wb", buffering=0) as f:
    while True:
        b = r.read(8 << 20)
        if not b:
            break
        f.write(b)
PYEOF
}
do_send() { curl -sf "$URL/0/run1/artifacts/big.bin" -o /dev/null; }

echo "keel artifact bench: $KEEL, ${SIZE_MB} MiB file, $(nproc) cpus, median of $RUNS, store on $(df -h "$TMP" | awk 'NR==2 {print $1}')"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$TMP/src.bin"
base_kb=$(hwm_kb)
cp_rate=$(median_rate do_cp); rm -f "$TMP/copy.bin"
up_rate=$(median_rate do_up); up_kb=$(hwm_kb)
down_rate=$(median_rate do_down); down_kb=$(hwm_kb)
cmp -s "$TMP/src.bin" "$TMP/down.bin" || { echo "!! downloaded bytes differ"; exit 1; }
rm -f "$TMP/down.bin"
send_rate=$(median_rate do_send)
before_kb=$(du_kb)
curl -sf -T "$TMP/src.bin" -H 'Content-Type: application/octet-stream' \
  "$URL/0/run2/artifacts/same.bin" >/dev/null
after_kb=$(du_kb)

echo
echo "=== summary ==="
echo "cp (same disk, cold cache, synced):  $cp_rate MiB/s"
echo "upload through keel (fsync'd):      $up_rate MiB/s = $($PY -c "print(f'{100*$up_rate/$cp_rate:.0f}')") % of cp (target >= 70 %)"
echo "download through keel:              $down_rate MiB/s = $($PY -c "print(f'{100*$down_rate/$cp_rate:.0f}')") % of cp (target >= 70 %)"
echo "download to /dev/null (the server's send rate): $send_rate MiB/s"
echo "server peak RSS: idle $((base_kb / 1024)) MiB, after upload $((up_kb / 1024)) MiB, after download $((down_kb / 1024)) MiB"
echo "second identical upload added $((after_kb - before_kb)) KiB on disk (target ~0)"
