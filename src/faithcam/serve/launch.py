"""``faithcam serve`` in a child process, for tests, benchmarks and the screenshot script:
started on a free port, waited for until the page answers, stopped on exit."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

BANNER = "faithcam serve: "


@dataclass
class Launched:
    """A running server: its ``url``, the ``process``, and ``ready_seconds`` from the start
    of the process to the page's first answer."""

    url: str
    process: subprocess.Popen
    ready_seconds: float
    log: Path


def _wait_for_banner(process: subprocess.Popen, deadline: float, log: Path) -> str:
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    seen = ""
    while time.monotonic() < deadline:
        seen += (process.stdout.read() or b"").decode(errors="replace")
        for line in seen.splitlines():
            if line.startswith(BANNER):
                return line[len(BANNER) :].split()[0]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"faithcam serve did not start: {seen}{log.read_text()[-2000:]}")


def _wait_for_page(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
            if response.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"faithcam serve at {url} did not answer in time")


@contextlib.contextmanager
def running_server(
    args: Sequence[str] = (), *, timeout: float = 120.0, env: dict[str, str] | None = None
) -> Iterator[Launched]:
    """``python -m faithcam serve --port 0 ARGS`` until the block ends (then terminated)."""
    command = [sys.executable, "-m", "faithcam", "serve", "--port", "0", *args]
    with tempfile.TemporaryDirectory(prefix="faithcam-serve-") as folder:
        log = Path(folder) / "stderr.txt"
        with open(log, "w") as stderr:
            start = time.monotonic()
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=stderr,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
            try:
                deadline = start + timeout
                url = _wait_for_banner(process, deadline, log)
                _wait_for_page(url, deadline)
                yield Launched(url, process, time.monotonic() - start, log)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
