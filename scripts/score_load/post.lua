-- wrk script for POST /api/v1/detectors/{id}/score: the body comes from $BODY (a file),
-- the bearer token from $TOKEN. At the end it prints one line "WRK_JSON {...}" with the
-- request count, errors and latency percentiles in microseconds, which score_load.sh reads.
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %.0f, "duration_us": %.0f, "bytes": %.0f, "connect_errors": %.0f, "read_errors": %.0f, ' ..
    '"write_errors": %.0f, "non_2xx": %.0f, "timeouts": %.0f, "p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, ' ..
    '"max_us": %.0f, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
