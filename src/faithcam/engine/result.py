"""CamResult and the post-processing shared by every method: ReLU, upsampling, normalisation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faithcam.errors import FaithcamTypeError, FaithcamValueError


def postprocess(raw_maps: torch.Tensor, size: tuple[int, int], relu: bool = True) -> torch.Tensor:
    """ReLU (unless a signed map is asked for), bilinear upsampling to ``size`` (H, W), then
    per-image scaling by the maximum (absolute) value: maps land in [0, 1] ([-1, 1] signed).

    An all-zero map stays all zero (no 0/0). Scaling by the maximum rather than min-max keeps
    zero meaning *no evidence*; after the ReLU the minimum is 0 almost always, where both agree.
    A raw map holding NaN or infinity raises: it must never pass for an all-zero map.
    """
    check_finite_maps(raw_maps)
    maps = raw_maps.clamp(min=0) if relu else raw_maps
    maps = F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)
    maps = maps[:, 0]
    peak = maps.abs().flatten(1).amax(1).view(-1, 1, 1)
    return torch.where(peak > 0, maps / peak.clamp(min=torch.finfo(maps.dtype).tiny), 0.0)


def check_finite_maps(raw_maps: torch.Tensor) -> None:
    """Raise when a raw map holds NaN or infinite values (naming the first such image)."""
    finite = torch.isfinite(raw_maps.detach()).flatten(1).all(1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0])
        raise FaithcamValueError(
            f"raw map of image {bad} is NaN or infinite ({int((~finite).sum())} of "
            f"{len(finite)} images): the model's scores or gradients are not finite (NaN or "
            "infinite weights, a NaN baseline, an infinite sigma?)"
        )


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
    return CamResult(
        maps=postprocess(raw, size, relu=relu),
        raw_maps=raw.detach(),
        targets=None if class_ids is None else class_ids.clone(),
        scores=scores,
        layer=layer,
        method=method,
        settings=settings,
    )
