"""pytorch-grad-cam's model targets, as tiny faithcam classes with the same names and behaviour.

A target is a callable ``model_output -> score``. The drop-in CAMs call it on the output of one
image at a time (a 1-D logit vector for a classifier), exactly as pytorch-grad-cam does, and
the classes also accept a batch (N, C) of rows.
"""

from __future__ import annotations

import numpy as np
import torch


def _pick(values: torch.Tensor, category: int) -> torch.Tensor:
    return values[category] if values.dim() == 1 else values[:, category]


class ClassifierOutputTarget:
    """Score = the logit of ``category``."""

    def __init__(self, category: int) -> None:
        self.category = category

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return _pick(model_output, self.category)


class ClassifierOutputSoftmaxTarget(ClassifierOutputTarget):
    """Score = the softmax probability of ``category`` (over the last dimension)."""

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return _pick(torch.softmax(model_output, dim=-1), self.category)


class ClassifierOutputReST(ClassifierOutputTarget):
    """Score = logit − cross-entropy of ``category`` (Zhang et al., 2025: pre + post softmax)."""

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        rows = model_output if model_output.dim() == 2 else model_output[None]
        labels = torch.full((len(rows),), self.category, device=rows.device)
        loss = torch.nn.functional.cross_entropy(rows, labels, reduction="none")
        score = rows[:, self.category] - loss
        return score if model_output.dim() == 2 else score[0]


class BinaryClassifierOutputTarget:
    """Score = the single output of a binary classifier, negated for ``category`` 0."""

    def __init__(self, category: int) -> None:
        self.category = category

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return model_output if self.category == 1 else -model_output


class SoftmaxOutputTarget:
    """Score = the softmax of the output (for models with one output)."""

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model_output, dim=-1)


class RawScoresOutputTarget:
    """Score = the raw output."""

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return model_output


class SemanticSegmentationTarget:
    """Score = Σ over the pixels of ``mask`` of the (C, H, W) output of ``category``."""

    def __init__(self, category: int, mask: np.ndarray | torch.Tensor) -> None:
        self.category = category
        self.mask = torch.as_tensor(np.asarray(mask))

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        mask = self.mask.to(model_output.device)
        return (model_output[self.category, :, :] * mask).sum()
