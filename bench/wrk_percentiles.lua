-- wrk's figures as one JSON line (latencies in µs), for bench/generators.py and bench/api.py.
-- The request is wrk's default GET unless these are set:
--   AFORO_WRK_METHOD     POST, ...
--   AFORO_WRK_HEADERS    "Name: value" lines, separated by newlines
--   AFORO_WRK_BODY_FILE  a file sent as the body (read once; wrk sends the same bytes each time)
local method = os.getenv("AFORO_WRK_METHOD")
if method then wrk.method = method end
for line in (os.getenv("AFORO_WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
local body_file = os.getenv("AFORO_WRK_BODY_FILE")
if body_file then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "requests": %d, ' ..
    '"duration_us": %d, "errors": %d}\n',
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout))
end
