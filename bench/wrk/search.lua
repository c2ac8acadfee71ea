-- Why this exists: measures runs/search latency (spec: p50 <= 20 ms over 100k
-- runs x 10 params x 10 metrics, metric+param filter, order by a metric, 100
-- results). Run it with one connection so the percentiles are latency, not
-- queueing. The store is filled beforehand by bench/populate.py.
local common = dofile(os.getenv("KEEL_BENCH_DIR") .. "/wrk/common.lua")

function setup(thread) common.setup(thread) end

function init(args)
   common.install()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.path = "/api/2.0/mlflow/runs/search"
   wrk.body = '{"experiment_ids":["' .. (os.getenv("KEEL_EXP_ID") or "1") ..
      '"],"filter":"metrics.m0 > 0.5 and params.p0 = \'x\'",' ..
      '"order_by":["metrics.m1 DESC"],"max_results":100}'
end

function done(summary, latency, requests)
   common.done(summary, latency, requests)
end
