-- wrk script for bench/run.sh: the same request templates as cityroom_loadgen, in closed loop.
--
--   wrk -t1 -c64 -d10s -s bench/wrk_template.lua http://127.0.0.1:PORT -- \
--       METHOD PATH_TEMPLATE KEYS SEED [BODY_TEMPLATE] [CONTENT_TYPE]
--
-- {i} becomes a random integer in [0, KEYS), {v} a random value with one decimal in [0, 100).
-- Each wrk thread seeds its own generator from SEED and its thread number. done() prints one
-- JSON line ("WRK_JSON {...}") with requests, duration, req/s, statuses and socket errors.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  method = args[1] or "GET"
  path_t = args[2] or "/"
  keys = tonumber(args[3] or "1")
  local seed = tonumber(args[4] or "1")
  body_t = args[5]
  if body_t == "" then body_t = nil end
  headers = {}
  if body_t then headers["Content-Type"] = args[6] or "application/json" end
  -- bench/run.sh --auth: the API key the server was started with.
  local key = os.getenv("CITYROOM_BENCH_KEY")
  if key and key ~= "" then headers["X-API-Key"] = key end
  math.randomseed(seed * 1000003 + tid)
  statuses = {}
end

local function expand(t, i, v)
  if not t then return nil end
  -- A function replacement so that "%" in templates is never interpreted.
  return (t:gsub("{i}", function() return i end):gsub("{v}", function() return v end))
end

function request()
  local i = tostring(math.random(0, keys - 1))
  local v = string.format("%.1f", math.random(0, 999) / 10)
  return wrk.format(method, expand(path_t, i, v), headers, expand(body_t, i, v))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do merged[code] = (merged[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(merged) do table.insert(parts, string.format('"%d":%d', code, n)) end
  local e = summary.errors
  io.write(string.format(
      'WRK_JSON {"tool":"wrk","requests":%d,"duration_s":%.3f,"rps":%.1f,"status":{%s},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
      '"latency_ms":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f},"bytes":%d}\n',
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      table.concat(parts, ","), e.connect, e.read, e.write, e.timeout, e.status,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, summary.bytes))
end
