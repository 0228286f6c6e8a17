"""A tiny seeded classifier shared by the metric tests (registry, targets, vocabulary)."""

from __future__ import annotations

import torch
from torch import nn


def tiny_classifier(classes: int = 3) -> nn.Module:
    """conv 3 -> 4, ReLU, 2 x 2 average pool, linear 16 -> ``classes``; seeded, eval mode."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(16, classes),
    ).eval()  # fmt: skip


def seeded(*shape: int, seed: int) -> torch.Tensor:
    """U(0, 1) values of ``shape`` from their own generator."""
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))
