"""The page's HTTP API (JSON in, JSON or files out); see docs/serve.md for the flow.

Images and jobs are reached by the key their creation returned, so every browser tab works on
its own. Work on a model (loading it, top-5, crops) runs on the page's worker thread; a
comparison runs as a background :class:`~faithcam.serve.jobs.Job` that the page polls.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from faithcam.serve import analysis, render
from faithcam.serve.app import ServerState, StoredImage
from faithcam.serve.choices import (
    DEFAULT_STEPS,
    check_methods,
    default_methods,
    load_photo,
    method_menu,
    photo_menu,
)
from faithcam.serve.errors import NotFound, RequestError
from faithcam.serve.jobs import Job, JobSpec
from faithcam.serve.uploads import decode_image, too_large

router = APIRouter()
logger = logging.getLogger("faithcam.serve")
PNG, NPY, CSV = "image/png", "application/octet-stream", "text/csv"


class PredictBody(BaseModel):
    image: str
    model: str


class JobBody(BaseModel):
    image: str
    model: str
    target: int
    methods: list[str]
    layer: str | None = None
    steps: int = DEFAULT_STEPS
    box: list[int] | None = Field(default=None)


class BoxBody(BaseModel):
    box: list[int] | None = None


def _state(request: Request) -> ServerState:
    return request.app.state.serve


def _download(content: bytes | str, media_type: str, filename: str) -> Response:
    return Response(
        content, media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )  # fmt: skip


def _safe_name(name: str, length: int = 40) -> str:
    """``name`` with only letters, digits and ``._+-`` (for download file names)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", name).strip("-.")[:length] or "image"


# ---------------------------------------------------------------------------- what is offered
@router.get("/api/catalogue")
async def catalogue(request: Request) -> dict[str, Any]:
    state = _state(request)
    return {
        "models": state.catalogue.describe(),
        "default_model": state.catalogue.default,
        "methods": method_menu(),
        "default_methods": default_methods(),
        "photos": photo_menu(),
        "steps": DEFAULT_STEPS,
        "limits": {
            "max_megabytes": state.limits.max_bytes / 2**20,
            "max_megapixels": state.limits.max_pixels / 1e6,
        },
    }


@functools.lru_cache(maxsize=8)
def _thumbnail(name: str) -> bytes:
    return render.thumbnail_png(load_photo(name))


@router.get("/api/photos/{name}.png")
async def photo_thumbnail(name: str, request: Request) -> Response:
    return Response(await _state(request).compute(_thumbnail, name), media_type=PNG)


@router.get("/api/colorbar.png")
async def colorbar() -> Response:
    return Response(render.colorbar_png(), media_type=PNG)


# ---------------------------------------------------------------------------- images
def _stored(state: ServerState, name: str, pixels: np.ndarray, info: dict) -> dict[str, Any]:
    key = state.images.add(StoredImage(name, pixels))
    return {"image": key, "name": name, **info}


@router.post("/api/photos/{name}")
async def use_photo(name: str, request: Request) -> dict[str, Any]:
    state = _state(request)
    pixels = await state.compute(load_photo, name)
    height, width = pixels.shape[:2]
    info = {"width": width, "height": height, "format": "bundled photo", "notes": []}
    return _stored(state, name, pixels, info)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    parts, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


@router.post("/api/images")
async def upload_image(request: Request, name: str = "upload") -> dict[str, Any]:
    """The raw file as the request body (``name``: its file name, for downloads)."""
    state = _state(request)
    data = await _body(request, state.limits.max_bytes)
    decoded = await state.compute(decode_image, data, state.limits)
    info = {
        "width": decoded.width,
        "height": decoded.height,
        "format": decoded.format,
        "notes": list(decoded.notes),
    }
    return _stored(state, _safe_name(Path(name).stem), decoded.pixels, info)


def _crop(state: ServerState, image: str, model: str) -> bytes:
    served = state.catalogue.get(model)
    return render.crop_png(served.inputs(state.images.get(image).pixels)[1])


@router.get("/api/images/{image}/crop.png")
async def crop(image: str, model: str, request: Request) -> Response:
    state = _state(request)
    return Response(await state.compute(_crop, state, image, model), media_type=PNG)


# ---------------------------------------------------------------------------- predictions
def _predict(state: ServerState, body: PredictBody) -> dict[str, Any]:
    image = state.images.get(body.image)
    served = state.catalogue.get(body.model)
    inputs, _ = served.inputs(image.pixels)
    with served.lock:
        probabilities = analysis.class_probabilities(served.model, inputs)
        top = analysis.top_classes(probabilities, served.class_names)
        layer = analysis.resolve_layer(
            served.model, inputs, top[0].class_id, served.layer, served.normalization
        )
    names = served.class_names
    return {
        "top": [vars(score) for score in top],
        "classes": len(probabilities),
        "class_names": names if names and len(names) == len(probabilities) else None,
        "layer": layer,
        "layers": [name for name, _ in served.model.named_modules() if name],
        "size": served.size,
    }


@router.post("/api/predict")
async def predict(body: PredictBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    return await state.compute(_predict, state, body)


def warm_up(state: ServerState) -> None:
    """Load the default model and run each kind of work once on a grey image, so that the
    first click does not pay for lazy imports and kernel set-up."""
    name = state.catalogue.default
    try:
        served = state.catalogue.get(name)
        grey = np.full((served.size, served.size, 3), 128, dtype=np.uint8)
        inputs, _ = served.inputs(grey)
        model, normalization = served.model, served.normalization
        with served.lock:
            analysis.class_probabilities(model, inputs)
            layer = analysis.resolve_layer(model, inputs, 0, served.layer, normalization)
            heatmap = analysis.explain_map(model, inputs, "gradcam", 0, layer, normalization)
            analysis.deletion_auc(model, inputs, heatmap, 0, 2, normalization)
    except Exception as error:
        logger.warning("faithcam serve: model %s: %s (the page will say so)", name, error)


# ---------------------------------------------------------------------------- jobs
def _new_job(state: ServerState, body: JobBody) -> dict[str, Any]:
    image = state.images.get(body.image)
    served = state.catalogue.get(body.model)
    methods = check_methods(body.methods)
    steps = analysis.check_steps(body.steps)
    box = analysis.check_box(body.box, served.size)
    asked = (body.layer or "").strip() or served.layer
    inputs, crop_ = served.inputs(image.pixels)
    with served.lock:
        classes = len(analysis.class_probabilities(served.model, inputs))
        if not 0 <= body.target < classes:
            raise RequestError(
                f"target: class {body.target} is out of range: the model has {classes} classes "
                f"(0..{classes - 1})"
            )
        layer = analysis.resolve_layer(
            served.model, inputs, body.target, asked, served.normalization
        )
    spec = JobSpec(image.name, served, inputs, crop_, body.target, layer, methods, steps, box)
    return {"job": state.runner.submit(Job(spec)), "layer": layer}


@router.post("/api/jobs")
async def new_job(body: JobBody, request: Request) -> dict[str, Any]:
    state = _state(request)
    return await state.compute(_new_job, state, body)


@router.get("/api/jobs/{job}")
async def job_state(job: str, request: Request) -> dict[str, Any]:
    return _state(request).runner.jobs.get(job).snapshot()


@router.post("/api/jobs/{job}/box")
async def set_box(job: str, body: BoxBody, request: Request) -> dict[str, Any]:
    found = _state(request).runner.jobs.get(job)
    found.set_box(analysis.check_box(body.box, found.spec.served.size))
    return found.snapshot()


@router.delete("/api/jobs/{job}")
async def cancel_job(job: str, request: Request) -> dict[str, Any]:
    found = _state(request).runner.jobs.get(job)
    found.cancel()
    return {"cancelled": True}


@router.get("/api/jobs/{job}/maps/{filename}")
async def map_file(job: str, filename: str, request: Request) -> Response:
    """``METHOD.png`` (the overlay) or ``METHOD.npy`` (the (S, S) float32 map in [0, 1])."""
    found = _state(request).runner.jobs.get(job)
    method, _, suffix = filename.rpartition(".")
    if method not in found.spec.methods or suffix not in ("png", "npy"):
        raise NotFound(f"map: no {filename!r} in this job; expected METHOD.png or METHOD.npy")
    run = found.result(method)
    if run.heatmap is None:
        raise NotFound(f"map: {method} has no map yet ({run.state})")
    safe = _safe_name(f"{found.spec.image_name}-{found.spec.served.name}-{method}", 120)
    if suffix == "png":
        return _download(run.overlay, PNG, f"{safe}.png")
    return _download(render.npy_bytes(run.heatmap), NPY, f"{safe}.npy")


@router.get("/api/jobs/{job}/numbers.csv")
async def numbers(job: str, request: Request) -> Response:
    found = _state(request).runner.jobs.get(job)
    name = _safe_name(f"{found.spec.image_name}-{found.spec.served.name}", 120)
    return _download(render.numbers_csv(found.rows()), CSV, f"{name}-numbers.csv")
