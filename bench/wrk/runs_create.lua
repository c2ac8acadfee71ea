-- Why this exists: measures runs/create throughput (spec: >= 10,000/s with
-- 8 connections). Every request creates a new run in experiment KEEL_EXP_ID.
local common = dofile(os.getenv("KEEL_BENCH_DIR") .. "/wrk/common.lua")

function setup(thread) common.setup(thread) end

function init(args)
   common.install()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.path = "/api/2.0/mlflow/runs/create"
   wrk.body = '{"experiment_id":"' .. (os.getenv("KEEL_EXP_ID") or "0") ..
      '","start_time":1700000000000}'
end

function done(summary, latency, requests)
   common.done(summary, latency, requests)
end
