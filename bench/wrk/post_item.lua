-- POST /items with a small valid body.
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
wrk.method = "POST"
wrk.path = "/items"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"benchmark item","description":"made by wrk","price":19.99}'
