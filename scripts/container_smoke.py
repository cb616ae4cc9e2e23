"""HTTP checks of a pier container from the host (standard library only; 127.0.0.1 only).

    container_smoke.py smoke PORT            items and an upload round trip
    container_smoke.py slow-upload PORT SECS  an upload whose body takes SECS to send;
                                               prints the status it gets
    container_smoke.py count-images PORT      prints how many images the listing has
"""

import hashlib
import json
import socket
import struct
import sys
import time
import urllib.request
import zlib


def png(width: int, height: int, seed: int) -> bytes:
    """A valid RGB PNG with noisy (incompressible) pixels."""
    rows = bytearray()
    state = seed or 1
    for _ in range(height):
        rows.append(0)
        for _ in range(width * 3):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            rows.append(state >> 16 & 0xFF)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "pier-smoke-boundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def request(port: int, method: str, path: str, body: bytes | None = None, content_type: str | None = None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"   ok: {what}")


def smoke(port: int) -> None:
    status, body = request(port, "POST", "/items", json.dumps({"name": "container", "price": 9.99}).encode(), "application/json")
    check(status == 201, f"POST /items → 201 (got {status})")
    item = json.loads(body)
    status, body = request(port, "GET", f"/items/{item['id']}")
    check(status == 200 and json.loads(body)["price"] == 9.99, "GET /items/{id} returns the exact price")
    status, body = request(port, "POST", "/items", b'{"name": ""}', "application/json")
    check(status == 422, f"a bad item → 422 (got {status})")
    image = png(64, 48, 7)
    body, content_type = multipart("smoke.png", image)
    status, answer = request(port, "POST", "/upload", body, content_type)
    check(status == 201, f"POST /upload → 201 (got {status}: {answer[:200]!r})")
    stored = json.loads(answer)["images"][0]
    status, fetched = request(port, "GET", stored["url"])
    check(status == 200 and hashlib.sha256(fetched).digest() == hashlib.sha256(image).digest(), "the image comes back intact")
    status, thumbnail = request(port, "GET", stored["thumbnail_url"])
    check(status == 200 and thumbnail[:2] == b"\xff\xd8", "its thumbnail is a JPEG")


def slow_upload(port: int, seconds: float) -> None:
    body, content_type = multipart("slow.png", png(200, 200, 3))
    head = (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head + body[:1000])
        print("started", flush=True)
        time.sleep(seconds)
        sock.sendall(body[1000:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    print(answer.split(b" ", 2)[1].decode() if answer else "no answer", flush=True)


def count_images(port: int) -> None:
    status, body = request(port, "GET", "/images?limit=1000")
    print(len(json.loads(body)["images"]) if status == 200 else f"status {status}")


if __name__ == "__main__":
    command, port = sys.argv[1], int(sys.argv[2])
    if command == "smoke":
        smoke(port)
    elif command == "slow-upload":
        slow_upload(port, float(sys.argv[3]))
    elif command == "count-images":
        count_images(port)
    else:
        sys.exit(f"unknown command {command}")
