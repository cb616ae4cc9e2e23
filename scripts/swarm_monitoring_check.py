"""The Swarm stack's Prometheus, as deployed by scripts/swarm-test.sh, asked through its
HTTP API (at its task's docker_gwbridge address): it found every pier task through
Swarm's DNS (`tasks.pier`) and scrapes each successfully, it loaded exactly the kit's
rule groups (deploy/observability/rules), and no alert about missing targets fires.

    swarm_monitoring_check.py PROMETHEUS_ADDRESS EXPECTED_TASKS

Bounded: gives up after 90 s (one DNS refresh is 30 s, one scrape interval 15 s).
"""

import glob
import json
import sys
import time
import urllib.request

import yaml


def api(address, path):
    with urllib.request.urlopen(f"http://{address}:9090{path}", timeout=5) as response:
        return json.load(response)["data"]


def main():
    address, expected = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + 90
    seen = None
    while time.monotonic() < deadline:
        try:
            targets = api(address, "/api/v1/targets?state=active")["activeTargets"]
            seen = [(t["labels"].get("job"), t["scrapeUrl"], t["health"]) for t in targets]
            up = [t for t in targets if t["labels"].get("job") == "pier" and t["health"] == "up"]
            if len(targets) == expected and len(up) == expected:
                break
        except OSError as error:
            seen = f"not answering yet: {error}"
        time.sleep(1)
    else:
        sys.exit(f"swarm_monitoring_check: want {expected} pier targets up within 90 s, Prometheus has {seen}")
    # Prometheus scrapes the tasks' overlay addresses (not the gwbridge ones the test
    # uses): one distinct task each, on pier's port.
    scraped = {t["labels"]["instance"] for t in targets}
    if len(scraped) != expected or not all(t["scrapeUrl"].endswith(":8000/metrics") for t in targets):
        sys.exit(f"swarm_monitoring_check: targets {seen}")

    want = set()
    for path in glob.glob("deploy/observability/rules/*.yml"):
        want |= {group["name"] for group in yaml.safe_load(open(path))["groups"]}
    loaded = {group["name"] for group in api(address, "/api/v1/rules")["groups"]}
    if loaded != want:
        sys.exit(f"swarm_monitoring_check: rule groups loaded {sorted(loaded)}, the kit has {sorted(want)}")
    firing = [a["labels"]["alertname"] for a in api(address, "/api/v1/alerts")["alerts"] if a["state"] == "firing"]
    if "PierNoTargetUp" in firing:
        sys.exit("swarm_monitoring_check: PierNoTargetUp fires although the targets are up")
    up = api(address, "/api/v1/query?query=up%7Bjob%3D%22pier%22%7D")["result"]
    if len(up) != expected or any(sample["value"][1] != "1" for sample in up):
        sys.exit(f"swarm_monitoring_check: up{{job=\"pier\"}} = {up}")
    print(f"   ok: the stack's Prometheus scrapes all {expected} pier tasks found through tasks.pier (up = 1 each), "
          f"with the kit's {len(want)} rule groups loaded")


if __name__ == "__main__":
    main()
