-- Constant-rate load for wrk 4 (Debian's `wrk`, which has no -R option like wrk2).
--
-- Used by bench/api/run.py:  VERTEBRA_WRK_REQUESTS=FILE VERTEBRA_WRK_RATE=250 \
--     wrk -t1 -c32 -d30s --timeout 5s -s bench/api/paced.lua http://127.0.0.1:PORT/
--
-- FILE holds pre-built raw HTTP requests, each as "<byte length>\n<bytes>"; they are sent in
-- order (a hook request carries its own single-use JWT). Sends are paced to a fixed schedule:
-- slot k is at t0 + k/RATE, whichever connection is free takes the next slot and waits for it.
-- A send that starts more than 1 ms after its slot (every connection was busy: the server fell
-- behind) is counted as late, so a run with late sends understates latency and says so.
-- done() prints one line "VERTEBRA_RESULT {json}" that run.py reads.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } vertebra_timespec;
int clock_gettime(int clk_id, vertebra_timespec *tp);
]]
local ts = ffi.new("vertebra_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local requests, count, index, interval, next_slot = {}, 0, 0, 0, nil
-- globals (not local): done() reads them through thread:get()
late, worst_late_ms, wrapped = 0, 0, 0

function init(args)
  local path = assert(os.getenv("VERTEBRA_WRK_REQUESTS"), "VERTEBRA_WRK_REQUESTS is not set")
  local rate = assert(tonumber(os.getenv("VERTEBRA_WRK_RATE")), "VERTEBRA_WRK_RATE is not set")
  interval = 1000 / rate
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    requests[#requests + 1] = data:sub(nl + 1, nl + len)
    pos = nl + 1 + len
  end
  count = #requests
  assert(count > 0, "no requests in " .. path)
  -- The pool is built once and kept for the whole run (the patient-view pool holds one request
  -- per single-use JWT: ~8,000 strings, ~12 MB). Collect the file's buffer now, then stop
  -- LuaJIT's collector: driven by the few bytes delay() allocates per request, it otherwise
  -- kept working through that heap and stalled wrk's event loop for 50-400 ms at a time, which
  -- wrk then counted as server latency (the same plan requests, in a pool 17 times larger, had
  -- p99 57-105 ms instead of 9-25 ms). What is still allocated per request is a few dozen bytes.
  data = nil
  collectgarbage("collect")
  collectgarbage("stop")
end

function delay()
  local now = now_ms()
  if next_slot == nil then
    next_slot = now
  end
  local slot = next_slot
  next_slot = slot + interval
  local wait = slot - now
  if wait < -1 then
    late = late + 1
    if -wait > worst_late_ms then
      worst_late_ms = -wait
    end
  end
  if wait <= 0 then
    return 0
  end
  return math.floor(wait + 0.5)
end

function request()
  index = index + 1
  if index > count then
    index = 1
    wrapped = wrapped + 1
  end
  return requests[index]
end

function done(summary, latency, requests)
  local late_total, worst, wraps = 0, 0, 0
  for _, thread in ipairs(threads) do
    late_total = late_total + (thread:get("late") or 0)
    wraps = wraps + (thread:get("wrapped") or 0)
    local w = thread:get("worst_late_ms") or 0
    if w > worst then
      worst = w
    end
  end
  local e = summary.errors
  io.write(string.format(
    'VERTEBRA_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"late_sends":%d,"worst_late_ms":%.1f,"pool_wrapped":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9),
    late_total, worst, wraps))
end
