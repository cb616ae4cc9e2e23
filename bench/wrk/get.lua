-- GET one fixed path (set with the PATH_TO_GET environment variable).
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
wrk.path = os.getenv("PATH_TO_GET")
