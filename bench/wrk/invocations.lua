-- Why this exists: single-row scoring throughput and latency of `keel models serve`
-- (spec: >= 20,000 requests/s, p99 <= 5 ms on 2 cores, 8 connections). The body is
-- KEEL_BODY_FILE's bytes, sent as KEEL_CONTENT_TYPE to KEEL_PATH (/invocations).
local common = dofile(os.getenv("KEEL_BENCH_DIR") .. "/wrk/common.lua")

function setup(thread) common.setup(thread) end

function init(args)
   common.install()
   local f = assert(io.open(os.getenv("KEEL_BODY_FILE"), "rb"))
   wrk.body = f:read("*a")
   f:close()
   wrk.method = "POST"
   wrk.path = os.getenv("KEEL_PATH") or "/invocations"
   wrk.headers["Content-Type"] = os.getenv("KEEL_CONTENT_TYPE") or "application/json"
end

function done(summary, latency, requests)
   common.done(summary, latency, requests)
end
