"""The coalition game of one image at a layer: players are the h·w locations of the layer's
activations; coalition S keeps the activation vectors A[:, i, j] of its locations and sets every
other location to the baseline B[:, i, j]; its value v(S) is the target score computed from the
layer on. Locations are numbered row by row (player p = i·w + j).

With several baselines B_1 … B_R (``absent`` of shape (R, C, h, w)) the value is the mean over
them, v(S) = (1/R) Σ_r v_r(S): by linearity its Shapley values are the mean of each baseline's
(the Expected-Gradients view of a data distribution of baselines).

For token layers (a vision transformer's (B, N, C) tokens) the players are the patch tokens;
extra tokens (class, distillation, registers) are not players and keep the image's own values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from faithcam.engine.layouts import Layout
from faithcam.truth.downstream import Head, Prepared


@dataclass
class LayerGame:
    """v(S) for the coalitions of one image (see the module docstring)."""

    head: Head
    prepared: Prepared
    layout: Layout
    present: torch.Tensor  # (1, C, h, w): the image's activations
    absent: torch.Tensor  # (R, C, h, w): the baselines' activations (R = 1 but for "expected")
    score: Callable[[Any], torch.Tensor]  # model outputs of this image's rows -> (N,) scores

    @property
    def grid(self) -> tuple[int, int]:
        return (self.present.shape[-2], self.present.shape[-1])

    @property
    def players(self) -> int:
        h, w = self.grid
        return h * w

    def values(self, masks: torch.Tensor) -> torch.Tensor:
        """v(S) in float64 for the (N, h·w) boolean coalition masks (True = kept)."""
        h, w = self.grid
        n, baselines = len(masks), len(self.absent)
        keep = masks.to(self.present.device).view(n, 1, 1, h, w)
        maps = torch.where(keep, self.present[None], self.absent[None]).flatten(0, 1)
        like = self.prepared.value.expand(len(maps), *self.prepared.value.shape[1:])
        native = self.layout.from_nchw(maps, like).contiguous()
        with torch.no_grad():
            outputs = self.head.run(self.prepared, native)
        scores = self.score(outputs).detach().double().cpu()
        return scores.view(n, baselines).mean(1)
