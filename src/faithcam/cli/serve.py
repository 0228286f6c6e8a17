"""`faithcam serve`: the local web page of :mod:`faithcam.serve`, on 127.0.0.1 by default.

Any other ``--host`` makes the page reachable from other machines (anyone who reaches it can
upload files and run models on this computer), so it is only done when asked for, with a
warning. Heavy imports (FastAPI, uvicorn, torch) happen only when the command runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import socket
import sys

from faithcam.errors import FaithcamValueError

DEFAULT_PORT = 8000
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    """Register ``serve`` on the ``faithcam`` command's sub-parsers."""
    serve = commands.add_parser(
        "serve",
        help="a local web page: compare methods on your image, with faithfulness numbers",
        description="Start a local web page that explains an image with several methods side "
        "by side, with deletion, insertion and energy-in-box numbers.",
    )
    serve.add_argument(
        "--model",
        help="the model selected at start, besides the bundled ones: an offline pretrained "
        "name, a .pt2 torch.export file, or anything `faithcam explain --model` takes "
        "(default: mobilenet_v2-imagenet)",
    )
    serve.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a --model file that runs code when loaded (a pickle, or a .pt2 archive "
        "with pickled parts), as `faithcam explain --trust-pickle`",
    )
    serve.add_argument(
        "--size", type=int, help="input size of the --model (default: its own; 224 for files)"
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s; 0: any free)"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this computer only; another address "
        "lets other machines use the page, and a warning says so)",
    )
    serve.set_defaults(run=run_serve)


def host_warning(host: str) -> str | None:
    """The warning for a non-local ``host`` (None for this computer's own addresses)."""
    if host in LOCAL_HOSTS:
        return None
    return (
        f"--host {host}: the page is reachable from other machines; anyone who can reach "
        "it can upload files and run models on this computer. Use it only on a trusted network."
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a clear error when it cannot be had."""
    if not 0 <= port <= 65535:
        raise FaithcamValueError(f"--port: expected 0 to 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise FaithcamValueError(
            f"--host {host} --port {port}: cannot listen there ({error.strerror or error}); "
            "pick another --port (0: any free one)"
        ) from None
    sock.listen(128)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def run_serve(args: argparse.Namespace) -> int:
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise FaithcamValueError(
            f"faithcam serve needs {' and '.join(missing)}: pip install 'faithcam[serve]'"
        )
    if args.size is not None and args.model is None:
        raise FaithcamValueError("--size: applies to the --model given; give one")
    warning = host_warning(args.host)
    if warning:
        print(f"faithcam: warning: {warning}", file=sys.stderr, flush=True)
    sock = bind(args.host, args.port)
    import uvicorn

    from faithcam.serve import create_app, default_catalogue

    logging.basicConfig(format="faithcam: warning: %(message)s", level=logging.WARNING)
    local = args.host in ("127.0.0.1", "localhost")
    app = create_app(
        default_catalogue(args.model, trust_pickle=args.trust_pickle, size=args.size),
        allowed_hosts=["127.0.0.1", "localhost"] if local else None,
        prewarm=True,
    )
    print(f"faithcam serve: {_url(sock)} (Ctrl+C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
    return 0
