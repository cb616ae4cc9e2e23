-- POST /predict with one typical 20-word sentence.
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
wrk.method = "POST"
wrk.path = "/predict"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"The new phone is really great and the battery lasts all day, but the camera is not as good as I hoped."}'
