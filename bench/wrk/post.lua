-- POST one fixed body per request; prints a JSON summary line at the end.
--   BODY_FILE         file sent as the body (read once, binary-safe)
--   CONTENT_ENCODING  e.g. "gzip" (unset: no header)
--   API_KEY           sent as "Authorization: Bearer ..." (unset: none)
--   EVENTS_PER_REQ    events in one body (reported, for events/s)
-- Used by bench/ingest_bench.py; runs as: wrk -t2 -c100 -d10s --latency
--   -s bench/wrk/post.lua URL
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
local enc = os.getenv("CONTENT_ENCODING")
if enc and enc ~= "" then
  wrk.headers["Content-Encoding"] = enc
end
local key = os.getenv("API_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  local pct = {}
  for _, p in ipairs({50, 90, 99, 99.9}) do
    pct[#pct + 1] = string.format('"%s":%d', tostring(p), latency:percentile(p))
  end
  io.write(string.format(
    'PXJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"max":%d,%s},"events_per_request":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, table.concat(pct, ","),
    tonumber(os.getenv("EVENTS_PER_REQ") or "1")))
end
