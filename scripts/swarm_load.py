"""Bounded load against a Swarm service's tasks, the way a health-aware balancer sends it.

    swarm_load.py SECONDS DISCOVER_CMD PATH [PATH ...]

Every 200 ms, DISCOVER_CMD (a shell command printing one task address per line) is run
and each address's /health/ready is probed; requests go round-robin to the ready ones.
Each request is a GET of one of PATHs on a fresh connection. It ends early when the
file named by $STOP_FILE appears. Prints
`requests=N failed=M` and the first failures. Runs at most SECONDS (and at most 120 s).
Only addresses of containers the test created are ever contacted.
"""

import http.client
import os
import subprocess
import sys
import threading
import time

REFRESH = 0.2


def probe(address: str) -> bool:
    try:
        connection = http.client.HTTPConnection(address, 8000, timeout=0.5)
        connection.request("GET", "/health/ready")
        ok = connection.getresponse().status == 200
        connection.close()
        return ok
    except OSError:
        return False


def main() -> None:
    seconds = min(float(sys.argv[1]), 120.0)
    discover = sys.argv[2]
    paths = sys.argv[3:]
    ready: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def refresh() -> None:
        while not stop.is_set():
            found = subprocess.run(["bash", "-c", discover], capture_output=True, text=True).stdout.split()
            healthy = [address for address in found if probe(address)]
            with lock:
                ready[:] = healthy
            stop.wait(REFRESH)

    watcher = threading.Thread(target=refresh, daemon=True)
    watcher.start()
    deadline = time.monotonic() + seconds
    requests = failed = 0
    failures: list[str] = []
    turn = 0
    stop_file = os.environ.get("STOP_FILE")
    while time.monotonic() < deadline and not (stop_file and os.path.exists(stop_file)):
        with lock:
            targets = list(ready)
        if not targets:
            time.sleep(0.05)
            continue
        address = targets[turn % len(targets)]
        path = paths[turn % len(paths)]
        turn += 1
        requests += 1
        try:
            connection = http.client.HTTPConnection(address, 8000, timeout=5)
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
            if status != 200:
                failed += 1
                failures.append(f"{address}{path}: {status}")
        except OSError as error:
            failed += 1
            failures.append(f"{address}{path}: {error}")
    stop.set()
    print(f"requests={requests} failed={failed}")
    for failure in failures[:5]:
        print(f"  {failure}")


if __name__ == "__main__":
    main()
