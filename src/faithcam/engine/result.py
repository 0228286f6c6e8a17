"""CamResult and the post-processing shared by every method: ReLU, upsampling, normalisation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faithcam.engine.caller import warn_at_caller
from faithcam.errors import FaithcamTypeError, FaithcamValueError, FaithcamWarning


def postprocess(raw_maps: torch.Tensor, size: tuple[int, int], relu: bool = True) -> torch.Tensor:
    """ReLU (unless a signed map is asked for), bilinear upsampling to ``size`` (H, W), then
    per-image scaling by the maximum (absolute) value: maps land in [0, 1] ([-1, 1] signed).

    An all-zero map stays all zero (no 0/0). Scaling by the maximum rather than min-max keeps
    zero meaning *no evidence*; after the ReLU the minimum is 0 almost always, where both agree.
    A raw map holding NaN or infinity raises: it must never pass for an all-zero map.
    """
    finite = torch.isfinite(raw_maps.detach()).flatten(1).all(1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0])
        raise FaithcamValueError(
            f"raw map of image {bad} is NaN or infinite ({int((~finite).sum())} of "
            f"{len(finite)} images): the model's scores or gradients are not finite (NaN or "
            "infinite weights, a NaN baseline, an infinite sigma?)"
        )
    maps = raw_maps.clamp(min=0) if relu else raw_maps
    maps = F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)
    maps = maps[:, 0]
    peak = maps.abs().flatten(1).amax(1).view(-1, 1, 1)
    return maps / peak.clamp(min=torch.finfo(maps.dtype).tiny)  # an all-zero map: 0 / tiny = 0


@dataclass
class CamResult:
    """The explanation of a batch of images.

    Attributes:
        maps: (B, H, W) maps at the input size, in [0, 1] (or [-1, 1] with ``relu=False``).
        raw_maps: (B, h, w) signed maps at the layer's resolution, before ReLU and scaling.
        targets: (B,) explained class ids, or None for callable targets.
        scores: (B,) target scores on the input images.
        layer: dotted name of the target layer (several fused layers: their names joined by
            commas; :attr:`layers` is the tuple).
        method: the method name; ``settings`` holds the estimator's and method's parameters.

    ``result[i]`` is the result of image i (``result[i:j]`` of a slice), as a CamResult.
    """

    maps: torch.Tensor
    raw_maps: torch.Tensor
    targets: torch.Tensor | None
    scores: torch.Tensor
    layer: str
    method: str
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.maps)

    def __getitem__(self, index: int | slice) -> CamResult:
        """The result of image ``index`` (a CamResult of one image), or of a slice of images."""
        if isinstance(index, int) and not isinstance(index, bool):
            if not -len(self) <= index < len(self):
                raise IndexError(f"image {index} is out of range for {len(self)} images")
            index = slice(index, index + 1 or None)
        if not isinstance(index, slice):
            raise FaithcamTypeError(f"index: expected an int or a slice, got {index!r}")
        settings = dict(self.settings)
        if isinstance(settings.get("samples_used"), list):  # one count per image
            settings["samples_used"] = settings["samples_used"][index]
        return dataclasses.replace(
            self,
            maps=self.maps[index],
            raw_maps=self.raw_maps[index],
            targets=None if self.targets is None else self.targets[index],
            scores=self.scores[index],
            settings=settings,
        )

    @property
    def layers(self) -> tuple[str, ...]:
        """The names of the explained layers: one, or each layer of a fused list."""
        return tuple(self.settings.get("layers") or (self.layer,))

    def numpy(self) -> np.ndarray:
        """The (B, H, W) maps as a float32 NumPy array."""
        return self.maps.detach().float().cpu().numpy()

    def _repr_png_(self) -> bytes:
        """Jupyter's picture of the result: the maps (first 16) titled with method, layer,
        target and score, with a colorbar. Drawing lives in :mod:`faithcam.viz` (needs
        matplotlib), imported only when a picture is asked for."""
        from faithcam.viz import result_png

        return result_png(self)

    def save(self, path: str | Path, images: torch.Tensor | np.ndarray | None = None, **options):
        """Save the grid of maps (overlaid on ``images``, the photos, when given) in the format
        the extension names (``.png``, ``.jpg``, ``.pdf``, ``.svg``...; an unknown one is an
        error); ``options``: ``style`` ("faithcam" / "jet"), ``alpha``, ``columns``,
        ``max_images``."""
        from faithcam.outputs import write_fresh
        from faithcam.viz import image_format, result_bytes

        path = Path(path)
        fmt = image_format(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = result_bytes(self, images, fmt, **options)
        write_fresh(path, lambda fresh: fresh.write_bytes(data))  # never through a planted link
        return path

    def show(self, images: torch.Tensor | np.ndarray | None = None, **options) -> None:
        """Show the grid in a window (matplotlib's pyplot, from a script) or inline in
        Jupyter; same ``images`` and ``options`` as :meth:`save`."""
        import matplotlib.pyplot as plt

        from faithcam.viz import result_figure

        result_figure(self, images, figure=plt.figure(layout="constrained"), **options)
        plt.show()

    def __repr__(self) -> str:
        return (
            f"CamResult(method={self.method!r}, layer={self.layer!r}, maps={tuple(self.maps.shape)}"
            f", raw_maps={tuple(self.raw_maps.shape)})"
        )


def build_result(
    raw: torch.Tensor,
    size: tuple[int, int],
    target: Any,
    scores: torch.Tensor,
    layer: str,
    method: str,
    settings: dict[str, Any],
    relu: bool,
) -> CamResult:
    """The CamResult of raw (B, h, w) maps: post-processed to ``size``, with the explained
    class ids of ``target`` (None for callable targets)."""
    class_ids = getattr(target, "class_ids", None)
    maps = postprocess(raw, size, relu=relu)  # raises on NaN: checked before any warning
    warn_meaningless_maps(raw, scores, target, method, settings, relu)
    return CamResult(
        maps=maps,
        raw_maps=raw.detach(),
        targets=None if class_ids is None else class_ids.clone(),
        scores=scores,
        layer=layer,
        method=method,
        settings=settings,
    )


# Methods whose map is no attribution of the target score (principal components, random
# weights): their magnitude is not compared with the score.
SCORE_FREE_METHODS = ("eigencam", "kpcacam", "randomcam", "fem")
SHOWN = 5


def warn_meaningless_maps(
    raw: torch.Tensor,
    scores: torch.Tensor,
    target: Any,
    method: str,
    settings: dict[str, Any],
    relu: bool,
) -> None:
    """Warn (:class:`~faithcam.errors.FaithcamWarning`, one per reason, naming the images)
    about maps that show nothing, though each would be drawn at full contrast:

    - all zero: the target score is 0 (an empty segmentation mask, a zero-initialised head as
      torchvision's ViT before training, no matching detection) or does not depend on the
      layer (zero gradients);
    - negative everywhere, so all zero after the ReLU (integrated and expected methods: the
      baselines score higher than the image);
    - max |raw| ≤ eps · |score| (eps of float32, or of the map's coarser dtype): no location
      reaches one rounding step of the score, so the pattern is rounding error (HiResCAM at a
      layer followed by a per-position LayerNorm, which makes A · ∂score/∂A zero at every
      position up to the norm's epsilon).
    """
    flat = raw.detach().flatten(1)
    score = scores.detach().reshape(-1).to(flat.device, torch.float64)
    if len(score) != len(flat):
        return
    zero = (flat == 0).all(1)
    path = settings.get("estimator") in ("integrated", "expected")
    found: dict[str, list[int]] = {}
    for i in zero.nonzero().flatten().tolist():
        found.setdefault(_zero_reason(i, float(score[i]), target, path), []).append(i)
    if relu:
        negative = ~zero & (flat <= 0).all(1)
        reason = "the map is negative everywhere, so all zero after the ReLU (relu=False shows it)"
        if path:
            reason += ": the baselines score higher than the image"
        found[reason] = negative.nonzero().flatten().tolist()
    if method not in SCORE_FREE_METHODS:
        dtype = flat.dtype if flat.is_floating_point() else torch.float32
        eps = max(torch.finfo(dtype).eps, torch.finfo(torch.float32).eps)
        peak = flat.abs().amax(1)  # compared in float64, the dtype of score
        noise = ~zero & (score != 0) & (peak <= eps * score.abs())
        reason = (
            "no location of the map reaches one rounding step of the target score (max |raw| <= "
            "eps x |score|): its pattern is float noise, shown at full contrast (HiResCAM at a "
            "layer followed by a per-position LayerNorm is zero by construction)"
        )
        found[reason] = noise.nonzero().flatten().tolist()
    for reason, images in found.items():
        if images:
            warn_at_caller(f"{_images(images, len(flat))}: {reason}", FaithcamWarning)


def _zero_reason(image: int, score: float, target: Any, path: bool) -> str:
    known = getattr(target, "constant_reason", lambda i: None)(image)
    if known:
        return f"the map is all zero: {known}"
    if path and score != 0:  # the paper variants take a ReLU of every path step's map
        return (
            "the map is all zero: every path step's map is negative (each step lowers the "
            "score from its baseline's: the baselines score higher than the image), or the "
            "layer's activations or gradients are zero"
        )
    if score == 0:
        return (
            "the map is all zero and the target score is 0 (an empty segmentation mask, or an "
            "untrained zero-initialised head, as torchvision's ViT heads.head?)"
        )
    return (
        "the map is all zero: the layer's activations, or the target score's gradients with "
        "respect to them, are zero here (dead ReLUs; a layer the score does not read, as a ViT's "
        "patch tokens after its last block; a zero-initialised head)"
    )


def _images(images: list[int], total: int) -> str:
    shown = ", ".join(map(str, images[:SHOWN])) + (", ..." if len(images) > SHOWN else "")
    return f"image {shown}" if len(images) == 1 else f"images {shown} ({len(images)} of {total})"
