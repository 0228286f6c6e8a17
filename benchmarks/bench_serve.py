"""`faithcam serve`: how fast it starts, how fast a comparison appears, and whether its memory
stays flat over many requests. Everything goes through HTTP to a real `python -m faithcam
serve` child process (the page's own requests, without the browser).

1. Start: seconds from launching the process to the page's first answer (median of 3), beside
   the seconds `python -c "import torch"` takes in the same run (the floor any start pays; on
   a shared machine both grow together).
2. Latency: one click of Compare with gradcam, hirescam, xgradcam and gradcam++ on
   MobileNetV2 (chelsea, top-1 class, automatic layer, 20 deletion/insertion steps): seconds
   until all four maps are shown, and until all their numbers are in (3 clicks, after a warm-up).
3. Memory: the server's resident memory (VmRSS) over 50 requests, each an upload, a top-5
   prediction, a 2-method job (4 steps) awaited, and the PNG, .npy and CSV downloads; measured
   after 16 warm-up requests, which fill the bounded image and job stores (and, before them,
   after the 4-method clicks of 2.).

    python -m benchmarks.bench_serve [--requests 50]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

from benchmarks.timing import save
from faithcam.serve.launch import running_server

GRAD_CAM_FAMILY = ["gradcam", "hirescam", "xgradcam", "gradcam++"]
MODEL = "mobilenet_v2-imagenet"


def call(url: str, path: str, body: bytes | dict | None = None, method: str | None = None):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(url + path.lstrip("/"), data=data, method=method)
    if isinstance(body, dict):
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=600) as response:
        content, kind = response.read(), response.headers["content-type"]
    return json.loads(content) if kind == "application/json" else content


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def import_torch_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - start


def start_seconds(repeats: int = 3) -> dict:
    starts, floors = [], []
    for _ in range(repeats):
        floors.append(import_torch_seconds())
        with running_server() as server:
            starts.append(server.ready_seconds)
    return {"start_s": starts, "import_torch_s": floors, "median_s": statistics.median(starts)}


def until(url: str, job: str, ready) -> float:
    start = time.perf_counter()
    while not ready(call(url, f"/api/jobs/{job}")):
        time.sleep(0.05)
    return time.perf_counter() - start


def comparison_latency(url: str, repeats: int = 3) -> dict:
    image = call(url, "/api/photos/chelsea", b"", "POST")["image"]
    top = call(url, "/api/predict", {"image": image, "model": MODEL})["top"][0]["class_id"]
    body = {"image": image, "model": MODEL, "target": top, "methods": GRAD_CAM_FAMILY}
    rows = []
    for attempt in range(repeats + 1):  # the first click warms up
        clicked = time.perf_counter()
        job = call(url, "/api/jobs", body)["job"]
        until(url, job, lambda s: all(m["map"] for m in s["methods"]))
        maps = time.perf_counter() - clicked
        until(url, job, lambda s: s["state"] != "running")
        if attempt:
            rows.append({"maps_s": maps, "numbers_s": time.perf_counter() - clicked})
    return {
        "clicks": rows,
        "median_maps_s": statistics.median(r["maps_s"] for r in rows),
        "median_numbers_s": statistics.median(r["numbers_s"] for r in rows),
    }


def _photo_png(name: str) -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(getattr(data, name)()).save(buffer, format="PNG")
    return buffer.getvalue()


def one_request(url: str, png: bytes, name: str) -> None:
    image = call(url, f"/api/images?name={name}.png", png, "POST")["image"]
    top = call(url, "/api/predict", {"image": image, "model": MODEL})["top"][0]["class_id"]
    body = {"image": image, "model": MODEL, "target": top, "methods": ["gradcam", "hirescam"]}
    job = call(url, "/api/jobs", {**body, "steps": 4, "box": [50, 50, 150, 150]})["job"]
    until(url, job, lambda s: s["state"] != "running")
    for path in ("maps/gradcam.png", "maps/hirescam.npy", "numbers.csv"):
        call(url, f"/api/jobs/{job}/{path}")


def memory(url: str, pid: int, requests: int, warm_up: int = 16) -> dict:
    photos = {name: _photo_png(name) for name in ("chelsea", "coffee", "astronaut")}
    names = list(photos)
    before_warm_up = rss_mib(pid)
    for i in range(warm_up):
        one_request(url, photos[names[i % 3]], names[i % 3])
    samples = [(0, rss_mib(pid))]
    for i in range(1, requests + 1):
        one_request(url, photos[names[i % 3]], names[i % 3])
        if i % 10 == 0 or i == requests:
            samples.append((i, rss_mib(pid)))
            print(f"  after {i} requests: {samples[-1][1]:.0f} MiB", flush=True)
    return {
        "rss_before_warm_up_mib": before_warm_up,
        "warm_up_requests": warm_up,
        "rss_mib": samples,
        "growth_mib": samples[-1][1] - samples[0][1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average before: {load[0]:.1f} on {os.cpu_count()} cores", flush=True)
    started = start_seconds()
    print(f"start: {started['start_s']} s (import torch alone: {started['import_torch_s']} s)")
    with running_server() as server:
        print(f"server at start: {rss_mib(server.process.pid):.0f} MiB", flush=True)
        latency = comparison_latency(server.url)
        print(f"4-method comparison: {latency['clicks']}", flush=True)
        used = memory(server.url, server.process.pid, args.requests)
    print(f"memory: {used['rss_mib']} (growth {used['growth_mib']:+.0f} MiB)")
    path = save(
        "serve",
        {
            "load_average_before": load,
            "load_average_after": os.getloadavg(),
            "cores": os.cpu_count(),
            **started,
            **latency,
            "memory": used,
        },
    )
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
