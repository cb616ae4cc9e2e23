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

-- DISTINCT=1: every request's file differs in 14 bytes near its end (a per-thread salt
-- and a counter, as bytes 0x20..0x29, never a JPEG marker), so no two uploads have the
-- same SHA-256 — what content addressing does for new photos rather than re-uploads.
if os.getenv("DISTINCT") == "1" then
  local head = "--" .. boundary .. "\r\n" ..
    'Content-Disposition: form-data; name="file"; filename="bench.png"\r\n' ..
    "Content-Type: image/png\r\n\r\n"
  local tail = "\r\n--" .. boundary .. "--\r\n"
  local salt = tonumber(tostring({}):match("0x(%x+)"), 16) % 10000000
  local n = 0
  local at = #png - 64
  request = function()
    n = n + 1
    local tag = string.format("%07d%07d", salt, n % 10000000):gsub("%d", function(d)
      return string.char(0x20 + tonumber(d))
    end)
    return wrk.format(nil, nil, nil, head .. png:sub(1, at) .. tag .. png:sub(at + #tag + 1) .. tail)
  end
end
