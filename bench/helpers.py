"""Helpers for bench/run.sh, standard library only: make PNG payloads, seed a running
pier, measure cold start, and turn wrk's RESULT lines into the README table."""

import http.client
import json
import statistics
import os
import random
import struct
import subprocess
import sys
import time
import zlib


def png(size_bytes: int, seed: int) -> bytes:
    """A valid RGB PNG of random pixels (incompressible), about `size_bytes` long."""
    rng = random.Random(seed)
    side = max(1, int((size_bytes / 3) ** 0.5))
    rows = b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")


def multipart(name: str, payload: bytes) -> tuple[str, bytes]:
    boundary = "pierseed0b5e"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: image/png\r\n\r\n"
    ).encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def seed(port: int, items: int, images: int, ids_file: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for n in range(items):
        body = json.dumps({"name": f"item {n}", "description": "seeded", "price": 9.99})
        conn.request("POST", "/items", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 201, response.status
    ids = []
    for n in range(images):
        content_type, body = multipart(f"seed{n}.png", png(64 * 1024, n))
        conn.request("POST", "/upload", body, {"Content-Type": content_type})
        response = conn.getresponse()
        data = response.read()
        assert response.status == 201, (response.status, data[:200])
        ids.append(json.loads(data)["images"][0]["id"])
    with open(ids_file, "w") as out:
        out.write("\n".join(ids) + "\n")


def upload(port: int, path: str, count: int) -> None:
    """Uploads the file at `path` `count` times, one after another."""
    payload = open(path, "rb").read()
    for n in range(count):
        content_type, body = multipart(f"big{n}.png", payload)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/upload", body, {"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        assert response.status == 201, response.status


def cold_start(binary: str, port: int, workdir: str) -> float:
    """Milliseconds from exec to the first 200 on /health (median of 5 fresh starts)."""
    timings = []
    for attempt in range(5):
        data = os.path.join(workdir, f"cold{attempt}")
        os.makedirs(data, exist_ok=True)
        env = dict(os.environ, PIER_ADDR=f"127.0.0.1:{port}", RUST_LOG="warn")
        started = time.perf_counter()
        process = subprocess.Popen([binary], cwd=data, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = started + 10
            while time.perf_counter() < deadline:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    conn.request("GET", "/health")
                    if conn.getresponse().status == 200:
                        timings.append((time.perf_counter() - started) * 1000)
                        break
                except OSError:
                    time.sleep(0.0005)
        finally:
            process.terminate()
            process.wait(timeout=10)
    timings.sort()
    return timings[len(timings) // 2]


def disk_probe(directory: str, seconds: float = 4.0, threads: int = 16) -> float:
    """Durable 256 KiB file creations per second on this disk, the way an upload does it
    (write a staging file, fsync it, rename it into place, fsync the directory), from 16
    threads with no HTTP and no hashing: the ceiling for POST /upload here."""
    import threading
    import uuid

    data = os.urandom(262144)
    counts = [0] * threads
    stop = time.time() + seconds

    def worker(index: int) -> None:
        folder = os.path.join(directory, f"probe{index}")
        os.makedirs(folder, exist_ok=True)
        folder_fd = os.open(folder, os.O_RDONLY)
        try:
            while time.time() < stop:
                name = os.path.join(folder, uuid.uuid4().hex)
                fd = os.open(name + "#1", os.O_WRONLY | os.O_CREAT, 0o644)
                os.write(fd, data)
                os.fsync(fd)
                os.close(fd)
                os.rename(name + "#1", name)
                os.fsync(folder_fd)
                counts[index] += 1
        finally:
            os.close(folder_fd)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / seconds


def table(results_file: str, rss_file: str, cold_ms: str, disk_files_per_s: str, big_file: str) -> None:
    rows = [json.loads(line) for line in open(results_file)]
    ceiling = next(r for r in rows if r["name"] == "ceiling GET /health")["rps"]
    blob = next(r for r in rows if r["name"].startswith("ceiling GET 64 KiB"))["rps"]
    disk = float(disk_files_per_s)
    print("| scenario | req/s | p50 ms | p99 ms | non-2xx | share of ceiling | other reference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["name"].startswith(("baseline ", "floor ")):
            continue
        share = r["rps"] / ceiling * 100
        other = ""
        if "/image/" in r["name"]:
            other = f"{r['rps'] / blob * 100:.0f} % of a 64 KiB body from memory"
        elif "batch of 100" in r["name"]:
            other = f"{r['rps'] * 100:,.0f} texts/s"
        elif "/upload" in r["name"]:
            other = f"{r['rps'] / disk * 100:.0f} % of raw durable 256 KiB writes ({disk:,.0f}/s)"
        errors = int(r["non2xx"] + r["socket_errors"])
        print(f"| {r['name']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {errors} | {share:.1f} % | {other} |")
    floors(rows, ceiling, disk)
    compare_baseline(rows)
    rss = open(rss_file).read().split()
    print()
    print(f"pier peak RSS under load: {int(rss[0]) / 1024:.1f} MiB (ceiling server: {int(rss[1]) / 1024:.1f} MiB); "
          f"cold start to first 200 on /health: {float(cold_ms):.1f} ms (median of 5)")
    idle, peak = (int(v) / 1024 for v in open(big_file).read().split())
    print(f"streaming check: RSS {idle:.1f} MiB idle, peak {peak:.1f} MiB while receiving five 9.5 MiB uploads")


# The per-request floor (issue 17): each scenario against its reference in this run.
# The ceiling-relative ones come from the floor rounds of run.sh (pier between two
# ceiling runs); the upload one from the disk probe.
FLOORS = [
    ("GET /health", "ceiling", 90),
    ("POST /predict (one 20-word text)", "ceiling", 65),
    ("GET /items/{id}", "ceiling", 55),
    ("POST /upload (256 KiB)", "disk", 50),
]


def floor_shares(rows: list, name: str) -> list:
    """Per round: pier's req/s over the mean of the ceiling runs just before and after."""
    by_name = {r["name"]: r["rps"] for r in rows}
    shares, round_ = [], 1
    while f"floor {round_} pier {name}" in by_name:
        before = by_name[f"floor {round_} ceiling before {name}"]
        after = by_name[f"floor {round_} ceiling after {name}"]
        shares.append(by_name[f"floor {round_} pier {name}"] / ((before + after) / 2) * 100)
        round_ += 1
    return shares


def floors(rows: list, ceiling: float, disk: float) -> None:
    by_name = {r["name"]: r for r in rows}
    print()
    print("| floor target | measured | target | |")
    print("|---|---:|---:|---|")
    missed = []
    for name, reference, target in FLOORS:
        if reference == "ceiling":
            shares = floor_shares(rows, name)
            if not shares:
                continue
            share = statistics.median(shares)
            rounds = ", ".join(f"{s:.0f}" for s in shares)
            what = f"of the ceiling's /health (median of rounds: {rounds} %)"
        else:
            if f"pier {name}" not in by_name:
                continue
            share = by_name[f"pier {name}"]["rps"] / disk * 100
            what = "of raw durable 256 KiB writes"
        met = share >= target
        if not met:
            missed.append(f"pier {name}")
        print(f"| pier {name} | {share:.0f} % {what} | >= {target} % | {'met' if met else 'MISSED'} |")
    if missed and os.environ.get("STRICT") == "1":
        raise SystemExit(f"floor targets missed: {', '.join(missed)}")


def compare_baseline(rows: list) -> None:
    baseline = {r["name"][len("baseline "):]: r for r in rows if r["name"].startswith("baseline ")}
    if not baseline:
        return
    print()
    print("| scenario | baseline req/s | now req/s | now / baseline | baseline p99 ms | now p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if not r["name"].startswith("pier "):
            continue
        before = baseline.get(r["name"][len("pier "):])
        if before is None:
            continue
        print(f"| {r['name'][len('pier '):]} | {before['rps']:,.0f} | {r['rps']:,.0f} | {r['rps'] / before['rps']:.2f}x | {before['p99_ms']:.2f} | {r['p99_ms']:.2f} |")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "png":
        sys.stdout.buffer.write(png(int(sys.argv[2]), int(sys.argv[3])))
    elif command == "seed":
        seed(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif command == "upload":
        upload(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif command == "cold-start":
        print(f"{cold_start(sys.argv[2], int(sys.argv[3]), sys.argv[4]):.2f}")
    elif command == "disk-probe":
        print(f"{disk_probe(sys.argv[2]):.0f}")
    elif command == "table":
        table(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
    else:
        raise SystemExit(f"unknown command {command}")
