-- POST /upload: one PNG (the file UPLOAD_FILE) per request, multipart.
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
local file = assert(io.open(os.getenv("UPLOAD_FILE"), "rb"))
local png = file:read("*a")
file:close()
local boundary = "----pierbench7d93a1"
wrk.method = "POST"
wrk.path = "/upload"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\n" ..
  'Content-Disposition: form-data; name="file"; filename="bench.png"\r\n' ..
  "Content-Type: image/png\r\n\r\n" .. png .. "\r\n--" .. boundary .. "--\r\n"
