"""First-view thumbnail latency: uploads images one at a time and times the first
GET of each one's thumbnail, made on demand (`PIER_MAKE_AHEAD_QUEUE=0`) or ahead (the
default, once the list shows the placeholder). Only 127.0.0.1 is contacted; bounded by
the count and a 10 s wait per image.

    python3 bench/photos.py first-view PORT IMAGE_FILE COUNT ahead|on-demand
"""
import http.client
import json
import statistics
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from helpers import multipart  # noqa: E402


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def first_view(port, image_file, count, mode):
    with open(image_file, "rb") as f:
        payload = f.read()
    latencies = []
    for _ in range(count):
        content_type, body = multipart("bench.jpg", payload)
        status, data = request(port, "POST", "/upload", body, {"Content-Type": content_type})
        assert status == 201, (status, data[:200])
        image = json.loads(data)["images"][0]
        if mode == "ahead":
            deadline = time.monotonic() + 10
            while True:
                _, listing = request(port, "GET", "/images?limit=5")
                found = [i for i in json.loads(listing)["images"] if i["id"] == image["id"]]
                if found and found[0]["placeholder"]:
                    break
                assert time.monotonic() < deadline, "no placeholder within 10 s"
                time.sleep(0.02)
        started = time.perf_counter()
        status, _ = request(port, "GET", image["thumbnail_url"])
        latencies.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    print(f"{statistics.median(latencies):.2f}")


if __name__ == "__main__":
    assert sys.argv[1] == "first-view"
    first_view(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5])
