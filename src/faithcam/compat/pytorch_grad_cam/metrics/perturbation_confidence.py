"""The target's score after the image is perturbed by its CAM (pytorch-grad-cam's building
blocks): ``PerturbationConfidenceMetric(perturbation)(input_tensor, cams, targets, model)`` is
s(perturb(x, M)) − s(x) per image (``return_diff=False``: s(perturb(x, M)))."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from faithcam.engine.model_state import model_guard
from faithcam.errors import FaithcamValueError

Perturbation = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PeerTarget = Callable[[torch.Tensor], torch.Tensor]


def target_scores(model: nn.Module, images: torch.Tensor, targets: Sequence[PeerTarget]):
    """Each target called on its own image's output, as float32 NumPy (no gradient)."""
    with torch.no_grad(), model_guard(model):
        outputs = model(images)
    return np.float32([t(output).cpu().numpy() for t, output in zip(targets, outputs, strict=True)])


class PerturbationConfidenceMetric:
    """s(perturbation(x_i, M_i)) − s(x_i) for each image i (on the CPU copy of each image)."""

    def __init__(self, perturbation: Perturbation) -> None:
        self.perturbation = perturbation

    def __call__(
        self,
        input_tensor: torch.Tensor,
        cams: np.ndarray,
        targets: Sequence[PeerTarget],
        model: nn.Module,
        return_visualization: bool = False,
        return_diff: bool = True,
    ):
        if len(targets) != len(input_tensor) or len(cams) != len(input_tensor):
            raise FaithcamValueError(
                f"targets, cams: expected one of each per image ({len(input_tensor)}), got "
                f"{len(targets)} targets and {len(cams)} maps"
            )
        perturbed = torch.stack(
            [
                self.perturbation(image.cpu(), torch.from_numpy(np.asarray(cam)))
                for image, cam in zip(input_tensor, cams, strict=True)
            ]
        ).to(input_tensor.device)
        result = target_scores(model, perturbed, targets)
        if return_diff:
            result = result - target_scores(model, input_tensor, targets)
        return (result, perturbed) if return_visualization else result


def otsu_threshold(values: np.ndarray) -> int:
    """Otsu's threshold of uint8 ``values``: the first t maximising the between-class variance
    w₀ w₁ (μ₀ − μ₁)² of {v ≤ t} and {v > t}."""
    counts = np.bincount(values.ravel(), minlength=256).astype(np.float64)
    p = counts / counts.sum()
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * np.arange(256))
    total = m0[-1]
    w1 = 1 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * w1)
    between = np.where((w0 > 0) & (w1 > 0), between, -1)
    return int(np.argmax(between))


class RemoveMostRelevantFirst:
    """Keeps the pixels whose CAM value is below its ``percentile`` (or, with ``"auto"``, at most
    Otsu's threshold of the map as uint8), and has ``imputer`` fill the others."""

    def __init__(self, percentile: float | str, imputer: Perturbation) -> None:
        self.percentile = percentile
        self.imputer = imputer

    def __call__(self, input_tensor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        values = mask.cpu().numpy()
        if self.percentile == "auto":
            as_bytes = np.uint8(values * 255)
            kept = np.float32(as_bytes > otsu_threshold(as_bytes)) * 255
        else:
            kept = np.float32(values < np.percentile(values, self.percentile))
        return self.imputer(input_tensor, torch.from_numpy(kept).to(mask.device))


class RemoveLeastRelevantFirst(RemoveMostRelevantFirst):
    """:class:`RemoveMostRelevantFirst` of 1 − M: the least relevant pixels are removed."""

    def __call__(self, input_tensor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return super().__call__(input_tensor, 1 - mask)


class AveragerAcrossThresholds:
    """The mean over ``percentiles`` of ``imputer(percentile)(x, cams, targets, model)``."""

    def __init__(
        self, imputer: Callable, percentiles: Sequence[float] = (10, 20, 30, 40, 50, 60, 70, 80, 90)
    ):
        self.imputer = imputer
        self.percentiles = list(percentiles)

    def __call__(self, input_tensor, cams, targets, model) -> np.ndarray:
        scores = [self.imputer(p)(input_tensor, cams, targets, model) for p in self.percentiles]
        return np.mean(np.float32(scores), axis=0)
