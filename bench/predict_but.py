"""The "but" rule's cost, side by side with the same batch without it (issue 15, finding 5).

    python3 bench/predict_but.py PIER_BINARY [ROUNDS]

Starts the given pier on a free 127.0.0.1 port (embedded defaults, a throwaway data
directory), then posts two /predict batches of 380 texts of 9,999 characters each,
alternating, ROUNDS times (default 7):
  plain  ":) " x 3332 + "now"   (no contrastive conjunction)
  but    ":) " x 3332 + "but"   (the rule rescales every word before the "but")
and prints each batch's median wall time and the ratio. Before the rule was made linear
the "but" batch took 1.5-2.4 s against 0.2 s; linear, the two are within a small factor.
Only 127.0.0.1 is contacted; the run is bounded by ROUNDS and a 60 s timeout per request.
"""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: bytes) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise SystemExit(f"/predict answered {response.status}")
    return elapsed


def main() -> None:
    binary = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    batches = {
        name: json.dumps({"texts": [":) " * 3332 + last] * 380}).encode()
        for name, last in (("plain", "now"), ("but", "but"))
    }
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, PIER_ADDR=f"127.0.0.1:{port}", DATABASE_URL=f"sqlite://{data}/pier.db",
                   PIER_STORAGE=f"file://{data}/images", PIER_SPOOL=f"{data}/spool", RUST_LOG="warn")
        server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            times = {name: [] for name in batches}
            for name, body in batches.items():  # one warm-up each
                post(port, body)
            for _ in range(rounds):
                for name, body in batches.items():
                    times[name].append(post(port, body))
        finally:
            server.terminate()
            server.wait(timeout=30)
    plain, but = (statistics.median(times[n]) for n in ("plain", "but"))
    print(f"/predict, 380 texts x 9,999 chars, median of {rounds}:")
    print(f"  plain (no 'but'): {plain * 1000:8.1f} ms")
    print(f"  with 'but':       {but * 1000:8.1f} ms")
    print(f"  ratio:            {but / plain:8.2f}x")


if __name__ == "__main__":
    main()
