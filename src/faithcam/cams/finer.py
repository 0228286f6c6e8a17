"""Finer-CAM (Zhang et al., "Finer-CAM: Spotting the Difference Reveals Finer Details for
Visual Explanation", CVPR 2025, arXiv 2501.11309): explain what separates the class from the
classes the model finds most similar, not the class score alone.

For image x with target class c, the comparison classes d_1..d_T are the classes whose logits
are closest to y_c (ranks ``comparisons`` = (1, 2, 3) of |y_j − y_c| sorted ascending; rank 0 is
c itself), and the explained score is (as pytorch-grad-cam 1.5.7's ``FinerWeightedTarget``)

    s = Σ_t p_{d_t} (y_c − α y_{d_t}) / (Σ_t p_{d_t} + 1e-9),   p = softmax(y),

differentiated through p as well. The comparison classes are fixed from the unmodified image;
any estimator and weighting then explains s (Grad-CAM by default, as the peer's base method).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from faithcam.engine.targets import PENDING, BoundClassTarget, ClassLogit, Target
from faithcam.errors import FaithcamTypeError, FaithcamValueError, TargetError

DEFAULT_COMPARISONS = (1, 2, 3)


class FinerTarget(ClassLogit):
    """Finer-CAM's contrastive score for ``class_ids`` (None: the predicted class)."""

    transform_name = "finer"

    def __init__(
        self,
        class_ids: int | Sequence[int] | torch.Tensor | None = None,
        alpha: float = 1.0,
        comparisons: Sequence[int] = DEFAULT_COMPARISONS,
    ) -> None:
        super().__init__(class_ids)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float):
            raise FaithcamTypeError(f"alpha: expected a number, got {alpha!r}")
        ranks = list(comparisons) if isinstance(comparisons, Sequence) else None
        if not ranks or not all(isinstance(r, int) and not isinstance(r, bool) for r in ranks):
            raise FaithcamTypeError(
                f"comparisons: expected a non-empty list of ranks (ints), got {comparisons!r}"
            )
        if min(ranks) < 1:
            raise FaithcamValueError(f"comparisons: ranks must be >= 1, got {ranks}")
        self.alpha = float(alpha)
        self.comparisons = ranks

    def bind(self, n_images: int, device: torch.device) -> BoundFinerTarget:
        ids = super().bind(n_images, device).class_ids
        return BoundFinerTarget(ids, self.alpha, self.comparisons)


class BoundFinerTarget(BoundClassTarget):
    def __init__(self, class_ids: torch.Tensor, alpha: float, ranks: list[int]) -> None:
        super().__init__(class_ids, lambda outputs: outputs)
        self.alpha = alpha
        self.ranks = ranks
        self.compared: torch.Tensor | None = None  # (B, T) comparison classes, PENDING rows

    def _resolve_comparisons(
        self, outputs: torch.Tensor, image_index: torch.Tensor, is_input: torch.Tensor
    ) -> None:
        ranks = [r for r in self.ranks if r < outputs.shape[-1]]
        if not ranks:
            raise TargetError(
                f"comparisons: ranks {self.ranks} exceed the model's {outputs.shape[-1]} classes"
            )
        if self.compared is None:
            shape = (len(self.class_ids), len(ranks))
            self.compared = torch.full(shape, PENDING, dtype=torch.long, device=outputs.device)
        rows = is_input & (self.compared[image_index, 0] == PENDING)
        if rows.any():
            logits = outputs[rows]
            own = logits.gather(1, self.class_ids[image_index[rows], None])
            order = (logits - own).abs().argsort(dim=1, stable=True)
            self.compared[image_index[rows]] = order[:, ranks]

    def scores(
        self, outputs: torch.Tensor, image_index: torch.Tensor, is_input: torch.Tensor
    ) -> torch.Tensor:
        own = super().scores(outputs, image_index, is_input)  # checks, resolves predictions
        self._resolve_comparisons(outputs.detach(), image_index, is_input)
        assert self.compared is not None
        compared = self.compared[image_index]
        if (compared == PENDING).any():
            raise TargetError("targets: Finer-CAM's comparison classes requested before scoring")
        weights = torch.softmax(outputs, dim=-1).gather(1, compared)
        others = outputs.gather(1, compared)
        numerator = (weights * (own[:, None] - self.alpha * others)).sum(dim=1)
        return numerator / (weights.sum(dim=1) + 1e-9)


def finer_target(
    target: Target, alpha: float = 1.0, comparisons: Sequence[int] = DEFAULT_COMPARISONS
) -> FinerTarget:
    """Wrap a class target (None, an int or one per image) into Finer-CAM's."""
    if type(target) is not ClassLogit:
        raise TargetError(
            f"targets: Finer-CAM explains class ids (None, an int or one per image), got {target!r}"
        )
    return FinerTarget(target.class_ids, alpha, comparisons)
