-- wrk script: POST a new item to one of the bench watchlists, each request a symbol
-- never used before (a stock ticker built from a counter), round-robin over the
-- watchlists so that concurrent writers rarely wait on the same watchlist row lock.
-- BENCH_WATCHLISTS (comma-separated ids) and BENCH_KEY come from the environment.

local ids = {}
for id in string.gmatch(os.getenv("BENCH_WATCHLISTS"), "[^,]+") do
  ids[#ids + 1] = id
end
local counter = 0
local prefix = os.getenv("BENCH_PREFIX") or "B"
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY"),
  ["Content-Type"] = "application/json",
}

local function base36(n)
  local digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
  local out = ""
  repeat
    local d = n % 36
    out = string.sub(digits, d + 1, d + 1) .. out
    n = math.floor(n / 36)
  until n == 0
  return out
end

function request()
  counter = counter + 1
  local id = ids[(counter % #ids) + 1]
  local body = '{"symbol":"' .. prefix .. base36(counter) .. '","asset_type":"stock"}'
  return wrk.format("POST", "/v1/watchlists/" .. id .. "/items", headers, body)
end
