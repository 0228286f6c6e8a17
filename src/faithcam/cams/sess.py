"""SESS (Tursun et al., "SESS: Saliency Enhancing with Scaling and Sliding", ECCV 2022, arXiv
2207.01769): any CAM made robust to scale, to several instances and to distractors.

Per image x and class c: x is resized so that its shorter side is each scale s_i = w + i·round(r w)
(w the window, default the shorter side of x; r = 2/7; i < ``num_scales``), a w × w window slides
over each scaled copy with stride ``step_size`` (default w; windows at the far border shifted
back inside), and each patch p gets the weight c_p = max(0, softmax(f(p))_c) (the raw logit
without ``use_softmax_scores``), divided by max_p c_p. After the lowest ``pre_filter_ratio``
of the patches are dropped, each patch's base-method map M_p (ReLU'd, min-max scaled),
weighted by c_p, is pasted at its place in its scaled copy and resized to x; the maps are fused
by the spatial weighted average Σ_p M_p 1[M_p > θ] / Σ_p 1[M_p > θ] (``pool="mean"``) or their
maximum (``pool="max"``) and blurred by an 11 × 11 Gaussian of σ = 5 (``smooth``).

``explain(model, images, "sess", base="hirescam", base_options={...})`` runs any registered
method (with its estimator and options) on the patches; the map is at the input's resolution.
The helpers below (windows, paste, fusion, blur) are also the pytorch-grad-cam drop-in's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faithcam.cams.compose import minmax
from faithcam.cams.method import Method, Raw
from faithcam.engine.request import Request
from faithcam.engine.targets import BoundClassTarget, ClassLogit
from faithcam.errors import FaithcamTypeError, FaithcamValueError, TargetError

BLUR_SIZE, BLUR_SIGMA = 11, 5.0  # the Gaussian blur of the fused map (the paper's code)
Window = tuple[int, int, int, int]  # x1, y1, width and height of the scaled copy


def window_starts(length: int, step: int, window: int) -> list[int]:
    """The starts of the windows along one side; the last one ends at the border."""
    starts = []
    for start in range(0, length, step):
        if start + window >= length:
            starts.append(max(length - window, 0))
            break
        starts.append(start)
    return starts


def sliding_window(height: int, width: int, step_size: int, window_size: int):
    """The (x, y) top-left corners of the windows over a height × width image, row by row
    (y outer); a window that would cross the right or bottom border is shifted back inside."""
    rows = window_starts(height, step_size, window_size)
    return [(x, y) for y in rows for x in window_starts(width, step_size, window_size)]


def gaussian_blur(image: np.ndarray, size: int = BLUR_SIZE, sigma: float = BLUR_SIGMA):
    """Separable Gaussian blur, weights exp(−d² / 2σ²) normalised, mirrored borders (dcb|abcd|cba,
    OpenCV's default)."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).float()
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    pad = size // 2
    tensor = F.conv2d(F.pad(tensor, (pad, pad, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    tensor = F.conv2d(F.pad(tensor, (0, 0, pad, pad), mode="reflect"), kernel.view(1, 1, -1, 1))
    return tensor[0, 0].numpy()


def paste(cam: np.ndarray, place: Window, size: tuple[int, int]) -> np.ndarray:
    """The patch map at its place in a zero map of its scaled copy, resized (bilinear,
    half-pixel centres, no antialiasing) to the image's (H, W)."""
    x, y, width, height = place
    canvas = torch.zeros(height, width)
    canvas[y : y + cam.shape[0], x : x + cam.shape[1]] = torch.from_numpy(
        np.asarray(cam, np.float32)
    )
    return F.interpolate(canvas[None, None], size=size, mode="bilinear", align_corners=False)[
        0, 0
    ].numpy()


class Fusion:
    """The running fusion of the pasted maps: spatial weighted average above θ, or maximum."""

    def __init__(self, size: tuple[int, int], pool: str, theta: float) -> None:
        self.pool, self.theta = pool, theta
        self.total = np.zeros(size, np.float32)
        self.counts = np.zeros(size, np.float32)

    def add(self, cam: np.ndarray) -> None:
        if self.pool == "max":
            np.maximum(self.total, cam, out=self.total)
            return
        above = cam > self.theta
        self.total[above] += cam[above]
        self.counts += above

    def result(self) -> np.ndarray:
        if self.pool == "max":
            return self.total
        out = np.zeros_like(self.total)
        return np.divide(self.total, self.counts, out=out, where=self.counts > 0)


def scale_list(window: int, scales: Any, num_scales: int, ratio: float) -> list[int]:
    """The sizes of the shorter side: ``scales``, or w + i·round(r w) for i < ``num_scales``."""
    if scales is not None:
        chosen = [int(s) for s in scales]
    else:
        chosen = [window + round(window * ratio) * i for i in range(num_scales)]
    if min(chosen) < window:
        raise FaithcamValueError(f"scales: each must be at least the window {window}, got {chosen}")
    return chosen


@dataclass(frozen=True)
class SessOptions:
    """SESS's options (see the module docstring); ``base`` names the registered method run on
    the patches and ``base_options`` its options (an estimator's ``steps``, ...)."""

    base: str = "gradcam"
    base_options: Mapping[str, Any] = field(default_factory=dict)
    scales: tuple[int, ...] | None = None
    num_scales: int = 12
    scale_step_ratio: float = 2.0 / 7.0
    window_size: int | None = None
    step_size: int | None = None
    pre_filter_ratio: float = 0.0
    theta: float = 0.0
    pool: str = "mean"
    smooth: bool = True
    use_softmax_scores: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.base, str) or self.base.lower() == "sess":
            raise FaithcamValueError(f"base: expected another method's name, got {self.base!r}")
        if not isinstance(self.base_options, Mapping):
            raise FaithcamTypeError(f"base_options: expected a dict, got {self.base_options!r}")
        if self.pool not in ("mean", "max"):
            raise FaithcamValueError(f"pool: expected 'mean' or 'max', got {self.pool!r}")
        if not 0.0 <= self.pre_filter_ratio < 1.0:
            raise FaithcamValueError(
                f"pre_filter_ratio: expected [0, 1), got {self.pre_filter_ratio}"
            )
        for name in ("num_scales", "window_size", "step_size"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise FaithcamValueError(f"{name}: expected an integer >= 1, got {value!r}")


class SESS(Method):
    """SESS over any registered base method (option ``base``, default Grad-CAM)."""

    Options = SessOptions

    def check(self, request: Request) -> None:
        from faithcam.cams.registry import method_spec  # the registry imports this module

        method_spec(self.options.base)  # an unknown base fails before any forward

    def run(self, request: Request) -> Raw:
        with torch.no_grad():
            outputs = request.model(request.images)
        target = request.target
        if not isinstance(target, BoundClassTarget) or not isinstance(outputs, torch.Tensor):
            raise TargetError("targets: SESS explains class ids (or None, the predicted class)")
        rows = torch.arange(len(request.images), device=outputs.device)
        scores = target.scores(outputs, rows, torch.ones_like(rows, dtype=torch.bool))
        maps = [self.enhance(request, i, int(target.class_ids[i])) for i in range(len(rows))]
        raw = torch.from_numpy(np.stack(maps)).to(request.images.device)
        layer = request.layer.name if request.layer is not None else ""
        return Raw(raw, scores.detach(), layer, self.settings(), target)

    def enhance(self, request: Request, index: int, class_id: int) -> np.ndarray:
        """One image's fused (H, W) map."""
        opts, image = self.options, request.images[index : index + 1]
        height, width = image.shape[-2:]
        window = opts.window_size or min(height, width)
        patches, places = [], []
        for scale in scale_list(window, opts.scales, opts.num_scales, opts.scale_step_ratio):
            short = min(height, width)
            size = (int(scale * height / short), int(scale * width / short))
            scaled = F.interpolate(image, size=size, mode="bilinear", antialias=True)
            for x, y in sliding_window(*size, opts.step_size or window, window):
                patches.append(scaled[:, :, y : y + window, x : x + window])
                places.append((x, y, size[1], size[0]))
        weights = self.patch_scores(request, torch.cat(patches), class_id)
        order = np.argsort(weights)[int(len(weights) * opts.pre_filter_ratio) :]
        top = weights[order[-1]]
        weights = weights / top if top > 0 else np.ones_like(weights)
        fusion = Fusion((height, width), opts.pool, opts.theta)
        for start in range(0, len(order), request.batch_size):
            chosen = order[start : start + request.batch_size]
            cams = self.base_maps(request, torch.cat([patches[i] for i in chosen]), class_id)
            for cam, i in zip(cams, chosen, strict=True):
                fusion.add(paste(cam * weights[i], places[i], (height, width)))
        fused = fusion.result()
        return gaussian_blur(fused) if opts.smooth else fused

    def patch_scores(self, request: Request, patches: torch.Tensor, class_id: int) -> np.ndarray:
        """max(0, the class's softmax probability (or logit)) of every patch."""
        values = []
        with torch.no_grad():
            for batch in patches.split(request.batch_size):
                outputs = request.model(batch)
                if self.options.use_softmax_scores:
                    outputs = torch.softmax(outputs, dim=-1)
                values.append(outputs[:, class_id].float().cpu())
        return torch.cat(values).clamp(min=0).numpy()

    def base_maps(self, request: Request, patches: torch.Tensor, class_id: int) -> np.ndarray:
        """The base method's (N, w, w) maps of the patches for the class: ReLU'd, upsampled
        (bilinear) and min-max scaled, as SESS's code and pytorch-grad-cam scale them (faithcam's
        own maps are scaled by their maximum instead)."""
        from faithcam.cams.registry import method_spec

        name, spec = method_spec(self.options.base)
        options = dict(self.options.base_options)
        base = spec.method.create(spec, options.pop("estimator", None), options)
        target = base.target(ClassLogit(class_id))
        patch_request = dataclasses.replace(
            request, images=patches, target_spec=target, method=name,
            target=target.bind(len(patches), patches.device),
        )  # fmt: skip
        base.check(patch_request)
        raw = base.run(patch_request if base.uses_layer else dataclasses.replace(
            patch_request, layer=None, layer_spec=None))  # fmt: skip
        maps = raw.maps.detach().float().clamp(min=0)[:, None]
        maps = F.interpolate(maps, size=tuple(patches.shape[-2:]), mode="bilinear")[:, 0]
        return minmax(maps).cpu().numpy()
