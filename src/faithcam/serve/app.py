"""The FastAPI application: shared state, error handling, the page and its static files.

Why FastAPI with a hand-written page rather than Gradio: the page needs a layout Gradio does
not give without fighting it (cards that fill in as each method finishes, a box drawn on the
image, per-card downloads), FastAPI + uvicorn start in about a second where importing Gradio
takes several, the dependency tree stays small (starlette, pydantic, uvicorn), and every route
is testable without a browser through ``fastapi.testclient``.

Every error a request meets becomes one line, ``{"detail": ...}``, with a 4xx status for the
user's input and 500 for a bug; the server keeps serving after either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from faithcam.errors import FaithcamError
from faithcam.serve.catalogue import Catalogue, default_catalogue
from faithcam.serve.jobs import JobRunner
from faithcam.serve.store import BoundedStore
from faithcam.serve.uploads import UploadLimits
from faithcam.serve.workers import Workers

STATIC = Path(__file__).parent / "static"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
logger = logging.getLogger("faithcam.serve")


@dataclass
class StoredImage:
    """An accepted upload or bundled photo: (H, W, 3) uint8 pixels and a short name."""

    name: str
    pixels: Any


@dataclass
class ServerState:
    """Everything the routes share; requests reach their own images and jobs by key."""

    catalogue: Catalogue
    limits: UploadLimits = field(default_factory=UploadLimits)
    images: BoundedStore[StoredImage] = field(default_factory=lambda: BoundedStore(16, "image"))
    runner: JobRunner = field(default_factory=JobRunner)
    page_worker: Workers = field(default_factory=lambda: Workers(1, "faithcam-page"))

    async def compute(self, function, *args):
        """Run ``function(*args)`` on the page's worker thread (model loading, top-5 classes,
        crops): torch runs on few, known threads, and the event loop never waits."""
        return await asyncio.wrap_future(self.page_worker.submit(function, *args))

    def close(self) -> None:
        self.runner.shutdown()
        self.page_worker.shutdown()


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FaithcamError)
    async def faithcam_error(request: Request, error: FaithcamError) -> JSONResponse:
        status = getattr(error, "status", 400)
        return JSONResponse({"detail": " ".join(str(error).split())}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in error.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("faithcam serve: unexpected error on %s", request.url.path)
        text = " ".join(str(error).split())
        return JSONResponse(
            {"detail": f"internal error ({type(error).__name__}: {text}); the server goes on"},
            status_code=500,
        )


def create_app(
    catalogue: Catalogue | None = None,
    *,
    limits: UploadLimits | None = None,
    workers: int = 2,
    jobs_kept: int = 16,
    allowed_hosts: list[str] | None = None,
    prewarm: bool = False,
) -> FastAPI:
    """The web app. ``catalogue``: the models offered (default: :func:`default_catalogue`);
    ``workers``: jobs run at once; ``jobs_kept``: finished jobs kept for downloads;
    ``allowed_hosts``: the Host headers accepted (None: any; the command line passes the
    local names when bound to localhost, which stops DNS-rebinding pages);
    ``prewarm``: load the default model and run it once in the background at start."""
    from faithcam.serve.routes import router, warm_up

    state = ServerState(
        catalogue or default_catalogue(),
        limits or UploadLimits(),
        runner=JobRunner(workers, jobs_kept),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if prewarm:
            state.page_worker.submit(warm_up, state)
        yield
        state.close()

    app = FastAPI(title="faithcam serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.serve = state
    if allowed_hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    _error_handlers(app)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
