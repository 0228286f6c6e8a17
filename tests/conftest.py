"""Shared fixtures: seeded torchvision models and small models with known structure."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

torch.set_num_threads(2)


@functools.cache
def seeded_torchvision(name: str, seed: int = 0) -> nn.Module:
    """A torchvision classifier with random weights (weights=None) and a fixed seed, in eval."""
    import torchvision

    torch.manual_seed(seed)
    return getattr(torchvision.models, name)(weights=None).eval()


def seeded_images(n: int = 2, size: int = 128, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=generator)


class GapLinearNet(nn.Module):
    """conv -> ReLU -> conv -> ReLU (target layer `features`) -> GAP -> linear: a CAM model."""

    def __init__(self, classes: int = 5, channels: int = 8, inplace: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.Conv2d(channels, channels, 3, padding=1, stride=2),
            nn.ReLU(inplace=inplace),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


class FlattenLinearNet(nn.Module):
    """A head that is not GAP + linear: flatten -> linear (HiResCAM is exact, Grad-CAM is not)."""

    def __init__(self, classes: int = 4, channels: int = 6, size: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(channels * size * size, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


@pytest.fixture
def gap_model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


@pytest.fixture
def small_images() -> torch.Tensor:
    return seeded_images(3, 16)
