-- GET /image/{id} over the seeded images (ids in the file IMAGE_IDS, one per line).
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
local ids = {}
for line in io.lines(os.getenv("IMAGE_IDS")) do ids[#ids + 1] = line end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/image/" .. ids[counter % #ids + 1])
end
