"""Fixtures; the helpers they use live in tests/helpers.py, the peers' golden outputs in
tests/peer_outputs.py (a plugin: the ``peer_output`` fixture, ``--update-golden``)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import GapLinearNet, release_module_models, seeded_images

pytest_plugins = ["tests.peer_outputs"]

torch.set_num_threads(2)


@pytest.fixture(scope="module", autouse=True)
def _module_models():
    """Drop the larger shared torchvision models after each test module (memory)."""
    yield
    release_module_models()


@pytest.fixture
def gap_model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


@pytest.fixture
def small_images() -> torch.Tensor:
    return seeded_images(3, 16)
