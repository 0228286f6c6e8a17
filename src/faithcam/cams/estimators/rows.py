"""Sample rows: what an estimator feeds the capture engine, planned lazily chunk by chunk.

Row r of image x is the model input x'_r + α_r (x − x'_r) + ε_r. A :class:`RowPlan` holds the
metadata of one chunk of rows (image-major: an image's rows are contiguous): the image of each
row, its path position α, its weight in the estimate and its role (a sample, the input itself,
or the baseline x'); a :class:`Chunk` adds the model inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ROLE_SAMPLE, ROLE_INPUT, ROLE_BASELINE = 0, 1, 2

# How rows are combined.
AVERAGE_GRADIENTS, AVERAGE_MAPS = "gradients", "maps"
# Which activations a row's map subtracts: none, its image's baseline row, or its own reference.
NO_REFERENCE, BASELINE_ROW, OWN_REFERENCE = "none", "baseline-row", "own"


@dataclass
class RowPlan:
    """Metadata of one chunk of sample rows (image-major: an image's rows are contiguous)."""

    image_index: torch.Tensor  # (N,) long
    alpha: torch.Tensor  # (N,) path position, 1 = the input
    weight: torch.Tensor  # (N,) weight of the row's gradient (or map) in the estimate
    role: torch.Tensor  # (N,) ROLE_*
    position: torch.Tensor | None = None  # (N,) the row's position among its image's rows

    def __len__(self) -> int:
        return len(self.image_index)


@dataclass
class Chunk:
    """One forward's worth of rows: their plan, the model inputs and, for estimators that
    subtract each row's own reference activations, the reference images x'_r."""

    plan: RowPlan
    inputs: torch.Tensor
    references: torch.Tensor | None = None

    @property
    def image_index(self) -> torch.Tensor:
        return self.plan.image_index

    @property
    def is_input(self) -> torch.Tensor:
        return (self.plan.role == ROLE_INPUT).to(self.inputs.device)


def roles(position: torch.Tensor, input_position: int = 0) -> torch.Tensor:
    """ROLE_INPUT at ``input_position``, ROLE_SAMPLE elsewhere."""
    return torch.where(position == input_position, ROLE_INPUT, ROLE_SAMPLE)
