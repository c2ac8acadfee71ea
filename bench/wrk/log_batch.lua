-- Why this exists: measures runs/log-batch ingest (spec: >= 500,000 metric
-- rows/s with 4 connections). Each request carries 1000 metrics, and every
-- request writes rows that do not exist yet: run ids come from a file made in
-- bench/run.sh's setup phase (env KEEL_RUN_IDS); thread t of T (env
-- KEEL_WRK_THREADS must equal wrk -t) uses runs
-- t, t+T, t+2T, ... and when it has used every run once it starts again with
-- a new metric key (m0, m1, ...), so no (run, key, step) repeats.
local common = dofile(os.getenv("KEEL_BENCH_DIR") .. "/wrk/common.lua")
local PER_REQ = 1000

function setup(thread) common.setup(thread) end

local ids, n, templates, i
local function template(round)
   if not templates[round] then
      local parts = {}
      local key = "m" .. round
      for s = 0, PER_REQ - 1 do
         parts[#parts + 1] = string.format(
            '{"key":"%s","value":%.6f,"timestamp":%d,"step":%d}',
            key, (s % 97) / 97, 1700000000000 + s, s)
      end
      templates[round] = "[" .. table.concat(parts, ",") .. "]"
   end
   return templates[round]
end

function init(args)
   common.install()
   ids = {}
   local f = assert(io.open(os.getenv("KEEL_RUN_IDS"), "r"))
   for line in f:lines() do if #line > 0 then ids[#ids + 1] = line end end
   f:close()
   n = #ids
   templates = {}
   i = tid -- this thread's first run index (0-based)
   step = tonumber(os.getenv("KEEL_WRK_THREADS") or "1") -- wrk -t
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.path = "/api/2.0/mlflow/runs/log-batch"
end

function request()
   local run = ids[(i % n) + 1]
   local round = math.floor(i / n)
   i = i + step
   return wrk.format(nil, nil, nil,
      '{"run_id":"' .. run .. '","metrics":' .. template(round) .. '}')
end

function done(summary, latency, requests)
   common.done(summary, latency, requests, PER_REQ)
end
