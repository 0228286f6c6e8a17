"""Helpers shared by the tests: seeded torchvision models and images, small models with a
known structure. Fixtures live in conftest.py; this module holds plain functions and classes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

MODEL_SEED = 0  # torch.manual_seed before building a torchvision model (weights=None)
IMAGE_SEED = 1  # the generator seed of seeded_images
# Small models are built once for the whole run; larger ones (VGG-11-BN alone holds 0.5 GB of
# parameters) once per test module: conftest's release_module_models drops them afterwards.
SESSION_MODELS = frozenset({"resnet18", "mobilenet_v3_small"})
_models: dict[tuple[str, int], nn.Module] = {}


def build_seeded_torchvision(name: str, seed: int = MODEL_SEED) -> nn.Module:
    """A new torchvision classifier with random weights (weights=None) from ``seed``, in eval."""
    import torchvision

    torch.manual_seed(seed)
    return getattr(torchvision.models, name)(weights=None).eval()


def seeded_torchvision(name: str, seed: int = MODEL_SEED) -> nn.Module:
    """:func:`build_seeded_torchvision`, shared: the same object for every call of the same
    test module (for the whole run when ``name`` is in SESSION_MODELS)."""
    key = (name, seed)
    if key not in _models:
        _models[key] = build_seeded_torchvision(name, seed)
    return _models[key]


def release_module_models() -> None:
    """Forget the shared models that are not kept for the whole run."""
    for key in [key for key in _models if key[0] not in SESSION_MODELS]:
        del _models[key]


def seeded_images(n: int = 2, size: int = 128, seed: int = IMAGE_SEED) -> torch.Tensor:
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


class InnerChannelMismatch(nn.Module):
    """A model whose own second convolution is built wrong (8 input channels after a 4-channel
    one): torch's channel error is about the model, not the images."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = nn.Conv2d(3, 4, 3), nn.Conv2d(8, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x)).mean((2, 3))


class Clock:
    """A settable clock for progress-line tests: ``clock.now = 3.0``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def refusal_message(call: Callable[[], object], error: type[Exception]) -> str:
    """The message of the ``error`` that ``call()`` raises (the test fails if it raises none)."""
    import pytest

    with pytest.raises(error) as caught:
        call()
    return str(caught.value)


def warnings_of(call: Callable[[], Any]) -> tuple[Any, list[warnings.WarningMessage]]:
    """What ``call()`` returns and every warning it issues (none filtered or deduplicated)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = call()
    return value, list(caught)


def qmc_uniform_baselines_under_tolerance() -> dict[int, torch.Tensor]:
    """The uniform-noise baseline x' of every sample row (by row position) of Expected Grad-CAM
    with ``sampler="qmc"``, ``tolerance=0.01`` and 256 samples on one 1×3×4×4 image whose range
    is [0, 1], so that x' = u, the sampler's draw itself (8 interleaved replicates)."""
    from faithcam.cams.estimators import ROLE_SAMPLE, Expected

    image = torch.rand(1, 3, 4, 4)
    image.view(-1)[:2] = torch.tensor([0.0, 1.0])
    estimator = Expected(samples=256, sampler="qmc", baseline="uniform", tolerance=0.01)
    rows = {}
    for chunk in estimator.chunks(image, batch_size=50, generator=torch.Generator().manual_seed(1)):
        for i in (chunk.plan.role == ROLE_SAMPLE).nonzero().flatten().tolist():
            rows[int(chunk.plan.position[i])] = chunk.references[i]
    return rows
