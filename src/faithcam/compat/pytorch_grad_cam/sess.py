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
Gaussian of σ = 5 (``smooth``) and, over the batch, min-max scaled. The windows, the pasting,
the fusion and the blur are :mod:`faithcam.cams.sess`'s (faithcam's own ``"sess"`` method).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from faithcam.cams.sess import (
    Fusion,
    gaussian_blur,
    paste,
    scale_list,
    sliding_window,
    window_starts,
)
from faithcam.compat.pytorch_grad_cam.base_cam import GradCAM, PeerTarget
from faithcam.compat.pytorch_grad_cam.meta_methods import WrapperCAM
from faithcam.compat.pytorch_grad_cam.utils.image import scale_cam_image
from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from faithcam.engine.model_state import model_guard
from faithcam.engine.validation import check_images, model_device
from faithcam.errors import FaithcamValueError

__all__ = ["SESS", "gaussian_blur", "sliding_window", "window_starts"]


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

    def patches(self, image: torch.Tensor, window: int, step: int):
        """The w × w patches of every scaled copy, and where each was taken from."""
        from torchvision.transforms.functional import resize  # the peer's resize

        patches, places = [], []
        for scale in scale_list(window, self.scales, self.num_scales, self.scale_step_ratio):
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
