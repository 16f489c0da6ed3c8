-- wrk script: send requests at a fixed rate (BENCH_RATE per second) instead of as
-- fast as the server answers, so the latency measured is the latency at that rate.
--
-- One schedule per wrk thread (the bench runs one): each send takes the next slot,
-- start + n / rate, and a connection that is free early waits for its slot. When
-- every connection is busy at a slot, the send goes out late and wrk's latency
-- (timed from the actual send) does not include that wait: the lateness is
-- counted here and printed by done(), so a run that could not keep the rate says so.

local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local interval_ms = 1000 / tonumber(os.getenv("BENCH_RATE"))
local next_slot = nil
late_sends = 0   -- globals: done() reads them from the thread
max_late_ms = 0
sends = 0

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function delay()
  local now = now_ms()
  if next_slot == nil then
    next_slot = now
  end
  local wait = next_slot - now
  next_slot = next_slot + interval_ms
  sends = sends + 1
  if wait < -1 then -- wrk's timers tick in whole milliseconds
    late_sends = late_sends + 1
    max_late_ms = math.max(max_late_ms, -wait)
  end
  return math.max(0, math.floor(wait))
end

function done(summary, latency, requests)
  local late, worst, total = 0, 0, 0
  for _, thread in ipairs(threads) do
    late = late + thread:get("late_sends")
    worst = math.max(worst, thread:get("max_late_ms"))
    total = total + thread:get("sends")
  end
  io.write(string.format("Paced sends: %d, late by more than 1 ms: %d, worst %.1f ms\n",
    total, late, worst))
end
