"""SESS (Tursun et al., "SESS: Saliency Enhancing with Scaling and Sliding", ECCV 2022), as
pytorch-grad-cam 1.5.7's meta-method over any drop-in base class.

Per image: the image is resized so that its shorter side is each scale s_i = w + i·round(r w)
(w the window, default the shorter side; r = 2/7; i < ``num_scales``), a w × w window slides
over each scaled copy with stride ``step_size`` (windows at the far border shifted back inside),
and each patch p gets the score c_p = max(0, target(softmax(f(p)))) (the raw score without
``use_softmax_scores``). After dropping the lowest ``pre_filter_ratio`` of the patches, each
remaining patch's base-method map M_p, weighted by c_p / max_p c_p, is pasted back at its place
in its scaled copy and resized to the image; the maps are fused by the spatial weighted average
Σ_p M_p 1[M_p > θ] / Σ_p 1[M_p > θ] (or their maximum, ``pool="max"``), blurred by an 11 × 11
Gaussian of σ = 5 (``smooth``) and, over the batch, min-max scaled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faithcam.compat.pytorch_grad_cam.base_cam import GradCAM, PeerTarget
from faithcam.compat.pytorch_grad_cam.meta_methods import WrapperCAM
from faithcam.compat.pytorch_grad_cam.utils.image import scale_cam_image
from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from faithcam.engine.model_state import model_guard
from faithcam.engine.validation import check_images, model_device
from faithcam.errors import FaithcamValueError

BLUR_SIZE, BLUR_SIGMA = 11, 5.0  # the Gaussian blur of the fused map (the peer's)
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


class SESS(WrapperCAM):
    """SESS over any drop-in ``base_method`` (default GradCAM); the options are the peer's."""

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        base_method: type = GradCAM,
        scales: Sequence[int] | None = None,
        num_scales: int = 12,
        scale_step_ratio: float = 2.0 / 7.0,
        window_size: int | None = None,
        step_size: int | None = None,
        pre_filter_ratio: float = 0.0,
        theta: float = 0.0,
        pool: str = "mean",
        smooth: bool = True,
        use_softmax_scores: bool = True,
        batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        if pool not in ("mean", "max"):
            raise FaithcamValueError(f"pool: expected 'mean' or 'max', got {pool!r}")
        if not 0.0 <= pre_filter_ratio < 1.0:
            raise FaithcamValueError(f"pre_filter_ratio: expected [0, 1), got {pre_filter_ratio}")
        if num_scales < 1:
            raise FaithcamValueError(f"num_scales: expected at least 1, got {num_scales}")
        if batch_size < 1:
            raise FaithcamValueError(f"batch_size: expected at least 1, got {batch_size}")
        self.base_cam = base_method(model, target_layers, reshape_transform, **kwargs)
        self.model = model
        self.scales, self.num_scales, self.scale_step_ratio = scales, num_scales, scale_step_ratio
        self.window_size, self.step_size = window_size, step_size
        self.pre_filter_ratio, self.theta, self.pool = pre_filter_ratio, theta, pool
        self.smooth, self.use_softmax_scores, self.batch_size = (
            smooth,
            use_softmax_scores,
            batch_size,
        )

    def forward(
        self,
        input_tensor: torch.Tensor,
        targets: Sequence[PeerTarget] | None = None,
        eigen_smooth: bool = False,
    ) -> np.ndarray:
        images = check_images(input_tensor).detach()
        images = images.to(model_device(self.model, images.device))
        targets = [None] * len(images) if targets is None else list(targets)
        if len(targets) != len(images):
            raise FaithcamValueError(
                f"targets: got {len(targets)} targets for {len(images)} images; give one per image"
            )
        cams = [
            self.enhance(images[i : i + 1], target, eigen_smooth)
            for i, target in enumerate(targets)
        ]
        return scale_cam_image(np.stack(cams).astype(np.float32))

    def scale_list(self, window: int) -> list[int]:
        if self.scales is not None:
            return [int(s) for s in self.scales]
        step = round(window * self.scale_step_ratio)
        return [window + step * i for i in range(self.num_scales)]

    def patches(self, image: torch.Tensor, window: int, step: int):
        """The w × w patches of every scaled copy, and where each was taken from."""
        from torchvision.transforms.functional import resize  # the peer's resize

        patches, places = [], []
        for scale in self.scale_list(window):
            if scale < window:
                raise FaithcamValueError(
                    f"scales: each must be at least the window {window}, got {scale}"
                )
            scaled = resize(image, scale)
            height, width = scaled.shape[-2:]
            for x, y in sliding_window(height, width, step, window):
                patches.append(scaled[:, :, y : y + window, x : x + window])
                places.append((x, y, width, height))
        return patches, places

    def scores(self, patches: list[torch.Tensor], target: PeerTarget) -> np.ndarray:
        """max(0, the target's score) of every patch (on the softmax, as the paper)."""
        values = []
        with torch.no_grad(), model_guard(self.model):
            for start in range(0, len(patches), self.batch_size):
                outputs = self.model(torch.cat(patches[start : start + self.batch_size]))
                if self.use_softmax_scores:
                    outputs = torch.softmax(outputs, dim=-1)
                values.append(np.asarray(target(outputs).detach().float().cpu()).reshape(-1))
        return np.maximum(np.concatenate(values), 0)

    def enhance(self, image: torch.Tensor, target: PeerTarget | None, eigen_smooth: bool):
        """One image's fused (H, W) map."""
        height, width = image.shape[-2:]
        window = self.window_size or min(height, width)
        step = self.step_size or window
        if target is None:
            with torch.no_grad(), model_guard(self.model):
                target = ClassifierOutputTarget(int(self.model(image)[0].argmax()))
        patches, places = self.patches(image, window, step)
        scores = self.scores(patches, target)
        order = np.argsort(scores)[int(len(scores) * self.pre_filter_ratio) :]
        top = scores[order[-1]]
        weights = scores[order] / top if top > 0 else np.ones(len(order), np.float32)
        fusion = Fusion((height, width), self.pool, self.theta)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            batch = torch.cat([patches[i] for i in chosen])
            cams = self.base_cam(batch, [target] * len(chosen), eigen_smooth=eigen_smooth)
            for cam, weight, index in zip(
                cams, weights[start : start + self.batch_size], chosen, strict=True
            ):
                fusion.add(paste(cam * weight, places[index], (height, width)))
        fused = fusion.result()
        return gaussian_blur(fused) if self.smooth else fused


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
