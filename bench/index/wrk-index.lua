-- wrk script for scripts/bench-index.sh: a no-change poll of GET /api/index.
-- Only headers are set here, so wrk still sends one pre-built request (no Lua per request);
-- wrk adds Host itself from the URL. BENCH_TOKEN and BENCH_ETAG come from the environment.
-- wrk counts only status > 399 as errors, so done() also prints the exact bytes read: with
-- every answer a 304, bytes / requests is the size of one 304 (a 200 with a body is larger).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["If-None-Match"] = os.getenv("BENCH_ETAG")

function done(summary, latency, requests)
  local e = summary.errors
  -- The request each thread sends: this state's format() lacks the Host header that wrk adds
  -- in the threads' states (wrk.init), so add its size.
  local request_bytes = #wrk.format()
  if not wrk.headers["Host"] then
    request_bytes = request_bytes + #("Host: " .. wrk.host .. ":" .. wrk.port .. "\r\n")
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"bytes":%d,"duration_us":%d,"request_bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.bytes, summary.duration, request_bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
