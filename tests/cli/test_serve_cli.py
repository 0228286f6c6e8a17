"""`faithcam serve` on the command line: localhost by default, a warning for any other host,
one-line errors for a port it cannot have, and a page that refuses foreign Host headers."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

from faithcam.cli import build_parser, main
from faithcam.cli.serve import DEFAULT_PORT, host_warning

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from faithcam.serve.launch import running_server


def test_defaults_are_localhost() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.model, args.trust_pickle) == (
        "127.0.0.1",
        DEFAULT_PORT,
        None,
        False,
    )
    for local in ("127.0.0.1", "localhost", "::1"):
        assert host_warning(local) is None
    for other in ("0.0.0.0", "192.168.1.20", "127.0.0.2"):
        assert "reachable from other machines" in host_warning(other)


def test_a_busy_port_and_a_bad_port_are_one_line_errors(capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--port {port}: cannot listen there" in err[0], err
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port: expected 0 to 65535" in capsys.readouterr().err
    assert main(["serve", "--size", "32"]) == 2
    assert "--size: applies to the --model" in capsys.readouterr().err


def _get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_command_serves_the_page_and_refuses_foreign_hosts() -> None:
    model = "shapesbench-vgg-clean"
    with running_server(["--model", model]) as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, page = _get(server.url)
        assert status == 200 and "faithcam" in page
        status, menu = _get(server.url + "api/catalogue")
        assert json.loads(menu)["default_model"] == model
        status, _ = _get(server.url, host="attacker.example")  # DNS rebinding
        assert status == 400
        assert "warning" not in server.log.read_text()


def test_another_host_prints_a_warning() -> None:
    # 127.0.0.2 is this machine too (loopback), but not one of the names the command trusts
    with running_server(["--host", "127.0.0.2", "--model", "shapesbench-vgg-clean"]) as server:
        assert server.url.startswith("http://127.0.0.2:")
        assert _get(server.url)[0] == 200
        log = server.log.read_text()
        assert "faithcam: warning: --host 127.0.0.2: the page is reachable from other" in log


def _post(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def test_ctrl_c_stops_the_server_during_a_long_method() -> None:
    with running_server() as server:
        image = _post(server.url + "api/photos/chelsea")["image"]
        body = {"image": image, "model": "mobilenet_v2-imagenet", "target": 285}
        job = _post(server.url + "api/jobs", {**body, "methods": ["scorecam"]})["job"]
        deadline = time.monotonic() + 120
        while json.loads(_get(server.url + f"api/jobs/{job}")[1])["methods"][0]["state"] != (
            "explaining"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)  # Score-CAM: 1280 channels of MobileNetV2, minutes of work ahead
        server.process.send_signal(signal.SIGINT)
        start = time.monotonic()
        server.process.wait(timeout=60)
        assert time.monotonic() - start < 15
        assert "Traceback" not in server.log.read_text()
