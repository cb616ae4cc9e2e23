-- GET /items/{id} for ids spread over the seeded 1..ITEMS.
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
local items = tonumber(os.getenv("ITEMS") or "1000")
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/items/" .. ((counter * 7919) % items + 1))
end
