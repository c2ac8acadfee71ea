-- Why this exists: shared helpers for the wrk benchmarks (bench/run.sh):
-- per-thread status counting so non-2xx answers are reported, not hidden.
local M = {}
M.threads = {}

function M.setup(thread)
   thread:set("tid", #M.threads)
   table.insert(M.threads, thread)
end

function M.install()
   status_counts = {}
   first_error = nil
   response = function(status, headers, body)
      status_counts[status] = (status_counts[status] or 0) + 1
      if status >= 300 and first_error == nil then
         first_error = status .. " " .. string.sub(body or "", 1, 300)
      end
   end
end

function M.done(summary, latency, requests, extra_per_req)
   local totals, err = {}, nil
   for _, t in ipairs(M.threads) do
      local c = t:get("status_counts") or {}
      for k, v in pairs(c) do totals[k] = (totals[k] or 0) + v end
      err = err or t:get("first_error")
   end
   local s = ""
   for k, v in pairs(totals) do s = s .. string.format(" %s=%d", k, v) end
   local secs = summary.duration / 1e6
   local rps = summary.requests / secs
   io.write(string.format("RESULT requests=%d seconds=%.2f req_per_s=%.1f",
      summary.requests, secs, rps))
   if extra_per_req then
      io.write(string.format(" rows_per_s=%.0f", rps * extra_per_req))
   end
   io.write(string.format(" p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f",
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000))
   io.write(string.format(" errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d",
      summary.errors.connect, summary.errors.read, summary.errors.write,
      summary.errors.status, summary.errors.timeout))
   io.write(" statuses:" .. s .. "\n")
   if err then io.write("FIRST_ERROR " .. err .. "\n") end
end

return M
