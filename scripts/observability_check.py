"""Live checks of pier's telemetry through a real Prometheus (standard library only;
127.0.0.1 only). Called by scripts/observability-test.sh with the ports it started:

    observability_check.py PROM_PORT HEALTHY_PORT DEGRADED_PORT DASHBOARD.json RECORDING.yml

Every wait is bounded (at most 60 s each); the first failed check exits 1 with a reason.
"""

import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from container_smoke import multipart, png, request  # noqa: E402  (the smoke test's helpers)

PROM, HEALTHY, DEGRADED = (int(p) for p in sys.argv[1:4])
DASHBOARD, RECORDING = sys.argv[4], sys.argv[5]


def fail(message):
    print(f"observability_check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def ok(message):
    print(f"   ok: {message}", flush=True)


def http(port, method, path, body=None, content_type=None):
    """container_smoke.request, with (None, b"") while nothing listens yet."""
    try:
        return request(port, method, path, body, content_type)
    except OSError:
        return None, b""


def query(expr):
    """Instant query; returns the result list, or fails on an error answer."""
    status, body = http(PROM, "GET", "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if status != 200:
        fail(f"Prometheus refused {expr!r}: {status} {body[:300]!r}")
    return json.loads(body)["data"]["result"]


def wait_for(description, predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            ok(description)
            return
        time.sleep(0.5)
    fail(f"{description}: not within {seconds} s")


def value(expr):
    result = query(expr)
    return float(result[0]["value"][1]) if result else None


def upload(port, name, data):
    return http(port, "POST", "/upload", *multipart(name, data))[0]


# 1. Both pier processes answer and Prometheus scrapes both.
wait_for("both pier processes answer /health",
         lambda: http(HEALTHY, "GET", "/health")[0] == 200 and http(DEGRADED, "GET", "/health")[0] == 200)
wait_for("Prometheus is ready", lambda: http(PROM, "GET", "/-/ready")[0] == 200)
wait_for("both targets are up",
         lambda: len([r for r in query("up == 1")]) == 2)

# 2. One request of each kind first, so every series exists before the measured traffic
#    (rate() counts increases between samples, not a series' first value).
http(DEGRADED, "GET", "/items")
http(DEGRADED, "GET", "/health")
upload(HEALTHY, "warm-up.png", png(8, 8, 1))
wait_for("the first requests are scraped (the degraded 503, the healthy upload)",
         lambda: query('http_requests_total{job="pier-degraded",route="/items",status="503"}') != []
         and query('http_requests_total{job="pier",route="/upload"}') != [])

# 3. Known traffic. Degraded: 30 × /health (200) and 10 × /items (503, no database).
for _ in range(30):
    http(DEGRADED, "GET", "/health")
for _ in range(10):
    status, _ = http(DEGRADED, "GET", "/items")
    if status != 503:
        fail(f"the degraded pier answered /items with {status}, want 503")
# Healthy: items, uploads, predictions, reads, a 404 — and no 5xx at all.
for i in range(5):
    status, _ = http(HEALTHY, "POST", "/items", json.dumps({"name": f"obs {i}", "price": 1.5}).encode(), "application/json")
    if status != 201:
        fail(f"POST /items answered {status}")
    http(HEALTHY, "GET", "/items")
for i in range(3):
    status = upload(HEALTHY, f"obs{i}.png", png(16 + i, 16, i + 2))
    if status != 201:
        fail(f"an upload to the healthy pier answered {status}")
for text in ["I love this, it is great", "This is terrible and sad", "The box is brown"]:
    if http(HEALTHY, "POST", "/predict", json.dumps({"text": text}).encode(), "application/json")[0] != 200:
        fail("POST /predict failed")
http(HEALTHY, "GET", "/items/987654321")
for _ in range(20):
    http(HEALTHY, "GET", "/health")
ok("sent: degraded 30 × 200 + 10 × 503; healthy items, 3 uploads, 3 predictions, a 404")

# 4. The recording rules give the values that traffic implies.
wait_for("route error ratio of the degraded /items is exactly 1 (every request there was 503)",
         lambda: value('route:http_errors:ratio_rate5m{job="pier-degraded",route="/items"}') == 1.0)
if value('route:http_errors:ratio_rate5m{job="pier-degraded",route="/health"}') != 0.0:
    fail("the degraded /health route shows errors")
ok("route error ratio of the degraded /health is 0")
wait_for("request rate > 0 for the healthy job",
         lambda: (value('job:http_requests:rate5m{job="pier"}') or 0) > 0)
healthy_ratio = value('job:http_errors:ratio_rate5m{job="pier"}')
if healthy_ratio != 0.0:
    fail(f"the healthy job's error ratio is {healthy_ratio}, but no 5xx was sent to it")
ok("error ratio of the healthy job is 0")
degraded_ratio = value('job:http_errors:ratio_rate5m{job="pier-degraded"}')
# 10 errors among 40 requests plus Prometheus's own scrapes of /metrics: about 0.2,
# give or take rate()'s extrapolation at the edges of series that started at different
# times (the per-route ratios above are exact: one series each).
if degraded_ratio is None or not 0.1 < degraded_ratio < 0.4:
    fail(f"error ratio of the degraded job is {degraded_ratio}, want about 10 / (40 + scrapes)")
ok(f"error ratio of the degraded job is {degraded_ratio:.3f} (10 errors in 40 requests + scrapes)")
wait_for("p95 latency recorded per route (the healthy /upload route has one)",
         lambda: (value('route:http_request_duration_seconds:p95_5m{job="pier",route="/upload"}') or 0) > 0)

# 5. Readiness as a series, and the alerts it drives.
if value('pier_ready{job="pier"}') != 1.0 or value('pier_ready{job="pier-degraded"}') != 0.0:
    fail("pier_ready is not 1 on the healthy pier and 0 on the degraded one")
ok("pier_ready: 1 healthy, 0 degraded")
wait_for("PierNotReady and PierHighErrorRatio pending for the degraded job",
         lambda: {r["metric"]["alertname"] for r in query('ALERTS{job="pier-degraded"}')}
         >= {"PierNotReady", "PierHighErrorRatio"})
healthy_alerts = query('ALERTS{job="pier"}')
if healthy_alerts:
    fail(f"alerts on the healthy job: {[r['metric'] for r in healthy_alerts]}")
ok("no alert on the healthy job")

# 6. The Grafana dashboard: every panel query parses, returns data, and reads only
#    series pier exports or the recording rules produce.
status, text = http(HEALTHY, "GET", "/metrics")
exported = set(re.findall(r"^# TYPE (\S+) (\S+)", text.decode(), re.M))
names = set()
for name, kind in exported:
    names.add(name)
    if kind == "histogram":
        names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
recorded = set(re.findall(r"^\s*- record: (\S+)", open(RECORDING).read(), re.M))
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "bool", "offset", "inf", "nan"}
dashboard = json.load(open(DASHBOARD))
targets = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
if len(targets) < 10:
    fail(f"the dashboard has only {len(targets)} queries")
wanted_panels = ["Requests per second", "Error ratio", "latency by route", "in flight", "Uploads", "Spool",
                 "Predictions", "Database pool", "CPU per instance", "Memory per instance"]
titles = " | ".join(p["title"] for p in dashboard["panels"])
for wanted in wanted_panels:
    if wanted.lower() not in titles.lower():
        fail(f"no dashboard panel about {wanted!r}")
for title, expr in targets:
    bare = re.sub(r'"[^"]*"', "", expr)                       # label values
    bare = re.sub(r"\{[^}]*\}", "", bare)                     # label matchers
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", bare)  # grouping labels
    bare = re.sub(r"\[[^\]]*\]", "", bare)                     # range selectors
    for token in re.findall(r"(?<![\w:])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()", bare):
        if token.lower() in KEYWORDS or re.fullmatch(r"\d.*", token):
            continue
        if token not in names and token not in recorded:
            fail(f"panel {title!r} queries {token!r}, which pier does not export and no rule records")
    if not query(expr):
        fail(f"panel {title!r}: {expr!r} returns no data on a pier under traffic")
ok(f"{len(targets)} dashboard queries: valid, non-empty, only exported or recorded series")
print("observability_check: all live checks passed")
