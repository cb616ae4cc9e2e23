-- POST /predict with a batch of 100 varied sentences.
dofile(os.getenv("BENCH_DIR") .. "/wrk/report.lua")
local sentences = {
  "The new phone is really great and the battery lasts all day, but the camera is not as good as I hoped.",
  "I absolutely HATE waiting in line for hours :(",
  "Service was fine, nothing special.",
  "What a wonderful surprise!!! Thank you so much 😍",
  "The movie was not bad at all, kind of fun actually.",
}
local texts = {}
for i = 1, 100 do
  texts[i] = '"' .. sentences[(i - 1) % #sentences + 1] .. '"'
end
wrk.method = "POST"
wrk.path = "/predict"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"texts":[' .. table.concat(texts, ",") .. ']}'
