"""Bounded load against a Swarm service through Swarm's own DNS, as a client does.

    swarm_load.py SECONDS DNS_NAME ITEM_PATH IMAGE_PATH

Run inside the network namespace of a container on the stack's overlay network (the
test command uses `nsenter -n -t PID`), where Docker's embedded DNS answers on
127.0.0.11. Four workers send a mix of requests — GET an item, GET an image, POST a
prediction, POST an item and DELETE it (with the bearer token of $PIER_TOKEN) — over
keep-alive connections. A connection is opened to an address that DNS_NAME resolves to
*now* (the service's tasks; Swarm lists a task only while it is running and healthy)
and kept until the server closes it (`Connection: close`, which pier sends on every
answer while it drains before a shutdown) or it fails.

Everything counts: a refused or broken connection, a timeout, an unexpected status, and
every 100 ms in which DNS listed no task at all (no replica to send to is an outage, not
a pause). It ends early when the file named by $STOP_FILE appears, and runs at most
SECONDS (and at most 120 s). Prints `requests=N failed=M no_task_intervals=K` and the
first failures. Only the test's own containers are ever contacted.
"""

import http.client
import json
import os
import random
import socket
import struct
import sys
import threading
import time

DNS_SERVER = ("127.0.0.11", 53)


def resolve(name: str) -> list[str]:
    """A records of `name` from Docker's embedded DNS (one UDP query, no cache)."""
    query_id = random.randrange(1 << 16)
    question = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(1.0)
        try:
            udp.sendto(packet, DNS_SERVER)
            answer = udp.recv(4096)
        except OSError:
            return []
    (answer_id, flags, questions, answers) = struct.unpack(">HHHH", answer[:8])
    if answer_id != query_id or flags & 0x000F:
        return []
    at = 12
    for _ in range(questions):  # skip the question section
        while answer[at]:
            at += answer[at] + 1
        at += 5
    addresses = []
    for _ in range(answers):
        if answer[at] & 0xC0 == 0xC0:
            at += 2
        else:
            while answer[at]:
                at += answer[at] + 1
            at += 1
        kind, _, _, length = struct.unpack(">HHIH", answer[at:at + 10])
        at += 10
        if kind == 1 and length == 4:
            addresses.append(socket.inet_ntoa(answer[at:at + 4]))
        at += length
    return addresses


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.failed = 0
        self.no_task = 0
        self.failures: list[str] = []

    def add(self, failure: str | None) -> None:
        with self.lock:
            self.requests += 1
            if failure:
                self.failed += 1
                self.failures.append(failure)


def worker(number: int, name: str, item: str, image: str, stop: threading.Event, tally: Tally) -> None:
    token = os.environ.get("PIER_TOKEN", "")
    writes = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection: http.client.HTTPConnection | None = None
    address = ""
    turn = number
    while not stop.is_set():
        if connection is None:
            addresses = resolve(name)
            if not addresses:
                with tally.lock:
                    tally.no_task += 1
                    tally.failed += 1
                    tally.failures.append("no task in DNS for 100 ms")
                stop.wait(0.1)
                continue
            address = random.choice(addresses)
            connection = http.client.HTTPConnection(address, 8000, timeout=5)
        kind = turn % 4
        turn += 1
        try:
            if kind == 0:
                steps = [("GET", item, None, {}, 200)]
            elif kind == 1:
                steps = [("GET", image, None, {}, 200)]
            elif kind == 2:
                body = json.dumps({"text": f"swarm load {turn} is great"}).encode()
                steps = [("POST", "/predict", body, {"Content-Type": "application/json"}, 200)]
            else:
                body = json.dumps({"name": f"load {number}-{turn}"}).encode()
                steps = [("POST", "/items", body, writes, 201)]
            for method, path, body, headers, expected in steps:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                failure = None if response.status == expected else f"{method} {address}{path}: {response.status}"
                tally.add(failure)
                if kind == 3 and response.status == 201:
                    created = json.loads(payload)["id"]
                    if response.will_close:
                        connection.close()
                        connection = http.client.HTTPConnection(address, 8000, timeout=5)
                    connection.request("DELETE", f"/items/{created}", headers=writes)
                    deleted = connection.getresponse()
                    deleted.read()
                    tally.add(None if deleted.status == 204 else f"DELETE {address}/items/{created}: {deleted.status}")
                    response = deleted
                if response.will_close:
                    connection.close()
                    connection = None
        except (OSError, http.client.HTTPException) as error:
            tally.add(f"{address}: {type(error).__name__}: {error}")
            if connection is not None:
                connection.close()
            connection = None


def main() -> None:
    seconds = min(float(sys.argv[1]), 120.0)
    name, item, image = sys.argv[2], sys.argv[3], sys.argv[4]
    stop = threading.Event()
    tally = Tally()
    workers = [
        threading.Thread(target=worker, args=(n, name, item, image, stop, tally), daemon=True) for n in range(4)
    ]
    for thread in workers:
        thread.start()
    deadline = time.monotonic() + seconds
    stop_file = os.environ.get("STOP_FILE")
    while time.monotonic() < deadline and not (stop_file and os.path.exists(stop_file)):
        time.sleep(0.05)
    stop.set()
    for thread in workers:
        thread.join(10)
    print(f"requests={tally.requests} failed={tally.failed} no_task_intervals={tally.no_task}")
    for failure in tally.failures[:5]:
        print(f"  {failure}")


if __name__ == "__main__":
    main()
